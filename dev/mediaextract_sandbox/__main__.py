"""Command line: python -m mediaextract_sandbox up|seed|status|down|yarn-demo [--root .sandbox] [ports]."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import Sandbox, SandboxError


DEFAULT_PORTS = {"mariadb_port": 13306, "swift_port": 18080, "memcached_port": 11311}
PORTS_FILE = "ports.json"


def ports(args) -> dict[str, int]:
    """Return the ports to use: each given one, else the one `up` recorded, else its default."""
    recorded = {}
    try:
        recorded = json.loads((Path(args.root) / PORTS_FILE).read_text())
    except (OSError, ValueError):
        pass
    return {key: getattr(args, key) or int(recorded.get(key) or default) for key, default in DEFAULT_PORTS.items()}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mediaextract_sandbox",
        description="Local MariaDB + Swift sandbox for mediaextract (loopback only).")
    parser.add_argument("action", choices=("up", "seed", "status", "down", "yarn-demo"),
                        help="yarn-demo: extract the seeded lists on YARN into HDFS on a Hadoop minicluster "
                        "(make demo-yarn; needs up and seed first)")
    parser.add_argument("--hold", action="store_true", help="yarn-demo: keep the minicluster up until Enter")
    parser.add_argument("--root", default=".sandbox", help="sandbox directory (default .sandbox)")
    # Ports: given, else those `up` recorded under the root (so `down` stops what `up` started,
    # whatever flags it is given), else the defaults.
    parser.add_argument("--mariadb-port", type=int, help=f"default {DEFAULT_PORTS['mariadb_port']}")
    parser.add_argument("--swift-port", type=int, help=f"Swift proxy (default {DEFAULT_PORTS['swift_port']}); "
                        "account/container/object servers use the next three")
    parser.add_argument("--memcached-port", type=int, help=f"default {DEFAULT_PORTS['memcached_port']}")
    parser.add_argument("--wiki-id", default="wikipedia-commons")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one action; return the exit code (0 ok, 1 status: not all running, 2 SandboxError)."""
    args = _parser().parse_args(argv)
    chosen = ports(args)
    sandbox = Sandbox(args.root, wiki_id=args.wiki_id, **chosen)
    started = time.monotonic()
    try:
        if args.action == "up":
            sandbox.up()
            (Path(sandbox.root) / PORTS_FILE).write_text(json.dumps(chosen) + "\n")
            print(f"up: MariaDB on 127.0.0.1:{sandbox.mariadb_port}, Swift on "
                  f"127.0.0.1:{sandbox.swift_port} ({time.monotonic() - started:.1f} s), "
                  f"root {sandbox.root}")
        elif args.action == "seed":
            truth = sandbox.seed()
            totals = truth["totals"]
            print(f"seed: {len(truth['lists'])} lists in {sandbox.lists_dir}, "
                  f"{totals['requested']} names, {totals['ok']} ok "
                  f"({time.monotonic() - started:.1f} s), truth in {sandbox.ground_truth_path}")
        elif args.action == "yarn-demo":
            from . import yarn_demo

            return yarn_demo.run(Path(args.root), hold=args.hold)
        elif args.action == "status":
            status = sandbox.status()
            print("status: " + ", ".join(f"{name} {'up' if ok else 'down'}"
                                         for name, ok in status.items()))
            return 0 if all(status.values()) else 1
        else:
            sandbox.down()
            print(f"down: stopped the services of {sandbox.root} (data kept)")
    except SandboxError as error:
        print(f"sandbox: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
