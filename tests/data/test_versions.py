"""Store, catalog and versions: identity dedup, immutability, interrupted commits."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dlstack.data import DataRepo, ObjectStore
from dlstack.errors import DataError


@pytest.fixture
def repo(digits8_project):
    r = DataRepo.open(digits8_project)
    yield r
    r.close()


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array.astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_store_is_content_addressed(tmp_path):
    store = ObjectStore(str(tmp_path / "objects"))
    a = store.put(b"same bytes")
    assert store.put(b"same bytes") == a
    assert store.count() == 1
    assert store.get(a) == b"same bytes"


def test_store_detects_corruption(tmp_path):
    store = ObjectStore(str(tmp_path / "objects"))
    key = store.put(b"payload")
    path = tmp_path / "objects" / key[:2] / key
    path.write_bytes(b"tampered")
    with pytest.raises(DataError, match="corrupt"):
        store.get(key)


def test_reingest_stores_nothing_and_creates_no_version(repo):
    report = repo.ingest("builtin:digits8", progress=False)
    assert report.added == 1797 and not report.rejected
    first = repo.commit("first")
    objects = repo.store.count()

    again = repo.ingest("builtin:digits8", progress=False)
    # Identical bytes: no new object, no change staged, and commit declines.
    assert (again.added, again.unchanged) == (0, 1797)
    assert repo.store.count() == objects
    assert repo.commit("again") is None
    assert [v.id for v in repo.log()] == [first.id]


def test_versions_are_immutable_when_labels_change(repo, tmp_path):
    repo.ingest("builtin:digits8", progress=False)
    v1 = repo.commit("first")
    _, snap1 = repo.checkout(v1.id, progress=False)

    # Relabel one example through a folder source holding its exact bytes.
    first = snap1.split("train")
    folder = tmp_path / "relabel"
    wrong = str((first.labels[0] + 1) % 10)
    (folder / wrong).mkdir(parents=True)
    (folder / wrong / "x.png").write_bytes(repo.store.get(first.ids[0]))
    report = repo.ingest(str(folder), progress=False)
    assert report.added == 1
    v2 = repo.commit("relabel one")
    assert v2 is not None and v2.parent == v1.id

    # The old version still has the old label; the new one the new label.
    _, again1 = repo.checkout(v1.id, progress=False)
    _, snap2 = repo.checkout(v2.id, progress=False)
    idx1 = list(again1.ids).index(first.ids[0])
    idx2 = list(snap2.ids).index(first.ids[0])
    assert again1.labels[idx1] == first.labels[0]
    assert snap2.classes[snap2.labels[idx2]] == wrong
    assert repo.resolve("HEAD~1").id == v1.id


def test_interrupted_commit_leaves_no_version(repo, monkeypatch):
    repo.ingest("builtin:digits8", progress=False)

    def crash(conn):
        raise KeyboardInterrupt  # e.g. Ctrl-C after the rows were written

    monkeypatch.setattr(repo, "_on_commit_rows_written", crash)
    with pytest.raises(KeyboardInterrupt):
        repo.commit("doomed")
    assert repo.log() == []
    assert repo.head() is None
    with repo.catalog.connect() as conn:
        from dlstack.data._catalog import version_rows

        assert conn.execute(version_rows.select()).first() is None
    monkeypatch.undo()
    assert repo.commit("retry").n_examples == 1797


def test_checkout_snapshot_matches_catalog_and_is_cached(repo):
    repo.ingest("builtin:digits8", progress=False)
    v = repo.commit("first")
    _, snap = repo.checkout(v.short, progress=False)
    assert snap.version == v.id
    assert snap.images.shape == (1797, 8, 8) and snap.images.dtype == np.uint8
    assert snap.counts() == v.counts
    # A second checkout reads the cached snapshot instead of the objects.
    _, cached = repo.checkout(v.short, progress=False)
    assert np.array_equal(cached.images, snap.images)


def test_folder_ingest_rejects_bad_examples_with_reasons(repo, tmp_path):
    repo.ingest("builtin:digits8", progress=False)
    folder = tmp_path / "src"
    (folder / "3").mkdir(parents=True)
    (folder / "cat").mkdir()
    (folder / "3" / "good.png").write_bytes(_png(np.full((8, 8), 200)))
    (folder / "3" / "big.png").write_bytes(_png(np.zeros((28, 28))))  # resized at checkout
    tinted = np.zeros((8, 8, 3))
    tinted[..., 0] = 200  # red: color in a dataset inferred grayscale at its first ingest
    (folder / "3" / "red.png").write_bytes(_png(tinted))
    (folder / "3" / "broken.png").write_bytes(b"not an image at all")
    (folder / "cat" / "c.png").write_bytes(_png(np.full((8, 8), 10)))
    outside = tmp_path / "secret.png"
    outside.write_bytes(_png(np.full((8, 8), 99)))
    (folder / "3" / "escape.png").symlink_to(outside)

    report = repo.ingest(str(folder), progress=False)
    reasons = dict(report.rejected)
    # good.png, big.png (any size is stored as it is) and red.png: the project declares
    # channels = 1 (dlstack init wrote it), so checkout converts it, and ingest says so.
    assert report.added == 3 and report.to_grayscale == 1
    assert "not a readable image" in reasons["3/broken.png"]
    assert "not a declared class" in reasons["cat/c.png"]
    assert "link out of the source folder" in reasons["3/escape.png"]


def test_color_in_a_dataset_inferred_grayscale_is_refused_unless_declared(repo, tmp_path):
    repo.image = None  # a project that declares no [data.image]: inferred at first ingest
    report = repo.ingest("builtin:digits8", progress=False)
    assert any("channels 1: 0 of" in line for line in report.inferred)
    assert repo.image_spec().shape == (1, 8, 8) and repo.image_spec().background == "dark"
    folder = tmp_path / "more" / "3"
    folder.mkdir(parents=True)
    tinted = np.zeros((8, 8, 3))
    tinted[..., 0] = 200
    (folder / "red.png").write_bytes(_png(tinted))
    (folder / "gray.png").write_bytes(_png(np.dstack([np.full((8, 8), 90)] * 3)))  # RGB, gray
    report = repo.ingest(str(folder.parent), progress=False)
    reasons = dict(report.rejected)
    assert report.added == 1 and list(reasons) == ["3/red.png"]
    assert "holds color (RGB)" in reasons["3/red.png"] and "channels = 3" in reasons["3/red.png"]


def test_empty_and_missing_sources(repo, tmp_path):
    with pytest.raises(DataError, match="neither a built-in"):
        repo.ingest(str(tmp_path / "nope"), progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no examples"):
        repo.ingest(str(tmp_path / "empty"), progress=False)
    with pytest.raises(DataError, match="working set is empty"):
        repo.commit("nothing")


def test_unknown_versions_explain_themselves(repo):
    with pytest.raises(DataError, match="none yet"):
        repo.resolve("HEAD")
    repo.ingest("builtin:digits8", progress=False)
    repo.commit("first")
    with pytest.raises(DataError, match="matches no version"):
        repo.resolve("ffffffff")


def test_diff_tag_and_resolve(repo, tmp_path):
    from dlstack.data._diff import diff_rows

    repo.ingest("builtin:digits8", progress=False)
    v1 = repo.commit("first")
    repo.tag("v1")
    _, snap = repo.checkout("v1", progress=False)
    key = snap.split("val").ids[0]
    old = snap.classes[snap.split("val").labels[0]]
    new = "0" if old != "0" else "1"
    folder = tmp_path / "relabel" / new
    folder.mkdir(parents=True)
    (folder / "x.png").write_bytes(repo.store.get(key))
    repo.ingest(str(tmp_path / "relabel"), progress=False)
    v2 = repo.commit("relabel")
    d = diff_rows(repo.rows("v1"), repo.rows(v2.id))
    # One example relabeled, nothing added, removed or moved.
    assert (d.added, d.removed, d.relabeled, d.moved) == (0, 0, 1, 0)
    assert d.examples["relabeled"] == [(key, old, new)]
    # The database-side diff agrees with the reference diff of the two row sets.
    assert repo.diff("v1", v2.id) == d
    assert repo.resolve("v1").id == v1.id
    with pytest.raises(DataError, match="never move"):
        repo.tag("v1", v2.id)
    with pytest.raises(DataError, match="not allowed"):
        repo.tag("HEAD")


def test_old_catalog_is_upgraded_and_newer_refused(tmp_path):
    from dlstack.data._catalog import SCHEMA_VERSION, Catalog, create_v1_schema, meta

    url = f"sqlite:///{tmp_path}/old.db"
    create_v1_schema(url)
    catalog = Catalog(url)
    # Opening a first-release catalog migrates it step by step to the current schema.
    assert catalog.schema_version() == SCHEMA_VERSION
    with catalog.begin() as conn:
        conn.execute(
            meta.update()
            .where(meta.c.key == "schema_version")
            .values(value=str(SCHEMA_VERSION + 1))
        )
    catalog.close()
    with pytest.raises(DataError, match="newer dlstack"):
        Catalog(url)


def test_sql_diff_matches_reference_on_adds_removes_moves(repo, tmp_path):
    from dlstack.data._catalog import staged
    from dlstack.data._diff import diff_rows

    repo.ingest("builtin:digits8", progress=False)
    v1 = repo.commit("first")
    with repo.catalog.begin() as conn:
        ids = [r.example_id for r in conn.execute(staged.select().limit(7))]
        conn.execute(staged.delete().where(staged.c.example_id.in_(ids[:3])))  # removed
        conn.execute(staged.update().where(staged.c.example_id.in_(ids[3:5])).values(split="test"))
        conn.execute(staged.update().where(staged.c.example_id == ids[5]).values(label="0"))
    (tmp_path / "9").mkdir()
    (tmp_path / "9" / "new.png").write_bytes(_png(np.full((8, 8), 123)))
    repo.ingest(str(tmp_path), progress=False)  # added
    v2 = repo.commit("edit")
    assert repo.diff(v1.id, v2.id) == diff_rows(repo.rows(v1.id), repo.rows(v2.id))


def test_removing_an_example_later_never_changes_an_earlier_version(repo):
    repo.ingest("builtin:digits8", progress=False)
    v1 = repo.commit("all")
    _, snap1 = repo.checkout(v1.id, progress=False)
    victim = str(snap1.ids[0])
    assert repo.remove([victim[:10]]) == [victim]
    v2 = repo.commit("drop one")
    assert v2.n_examples == v1.n_examples - 1
    assert victim not in repo.rows(v2.id)
    # The earlier version still has it, in the catalog and in a fresh checkout.
    assert victim in repo.rows(v1.id)
    import shutil

    shutil.rmtree(repo.snapshots_dir / v1.short)
    _, again = repo.checkout(v1.id, progress=False)
    assert victim in set(again.ids) and len(again.ids) == v1.n_examples
    assert repo.diff(v1.id, v2.id).removed == 1
    with pytest.raises(DataError, match="nothing was removed"):
        repo.remove(["ab"])


@pytest.mark.parametrize("ref", ["HEAD~abc", "HEAD~-1", "HEAD~²", "HEAD~1.5"])
def test_relative_refs_take_ascii_numbers_only(repo, ref):
    # These were tracebacks (int("abc")) or silently HEAD (HEAD~-1).
    repo.ingest("builtin:digits8", progress=False)
    repo.commit("first")
    with pytest.raises(DataError, match="HEAD~N"):
        repo.resolve(ref)


def test_id_prefixes_match_literally(repo):
    repo.ingest("builtin:digits8", progress=False)
    v = repo.commit("first")
    assert repo.resolve(v.id[:4]).id == v.id
    # SQL LIKE wildcards used to match: "6c3_" resolved, "%" matched every id.
    for ref in (v.id[:3] + "_", "%%%%", v.id[:3] + "%"):
        with pytest.raises(DataError, match="matches no version"):
            repo.resolve(ref)


def test_query_is_read_only_unless_files_are_allowed(repo, tmp_path):
    repo.ingest("builtin:digits8", progress=False)
    repo.commit("first")
    assert repo.query("SELECT count(*) AS n FROM versions").to_pylist() == [{"n": 1}]
    out = tmp_path / "out.csv"
    for sql in (
        f"COPY (SELECT * FROM versions) TO '{out}'",
        "SELECT * FROM read_csv('/etc/passwd')",
        "INSTALL httpfs",
        f"ATTACH '{tmp_path / 'x.db'}'",
    ):
        with pytest.raises(DataError, match="--allow-files"):
            repo.query(sql)
    assert not out.exists()
    repo.query(f"COPY (SELECT * FROM versions) TO '{out}'", allow_files=True)
    assert out.is_file()
    with pytest.raises(DataError, match="empty"):
        repo.query("  ")


def test_a_damaged_lake_file_is_skipped_with_a_warning(tmp_path):
    from dlstack.data import Lake
    from dlstack.errors import DlstackWarning

    lake = Lake(str(tmp_path / "lake"))
    good = lake.append("events", [{"a": 1}, {"a": 2}])
    bad = lake.append("events", [{"a": 3}])
    assert good and bad
    with open(bad, "r+b") as f:  # truncate the footer: not Parquet any more
        f.truncate(10)
    with pytest.warns(DlstackWarning, match="skipped damaged lake file"):
        table = lake.read("events")
    assert table.column("a").to_pylist() == [1, 2]


def _damage(path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
    elif how == "flip":
        data[-1] ^= 0xFF
        path.write_bytes(bytes(data))
    else:  # shift the array's payload by one element, same size (labels off by one)
        header = len(data) - 8 * (len(data) // 8)
        path.write_bytes(
            bytes(data[:header]) + bytes(data[header + 8 :]) + bytes(data[header : header + 8])
        )


@pytest.mark.parametrize(
    ("name", "how"),
    [
        ("labels.npy", "shift"),
        ("images.npy", "truncate"),
        ("meta.json", "flip"),
        ("ids.npy", "flip"),
    ],
)
def test_a_damaged_snapshot_is_rebuilt_from_the_store_with_a_warning(repo, name, how):
    # A shifted labels.npy used to train silently on wrong labels; a truncated images.npy or
    # a flipped meta.json/ids.npy were tracebacks.
    from dlstack.errors import DlstackWarning

    repo.ingest("builtin:digits8", progress=False)
    v = repo.commit("first")
    _, snap = repo.checkout(v.short, progress=False)
    labels = np.array(snap.labels)
    _damage(repo.snapshots_dir / v.short / name, how)
    with pytest.warns(DlstackWarning, match="rebuilding it from the store"):
        _, again = repo.checkout(v.short, progress=False)
    assert np.array_equal(again.labels, labels) and again.version == v.id
    _, third = repo.checkout(v.short, progress=False)  # rebuilt: no warning, same data
    assert np.array_equal(third.labels, labels)


def test_reingest_repairs_a_corrupt_object_and_verify_finds_it(repo, digits8_project):
    # The message says "re-ingest the data"; ingest used to skip the damaged object.
    repo.ingest("builtin:digits8", progress=False)
    v = repo.commit("first")
    key = repo.store.keys()[0]
    obj = digits8_project.store_url + f"/{key[:2]}/{key}"
    with open(obj, "r+b") as f:
        f.write(b"\x00")
    checked, damaged = repo.store.verify()
    assert (checked, damaged) == (1797, [key])
    found = repo.verify()
    assert not found.ok and found.versions_affected == [v.id]
    with pytest.raises(DataError, match="re-ingest"):
        repo.checkout(v.short, progress=False)
    repo.ingest("builtin:digits8", progress=False)  # rewrites the object whose bytes are wrong
    assert repo.store.verify() == (1797, [])
    _, snap = repo.checkout(v.short, progress=False)
    assert snap.counts() == v.counts


def test_verify_repair_removes_damage_so_it_can_be_restored(repo, tmp_path):
    from typer.testing import CliRunner

    from dlstack.cli import _register, app

    repo.ingest("builtin:digits8", progress=False)
    v = repo.commit("first")
    repo.checkout(v.short, progress=False)
    _damage(repo.snapshots_dir / v.short / "labels.npy", "shift")
    root = str(repo.snapshots_dir.parent.parent)
    _register()
    found = CliRunner().invoke(app, ["data", "verify", "-p", root])
    assert found.exit_code == 1 and "damaged snapshot" in found.output
    fixed = CliRunner().invoke(app, ["data", "verify", "-p", root, "--repair"])
    assert fixed.exit_code == 0, fixed.output
    assert not (repo.snapshots_dir / v.short).exists()
    assert CliRunner().invoke(app, ["data", "verify", "-p", root]).exit_code == 0
