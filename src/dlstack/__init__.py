"""dlstack: take a deep-learning project from raw data to a served, monitored model.

Each lifecycle stage is a subpackage with its own public API (``dlstack.data``,
``dlstack.train``, ``dlstack.evaluate``, ``dlstack.compress``, ``dlstack.serve``,
``dlstack.report``); this module holds only what every stage shares.

>>> import dlstack
>>> dlstack.Config().train.lr
0.0003
"""

from dlstack.config import Config, Project, init_project, load_project
from dlstack.errors import DlstackError

__version__ = "0.1.0"

__all__ = ["Config", "DlstackError", "Project", "__version__", "init_project", "load_project"]
