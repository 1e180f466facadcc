"""reconcile: remove extracted files the wiki has since undeleted, hard-deleted or suppressed."""

from __future__ import annotations

import sys

from mediaextract import cli
from mediaextract.governance.reconcile import reconcile
from mediaextract.session import build_session


def main(argv) -> int:
    parser = cli.job_parser("reconcile", "Compare data sets with the live catalog; remove what must go.",
                            lists=False)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--dry-run", action="store_true", help="count per reason; change nothing")
    mode.add_argument("--apply", action="store_true", help="remove the rows (through purge, audited)")
    parser.add_argument("--root", action="append", default=[], metavar="PATH",
                        help="also look here (repeatable; every configured root always is)")
    args = parser.parse_args(argv)
    cli.configure_logging(args.quiet, args.verbose)
    settings = cli.settings_from_args(args)
    spark = build_session(settings, "mediaextract reconcile", args.master)
    reconcile(spark, settings, args.root, apply=args.apply, out=lambda line: print(line, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
