"""purge: remove files from every data set, snapshot and export under the roots (legal requests)."""

from __future__ import annotations

import sys

from mediaextract import cli
from mediaextract.governance import rules
from mediaextract.governance.purge import purge
from mediaextract.errors import BadInput
from mediaextract.hadoopfs import HadoopFS
from mediaextract.session import build_session


def main(argv) -> int:
    parser = cli.job_parser("purge", "Remove files, by name, sha1 or storage key, from every copy.", lists=False)
    parser.add_argument("--request", required=True, help="the request ID (ticket), recorded in the audit log")
    kind = parser.add_mutually_exclusive_group(required=True)
    kind.add_argument("--names", metavar="FILE", help="file names, one a line (as lists are written)")
    kind.add_argument("--sha1", metavar="FILE", help="sha1s, one a line (base 36 as MediaWiki, or hex)")
    kind.add_argument("--storage-keys", metavar="FILE", help="storage keys (fa_storage_key), one a line")
    parser.add_argument("--root", action="append", default=[], metavar="PATH",
                        help="also look here (repeatable; every configured root always is)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be removed; change nothing")
    args = parser.parse_args(argv)
    cli.configure_logging(args.quiet, args.verbose)
    settings = cli.settings_from_args(args)
    spark = build_session(settings, "mediaextract purge", args.master)
    path = args.names or args.sha1 or args.storage_keys
    fs = HadoopFS(spark)
    if not fs.exists(path):
        raise BadInput(f"identifier file not found: {path}")
    data = fs.read_bytes(path)
    if args.names:
        selector = rules.Selector(names=rules.parse_names(data, settings["wiki.capitalize_first"]))
    elif args.sha1:
        selector = rules.Selector(sha1s=rules.parse_sha1s(data))
    else:
        selector = rules.Selector(storage_keys=rules.parse_storage_keys(data))
    purge(spark, settings, selector, args.request, args.root, dry_run=args.dry_run,
                     out=lambda line: print(line, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
