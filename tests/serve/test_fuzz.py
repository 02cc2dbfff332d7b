"""Fuzz the server's OpenAPI surface with schemathesis over real HTTP (slow).

Every generated request, valid or not, must get a documented status with a documented
body: never a 500, never a hang. Inputs that fit the schema but not the model (a random
tensor shape, say) are rightly refused, so "positive data is accepted" is not checked.

The operations are driven with Hypothesis directly (``operation.as_strategy()``):
schemathesis' pytest plugin does not load under pytest 9 here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is a dev dependency")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis import checks  # noqa: E402
from serve_helpers import live_server, serve_config  # noqa: E402

from dlstack.serve._app import create_app  # noqa: E402
from dlstack.serve._auth import new_key  # noqa: E402

ADMIN_KEY, ADMIN_SHA = new_key()

pytestmark = pytest.mark.slow
EXAMPLES = 30  # per operation; 16 operations
REAL = {"name": "digits8", "version": "1"}


@pytest.fixture(scope="module")
def api_schema(exported: Path) -> Iterator[object]:
    keys = [{"name": "ops", "role": "admin", "sha256": ADMIN_SHA}]
    app = create_app([exported], config=serve_config(max_request_bytes=256 * 1024, api_keys=keys))
    with live_server(app) as url:
        yield schemathesis.openapi.from_url(f"{url}/openapi.json")


def test_no_request_breaks_the_server(api_schema) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    statuses: dict[str, set[int]] = defaultdict(set)
    assert len(operations) >= 15  # the whole surface, not a subset
    for operation in operations:

        @given(case=operation.as_strategy(), real=st.booleans())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        def fuzz(case, real: bool) -> None:
            headers = {}
            if real:  # half the cases reach a real model and version (and admin, not unload)
                params = dict(case.path_parameters or {})
                params.update({k: v for k, v in REAL.items() if k in params})
                case.path_parameters = params
                if "unload" not in case.path:
                    headers["X-API-Key"] = ADMIN_KEY
            response = case.call_and_validate(
                headers=headers,
                excluded_checks=[
                    checks.positive_data_acceptance,  # schema-valid tensors, wrong shape: 400
                    checks.ignored_auth,  # predict is open unless predict_requires_key
                ],
                timeout=30,
            )
            statuses[operation.label].add(response.status_code)  # noqa: B023 (called below)

        fuzz()
    # The fuzz got past routing and auth into the model's own validation.
    assert statuses["POST /v2/models/{name}/infer"] - {401, 404}
    assert statuses["POST /v2/repository/models/{name}/load"] - {401}
