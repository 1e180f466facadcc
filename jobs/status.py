"""status: what a data set holds: counts per list and status, removals, expiry date and exports."""

from __future__ import annotations

import sys
from datetime import datetime, timezone

from mediaextract import cli, dataset, json_output, pipeline
from mediaextract import status as status_
from mediaextract.errors import BadInput
from mediaextract.governance import inventory as inv
from mediaextract.hadoopfs import HadoopFS
from mediaextract.session import build_session


def read_status(spark, settings, path: str, now: datetime) -> dict:
    """Return the status of the data set at path (BadInput when it is not a complete one)."""
    fs = HadoopFS(spark)
    paths = dataset.Paths(path)
    metadata = dataset.read_metadata(fs, paths)
    if metadata is None or not fs.exists(paths.success):
        what = "no readable _metadata.json" if metadata is None else "no _SUCCESS: an extract is writing it or died"
        raise BadInput(f"{paths.root} is not a complete data set ({what})")
    qualified = fs.qualify(paths.root)
    # A purge swapping items/ meanwhile makes a read fail on a vanished file: with_items reads again.
    all_versions = ((metadata.get("settings") or {}).get("catalog") or {}).get("versions") == "all"
    counted = dataset.with_items(spark, lambda: dataset.readable(fs, paths.items),
                                 lambda items: (pipeline.count_rows(items), pipeline.count_lines(items)
                                                if all_versions else None, pipeline.count_labels(items)))
    rows, lines, labels = counted
    # Exports are registered in the data set's root; its parent is read too, for a data set
    # whose root is not configured here.
    roots = dict.fromkeys([*inv.configured_roots(fs, settings), qualified.rsplit("/", 1)[0]])
    copies = [copy for root in roots for copy in inv.Registry(fs, root).entries()[0]]
    return status_.build_status(qualified, rows, metadata, status_.exports_of(copies, qualified), now, lines,
                              labels)


def main(argv) -> int:
    parser = cli.job_parser("status", "Print what a data set holds: counts, removals, expiry, exports.",
                            lists=False)
    parser.add_argument("dataset", metavar="DATASET", help="the extraction's output directory")
    json_output.add_option(parser)
    args = parser.parse_args(argv)
    cli.configure_logging(json_output.quiet(args), args.verbose)
    with json_output.failures_as_json(args.json):
        settings = cli.settings_from_args(args)
        spark = build_session(settings, "mediaextract status", args.master)
        now = datetime.now(timezone.utc)
        found = read_status(spark, settings, args.dataset, now)
    if args.json:
        json_output.emit({**found, **json_output.outcome()})
    else:
        print(status_.format_status(found, now), end="")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
