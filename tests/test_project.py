"""dlstack.toml validation: every bad key or value is one clear line."""

from __future__ import annotations

import pytest

from dlstack.config import Config, init_project, load_project, parse_config
from dlstack.errors import ConfigError


def test_defaults_are_the_practices():
    cfg = Config()
    # Adam with 3e-4 and no regularization is the practice's starting point.
    assert (cfg.train.optimizer, cfg.train.lr, cfg.train.weight_decay) == ("adam", 3e-4, 0.0)
    assert cfg.model.architecture == "auto"


def test_config_is_frozen():
    cfg = Config()
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        cfg.train.lr = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[train]\nlr = -1", "train.lr must be > 0, got -1"),
        ("[train]\nbatch_size = 0", "train.batch_size must be >= 1, got 0"),
        ("[train]\nlrr = 0.1", "train.lrr is not a known key; allowed here: augment, batch_size"),
        ("[trian]\nlr = 0.1", "trian is not a known key; allowed here: data, gate, metric"),
        ("[train]\noptimizer = 'rmsprop'", "train.optimizer must be one of 'adam', 'adamw'"),
        ("[model]\narchitecture = 'vgg'", "model.architecture must be one of 'auto'"),
        ("[data]\nsplit = [0.5, 0.5, 0.5]", "data.split must be three non-negative fractions"),
        ("[project]\ntask = 'detection'", "project.task must be one of 'classification'"),
        ("[train\nlr = 1", "is not valid TOML"),
        # Not a number a setting can have: refused where it is written, not after training.
        ("[train]\nlr = inf", "train.lr must be a finite number, got inf"),
        ("[tests]\nmin_metrics = {accuracy = nan}", "tests.min_metrics.accuracy must be a finite"),
        ("[data]\nsplit = [0.8, 0.1, inf]", "data.split must be a finite number, got inf"),
        # A list of the wrong length says so (it used to say "data.split is required").
        ("[data]\nsplit = [0.5, 0.5]", "data.split has too few items, got [0.5, 0.5]"),
        # An unknown key inside an inline table lists that table's keys.
        (
            "[train]\naugment = {shift = 2}",
            "train.augment.shift is not a known key; allowed here: max_shift, thicken",
        ),
        ('[[data.steps]]\nname = "a"\ncall = "b"\nextra = 1', "allowed here: call, name, params"),
    ],
)
def test_bad_values_name_key_value_and_allowed(text, message):
    with pytest.raises(ConfigError) as e:
        parse_config(text)
    assert message in str(e.value)


def test_init_writes_a_config_that_loads(tmp_path):
    init_project(tmp_path, "builtin:digits8")
    project = load_project(tmp_path)
    assert project.config.data.source == "builtin:digits8"
    assert project.config.project.name == "digits8"
    # Paths resolve inside the project, wherever the command runs from.
    assert project.catalog_url == f"sqlite:///{tmp_path}/.dlstack/catalog.db"


def test_init_refuses_to_overwrite_and_unknown_sources(tmp_path):
    init_project(tmp_path, "builtin:digits8")
    with pytest.raises(ConfigError, match="already exists"):
        init_project(tmp_path, "builtin:digits8")
    with pytest.raises(ConfigError, match="--from must be one of"):
        init_project(tmp_path / "other", "builtin:cifar")


def test_missing_config_says_how_to_create_one(tmp_path):
    with pytest.raises(ConfigError, match="dlstack init"):
        load_project(tmp_path)


def test_digits_demo_starts_with_augmentation_and_others_do_not(tmp_path):
    # The 5,000-digit demo over-fits without it (bench/digits_defaults.py); other sources
    # get the line commented out, so nothing changes their training unasked.
    digits = init_project(tmp_path / "digits", "builtin:digits")
    augment = digits.config.train.augment
    assert augment is not None and (augment.max_shift, augment.thicken) == (2, True)
    assert digits.config.data.steps == ()
    small = init_project(tmp_path / "small", "builtin:digits8")
    assert small.config.train.augment is None
    text = (tmp_path / "small" / "dlstack.toml").read_text()
    assert "# augment = {max_shift = 2, thicken = true}" in text
    assert '# call = "augment"' in text  # the data-step example is there for everyone


def test_a_toml_nested_too_deeply_is_a_config_error():
    # tomllib recurses; 5,000 levels used to end in a RecursionError traceback.
    with pytest.raises(ConfigError, match="nests tables or arrays too deeply"):
        parse_config("a = " + "[" * 5000 + "]" * 5000)


def test_init_from_a_relative_folder_finds_it_from_anywhere(tmp_path, monkeypatch):
    # `dlstack init DIR --from ./scans` run in one folder; later commands run elsewhere.
    (tmp_path / "scans" / "a").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    project = init_project(tmp_path / "projects" / "p", "./scans")
    assert project.config.data.source == "../../scans"  # relative to the project
    monkeypatch.chdir(tmp_path / "projects")
    assert load_project(tmp_path / "projects" / "p").source == str(tmp_path / "scans")
