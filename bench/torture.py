"""Issue 10's torture run over many seeds: purges, extract, export and expire at once, one killed.

Starts a private sandbox (MariaDB + Swift on free loopback ports, in a temp dir), builds the
pristine layout once, and runs N seeds (default 200) of tests/integration/test_torture.py's
scenario with the same harness and the same checks (tests/torture_harness.py): per seed two
purges of different names, an extract re-run, an export and an expire start together in
long-lived worker processes, random.Random(seed) picks which one is SIGKILLed at which
checkpoint, the others finish, the killed one runs again; then the raw-byte scan, the rows, the
expired data set, the audit log, the exports and the registries are checked.

Prints one line per seed and the totals (how long it took, seconds per seed, seeds failed, which
operations were killed where) and writes them to <out>/torture.txt and torture.json. Failed
seeds keep their layout under the temp dir only with --keep (it is removed otherwise).

Run: .venv/bin/python bench/torture.py [--seeds 200] [--first-seed 0] [--slots 2] [--workers N]
     [--out bench/results] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "lib"), str(REPO), str(REPO / "dev")]
# Loopback only: Spark would otherwise bind to the machine's outward address.
os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"

from bench.frame import machine_facts, new_sandbox, record_failure, start_run, wind_down, write_results  # noqa: E402
from tests.torture_harness import LIST, OPS, Torture  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200, help="how many seeds (N)")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed+N-1")
    parser.add_argument("--slots", type=int, default=2, help="seeds run at once (each on roots of its own)")
    parser.add_argument("--workers", type=int, default=0, help="worker processes (default: five per slot, plus one)")
    parser.add_argument("--op-timeout", type=float, default=420.0, help="seconds one operation may take")
    parser.add_argument("--out", default=str(REPO / "bench" / "results"), help="where torture.txt/json go")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (failed seeds' layouts, logs)")
    return parser.parse_args(argv)


def build_text(results: dict) -> list[str]:
    seeds = results.get("seeds", [])
    failed = [s for s in seeds if s["problems"]]
    killed = [s for s in seeds if s["killed"]]
    text = [f"torture: {len(seeds)} seeds ({results['config']['first_seed']}.."
            f"{results['config']['first_seed'] + results['config']['seeds'] - 1}), "
            f"{len(failed)} failed, {len(killed)} with an operation killed"]
    timings = results.get("timings", {})
    if seeds:
        per_seed = sorted(s["seconds"] for s in seeds)
        text.append(f"time: {timings.get('seeds_s', 0):.0f} s for the seeds "
                    f"({timings.get('seeds_s', 0) / len(seeds):.1f} s per seed; median {per_seed[len(per_seed) // 2]:.0f} s, "
                    f"max {per_seed[-1]:.0f} s); set-up {timings.get('start_s', 0):.0f} s "
                    f"(sandbox {timings.get('sandbox_up_s', 0):.0f} s); total {timings.get('total_s', 0):.0f} s")
    text.append("checkpoints per operation (unkilled round): "
                + ", ".join(f"{op} {n}" for op, n in results.get("counts", {}).items()))
    victims = Counter(s["victim"] for s in killed)
    text.append("killed: " + (", ".join(f"{op} {victims[op]}" for op in OPS if victims[op]) or "none"))
    where = Counter(s["died_at"].split(" ", 1)[-1] for s in killed)
    if where:
        text.append("killed at: " + ", ".join(f"{name} {n}" for name, n in where.most_common()))
    notes = Counter(note.split(":", 1)[0] for s in seeds for note in s["notes"])
    if notes:
        text.append("notes: " + "; ".join(f"{what} ({n} seeds)" for what, n in notes.most_common()))
    for seed in failed:
        text.append(f"FAILED seed {seed['seed']}: victim {seed['victim']} at {seed['died_at'] or seed['crash_at']}")
        text += [f"  {problem}" for problem in seed["problems"]]
    return text


def main(argv=None) -> int:
    args = parse_args(argv)
    out_dir, root = start_run(args.out, "mxtorture-")
    results: dict = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": {"seeds": args.seeds, "first_seed": args.first_seed, "slots": args.slots, "workers": args.workers,
                   "op_timeout_s": args.op_timeout},
        "machine": machine_facts(),
        "timings": {},
        "seeds": [],
    }
    sandbox = torture = None
    code = 0
    started = time.perf_counter()
    try:
        sandbox = new_sandbox(root)
        t = time.perf_counter()
        sandbox.up()
        sandbox.seed()
        results["timings"]["sandbox_up_s"] = time.perf_counter() - t
        album = str(Path(sandbox.lists_dir) / f"{LIST}.txt")
        overrides = {**sandbox.settings(), "catalog.partitions": 1, "fetch.backoff_initial_s": 0.05,
                     "fetch.backoff_max_s": 0.5}
        torture = Torture(root / "torture", overrides, album, slots=args.slots, workers=args.workers or None,
                          op_timeout_s=args.op_timeout,
                          keep_failed=args.keep, log=lambda line: print(line, flush=True))
        torture.start()
        results["timings"].update(torture.timings)
        results["counts"] = torture.counts
        results["dry_run"] = torture.dry.to_json()
        if torture.dry.problems:
            print(torture.dry.report(), flush=True)
        t = time.perf_counter()
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        torture.submit(seeds)
        for seed in seeds:
            result = torture.result(seed)
            results["seeds"].append(result.to_json())
            results["timings"]["seeds_s"] = time.perf_counter() - t
    except BaseException as error:
        code = record_failure(results, error)
    finally:
        wind_down(results, started, (lambda: torture and torture.close(), lambda: sandbox and sandbox.down()))
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    text = build_text(results)
    if results.get("error"):
        text.append(f"RUN FAILED: {results['error']}")
    if any(s["problems"] for s in results["seeds"]) and not code:
        code = 1
    write_results(out_dir, "torture", text, results)
    return code


if __name__ == "__main__":
    sys.exit(main())
