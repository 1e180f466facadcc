"""Run as people run it (./spark-submit.sh): --json for schedulers, plan beside the data sets,
every mode private (check-access exits 0 after extract and plan), and --dry-run writing nothing."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from jobs import expire as expire_job
from jobs import export as export_job
from jobs import extract as extract_job
from jobs import report as report_job
from jobs import scheduled as scheduled_job
from jobs import snapshot as snapshot_job
from mediaextract import cli, dataset

from ..conftest import REPO


def submit(*args, timeout=600):
    """Run ./spark-submit.sh as people do (local[2]; no secret from this environment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAEXTRACT_")}
    return subprocess.run([str(REPO / "spark-submit.sh"), "--master", "local[2]", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, env=env)


def sets(sandbox, **extra) -> list[str]:
    pairs = {**sandbox.settings(), "catalog.partitions": 2, **extra}
    return [a for k, v in pairs.items() for a in ("--set", f"{k}={v}")]


def one_object(result) -> dict:
    """Return the JSON object that is the whole of a run's stdout (one line, nothing else)."""
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert result.stdout.count("\n") == 1, result.stdout[-3000:]
    return json.loads(result.stdout)


def tree(root: Path) -> dict[str, tuple]:
    """Return every entry under root (hidden ones too) with its kind, size, mode and mtime."""
    found = {}
    for path in [root, *sorted(root.rglob("*"))]:
        info = path.lstat()
        found[str(path.relative_to(root))] = (stat.S_ISDIR(info.st_mode), info.st_size,
                                              stat.S_IMODE(info.st_mode), info.st_mtime_ns)
    return found


@pytest.fixture(scope="module")
def runs(sandbox, tmp_path_factory):
    """A fresh output root, as `make demo` makes it: extract (with --json) and plan of the lists."""
    root = tmp_path_factory.mktemp("modes") / "out"
    options = sets(sandbox, **{"output.root": str(root)})
    extract = submit("extract", "--json", *options, "--name", "demo", str(sandbox.lists_dir))
    plan = submit("plan", *options, "--name", "demo", str(sandbox.lists_dir))
    assert plan.returncode == 0, (plan.stdout + plan.stderr)[-3000:]
    return {"root": root, "options": options, "extract": extract, "plan": plan}


def test_extract_json_is_the_one_thing_on_stdout(runs, truth):
    found = one_object(runs["extract"])
    assert (found["exit_code"], found["meaning"], found["kind"]) == (0, "done", "extract")
    assert found["output"] == f"file:{runs['root'] / 'demo'}"
    assert found["totals"]["requested"] == truth["totals"]["requested"]
    assert {name: counts["ok"] for name, counts in found["lists"].items()} == {
        name: part["counts"]["ok"] for name, part in truth["lists"].items()}
    assert "settings" not in found


def test_plan_writes_beside_the_data_sets_and_everything_is_private(runs):
    root = runs["root"]
    plan = root / "_plans" / "demo"
    assert json.loads((plan / "report.json").read_text())["kind"] == "plan"
    assert not (root / "demo" / "plan").exists()
    assert "all lists: of " in runs["plan"].stdout
    for directory in (root, root / "_plans", plan, root / "demo"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    for file in (plan / "report.json", plan / "report.txt"):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file


def test_check_access_exits_0_right_after_extract_and_plan(runs):
    result = submit("check-access", *runs["options"], "--root", str(runs["root"]))
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert f"check-access: nothing under file:{runs['root']} can be read beyond the owner" in result.stdout


def test_plan_and_status_json_are_one_object_each(runs, sandbox):
    plan = one_object(submit("plan", "--json", *runs["options"], "--name", "sized", str(sandbox.lists_dir)))
    written = json.loads((runs["root"] / "_plans" / "sized" / "report.json").read_text())
    assert plan == {**written, "exit_code": 0, "meaning": "done"}
    status = one_object(submit("status", "--json", *runs["options"], str(runs["root"] / "demo")))
    extracted = json.loads(runs["extract"].stdout)
    assert (status["lists"], status["totals"]) == (extracted["lists"], extracted["totals"])
    assert status["exports"] == [] and status["removals"] == []


# --- --dry-run: nothing written or changed --------------------------------------------------------


def dry(job, argv, capsys) -> str:
    code = cli.run(job.main, argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err[-3000:]
    return captured.out


def test_extract_dry_run_counts_and_writes_nothing(spark, runs, sandbox, capsys):
    root = runs["root"]
    before = tree(root)
    out = dry(extract_job, ["--dry-run", *runs["options"], "--name", "demo", str(sandbox.lists_dir)], capsys)
    again = dataset.read_items(spark, str(root / "demo" / "items"))
    retried = again.where(again.status.isin("fetch_failed", "not_in_storage", "checksum_mismatch")).count()
    assert f"extract {root}/demo (dry run): " in out and f", {retried} to fetch (" in out
    assert "nothing fetched or written" in out
    out = dry(extract_job, ["--dry-run", "--json", *runs["options"], "--name", "new", str(sandbox.lists_dir)], capsys)
    found = json.loads(out)
    assert found["dry_run"] is True and found["done_by_earlier_runs"] == 0
    assert found["to_fetch"] == found["totals"]["found"] > 0
    assert tree(root) == before


def test_export_snapshot_report_and_scheduled_dry_runs_write_nothing(runs, sandbox, capsys):
    root = runs["root"]
    (root / "demo" / "report.html").unlink()
    before = tree(root)
    out = dry(export_job, [str(root / "demo"), "--to", str(root / "exp"), "--format", "tar", "--dry-run",
                           *runs["options"]], capsys)
    assert f"export file:{root / 'exp'} (dry run): tar, originals; " in out and "nothing written" in out
    out = dry(snapshot_job, [str(root / "snap"), "--dry-run", *runs["options"]], capsys)
    with sandbox.connect_db() as db, db.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM filearchive")
        rows = cursor.fetchone()[0]
    assert out.startswith(f"snapshot {root / 'snap'} (dry run): would copy filearchive {rows} rows")
    out = dry(report_job, [str(root / "demo"), "--dry-run", *runs["options"]], capsys)
    assert out == f"report (dry run): would write file:{root / 'demo' / 'report.html'} for 5 lists; nothing written\n"
    out = dry(scheduled_job, ["--nominal-time", "2022-04-01T00:00Z", "--frequency", "quarterly",
                              "--output-root", str(root / "periods"), "--dry-run", *runs["options"]], capsys)
    assert f"extract {root}/periods/snapshot=2022-Q1 (dry run): " in out
    assert tree(root) == before


def test_governance_leaves_plans_alone(runs, capsys):
    """A plan is no data set and holds no table: expire neither deletes nor reports it."""
    root = runs["root"]
    before = tree(root)
    out = dry(expire_job, ["--dry-run", "--now", "2100-01-01T00:00Z", *runs["options"]], capsys)
    assert f"{root}/demo" in out and "_plans" not in out

    def unlocked(entries):  # a dry run reads under the root held shared: the lock's files change
        return {path: entry for path, entry in entries.items() if not path.startswith("_locks")}

    assert unlocked(tree(root)) == unlocked(before)
