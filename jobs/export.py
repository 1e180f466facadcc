"""export: a data set's files as tarballs, directories or WebDataset shards, one per list (see README)."""

from __future__ import annotations

import sys

from mediaextract import cli
from mediaextract.export import COMPRESSION, DEFAULT_SHARD_SIZE, FORMATS, WHAT, run_export
from mediaextract.session import build_session


def main(argv) -> int:
    parser = cli.job_parser("export", "Export a data set's files: one archive, directory or shard set per list.",
                            lists=False)
    parser.add_argument("dataset", metavar="DATASET", help="the extraction's output directory")
    parser.add_argument("--to", required=True, metavar="PATH",
                        help="destination directory: a plain or file: path is this machine's disk, "
                             "another scheme (hdfs://...) a Hadoop file system")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--what", default="originals", choices=WHAT)
    parser.add_argument("--compress", default="none", choices=tuple(COMPRESSION),
                        help="tar and webdataset archives (default none: media is compressed already)")
    parser.add_argument("--lists", nargs="+", metavar="LIST", help="only these lists (default: all)")
    parser.add_argument("--shard-size", type=int, default=DEFAULT_SHARD_SIZE,
                        help=f"webdataset: samples per shard (default {DEFAULT_SHARD_SIZE})")
    parser.add_argument("--dry-run", action="store_true",
                        help="check the request and count the ok rows per list; write nothing")
    args = parser.parse_args(argv)
    cli.configure_logging(args.quiet, args.verbose)
    settings = cli.settings_from_args(args)
    spark = build_session(settings, "mediaextract export", args.master)
    say = (lambda line: None) if args.quiet else (lambda line: print(line, flush=True))
    run_export(spark, settings, args.dataset, args.to, args.format, what=args.what, compress=args.compress,
               lists=args.lists, shard_size=args.shard_size, out=say, dry_run=args.dry_run)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
