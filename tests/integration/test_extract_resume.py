"""Kill and resume: ./spark-submit.sh extract killed (SIGKILL, whole process group) after its first
committed batch, then the same command again finishes the data set as if nothing had happened.
"""

from __future__ import annotations

import glob
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mediaextract import dataset, report, statuses
from mediaextract.dataset import Paths
from mediaextract.digest import sha1_base36
from mediaextract.hadoopfs import HadoopFS
from mediaextract_sandbox.proxy import FaultProxy

from ..conftest import REPO

pytestmark = pytest.mark.timeout(600)

START_DEADLINE_S = 300.0   # spark-submit, the plan and a first batch on a busy 2-core machine
EXIT_DEADLINE_S = 30.0
FIRST_LINE = re.compile(r": (\d+) requested, (\d+) to fetch in (\d+) batches \((\d+) done by earlier runs\)")


def swift_port(sandbox) -> int:
    return urlsplit(sandbox.settings()["storage.endpoint"]).port


def wait_for(condition, what: str, timeout_s: float) -> None:
    """Polls `condition` until it holds; fails the test with `what` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def job_command(sandbox, output: Path, list_paths, **settings) -> list[str]:
    pairs = {**sandbox.settings(), "catalog.partitions": 2, **settings}
    sets = [a for key, value in pairs.items() for a in ("--set", f"{key}={value}")]
    return [str(REPO / "spark-submit.sh"), "--master", "local[2]", "extract", *sets,
            "--output", str(output), *list_paths]


def job_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("MEDIAEXTRACT_")}


def _parents() -> dict[int, int]:
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    return parents


def descendants(pid: int) -> set[int]:
    """Gives the pids of every live process below pid (Spark's Python daemon leaves our group)."""
    parents = _parents()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def committed_markers(output: Path) -> list[str]:
    return glob.glob(str(output / "_work" / "run-*" / "batch-*" / dataset.COMMITTED))


def test_a_run_killed_after_a_committed_batch_resumes_with_nothing_lost_or_doubled(
        spark, sandbox, truth, list_paths, tmp_path):
    output = tmp_path / "out"
    found = truth["totals"]["found"]
    with FaultProxy("127.0.0.1", swift_port(sandbox), latency_s=0.2) as proxy:
        # Originals only: thumbnails cost CPU and have nothing to do with resuming.
        command = job_command(sandbox, output, list_paths, **{"storage.endpoint": proxy.endpoint,
                                                              "fetch.batch_rows": 5,
                                                              "output.content": "originals"})
        with open(tmp_path / "killed-run.log", "wb") as log:
            job = subprocess.Popen(command, cwd=REPO, env=job_env(), stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        below: set[int] = set()
        try:
            wait_for(lambda: committed_markers(output) or job.poll() is not None,
                     "the first committed batch", START_DEADLINE_S)
            assert job.poll() is None, (tmp_path / "killed-run.log").read_text()[-3000:]
            below = descendants(job.pid)
            os.killpg(job.pid, signal.SIGKILL)
            job.wait(EXIT_DEADLINE_S)
        finally:
            if job.poll() is None:
                os.killpg(job.pid, signal.SIGKILL)
                job.wait(EXIT_DEADLINE_S)
            # Spark's Python daemon (its own process group) exits once the JVM is gone; its
            # workers must not fetch into the second run's counts.
            deadline = time.monotonic() + EXIT_DEADLINE_S
            while any(alive(pid) for pid in below) and time.monotonic() < deadline:
                time.sleep(0.05)
            for pid in below:
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
        assert job.returncode == -signal.SIGKILL

        # The killed run stopped mid-way: batches committed, no data set yet.
        assert not (output / "_SUCCESS").exists() and not (output / "items").exists()
        kept = dataset.committed_batches(HadoopFS(spark), Paths(str(output)))
        assert kept
        ok_kept = sum(dataset.read_items(spark, path).where(f"status = '{statuses.OK}'").count()
                      for path in kept)
        assert ok_kept > 0

        proxy.latency_s = 0.0
        wait_for(lambda: proxy.in_flight == 0, "the killed run's requests to end", EXIT_DEADLINE_S)
        proxy.reset_stats()
        again = subprocess.run(command, cwd=REPO, env=job_env(), stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=START_DEADLINE_S)
    assert proxy.errors == []
    assert again.returncode == 0, again.stderr[-3000:]

    # It says it reused the committed work, and fetched only the rest.
    # (after, on stderr or stdout, the warning that the killed run's data set lock was taken over)
    match = next(filter(None, map(FIRST_LINE.search, again.stdout.splitlines())), None)
    assert match, again.stdout[:500]
    requested, to_fetch, _, reused = map(int, match.groups())
    assert (requested, reused, to_fetch) == (truth["totals"]["requested"], ok_kept, found - ok_kept)
    assert reused > 0
    assert sum(r.method == "GET" for r in proxy.log) == to_fetch

    # Exactly one row per requested line, each with its ground-truth status; bytes verified.
    items = dataset.read_items(spark, str(output / "items")).collect()
    expected = {(name, row["line"]): row for name, part in truth["lists"].items() for row in part["rows"]}
    assert len(items) == len(expected) == truth["totals"]["requested"]
    assert {(r["list"], r["line"]): r["status"] for r in items} == {k: row["status"] for k, row in expected.items()}
    ok = [r for r in items if r["status"] == statuses.OK]
    assert len(ok) == truth["totals"]["ok"]
    assert all(sha1_base36(bytes(r["content"])) == r["sha1"] for r in ok)

    built = json.loads((output / "report.json").read_text())
    assert report.check_sums(built) == []
    assert {key: built["totals"][key] for key in truth["totals"]} == truth["totals"]
    assert (output / "_SUCCESS").exists() and not (output / "_work").exists()
