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
    args = parser.parse_args(argv)
    cli.configure_logging(args.quiet, args.verbose)
    settings = cli.settings_from_args(args)
    spark = build_session(settings, "mediaextract snapshot", args.master)
    with writers.writing(HadoopFS(spark), settings, inventory.SNAPSHOT, args.path, "snapshot"):
        counts = catalog.write_snapshot(spark, settings, args.path)
    print(f"snapshot {args.path}: " + ", ".join(f"{k} {v} rows" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
