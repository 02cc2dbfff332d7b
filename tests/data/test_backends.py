"""The data core on the team backends: S3 (moto_server) and PostgreSQL, real servers."""

from __future__ import annotations

import pytest

from dlstack.config import init_project, load_project
from dlstack.data import DataRepo
from dlstack.errors import DataError

pytestmark = pytest.mark.services


@pytest.fixture
def team_project(tmp_path, s3_endpoint, postgres_url):
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=s3_endpoint)
    bucket = f"dlstack-{tmp_path.name.lower().replace('_', '-')[:40]}"
    fs.mkdir(bucket)
    init_project(
        tmp_path, "builtin:digits8", name=tmp_path.name.replace("[", "_").replace("]", "_")[:40]
    )
    toml = (tmp_path / "dlstack.toml").read_text()
    toml = toml.replace('store = ".dlstack/objects"', f'store = "s3://{bucket}/objects"')
    toml = toml.replace('catalog = "sqlite:///.dlstack/catalog.db"', f'catalog = "{postgres_url}"')
    toml = toml.replace("\n[model]\n", f'\n[data.s3]\nendpoint_url = "{s3_endpoint}"\n\n[model]\n', 1)
    (tmp_path / "dlstack.toml").write_text(toml)
    return load_project(tmp_path)


def _digit_folder(root, per_class=15):
    """A small class-subfolder source made of real 8x8 digits (moto is slow per request)."""
    import io

    from PIL import Image

    from dlstack.data import load_builtin

    raw = load_builtin("digits8")
    for c in range(10):
        (root / str(c)).mkdir(parents=True)
        for i, idx in enumerate((raw.labels == c).nonzero()[0][:per_class]):
            buf = io.BytesIO()
            Image.fromarray(raw.images[idx]).save(buf, format="PNG")
            (root / str(c) / f"{i}.png").write_bytes(buf.getvalue())
    return root


def test_versions_on_s3_and_postgres(team_project, tmp_path):
    source = str(_digit_folder(tmp_path / "src"))
    repo = DataRepo.open(team_project)
    assert repo.store.url.startswith("s3://")
    report = repo.ingest(source, progress=False)
    assert report.added == 150
    v1 = repo.commit("first")
    # Objects landed in S3, rows in PostgreSQL; re-ingest is a no-op on both.
    assert repo.store.count() == 150
    assert repo.ingest(source, progress=False).added == 0
    assert repo.commit("again") is None
    _, snap = repo.checkout(v1.short, progress=False)
    assert snap.images.shape == (150, 8, 8)
    assert snap.counts() == v1.counts
    # Objects read back from S3 are verified against their keys.
    key = snap.ids[0]
    repo.store.fs.pipe_file(repo.store._path(key), b"tampered")
    with pytest.raises(DataError, match="corrupt"):
        repo.store.get_many([key])
    repo.close()


def test_projects_on_one_postgres_server_are_isolated(tmp_path, postgres_url):
    repos = []
    for name in ("alpha", "beta"):
        init_project(tmp_path / name, "builtin:digits8", name=name)
        toml = (
            (tmp_path / name / "dlstack.toml")
            .read_text()
            .replace('catalog = "sqlite:///.dlstack/catalog.db"', f'catalog = "{postgres_url}"')
        )
        (tmp_path / name / "dlstack.toml").write_text(toml)
        repos.append(DataRepo.open(load_project(tmp_path / name)))
    alpha, beta = repos
    alpha.ingest("builtin:digits8", progress=False)
    alpha.commit("alpha's data")
    # beta shares the server but not the rows.
    assert beta.log() == []
    with pytest.raises(DataError, match="none yet"):
        beta.resolve("HEAD")


def test_unreachable_postgres_is_a_clear_error(tmp_path):
    from services import free_port

    init_project(tmp_path, "builtin:digits8")
    toml = (
        (tmp_path / "dlstack.toml")
        .read_text()
        .replace(
            'catalog = "sqlite:///.dlstack/catalog.db"',
            f'catalog = "postgresql+psycopg://u:secret@127.0.0.1:{free_port()}/db"',
        )
    )
    (tmp_path / "dlstack.toml").write_text(toml)
    with pytest.raises(DataError) as e:
        DataRepo.open(load_project(tmp_path))
    assert "cannot connect" in str(e.value)
    assert "secret" not in str(e.value)  # passwords never reach messages


def test_lake_on_s3_and_labeling_on_postgres(team_project, tmp_path):
    from dlstack.data.labeling import create_user, next_items, record_label

    # The lake follows the store to S3 when configured so.
    toml = team_project.root / "dlstack.toml"
    bucket = team_project.config.data.store.split("/")[2]
    toml.write_text(toml.read_text().replace("[data]\n", f'[data]\nlake = "s3://{bucket}/lake"\n'))
    project = load_project(team_project.root)
    assert project.lake_url.startswith("s3://")
    repo = DataRepo.open(project)
    source = _digit_folder(tmp_path / "src", per_class=2)
    (tmp_path / "m.csv").write_text(
        "path,label\n"
        + "\n".join(f"src/{p.parent.name}/{p.name}," for p in sorted(source.rglob("1.png"))[:3])
        + "\n"
    )
    repo.ingest(str(_digit_folder(tmp_path / "labeled", per_class=1)), progress=False)
    report = repo.ingest(str(tmp_path / "m.csv"), progress=False)
    assert report.queued == 3
    rows = repo.query('SELECT queued FROM ingest_reports ORDER BY "at"').to_pylist()
    assert rows == [{"queued": 0}, {"queued": 3}]
    # A labeler labels a queued example; the label is staged (PostgreSQL), with who and when.
    create_user(repo.catalog, "ana", "labeler")
    item = next_items(repo.catalog, "ana", limit=1)[0]
    record_label(repo.catalog, item.example_id, "ana", "4")
    staged = repo.query(
        "SELECT s.label, a.user FROM staged s JOIN annotations a ON a.example_id = s.example_id"
    ).to_pylist()
    assert staged == [{"label": "4", "user": "ana"}]
    repo.close()
