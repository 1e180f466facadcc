"""Command-line plumbing shared by the jobs: arguments, settings, logging, exit codes (no Spark)."""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
import traceback
from typing import Callable, Sequence

from .config import Settings, load_settings
from .errors import EXIT_BAD_INPUT, EXIT_BUG, BadInput, MediaextractError

log = logging.getLogger("mediaextract")


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit 2 (usage stays under --help)."""

    def error(self, message: str):
        raise BadInput(f"{self.prog}: {message} (see --help)")


def job_parser(job: str, description: str, lists: bool = True) -> OneLineParser:
    """Return a parser with the options every job takes."""
    parser = OneLineParser(prog=f"mediaextract {job}", description=description)
    parser.add_argument("--conf", help="settings file (YAML) over conf/defaults.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one setting (repeatable)")
    parser.add_argument("--master", help="Spark master when not run through spark-submit")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("--quiet", action="store_true", help="print only errors and the result")
    verbosity.add_argument("--verbose", action="store_true", help="print debug messages")
    if lists:
        parser.add_argument("lists", nargs="*", metavar="LIST",
                            help="list files or directories (local or Hadoop paths); NAME=PATH names a list")
        parser.add_argument("--column", default="name", help="the name column of CSV/TSV lists")
        parser.add_argument("--name", help="extraction name (default: from the list names)")
        parser.add_argument("--output", help="output directory (default: <output.root>/<name>)")
    return parser


def configure_logging(quiet: bool = False, verbose: bool = False) -> None:
    """Set up mediaextract's logging once: messages on stderr, one line each."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def settings_from_args(args) -> Settings:
    """Return the settings named by --conf and --set."""
    return load_settings(args.conf, args.overrides)


def extraction_name(args) -> str:
    """Return --name, or a stable name made from the list arguments (so a re-run resumes)."""
    if getattr(args, "name", None):
        return args.name
    stems = sorted({a.partition("=")[0] if "=" in a else a.rstrip("/").rsplit("/", 1)[-1].split(".")[0]
                    for a in args.lists})
    joined = "+".join(stems) or "lists"
    if len(joined) > 60:
        joined = stems[0][:40] + "+" + hashlib.sha1(joined.encode()).hexdigest()[:10]
    return joined


def run(main: Callable[[Sequence[str]], int], argv: Sequence[str] | None = None) -> int:
    """Run a job's main, turning errors into one line on stderr and a documented exit code."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        return main(argv)
    except MediaextractError as error:
        print(f"mediaextract: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("mediaextract: interrupted; committed batches are kept, run again to resume", file=sys.stderr)
        return 130
    except SystemExit as exit_:
        return int(exit_.code or 0) if not isinstance(exit_.code, str) else EXIT_BAD_INPUT
    except Exception:
        traceback.print_exc()
        print("mediaextract: error: unexpected failure (a bug): see the traceback above", file=sys.stderr)
        return EXIT_BUG
