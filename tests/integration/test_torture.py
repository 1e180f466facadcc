"""Issue 10's torture test: purges, an extract, an export and an expire at once, one of them killed.

Per seed, on a fresh copy of one pristine layout (root A with the data set `covers`, an expired
copy `old`, a snapshot and a tar export; root B in output.roots with a webdataset export), five
operations start together in long-lived worker processes: two purges of different names, an
extract re-run of covers, an export of covers into B, and an expire. random.Random(seed) picks
the names, the operation to SIGKILL and its checkpoint; the others finish, the killed one runs
again. Then a raw-byte scan of every file under both roots (report.html's inline images
decoded) finds none of the removed names, contents or thumbnails; every row not targeted is
still there; `old` is gone; root A's audit log holds one complete line per purge with the right
counts. See tests/torture_harness.py for the design; bench/torture.py runs many more seeds.

Seeds run two at a time in the background (two layouts with roots of their own); each test
waits for its seed's result. MEDIAEXTRACT_TORTURE_SEEDS=N runs N seeds instead of 20.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ..torture_harness import LIST, Torture

SEEDS = int(os.environ.get("MEDIAEXTRACT_TORTURE_SEEDS") or 20)
SEED_TIMEOUT_S = 840  # under pytest-timeout's 900 s: a hung seed fails with its own message


@pytest.fixture(scope="module")
def torture(sandbox, list_paths, tmp_path_factory):
    album = next(p for p in list_paths if Path(p).stem == LIST)
    overrides = {**sandbox.settings(), "catalog.partitions": 1, "fetch.backoff_initial_s": 0.05,
                 "fetch.backoff_max_s": 0.5}
    log_path = tmp_path_factory.getbasetemp() / "torture.log"

    def log(line: str) -> None:
        with open(log_path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    harness = Torture(tmp_path_factory.mktemp("torture"), overrides, album, log=log)
    try:
        harness.start()
        harness.submit(range(SEEDS))  # two at a time, in the background; each test waits for its own
        yield harness
    finally:
        harness.close()


def test_the_unkilled_round_passes_every_check(torture):
    assert torture.dry is not None and not torture.dry.problems, torture.dry.report()
    assert all(count > 0 for count in torture.counts.values()), torture.counts


@pytest.mark.parametrize("seed", range(SEEDS))
def test_a_seeded_kill_leaves_no_trace_and_loses_no_row(torture, seed):
    result = torture.result(seed, timeout_s=SEED_TIMEOUT_S)
    assert not result.problems, result.report()
