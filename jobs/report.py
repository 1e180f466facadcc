"""report: write a data set's report.html again from its report.json and items (see README)."""

from __future__ import annotations

import json
import sys

from mediaextract import cli, dataset, pipeline
from mediaextract.report import plural
from mediaextract.errors import BadInput
from mediaextract.hadoopfs import HadoopFS
from mediaextract.session import build_session


def main(argv) -> int:
    parser = cli.job_parser("report", "Write report.html (tables, charts, contact sheets) for a data set.",
                            lists=False)
    parser.add_argument("dataset", metavar="DATASET", help="the extraction's output directory")
    parser.add_argument("--dry-run", action="store_true", help="check the data set and say what would be written")
    args = parser.parse_args(argv)
    cli.configure_logging(args.quiet, args.verbose)
    settings = cli.settings_from_args(args)
    spark = build_session(settings, "mediaextract report", args.master)
    fs = HadoopFS(spark)
    paths = dataset.Paths(args.dataset)
    report_json = paths.report_json
    if not fs.exists(paths.success) or not fs.exists(report_json):
        raise BadInput(f"{paths.root} is not a complete data set (no _SUCCESS or report.json): run extract first")
    built = json.loads(fs.read_text(report_json))
    if args.dry_run:
        what = "replace" if fs.exists(paths.report_html) else "write"
        print(f"report (dry run): would {what} {fs.qualify(paths.report_html)} for "
              f"{plural(len(built.get('lists', {})), 'list')}; nothing written")
        return 0
    # The page gets the same permissions as the report it stands beside. An extract or a purge
    # swapping items/ meanwhile makes the read fail on a vanished file: with_items reads again.
    path = dataset.with_items(spark, lambda: dataset.readable(fs, paths.items),
                              lambda items: pipeline.write_report_html(spark, fs, paths.root, built, items,
                                                                       fs.info(report_json).mode))
    print(fs.qualify(path))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
