"""plan: size a request without fetching anything: counts, bytes and time per list."""

from __future__ import annotations

import sys
from datetime import datetime, timezone

from mediaextract import catalog, cli, dataset, json_output, pipeline, report
from mediaextract.hadoopfs import HadoopFS
from mediaextract.session import build_session


def main(argv) -> int:
    parser = cli.job_parser("plan", "Count what an extraction would fetch; fetch nothing.")
    json_output.add_option(parser)
    args = parser.parse_args(argv)
    cli.configure_logging(json_output.quiet(args), args.verbose)
    with json_output.failures_as_json(args.json):
        built = _plan(args)
    if args.json:
        json_output.emit({**built, **json_output.outcome()})
    else:
        print(report.format_table(built), end="")
    return 0


def _plan(args) -> dict:
    """Count, write report.json and report.txt beside the data sets, and return the report."""
    settings = cli.settings_from_args(args)
    selection = cli.selection_from_args(args)
    spark = build_session(settings, "mediaextract plan", args.master)
    fs = HadoopFS(spark)
    # Beside the data sets (<root>/_plans/<name>), never inside one: see dataset_files.PLANS.
    output = args.output or dataset.plan_path(settings["output.root"], cli.extraction_name(args))
    frame = pipeline.planned(spark, settings, args.lists, args.column, selection)
    connections = pipeline.effective_connections(spark, settings)
    rows, lines = pipeline.tally(frame, settings)
    built = report.build_report(
        rows, "plan", connections=connections, lines=lines,
        request_s=settings["fetch.estimate_request_s"], bytes_per_s=settings["fetch.estimate_bytes_per_s"],
        extra={"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "output": fs.qualify(output), "settings": settings.public(), **catalog.looked_up_in(settings)})
    file_mode, dir_mode = dataset.modes(settings)
    if not args.output:
        dataset.make_root(fs, settings["output.root"], settings)
    fs.mkdirs(output, dir_mode)
    pipeline.write_report(fs, output, built, file_mode)
    cli.log.info("plan written to %s/report.json", fs.qualify(output))
    return built


if __name__ == "__main__":
    sys.exit(cli.run(main))
