"""purge, expire, reconcile and check-access on a data set made by extract on the sandbox.

One extraction (album_covers) and one catalog snapshot are made per module; every test works on
its own copy of them, so each test costs only the governance command it runs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from jobs import check_access as check_access_job
from jobs import expire as expire_job
from jobs import export as export_job
from jobs import purge as purge_job
from jobs import reconcile as reconcile_job
from mediaextract import catalog, cli, dataset, export, statuses
from mediaextract import extract as extract_module
from mediaextract.config import load_settings
from mediaextract.governance import access, expire, purge as purging, rules
from mediaextract.errors import EXIT_PURGE_INCOMPLETE
from mediaextract.extract import run_extract

from ..conftest import REPO, sandbox_settings

LIST = "album_covers"
# Each purged by a different identifier; each has content no other row shares.
BY_NAME, BY_SHA1, BY_KEY = "Foo_bar.jpg", "Caf\u00e9_del_Mar.jpg", "Don't.jpg"


def wait_for(condition, what: str, timeout_s: float = 240.0, alive=None):
    """Poll condition() until true; fail after timeout_s or as soon as alive() says no."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if alive is not None and not alive():
            pytest.fail(f"{what}: the process ended first")
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def pristine(spark, sandbox, list_paths, tmp_path_factory):
    root = tmp_path_factory.mktemp("governance") / "root"
    settings = sandbox_settings(sandbox, output__root=str(root))
    album = [p for p in list_paths if Path(p).stem == LIST]
    run_extract(spark, settings, album, str(root / "covers"), out=lambda line: None)
    catalog.write_snapshot(spark, settings, str(root / "snap"))
    rows = dataset.read_items(spark, str(root / "covers" / "items")).collect()
    ok = {r["name"]: r.asDict() for r in rows if r["status"] == statuses.OK}
    assert {BY_NAME, BY_SHA1, BY_KEY} <= set(ok)
    return {"root": root, "rows": len(rows), "ok": ok, "names": [r["name"] for r in rows],
            "snapshot": spark.read.parquet(str(root / "snap" / "filearchive")).count()}


def copy_root(source: Path, target: Path) -> Path:
    """Copy a root; its registry entries then name the copies (they hold absolute paths)."""
    shutil.copytree(source, target, symlinks=True)
    for entry in (target / "_registry").glob("*.json"):
        edit(entry, entry.read_text().replace(f"file:{source}", f"file:{target}"))
    return target


@pytest.fixture
def root(pristine, tmp_path) -> Path:
    return copy_root(pristine["root"], tmp_path / "root")


def plain_settings(root=None):
    """Return the default settings with root as the one root (governance needs no service)."""
    return load_settings(overrides={"output.root": str(root)} if root else {}, environ={})


def items_of(spark, root: Path):
    return dataset.read_items(spark, str(root / "covers" / "items"))


def signatures(data: bytes, count: int = 12, width: int = 64) -> list[bytes]:
    """Return 64-byte slices from the middle of data (JPEG entropy data: stored literally)."""
    middle = len(data) // 2
    return [data[middle + k * 131: middle + k * 131 + width] for k in range(-count // 2, count // 2)]


def raw_files(root: Path) -> dict[str, bytes]:
    """Return the raw bytes of every file under root (checksums, audit, hidden files included)."""
    return {str(p): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def files_holding(root: Path, needle: bytes) -> list[str]:
    """Return every file under root whose raw bytes contain needle."""
    return [path for path, data in raw_files(root).items() if needle in data]


def traces(root: Path, row: dict) -> dict[str, list[str]]:
    """Return which signatures of a row's content and thumbnail appear in which files."""
    blobs = raw_files(root)
    found = {}
    for column in ("content", "thumbnail"):
        for i, needle in enumerate(signatures(bytes(row[column]))):
            hits = [path for path, data in blobs.items() if needle in data]
            if hits:
                found[f"{column}[{i}]"] = hits
    return found


def edit(path: Path, text: str) -> None:
    """Write a file behind Hadoop's back: its checksum file would no longer match, so it goes."""
    path.write_text(text)
    (path.parent / f".{path.name}.crc").unlink(missing_ok=True)


def audit_lines(root: Path) -> list[dict]:
    path = root / "_audit" / "purge.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def removed_rows(items) -> int:
    return items.where(F.col("status") == statuses.REMOVED).count()


def run_job(job, argv, capsys) -> tuple[int, str, str]:
    code = cli.run(job.main, argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def job_sets(sandbox, **extra) -> list[str]:
    pairs = {**sandbox.settings(), "catalog.partitions": 2, **extra}
    return [a for k, v in pairs.items() for a in ("--set", f"{k}={v}")]


# --- purge ---------------------------------------------------------------------------------------

KINDS = {
    "names": (BY_NAME, lambda row: row["name"]),
    "sha1": (BY_SHA1, lambda row: row["sha1"]),
    "storage-keys": (BY_KEY, lambda row: row["storage_key"]),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_purge_by_each_identifier_leaves_no_trace_under_the_root(spark, pristine, root, tmp_path, capsys, kind):
    target, identifier = KINDS[kind]
    row = pristine["ok"][target]
    if kind == "names":  # exports registered in the data set's metadata are copies too
        for to, fmt, what in (("covers-tar", "tar", "originals"), ("covers-wds", "webdataset", "thumbnails")):
            export.run_export(spark, plain_settings(root), str(root / "covers"), str(root / "exports" / to), fmt,
                              what=what, out=lambda line: None)
    before = traces(root, row)
    assert any(k.startswith("content") for k in before) and any(k.startswith("thumbnail") for k in before), \
        "the signatures must be findable before the purge, or the scan proves nothing"
    if kind == "names":
        assert files_holding(root, target.encode())
    ids = tmp_path / "ids.txt"
    # names as a person writes them; the others as the catalog holds them
    ids.write_text(f"# request T-{kind}\n{'File:Foo bar.jpg' if kind == 'names' else identifier(row)}\n")
    argv = ["--request", f"T-{kind}", f"--{kind}", str(ids), "--set", f"output.root={root}"]

    if kind == "names":
        code, out, _ = run_job(purge_job, [*argv, "--dry-run"], capsys)
        assert code == 0 and "would remove 2 rows from" in out and "nothing changed" in out
        assert out.count("would remove 1 file from export") == 2
        assert traces(root, row) == before and not audit_lines(root)

    code, out, err = run_job(purge_job, argv, capsys)
    assert code == 0, err
    assert "re-scan: nothing matches any more" in out
    assert traces(root, row) == {}
    items = items_of(spark, root)
    gone = 1 if kind == "sha1" else 2  # the duplicate line goes too (Café del Mar has none)
    assert items.count() == pristine["rows"] and removed_rows(items) == gone  # list and line stay
    assert items.where(F.col("sha1") == row["sha1"]).count() == 0
    snapshot = spark.read.parquet(str(root / "snap" / "filearchive"))
    assert snapshot.count() == pristine["snapshot"] - (2 if kind == "names" else 1)  # Foo_bar.jpg: 2 versions
    if kind == "names":
        assert files_holding(root, target.encode()) == []
        assert out.count("removed 1 file from export") == 2
    assert not list(root.rglob("*.staging-*")) and not list(root.rglob("*.old"))

    (line,) = audit_lines(root)
    covers = next(k for k in line["datasets"] if k.endswith("/covers"))
    assert line["request"] == f"T-{kind}" and line["action"] == "purge" and line["rows_removed"] == gone + (
        2 if kind == "names" else 1)
    assert line["datasets"][covers] == gone and line["time"].endswith("Z") and line["user"]
    assert line["export_files_removed"] == (2 if kind == "names" else 0) and line["remaining"] == 0
    hashed_kind = {"names": "name", "sha1": "sha1", "storage-keys": "storage_key"}[kind]
    assert len(line["identifiers"][hashed_kind]) == 1
    if kind == "storage-keys":  # Café del Mar's description names Don't.jpg: found by its key, that goes too
        cafe = items.where(F.col("name") == BY_SHA1).first()
        assert cafe["description"] is None and cafe["deleted_reason"] == pristine["ok"][BY_SHA1]["deleted_reason"]
        assert len(line["identifiers"]["named"]) == 1 and sum(line["labels_cleared"].values()) == 1
        assert files_holding(root, b"Same cover as") == []
        for form in (b"Don't.jpg", b"Don&#x27;t.jpg", b"Don&#39;t.jpg"):  # its duplicate line went too
            assert files_holding(root, form) == [], form
    log = (root / "_audit" / "purge.jsonl").read_text()
    assert target not in log and "Foo" not in log and identifier(row) not in log
    for path in (root / "_audit" / "purge.jsonl", root / "_audit" / "salt"):
        assert path.stat().st_mode & 0o777 == 0o600
    assert f"{gone} row{'s' if gone > 1 else ''} removed (legal request, request T-{kind})" in \
        (root / "covers" / "report.txt").read_text()
    report = json.loads((root / "covers" / "report.json").read_text())
    assert report["totals"]["removed"] == gone and report["totals"]["requested"] == pristine["rows"]
    removals = json.loads((root / "covers" / "_metadata.json").read_text())["removals"]
    assert [(r["rows"], r["request"]) for r in removals] == [(gone, f"T-{kind}")]
    assert access.check_access(spark, plain_settings(), str(root), out=lambda line: None) == []

    if kind == "names":  # idempotent: the same request again removes nothing and says so
        code, out, _ = run_job(purge_job, argv, capsys)
        assert code == 0 and "removed 0 rows" in out
        assert removed_rows(items_of(spark, root)) == gone
        assert [entry["rows_removed"] for entry in audit_lines(root)] == [4, 0]


# A label text can name a file a legal request removes: 100%_pure.jpg was deleted as a
# "Duplicate of [[File:Live_photo.jpg]]", and that live file is its live duplicate.
NAMED_IN_LABELS, NAMING_ROW = "Live_photo.jpg", "100%_pure.jpg"


def test_a_purge_clears_every_label_text_naming_the_removed_file_and_keeps_the_row(
        spark, pristine, root, tmp_path, capsys):
    wds = root / "exports" / "covers-wds"
    export.run_export(spark, plain_settings(root), str(root / "covers"), str(wds), "webdataset",
                      what="thumbnails", out=lambda line: None)
    items = items_of(spark, root)
    before = spark.createDataFrame(items.collect(), items.schema)  # held in memory: the files change
    row = before.where(F.col("name") == NAMING_ROW).first()
    assert row["deleted_reason"] == f"Duplicate of [[File:{NAMED_IN_LABELS}]]"
    assert row["live_duplicate_of"] == NAMED_IN_LABELS and row["status"] == statuses.OK
    needles = (b"Live_photo", b"Live photo")
    holding = {path for n in needles for path in files_holding(root, n)}
    assert any("covers-wds" in p for p in holding) and any(p.endswith("report.html") for p in holding), holding
    ids = tmp_path / "ids.txt"
    ids.write_text("live photo.jpg\n")  # as a person writes it: first letter small, a space
    argv = ["--request", "T-labels", "--names", str(ids), "--set", f"output.root={root}"]

    code, out, _ = run_job(purge_job, [*argv, "--dry-run"], capsys)
    assert code == 0 and "would remove 0 rows from" in out, out
    assert "; would clear the label texts naming a removed file in 1 row" in out
    assert "would clear the label texts naming a removed file in 1 sample of export" in out
    code, out, err = run_job(purge_job, argv, capsys)
    assert code == 0, err
    assert "re-scan: nothing matches any more" in out and "cleared the label texts naming a removed file in 1 sample" in out

    after = items_of(spark, root)
    cleared = F.col("name") == NAMING_ROW
    expected = (before.withColumn("deleted_reason", F.when(cleared, F.lit(None)).otherwise(F.col("deleted_reason")))
                .withColumn("live_duplicate_of", F.when(cleared, F.lit(None)).otherwise(F.col("live_duplicate_of"))))
    assert_df_equality(after, expected.select(*after.columns), ignore_row_order=True, ignore_nullable=True)
    assert after.where(cleared).first()["description"] == row["description"]  # it names no removed file
    assert removed_rows(after) == 0
    assert [p for n in needles for p in files_holding(root, n)] == []
    samples = []
    for shard in sorted(wds.glob("*.tar")):
        with tarfile.open(shard) as archive:
            samples += [json.loads(archive.extractfile(m).read()) for m in archive if m.name.endswith(".json")]
    (sample,) = [s for s in samples if s["name"] == NAMING_ROW]
    assert sample["deleted_reason"] is None and sample["live_duplicate_of"] is None
    assert sample["description"] == row["description"] and len(samples) > 1

    report = json.loads((root / "covers" / "report.json").read_text())
    assert [(r["rows"], r["labels"], r["request"]) for r in report["removals"]] == [(0, 1, "T-labels")]
    assert "label texts naming a removed file cleared in 1 row" in (root / "covers" / "report.txt").read_text()
    (line,) = audit_lines(root)
    assert line["rows_removed"] == 1  # the live file's row in the catalog snapshot's image table
    assert sorted(line["labels_cleared"].values()) == [1, 1] and line["remaining"] == 0
    code, out, _ = run_job(purge_job, argv, capsys)  # again: nothing left to clear
    assert code == 0 and "removed 0 rows" in out and "label texts" not in out


def test_a_purge_killed_while_clearing_an_exports_label_texts_is_finished_by_the_next(
        spark, pristine, root, monkeypatch):
    wds = root / "exports" / "covers-wds"
    export.run_export(spark, plain_settings(root), str(root / "covers"), str(wds), "webdataset",
                      what="thumbnails", out=lambda line: None)

    def die(name):
        if name == "export.archive_edited":  # the shard is rewritten beside itself, not yet renamed over
            raise Killed()

    monkeypatch.setattr(export, "checkpoint", die)
    selector = rules.Selector(names=frozenset({NAMED_IN_LABELS}))
    with pytest.raises(Killed):
        purging.purge(spark, plain_settings(root), selector, "T-labels-killed", out=lambda line: None)
    monkeypatch.undo()
    assert files_holding(wds, NAMED_IN_LABELS.encode()), "killed before the shard was replaced"
    assert items_of(spark, root).where(F.col("name") == NAMING_ROW).first()["deleted_reason"] is None

    result = purging.purge(spark, plain_settings(root), selector, "T-labels-killed", out=lambda line: None)
    assert result.recovered and not result.remaining and not result.unreachable
    assert [p for n in (b"Live_photo", b"Live photo") for p in files_holding(root, n)] == []
    assert not list(wds.glob("*.purging"))
    killed, rerun = audit_lines(root)
    assert killed["interrupted"] is True and list(killed["labels_cleared"].values()) == [1]  # items, before the kill
    assert list(rerun["labels_cleared"].values()) == [1] and next(iter(rerun["labels_cleared"])).endswith("covers-wds")


CHILD = """
import sys
sys.path[:0] = {paths!r}
from mediaextract.config import load_settings
from mediaextract.governance import purge, rules
from mediaextract.session import build_session

settings = load_settings(overrides={{"output.root": {root!r}}}, environ={{}})
spark = build_session(settings, "purge-killed", master="local[1]", extra={{"spark.ui.enabled": "false"}})
purge.purge(spark, settings, rules.Selector(names=frozenset({names!r})), "T-killed")
"""


def test_a_purge_killed_before_the_swap_completes_when_run_again(spark, pristine, root, tmp_path):
    script = CHILD.format(paths=[str(REPO / "lib"), str(REPO)], names=[BY_NAME], root=str(root))
    with open(tmp_path / "child.log", "wb") as log:
        child = subprocess.Popen([sys.executable, "-c", script], stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True, cwd=REPO,
                                 env={**os.environ, "MEDIAEXTRACT_CRASH_ON": "purge.staged"})
        code = child.wait(timeout=300)
        try:
            os.killpg(child.pid, signal.SIGKILL)  # its JVM too: a driver killed outright
        except ProcessLookupError:
            pass
        assert code == -signal.SIGKILL, (tmp_path / "child.log").read_text()[-3000:]
    staged = list(root.rglob("*.staging-*"))
    assert staged, (tmp_path / "child.log").read_text()[-3000:]
    assert removed_rows(items_of(spark, root)) == 0, "nothing swapped yet: readers see the old items"
    assert traces(root, pristine["ok"][BY_NAME])  # the staged copy is clean, the live one is not

    result = purging.purge(spark, plain_settings(root), rules.Selector(names=frozenset({BY_NAME})),
                           "T-killed", out=lambda line: None)
    assert result.rows == 4 and not result.remaining and any(l.kind == rules.SWAP_STAGING for l in result.cleaned)
    assert removed_rows(items_of(spark, root)) == 2
    assert traces(root, pristine["ok"][BY_NAME]) == {} and not list(root.rglob("*.staging-*"))
    killed, rerun = audit_lines(root)
    assert killed["interrupted"] is True and killed["request"] == "T-killed" and killed["rows_removed"] == 0
    assert rerun["rows_removed"] == 4 and "interrupted" not in rerun
    assert not list((root / "_audit" / "running").glob("*.json"))


class Killed(BaseException):
    """Stands for SIGKILL: nothing in the purge catches it or cleans up after it."""


def test_a_purge_killed_between_the_renames_is_rolled_back_and_done_by_the_next_and_audited(
        spark, pristine, root, monkeypatch):
    def die(name):
        if name == "swap.moved_aside":
            raise Killed()

    monkeypatch.setattr(dataset, "checkpoint", die)
    selector = rules.Selector(sha1s=frozenset({pristine["ok"][BY_SHA1]["sha1"]}))
    with pytest.raises(Killed):
        purging.purge(spark, plain_settings(root), selector, "T-mid", out=lambda line: None)
    monkeypatch.undo()
    assert not (root / "covers" / "items").exists(), "killed with items moved aside"

    result = purging.purge(spark, plain_settings(root), selector, "T-mid", out=lambda line: None)
    assert result.recovered and result.recovered[0]["interrupted"] is True
    assert removed_rows(items_of(spark, root)) == 1 and items_of(spark, root).count() == pristine["rows"]
    assert traces(root, pristine["ok"][BY_SHA1]) == {} and not list(root.rglob("*.old"))
    killed, rerun = audit_lines(root)
    assert killed["interrupted"] is True and killed["rows_removed"] == 0  # rolled back: it removed nothing
    assert rerun["rows_removed"] >= 2  # items and the snapshot's row
    removals = json.loads((root / "covers" / "_metadata.json").read_text())["removals"]
    assert len(removals) == 1 and removals[0]["request"] == "T-mid"


def test_a_purge_killed_just_after_a_swap_is_counted_exactly_and_recorded_by_the_next(
        spark, pristine, root, monkeypatch):
    selector = rules.Selector(sha1s=frozenset({pristine["ok"][BY_SHA1]["sha1"]}))
    quiet = lambda line: None  # noqa: E731
    total = purging.purge(spark, plain_settings(root), selector, "T-dry", dry_run=True, out=quiet).rows

    def die(name):
        if name == "swap.moved_in":  # the first rewritten table is in, its rows not yet counted
            raise Killed()

    monkeypatch.setattr(dataset, "checkpoint", die)
    with pytest.raises(Killed):
        purging.purge(spark, plain_settings(root), selector, "T-after", out=quiet)
    monkeypatch.undo()

    purging.purge(spark, plain_settings(root), selector, "T-after", out=quiet)
    killed, rerun = audit_lines(root)
    assert killed["interrupted"] is True and killed["rows_removed"] > 0
    assert killed["rows_removed"] + rerun["rows_removed"] == total  # nothing lost, nothing counted twice
    assert removed_rows(items_of(spark, root)) == 1 and traces(root, pristine["ok"][BY_SHA1]) == {}
    metadata = json.loads((root / "covers" / "_metadata.json").read_text())
    shown = json.loads((root / "covers" / "report.json").read_text())
    assert [r["request"] for r in metadata["removals"]] == [r["request"] for r in shown["removals"]]
    assert {r["request"] for r in shown["removals"]} == {"T-after"}


def test_an_expire_killed_after_moving_a_data_set_aside_is_finished_and_audited_by_a_purge(
        spark, pristine, root, monkeypatch):
    shutil.copytree(pristine["root"] / "covers", root / "gone")
    metadata = json.loads((root / "gone" / "_metadata.json").read_text())
    metadata["expires"] = "2001-01-01T00:00:00+00:00"
    edit(root / "gone" / "_metadata.json", json.dumps(metadata))
    settings = plain_settings(root)
    export_of_gone = Path(export_module_run(spark, settings, root / "gone", root / "exports" / "gone-tar")["path"]
                          .removeprefix("file:"))

    def die(name):
        if name == "expire.moved_aside":
            raise Killed()

    monkeypatch.setattr(expire, "checkpoint", die)
    with pytest.raises(Killed):
        expire.expire(spark, settings, out=lambda line: None)
    monkeypatch.undo()
    assert (root / "gone.expiring").exists() and export_of_gone.exists()

    result = purging.purge(spark, settings, rules.Selector(names=frozenset({BY_NAME})), "T-exp", out=lambda line: None)
    assert not result.unreachable and not result.remaining
    assert not (root / "gone.expiring").exists() and not export_of_gone.exists()
    expired = [line for line in audit_lines(root) if line["action"] == "expire"]
    assert [(line["dataset"].rsplit("/", 1)[-1], line["exports_deleted"]) for line in expired] == [("gone", 1)]
    assert not any("gone" in p.read_text() for p in (root / "_registry").glob("*.json"))


def test_a_reader_during_a_purge_sees_the_old_or_the_new_rows_never_an_error(spark, pristine, root):
    path = str(root / "covers" / "items")
    old, new = 0, 2
    seen: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                seen.append(dataset.with_items(spark, path, removed_rows))
            except Exception as error:  # noqa: BLE001 - any failure is the finding
                errors.append(error)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        wait_for(lambda: seen or errors, "the first read")
        purging.purge(spark, plain_settings(root), rules.Selector(names=frozenset({BY_NAME})),
                      "T-read", out=lambda line: None)
        wait_for(lambda: new in seen or errors, "a read of the new items")
    finally:
        stop.set()
        thread.join(timeout=120)
    assert errors == []
    assert seen[0] == old and set(seen) <= {old, new}


def test_a_rescan_that_still_finds_rows_exits_7(pristine, root, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(dataset, "swap_in", lambda fs, staging, target: None)  # a swap that silently did nothing
    ids = tmp_path / "ids.txt"
    ids.write_text(BY_NAME + "\n")
    code, out, err = run_job(purge_job, ["--request", "T-7", "--names", str(ids), "--set", f"output.root={root}"],
                             capsys)
    assert code == EXIT_PURGE_INCOMPLETE
    assert "matches remain" in err and BY_NAME not in err and len(err.strip().splitlines()) == 1
    assert audit_lines(root)[-1]["remaining"] == 5  # 4 rows, and 1 deletion reason naming it


# --- expire --------------------------------------------------------------------------------------


def export_module_run(spark, settings, data_set: Path, to: Path) -> dict:
    (data_set / "_SUCCESS").touch()
    return export.run_export(spark, settings, str(data_set), str(to), "tar", out=lambda line: None)


def test_expire_deletes_what_expired_by_the_injected_clock_and_never_the_undated(spark, pristine, tmp_path, capsys):
    root = tmp_path / "root"
    for name in ("a", "b", "sub/c", "d"):
        shutil.copytree(pristine["root"] / "covers", root / name)
    created = datetime.fromisoformat(json.loads((root / "a" / "_metadata.json").read_text())["created"])
    export = root / "exports" / "b-tar"
    meta_b = json.loads((root / "b" / "_metadata.json").read_text())
    meta_b["expires"] = (created + timedelta(days=10)).isoformat()
    edit(root / "b" / "_metadata.json", json.dumps(meta_b))
    settings = plain_settings(root)
    export_of_b = export_module_run(spark, settings, root / "b", export)
    (root / "sub" / "c" / "_metadata.json").unlink()
    edit(root / "d" / "_metadata.json", "{ cut short")
    assert export_of_b["path"].endswith("b-tar")
    quiet = lambda line: None  # noqa: E731

    listed = expire.expire(spark, settings, [str(root)], now=created + timedelta(days=5), warn_days=7, out=quiet)
    assert [(Path(p).name, when) for p, when in listed.expiring] == [("b", (created + timedelta(days=10)).strftime("%Y-%m-%d"))]
    assert (root / "b").exists() and export.exists() and not audit_lines(root)

    result = expire.expire(spark, settings, [str(root)], now=created + timedelta(days=11), out=quiet)
    assert [Path(p).name for p in result.deleted] == ["b"]
    assert not (root / "b").exists() and not export.exists() and not list(root.glob("*.expiring"))
    assert sorted(Path(p).name for p in result.unreadable) == ["c", "d"]
    assert (root / "a").exists() and (root / "sub" / "c" / "items").exists() and (root / "d" / "items").exists()
    (line,) = audit_lines(root)
    assert line["action"] == "expire" and line["dataset"].endswith("/b") and line["exports_deleted"] == 1

    later = (created + timedelta(days=181)).strftime("%Y-%m-%dT%H:%M:%SZ")
    code, out, err = run_job(expire_job, ["--set", f"output.root={root}", "--now", later, "--dry-run"], capsys)
    assert code == 0 and "/a: expired" in out and "would be deleted" in out and (root / "a").exists()
    code, out, err = run_job(expire_job, ["--set", f"output.root={root}", "--now", later], capsys)
    assert code == 0, err
    assert "/a: expired" in out and "1 deleted" in out and "2 without readable metadata" in out
    assert not (root / "a").exists() and (root / "sub" / "c").exists() and (root / "d").exists()
    assert [entry["dataset"].rsplit("/", 1)[-1] for entry in audit_lines(root)] == ["b", "a"]


# --- reconcile -----------------------------------------------------------------------------------


def test_reconcile_removes_what_was_undeleted_hard_deleted_or_suppressed(spark, sandbox, pristine, root, capsys):
    ok = pristine["ok"]
    undeleted, hard_deleted, suppressed = ok[BY_NAME], ok[BY_KEY], ok[BY_SHA1]
    connection = sandbox.connect_db()
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO image (img_name, img_size, img_width, img_height, img_metadata, img_bits, "
                "img_media_type, img_major_mime, img_minor_mime, img_description_id, img_actor, "
                "img_timestamp, img_sha1) VALUES (%s, %s, 1, 1, '{}', 8, 'BITMAP', 'image', 'jpeg', 1, 1, "
                "'20250101000000', %s)", (undeleted["name"].encode(), undeleted["size"], undeleted["sha1"].encode()))
            cursor.execute("DELETE FROM filearchive WHERE fa_id IN (%s, %s)", (undeleted["fa_id"], hard_deleted["fa_id"]))
            cursor.execute("UPDATE filearchive SET fa_deleted = 15 WHERE fa_id = %s", (suppressed["fa_id"],))

        argv = [*job_sets(sandbox, **{"output.root": str(root)})]
        code, out, err = run_job(reconcile_job, ["--dry-run", *argv], capsys)
        assert code == 0, err
        assert "3 rows to remove: suppressed 1, undeleted 1, hard_deleted 1" in out
        assert items_of(spark, root).count() == pristine["rows"]

        code, out, err = run_job(reconcile_job, ["--apply", *argv], capsys)
        assert code == 0, err
        assert "re-scan: nothing matches any more" in out
        items = items_of(spark, root)
        gone = {undeleted["fa_id"], hard_deleted["fa_id"], suppressed["fa_id"]}
        assert items.where(F.col("fa_id").isin(list(gone))).count() == 0
        assert items.count() == pristine["rows"] and removed_rows(items) == 3
        snapshot = spark.read.parquet(str(root / "snap" / "filearchive"))
        assert snapshot.where(F.col("fa_id").isin(list(gone))).count() == 0
        (line,) = audit_lines(root)
        assert line["reason"] == "reconcile" and line["reasons"] == {"suppressed": 1, "undeleted": 1, "hard_deleted": 1}
        assert BY_NAME not in json.dumps(line)

        code, out, _ = run_job(reconcile_job, ["--dry-run", *argv], capsys)
        assert code == 0 and "0 rows to remove" in out
    finally:
        connection.close()
        sandbox.seed()


# --- check-access --------------------------------------------------------------------------------


def test_check_access_lists_what_others_can_read_and_exits_1(pristine, root, capsys):
    code, out, _ = run_job(check_access_job, ["--root", str(root)], capsys)
    assert code == 0 and "nothing under" in out

    part = next((root / "covers" / "items").rglob("*.parquet"))
    part.chmod(0o644)
    (root / "snap").chmod(0o755)
    report = root / "covers" / "report.txt"
    report.chmod(0o640)
    code, out, _ = run_job(check_access_job, ["--root", str(root)], capsys)
    assert code == 1
    flagged = [line for line in out.splitlines() if line[:1] == "0"]
    assert len(flagged) == 3 and any(part.name in line for line in flagged)

    code, out, _ = run_job(check_access_job, ["--root", str(root), "--set", "output.group_readable=true"], capsys)
    flagged = [line for line in out.splitlines() if line[:1] == "0"]
    assert code == 1 and len(flagged) == 2 and not any(line.endswith("report.txt  (group: r--)") for line in flagged)


def test_an_extract_after_a_purge_does_not_fetch_the_removed_file_again(
        spark, sandbox, list_paths, pristine, root, tmp_path, capsys, monkeypatch):
    row = pristine["ok"][BY_NAME]
    ids = tmp_path / "ids.txt"
    ids.write_text(f"File:Foo bar.jpg\n{NAMED_IN_LABELS}\n")
    code, _, err = run_job(purge_job, ["--request", "T-again", "--names", str(ids), "--set", f"output.root={root}"],
                           capsys)
    assert code == 0, err
    album = [p for p in list_paths if Path(p).stem == LIST]

    def die(name):
        if name == "extract.planned":  # the plan is on disk, nothing fetched yet
            raise Killed()

    monkeypatch.setattr(extract_module, "checkpoint", die)
    with pytest.raises(Killed):
        run_extract(spark, sandbox_settings(sandbox, output__root=str(root)), album, str(root / "covers"),
                    out=lambda line: None)
    monkeypatch.undo()
    assert list((root / "covers").rglob("planned*")), "the plan should be on disk"
    assert files_holding(root, NAMED_IN_LABELS.encode()) == []  # not in the plan either
    run_extract(spark, sandbox_settings(sandbox, output__root=str(root)), album, str(root / "covers"),
                out=lambda line: None)
    items = items_of(spark, root)
    assert items.where(F.col("name") == BY_NAME).count() == 0 and removed_rows(items) == 2
    assert items.count() == pristine["rows"]
    assert files_holding(root, BY_NAME.encode()) == [] and not any(k.startswith("content") for k in traces(root, row))
    # The catalog still names the live file in 100%_pure.jpg's labels: read again, they go again.
    naming = items.where(F.col("name") == NAMING_ROW).first()
    assert naming["status"] == statuses.OK and naming["description"] == pristine["ok"][NAMING_ROW]["description"]
    assert (naming["deleted_reason"], naming["live_duplicate_of"]) == (None, None)
    assert files_holding(root, NAMED_IN_LABELS.encode()) == []


def test_an_extract_after_a_purge_by_storage_key_keeps_the_files_name_out_too(
        spark, sandbox, list_paths, pristine, root, tmp_path, capsys):
    """The name found for the key blocks the line asking for the file again and the description
    naming it, when the extract reads both from the lists and the catalog anew."""
    ids = tmp_path / "keys.txt"
    ids.write_text(pristine["ok"][BY_KEY]["storage_key"] + "\n")
    code, _, err = run_job(purge_job, ["--request", "T-key-again", "--storage-keys", str(ids),
                                       "--set", f"output.root={root}"], capsys)
    assert code == 0, err
    album = [p for p in list_paths if Path(p).stem == LIST]
    run_extract(spark, sandbox_settings(sandbox, output__root=str(root)), album, str(root / "covers"),
                out=lambda line: None)
    items = items_of(spark, root)
    assert items.where(F.col("name") == BY_KEY).count() == 0 and removed_rows(items) == 2  # its line and duplicate
    cafe = items.where(F.col("name") == BY_SHA1).first()
    assert cafe["status"] == statuses.OK and cafe["description"] is None
    for form in (b"Don't.jpg", b"Don&#x27;t.jpg", b"Don&#39;t.jpg", b"Same cover as"):
        assert files_holding(root, form) == [], form


def test_an_extract_after_a_purge_by_key_of_a_file_no_copy_held_keeps_its_name_out(
        spark, sandbox, list_paths, pristine, tmp_path, capsys):
    """No copy held the file when it was removed, so the audit has no name for it: the extract
    finds the name on the rows it removes by key, and drops the duplicate line and the texts."""
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    ids = tmp_path / "keys.txt"
    ids.write_text(pristine["ok"][BY_KEY]["storage_key"] + "\n")
    code, out, err = run_job(purge_job, ["--request", "T-before", "--storage-keys", str(ids),
                                         "--set", f"output.root={fresh}"], capsys)
    assert code == 0 and "removed 0 rows" in out, err
    album = [p for p in list_paths if Path(p).stem == LIST]
    run_extract(spark, sandbox_settings(sandbox, output__root=str(fresh)), album, str(fresh / "covers"),
                out=lambda line: None)
    items = items_of(spark, fresh)
    assert items.where(F.col("name") == BY_KEY).count() == 0 and removed_rows(items) == 2  # its line and duplicate
    assert items.where(F.col("name") == BY_SHA1).first()["description"] is None
    for form in (b"Don't.jpg", b"Don&#x27;t.jpg", b"Don&#39;t.jpg", b"Same cover as"):
        assert files_holding(fresh, form) == [], form


# --- copies anywhere, garbage, logs (issue 10) -----------------------------------------------------


def registry_entries(root: Path) -> list[tuple[Path, dict]]:
    return [(p, json.loads(p.read_text())) for p in sorted((root / "_registry").glob("*.json"))]


def make_exports(spark, root: Path, second: Path) -> tuple[Path, Path]:
    """Export covers once under root and once under a second configured root; return both."""
    settings = load_settings(overrides={"output.root": str(root), "output.roots": [str(second)]}, environ={})
    inside, outside = root / "exports" / "covers-tar", second / "covers-files"
    export.run_export(spark, settings, str(root / "covers"), str(inside), "tar", out=lambda line: None)
    export.run_export(spark, settings, str(root / "covers"), str(outside), "files", out=lambda line: None)
    return inside, outside


def test_exports_are_registered_and_a_write_outside_the_roots_is_refused(spark, pristine, root, tmp_path, capsys):
    second = tmp_path / "second"
    second.mkdir()
    inside, outside = make_exports(spark, root, second)
    exports = {entry["path"]: entry for _, entry in registry_entries(root) if entry["kind"] == "export"}
    assert set(exports) == {f"file:{inside}", f"file:{outside}"}
    assert all(e["state"] == "complete" and e["dataset"] == f"file:{root / 'covers'}" for e in exports.values())
    code, out, err = run_job(export_job, [str(root / "covers"), "--to", str(tmp_path / "elsewhere"), "--format", "tar",
                                          "--set", f"output.root={root}"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "not under a configured root" in err
    assert not (tmp_path / "elsewhere").exists()


def test_a_registered_export_that_cannot_be_read_fails_the_purge_closed_naming_it(spark, pristine, root, tmp_path, capsys):
    second = tmp_path / "second"
    second.mkdir()
    inside, outside = make_exports(spark, root, second)
    (outside / "manifest.csv").unlink()           # the manifest is gone: which files it holds is unknown
    ids = tmp_path / "ids.txt"
    ids.write_text(BY_NAME + "\n")
    # the second root is not named: the registry of the first leads the purge there
    code, out, err = run_job(purge_job, ["--request", "T-closed", "--names", str(ids), "--set", f"output.root={root}"],
                             capsys)
    assert code == EXIT_PURGE_INCOMPLETE
    assert len(err.strip().splitlines()) == 1 and str(outside) in err and BY_NAME not in err + out
    assert "re-scan: nothing matches any more" not in out
    assert removed_rows(items_of(spark, root)) == 2            # what could be removed was
    assert files_holding(inside, BY_NAME.encode()) == []
    line = audit_lines(root)[-1]
    assert any(str(outside) in p for p in line["unreachable"]) and line["export_files_removed"] == 1


def test_a_registered_export_on_another_hosts_disk_is_named_not_skipped(spark, pristine, root, tmp_path, capsys):
    second = tmp_path / "second"
    second.mkdir()
    make_exports(spark, root, second)
    for path, entry in registry_entries(root):
        if entry["kind"] == "export" and "second" in entry["path"]:
            edit(path, json.dumps({**entry, "host": "another-host.example"}))
    ids = tmp_path / "ids.txt"
    ids.write_text(BY_NAME + "\n")
    code, out, err = run_job(purge_job, ["--request", "T-host", "--names", str(ids), "--set", f"output.root={root}"],
                             capsys)
    assert code == EXIT_PURGE_INCOMPLETE and "another-host.example" in err and "covers-files" in err


def test_garbage_and_a_truncated_part_file_never_block_a_purge(spark, pristine, root, tmp_path, capsys):
    part = next((root / "covers" / "items").rglob("*.parquet"))
    temporary = root / "covers" / "_work" / "run-x" / "batch-00001" / "_temporary" / "0"
    temporary.mkdir(parents=True)
    (temporary / "part-00000-x.snappy.parquet").write_bytes(part.read_bytes()[:200])   # truncated
    uncommitted = root / "covers" / "_work" / "run-x" / "batch-00002" / "list=album_covers"
    uncommitted.mkdir(parents=True)
    shutil.copy(part, uncommitted / part.name)                                         # no _COMMITTED
    staging = root / "exports" / ".covers-tar.exporting-deadbeef"
    staging.mkdir(parents=True)
    (staging / "Foo_bar.jpg").write_bytes(bytes(pristine["ok"][BY_NAME]["content"]))
    broken = root / "snap" / "filearchive" / "part-99999-broken.snappy.parquet"
    broken.write_bytes(b"PAR1 not really")
    ids = tmp_path / "ids.txt"
    ids.write_text(BY_NAME + "\n")
    code, out, err = run_job(purge_job, ["--request", "T-garbage", "--names", str(ids), "--set", f"output.root={root}"],
                             capsys)
    assert code == 0, err
    assert "Exception" not in out + err and "re-scan: nothing matches any more" in out
    assert f"deleted the unreadable part file file:{broken}" in out
    for gone in (temporary.parent, uncommitted.parent, staging, broken):
        assert not gone.exists()
    assert traces(root, pristine["ok"][BY_NAME]) == {} and files_holding(root, BY_NAME.encode()) == []


EVENT_LOG_CHILD = """
import sys
sys.path[:0] = {paths!r}
from jobs import purge
from mediaextract import cli
sys.exit(cli.run(purge.main, {argv!r}))
"""


def test_a_purge_leaves_no_removed_name_in_sparks_event_log_or_its_output(pristine, root, tmp_path):
    events = tmp_path / "events"
    events.mkdir()
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{BY_NAME}\n{BY_KEY}\n")
    argv = ["--request", "T-events", "--names", str(ids), "--set", f"output.root={root}", "--master", "local[1]"]
    submit = (f"--conf spark.eventLog.enabled=true --conf spark.eventLog.dir=file:{events} "
              "--conf spark.eventLog.compress=false --conf spark.ui.enabled=false pyspark-shell")
    done = subprocess.run([sys.executable, "-c", EVENT_LOG_CHILD.format(paths=[str(REPO / "lib"), str(REPO)], argv=argv)],
                          capture_output=True, cwd=REPO, timeout=600,
                          env={**os.environ, "PYSPARK_SUBMIT_ARGS": submit})
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    logs = [p for p in events.rglob("*") if p.is_file()]
    assert logs and any(b"SparkListenerSQLExecutionStart" in p.read_bytes() for p in logs), "no event log written"
    output = done.stdout + done.stderr
    for name in (BY_NAME, BY_KEY, BY_NAME.replace("_", " ")):  # the last: how labels are searched for it
        for needle in {name.encode(), name.encode("unicode_escape"), json.dumps(name)[1:-1].encode()}:
            assert needle not in output
            assert not [p for p in logs if needle in p.read_bytes()], f"a removed name in the event log"


def test_two_purges_at_once_each_remove_their_file_and_nothing_else(spark, pristine, root):
    """The second waits for the first (both hold the root exclusively): no staging is taken over
    from a live run, and every row not targeted stays."""
    results: dict[str, object] = {}

    def run(name: str, request: str) -> None:
        try:
            results[request] = purging.purge(spark, plain_settings(root), rules.Selector(names=frozenset({name})),
                                             request, out=lambda line: None)
        except BaseException as error:  # noqa: BLE001 - reported below
            results[request] = error

    threads = [threading.Thread(target=run, args=(BY_NAME, "T-one")),
               threading.Thread(target=run, args=(BY_KEY, "T-two"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert all(isinstance(r, purging.PurgeResult) for r in results.values()), results
    items = items_of(spark, root)
    targeted = sum(1 for name in pristine["names"] if name in (BY_NAME, BY_KEY))   # duplicate lines too
    assert items.count() == pristine["rows"] and removed_rows(items) == targeted
    kept = sorted(r["sha1"] for r in items.where(F.col("status") == statuses.OK).collect())
    gone = {pristine["ok"][BY_NAME]["sha1"], pristine["ok"][BY_KEY]["sha1"]}
    assert kept == sorted(r["sha1"] for n, r in pristine["ok"].items() if r["sha1"] not in gone)
    lines = audit_lines(root)
    assert sorted(l["request"] for l in lines) == ["T-one", "T-two"] and not any(l.get("interrupted") for l in lines)


def test_an_export_killed_while_replacing_itself_is_rolled_back_and_purged(spark, pristine, root, monkeypatch):
    settings = plain_settings(root)
    target = root / "exports" / "covers-files"
    export.run_export(spark, settings, str(root / "covers"), str(target), "files", out=lambda line: None)

    def die(name):
        if name == "swap.moved_aside":
            raise Killed()

    monkeypatch.setattr(dataset, "checkpoint", die)
    with pytest.raises(Killed):
        export.run_export(spark, settings, str(root / "covers"), str(target), "files", out=lambda line: None)
    monkeypatch.undo()
    assert not target.exists() and (target.parent / "covers-files.old").exists()
    purging.purge(spark, settings, rules.Selector(names=frozenset({BY_NAME})), "T-export", out=lambda line: None)
    assert (target / "manifest.csv").exists(), "the old export is back in place"
    assert list(target.parent.iterdir()) == [target], "staging and the replaced copy are gone"
    assert files_holding(root, BY_NAME.encode()) == [] and traces(root, pristine["ok"][BY_NAME]) == {}
    (entry,) = [e for _, e in registry_entries(root) if e["kind"] == "export"]
    assert entry["state"] == "complete" and entry["path"] == f"file:{target}"


def test_a_purge_waits_for_writers_then_exits_8_in_one_line(spark, pristine, root, tmp_path, capsys):
    from mediaextract import locks
    from mediaextract.errors import EXIT_LOCK_TIMEOUT
    from mediaextract.hadoopfs import HadoopFS

    writer = locks.Lock.for_root(HadoopFS(spark), f"file:{root}", "extract", plain_settings(root))
    ids = tmp_path / "ids.txt"
    ids.write_text(BY_NAME + "\n")
    with writer.shared():  # an extract committing a batch that does not end in time
        code, out, err = run_job(purge_job, ["--request", "T-wait", "--names", str(ids), "--set", f"output.root={root}",
                                             "--set", "governance.lock_timeout_s=1"], capsys)
    assert code == EXIT_LOCK_TIMEOUT
    assert len(err.strip().splitlines()) == 1 and "extract" in err and BY_NAME not in err
    assert removed_rows(items_of(spark, root)) == 0 and not audit_lines(root)   # nothing touched
    assert not (root / "_locks" / "exclusive").exists(), "a purge that gave up leaves no lock behind"
    code, out, err = run_job(purge_job, ["--request", "T-wait", "--names", str(ids), "--set", f"output.root={root}"],
                             capsys)
    assert code == 0, err
