"""snapshot: copy filearchive (and live names) over JDBC into Parquet, for catalog.source=snapshot."""

from __future__ import annotations

import sys

from mediaextract import catalog, cli
from mediaextract.governance import inventory, writers
from mediaextract.hadoopfs import HadoopFS
from mediaextract.session import build_session


def main(argv) -> int:
    parser = cli.job_parser("snapshot", "Take a Parquet snapshot of filearchive.", lists=False)
    parser.add_argument("path", help="where to write the snapshot (any Hadoop path)")
    parser.add_argument("--dry-run", action="store_true",
                        help="count the rows the snapshot would copy; write and register nothing")
    args = parser.parse_args(argv)
    cli.configure_logging(args.quiet, args.verbose)
    settings = cli.settings_from_args(args)
    spark = build_session(settings, "mediaextract snapshot", args.master)
    fs = HadoopFS(spark)
    if args.dry_run:
        inventory.root_of(fs, settings, args.path, inventory.SNAPSHOT)  # exit 2 outside the roots, as a real run
        counts = {"filearchive": catalog.read_filearchive_jdbc(spark, settings).count()}
        if settings["catalog.explain_undeleted"]:
            counts["image"] = catalog.read_image_names_jdbc(spark, settings).count()
        replaces = "; it would replace what is there" if fs.exists(args.path) else ""
        print(f"snapshot {args.path} (dry run): would copy "
              + ", ".join(f"{k} {v} rows" for k, v in counts.items()) + f"{replaces}; nothing written")
        return 0
    with writers.writing(fs, settings, inventory.SNAPSHOT, args.path, "snapshot"):
        counts = catalog.write_snapshot(spark, settings, args.path)
    print(f"snapshot {args.path}: " + ", ".join(f"{k} {v} rows" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
