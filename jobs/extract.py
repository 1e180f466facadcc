"""extract: fetch the listed files into the governed data set (resumable; see README)."""

from __future__ import annotations

import sys

from mediaextract import cli, json_output
from mediaextract.extract import dry_run, run_extract
from mediaextract.session import build_session

# What the --json object leaves out of the report: the settings are in the data set's
# report.json and _metadata.json; a scheduler wants the outcome.
LEFT_OUT_OF_JSON = ("settings",)


def main(argv) -> int:
    parser = cli.job_parser("extract", "Extract listed deleted files into a data set.")
    parser.add_argument("--dry-run", action="store_true",
                        help="count what would be fetched (as plan does, and what earlier runs hold); "
                             "fetch and write nothing")
    json_output.add_option(parser)
    args = parser.parse_args(argv)
    cli.configure_logging(json_output.quiet(args), args.verbose)
    with json_output.failures_as_json(args.json):
        settings = cli.settings_from_args(args)
        selection = cli.selection_from_args(args)
        spark = build_session(settings, "mediaextract extract", args.master)
        output = args.output or f"{settings['output.root']}/{cli.extraction_name(args)}"
        # With --json the human lines go to the log (stderr, shown with --verbose); else to stdout.
        say = cli.log.info if args.json else (lambda line: None) if args.quiet else (lambda line: print(line, flush=True))
        run = dry_run if args.dry_run else run_extract
        built = run(spark, settings, args.lists, output, args.column, out=say, selection=selection)
    if args.json:
        json_output.emit({**{k: v for k, v in built.items() if k not in LEFT_OUT_OF_JSON},
                          **json_output.outcome()})
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
