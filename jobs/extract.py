"""extract: fetch the listed files into the governed data set (resumable; see README)."""

from __future__ import annotations

import sys

from mediaextract import cli
from mediaextract.extract import run_extract
from mediaextract.session import build_session


def main(argv) -> int:
    parser = cli.job_parser("extract", "Extract listed deleted files into a data set.")
    args = parser.parse_args(argv)
    cli.configure_logging(args.quiet, args.verbose)
    settings = cli.settings_from_args(args)
    selection = cli.selection_from_args(args)
    spark = build_session(settings, "mediaextract extract", args.master)
    output = args.output or f"{settings['output.root']}/{cli.extraction_name(args)}"
    say = (lambda line: None) if args.quiet else (lambda line: print(line, flush=True))
    run_extract(spark, settings, args.lists, output, args.column, out=say, selection=selection)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
