"""What every bench script does around its run: where it works, and where its figures go
(printed, and written to <out>/<stem>.txt and <stem>.json)."""

from __future__ import annotations

import json
import os
import platform
import signal
import tempfile
import time
import traceback
from pathlib import Path


def write_results(out_dir: Path, stem: str, text: list[str], results: dict) -> None:
    """Print text, then write it and the full results beside each other."""
    print()
    print("\n".join(text))
    (out_dir / f"{stem}.txt").write_text("\n".join(text) + "\n", encoding="utf-8")
    (out_dir / f"{stem}.json").write_text(json.dumps(results, indent=2, sort_keys=True, default=str) + "\n",
                                          encoding="utf-8")
    print(f"\nwritten: {out_dir / f'{stem}.txt'}, {out_dir / f'{stem}.json'}")


def start_run(out: str, prefix: str) -> tuple[Path, Path]:
    """Return (the results directory, made; a fresh temp root) and let SIGTERM unwind the run
    (so its finally-blocks stop the services it started)."""
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)

    def on_term(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    # Short root: MariaDB's socket lives inside it (108-byte limit on socket paths).
    return out_dir, Path(tempfile.mkdtemp(prefix=prefix))


def machine_facts() -> dict:
    """Return what the figures depend on: cores, platform, Python, the load when the run began."""
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "loadavg_before": " ".join(f"{x:.2f}" for x in os.getloadavg())}


def new_sandbox(root: Path):
    """Return a sandbox (MariaDB, Swift, memcached) on free loopback ports under root/sb, not started."""
    from mediaextract_sandbox import Sandbox, free_ports
    return Sandbox(root / "sb", mariadb_port=free_ports(1), swift_port=free_ports(4), memcached_port=free_ports(1))


def record_failure(results: dict, error: BaseException) -> int:
    """Note why a run stopped early (its figures so far are still written); return its exit code."""
    results["error"] = f"{type(error).__name__}: {error}"
    traceback.print_exc()
    return 1 if not isinstance(error, SystemExit) else (error.code or 1)


def wind_down(results: dict, started: float, steps) -> None:
    """Note the load and the total time, then run every clean-up step even when one fails."""
    results["machine"]["loadavg_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results["timings"]["total_s"] = time.perf_counter() - started
    for step in steps:
        try:
            step()
        except Exception:  # noqa: BLE001 - clean up the rest anyway
            traceback.print_exc()
