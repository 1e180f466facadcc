"""check-access: list what under a root someone beyond its owner (or group) can read; exit 1 if any."""

from __future__ import annotations

import sys

from mediaextract import cli
from mediaextract.governance.access import check_access
from mediaextract.session import build_session


def main(argv) -> int:
    parser = cli.job_parser("check-access", "List files and directories readable beyond their owner.",
                            lists=False)
    parser.add_argument("--root", metavar="PATH", help="what to check (default output.root)")
    args = parser.parse_args(argv)
    cli.configure_logging(args.quiet, args.verbose)
    settings = cli.settings_from_args(args)
    spark = build_session(settings, "mediaextract check-access", args.master)
    found = check_access(spark, settings, args.root, out=lambda line: print(line, flush=True))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
