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

Seeds run one at a time in the background, on one layout (six worker processes); each test
waits for its seed's result. bench/torture.py runs two at a time (two layouts, eleven workers):
the suite shares 2 cores with another pytest worker, where a second slot would only add a layout
to build and five Spark sessions to start. The suite runs five seeds chosen so that each of the
five operations is killed once and each candidate name is purged at least once (seeds 0, 1, 6,
12, 13; seed 7, a second export killed, went: each seed is a whole round on a CPU-bound suite);
bench/torture.py runs the long tail (`make torture`: 200 seeds).
MEDIAEXTRACT_TORTURE_SEEDS=N runs seeds 0..N-1 instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ..torture_harness import CANDIDATES, LIST, OPS, Torture, draw

# seed: the operation it kills (torture_harness.draw; test_the_suite_seeds_cover_… checks it)
SUITE_SEEDS = {0: "purge1", 1: "extract", 6: "export", 12: "expire", 13: "purge2"}
SEEDS = (tuple(range(int(os.environ["MEDIAEXTRACT_TORTURE_SEEDS"])))
         if os.environ.get("MEDIAEXTRACT_TORTURE_SEEDS") else tuple(SUITE_SEEDS))
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

    harness = Torture(tmp_path_factory.mktemp("torture"), overrides, album, slots=1, log=log)
    try:
        harness.start()
        harness.submit(SEEDS)  # in the background; each test waits for its own
        yield harness
    finally:
        harness.close()


def test_the_unkilled_round_passes_every_check(torture):
    assert torture.dry is not None and not torture.dry.problems, torture.dry.report()
    assert all(count > 0 for count in torture.counts.values()), torture.counts


@pytest.mark.parametrize("seed", SEEDS)
def test_a_seeded_kill_leaves_no_trace_and_loses_no_row(torture, seed):
    result = torture.result(seed, timeout_s=SEED_TIMEOUT_S)
    assert not result.problems, result.report()


def test_the_suite_seeds_cover_every_operation_and_every_name():
    drawn = {seed: draw(seed) for seed in SUITE_SEEDS}
    assert {seed: victim for seed, (_, _, victim) in drawn.items()} == SUITE_SEEDS
    assert set(SUITE_SEEDS.values()) == set(OPS)
    assert {name for _, targets, _ in drawn.values() for name in targets} == set(CANDIDATES)
