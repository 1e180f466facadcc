"""Command line: python -m mediaextract_sandbox up|seed|status|down [--root .sandbox] [ports]."""

from __future__ import annotations

import argparse
import sys
import time

from . import Sandbox, SandboxError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mediaextract_sandbox",
        description="Local MariaDB + Swift sandbox for mediaextract (loopback only).")
    parser.add_argument("action", choices=("up", "seed", "status", "down"))
    parser.add_argument("--root", default=".sandbox", help="sandbox directory (default .sandbox)")
    parser.add_argument("--mariadb-port", type=int, default=13306)
    parser.add_argument("--swift-port", type=int, default=18080,
                        help="Swift proxy; account/container/object servers use the next three")
    parser.add_argument("--memcached-port", type=int, default=11311)
    parser.add_argument("--wiki-id", default="wikipedia-commons")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one action; return the exit code (0 ok, 1 status: not all running, 2 SandboxError)."""
    args = _parser().parse_args(argv)
    sandbox = Sandbox(args.root, mariadb_port=args.mariadb_port, swift_port=args.swift_port,
                      memcached_port=args.memcached_port, wiki_id=args.wiki_id)
    started = time.monotonic()
    try:
        if args.action == "up":
            sandbox.up()
            print(f"up: MariaDB on 127.0.0.1:{sandbox.mariadb_port}, Swift on "
                  f"127.0.0.1:{sandbox.swift_port} ({time.monotonic() - started:.1f} s), "
                  f"root {sandbox.root}")
        elif args.action == "seed":
            truth = sandbox.seed()
            totals = truth["totals"]
            print(f"seed: {len(truth['lists'])} lists in {sandbox.lists_dir}, "
                  f"{totals['requested']} names, {totals['ok']} ok "
                  f"({time.monotonic() - started:.1f} s), truth in {sandbox.ground_truth_path}")
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
