"""Governance on HDFS through ./spark-submit.sh --master yarn (client mode), as people run it.

The session's one extract (conftest.client_extract) is copied on HDFS into a root of this module's
own; the tests below then run in file order on that root, each one YARN application: export and
report, purge (a byte scan of every file read back through HDFS), check-access, expire (the audit
log appended). The scheduled wrapper's lock gets a root of its own. Each test checks the state it
starts from, so that a failure names the step that broke.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from mediaextract import dataset, locks, schedule, statuses
from mediaextract.errors import EXIT_LOCKED
from mediaextract.hadoopfs import HadoopFS

from ..integration.test_one_line_failures import PROGRESS
from .conftest import assert_succeeded_on_yarn, extract_settings, submit_on_yarn

pytestmark = pytest.mark.timeout(1200)


def signatures(data: bytes, count: int = 12, width: int = 64) -> list[bytes]:
    """Return 64-byte slices from the middle of data (as tests/integration/test_governance.py)."""
    middle = len(data) // 2
    return [data[middle + k * 131: middle + k * 131 + width] for k in range(-count // 2, count // 2)]


def traces(fs: HadoopFS, root: str, needles: list[bytes]) -> list[str]:
    """Return every file under root (hidden, checksum, audit and export files included) whose raw
    bytes, read back through HDFS, hold one of needles."""
    found = []
    for entry in fs.walk(root):
        if not entry.is_dir:
            data = fs.read_bytes(entry.path)
            if any(needle in data for needle in needles):
                found.append(entry.path)
    return found


def audit_lines(fs: HadoopFS, root: str) -> list[dict]:
    return [json.loads(line) for line in fs.read_text(f"{root}/_audit/purge.jsonl").splitlines()]


def one_application(result, made) -> None:
    """The job failed as it should, in one line, after one YARN application."""
    said = [line for line in result.stderr.splitlines() if not PROGRESS.match(line)]
    assert len(said) == 1 and said[0].startswith("mediaextract: "), (result.stdout[-3000:], result.stderr[-3000:])
    assert len(made) == 1 and made[0]["applicationType"] == "SPARK", made


@pytest.fixture(scope="module")
def gov(hadoop, spark, client_extract):
    """A root on HDFS holding a copy of the session's extract as `covers`, and the row to purge:
    an ok row whose content and thumbnail no other row holds."""
    source, result, made = client_extract
    assert_succeeded_on_yarn(result, made)
    fs = HadoopFS(spark)
    root = f"{hadoop.home}/gov"
    fs.mkdirs(root, 0o700)
    copied = hadoop.fs_shell("-cp", "-p", source, f"{root}/covers")
    assert copied.returncode == 0, copied.stderr[-2000:]
    items = dataset.read_items(spark, f"{root}/covers/items").where(F.col("status") == statuses.OK)
    rows = items.select("name", "sha1", "content", "thumbnail").collect()
    unique = [r for r in rows if r["content"] and r["thumbnail"]
              and sum(o["sha1"] == r["sha1"] for o in rows) == 1]
    assert unique, "no ok row with a content and thumbnail of its own to purge"
    row = max(unique, key=lambda r: len(r["content"]))
    needles = signatures(bytes(row["content"])) + signatures(bytes(row["thumbnail"]), count=4, width=48)
    return {"fs": fs, "root": root, "data_set": f"{root}/covers", "name": row["name"], "needles": needles,
            "sets": ["--set", f"output.root={root}"]}


def test_export_and_report_on_hdfs(hadoop, yarn_env, gov):
    fs, data_set = gov["fs"], gov["data_set"]
    export_to = f"{gov['root']}/exports/covers-files"
    result, made = submit_on_yarn(hadoop, yarn_env, "export", *gov["sets"], data_set, "--to", export_to,
                                  "--format", "files")
    assert_succeeded_on_yarn(result, made)
    exported = [e for e in fs.walk(export_to) if not e.is_dir]
    assert any(e.path.endswith("/manifest.csv") for e in exported)
    assert any(needle in fs.read_bytes(e.path) for e in exported for needle in gov["needles"]), \
        "the export must hold the file to purge, or the purge's scan of it proves nothing"
    assert {e.mode for e in exported} == {0o600}

    report = f"{data_set}/report.html"
    assert fs.delete(report, recursive=False) and not fs.exists(report)
    result, made = submit_on_yarn(hadoop, yarn_env, "report", *gov["sets"], data_set)
    assert_succeeded_on_yarn(result, made)
    assert fs.info(report).mode == 0o600 and b"<html" in fs.read_bytes(report).lower()


def test_purge_on_hdfs_leaves_no_byte_of_the_file_and_appends_the_audit_log(hadoop, spark, yarn_env, gov):
    fs, root, name = gov["fs"], gov["root"], gov["name"]
    before = traces(fs, root, gov["needles"])
    assert any("/covers/items/" in p for p in before) and any("/exports/" in p for p in before), before
    names = f"{hadoop.home}/requests/T-hdfs.txt"  # a plain path is on HDFS, as the job's lists
    fs.write_bytes(names, f"File:{name}\n".encode())

    result, made = submit_on_yarn(hadoop, yarn_env, "purge", *gov["sets"], "--request", "T-hdfs", "--names", names)
    assert_succeeded_on_yarn(result, made)
    assert "re-scan: nothing matches any more" in result.stdout, result.stdout[-3000:]
    assert name not in result.stdout + result.stderr

    items = dataset.read_items(spark, f"{gov['data_set']}/items")
    assert items.where(F.col("name") == name).count() == 0
    assert items.where(F.col("status") == statuses.REMOVED).count() >= 1
    assert traces(fs, root, gov["needles"]) == []
    audit = f"{root}/_audit/purge.jsonl"
    assert fs.info(audit).mode == 0o600 and fs.info(f"{root}/_audit").mode == 0o700
    [line] = audit_lines(fs, root)
    assert line["action"] == "purge" and line["request"] == "T-hdfs"


def test_check_access_on_hdfs_names_what_others_can_read(hadoop, yarn_env, gov):
    fs = gov["fs"]
    part = next(e.path for e in fs.walk(f"{gov['data_set']}/items") if e.path.endswith(".parquet"))
    fs.set_mode(part, 0o644)
    result, made = submit_on_yarn(hadoop, yarn_env, "check-access", *gov["sets"], "--root", gov["root"])
    assert result.returncode == 1, (result.stdout[-3000:], result.stderr[-3000:])
    flagged = [line for line in result.stdout.splitlines() if line[:1] == "0"]
    assert len(flagged) == 1 and flagged[0].startswith("0644 f ") and Path(part).name in flagged[0], result.stdout
    assert len(made) == 1
    fs.set_mode(part, 0o600)


def test_expire_on_hdfs_deletes_an_expired_data_set_and_its_export_and_appends_the_audit_log(hadoop, yarn_env, gov):
    fs, root, data_set = gov["fs"], gov["root"], gov["data_set"]
    assert fs.exists(data_set) and fs.exists(f"{root}/exports/covers-files")
    created = datetime.fromisoformat(json.loads(fs.read_text(f"{data_set}/_metadata.json"))["created"])
    later = (created + timedelta(days=181)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result, made = submit_on_yarn(hadoop, yarn_env, "expire", *gov["sets"], "--now", later)
    assert_succeeded_on_yarn(result, made)
    assert "/covers: expired" in result.stdout and re.search(r"(?<!\d)1 deleted", result.stdout), result.stdout[-3000:]
    assert not fs.exists(data_set) and not fs.exists(f"{root}/exports/covers-files")
    assert [line["action"] for line in audit_lines(fs, root)] == ["purge", "expire"]  # appended
    assert fs.info(f"{root}/_audit/purge.jsonl").mode == 0o600


def test_scheduled_on_hdfs_exits_6_while_another_run_holds_the_periods_lock(hadoop, spark, sandbox, yarn_env):
    fs = HadoopFS(spark)
    root = f"{hadoop.home}/periods"
    nominal = "2026-11-02T00:00Z"
    period = schedule.period_before(datetime(2026, 11, 2, tzinfo=timezone.utc), "monthly")
    fs.mkdirs(f"{root}/_locks", 0o700)
    lock_path = f"{root}/_locks/snapshot={period.label}.lock"
    held = schedule.PeriodLock(fs, lock_path, timedelta(hours=48))  # the other run, here
    assert held.acquire() is None
    try:
        sets = extract_settings(sandbox, root)
        result, made = submit_on_yarn(hadoop, yarn_env, "scheduled", *sets, "--nominal-time", nominal,
                                      "--frequency", "monthly", "--output-root", root)
        assert result.returncode == EXIT_LOCKED, (result.stdout[-3000:], result.stderr[-3000:])
        one_application(result, made)
        assert not fs.exists(f"{root}/snapshot={period.label}")  # nothing of the period written
        assert locks.read_holder(fs, lock_path).token == held.token  # still ours
    finally:
        held.release()
    assert not fs.exists(lock_path)


def test_the_environment_was_unpacked_once_for_every_application(hadoop):
    """MEDIAEXTRACT_ENVIRONMENT_URI: the NodeManager localized the archive on HDFS once and reused it
    for every later application (uploaded from dist/, each application would add a copy)."""
    apps = [app for app in hadoop.applications() if app["applicationType"] == "SPARK"]
    # os.walk, not rglob: the NodeManager deletes a finished application's cache while we look.
    # A copy under appcache/ would be an upload's (no URI): only filecache/ counts.
    copies = [d for d, _, _ in os.walk(hadoop.base) if Path(d).name == "environment.tar.gz"
              and Path(d).parent.parent.name == "filecache" and "/appcache/" not in d]
    assert len(apps) >= 2 and len(copies) == 1, (len(apps), copies)
