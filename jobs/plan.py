"""plan: size a request without fetching anything: counts, bytes and time per list."""

from __future__ import annotations

import sys
from datetime import datetime, timezone

from mediaextract import cli, pipeline, report
from mediaextract.hadoopfs import HadoopFS
from mediaextract.session import build_session


def main(argv) -> int:
    parser = cli.job_parser("plan", "Count what an extraction would fetch; fetch nothing.")
    args = parser.parse_args(argv)
    cli.configure_logging(args.quiet, args.verbose)
    settings = cli.settings_from_args(args)
    selection = cli.selection_from_args(args)
    spark = build_session(settings, "mediaextract plan", args.master)
    frame = pipeline.planned(spark, settings, args.lists, args.column, selection)
    connections = pipeline.effective_connections(spark, settings)
    built = report.build_report(
        pipeline.count_rows(frame), "plan", connections=connections,
        request_s=settings["fetch.estimate_request_s"], bytes_per_s=settings["fetch.estimate_bytes_per_s"],
        extra={"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "settings": settings.public()})
    fs = HadoopFS(spark)
    output = args.output or f"{settings['output.root']}/{cli.extraction_name(args)}/plan"
    fs.mkdirs(output)
    table = pipeline.write_report(fs, output, built)
    print(table, end="")
    cli.log.info("plan written to %s/report.json", fs.qualify(output))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
