"""Command-line plumbing shared by the jobs: arguments, settings, logging, exit codes (no Spark)."""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
import traceback
from typing import Callable, Sequence

from .config import Settings, load_settings
from .console import CONSOLE
from .errors import EXIT_BAD_INPUT, EXIT_BUG, EXIT_INTERRUPTED, BadInput, MediaextractError, stopped_line

log = logging.getLogger("mediaextract")


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit 2 (usage stays under --help)."""

    def error(self, message: str):
        raise BadInput(f"{self.prog}: {message} (see --help)")


class Once(argparse.Action):
    """Store an option's value, refusing it a second time (a second --conf would silently win)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, self.dest, None) is not None:
            parser.error(f"{option_string} given twice: give it once")
        setattr(namespace, self.dest, values)


def job_parser(job: str, description: str, lists: bool = True) -> OneLineParser:
    """Return a parser with the options every job takes."""
    parser = OneLineParser(prog=f"mediaextract {job}", description=description)
    parser.add_argument("--conf", action=Once, help="settings file (YAML) over conf/defaults.yaml (once)")
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
        parser.add_argument("--sample", action="append", default=[], metavar="LIST=N|LIST=FRACTION",
                            help="keep N names or a share of a list (N or FRACTION alone: every list)")
        parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
        parser.add_argument("--deleted-since", metavar="UTC", help="select rows deleted at or after this time")
        parser.add_argument("--deleted-until", metavar="UTC", help="select rows deleted before this time")
        parser.add_argument("--uploaded-since", metavar="UTC", help="select rows uploaded at or after this time")
        parser.add_argument("--uploaded-until", metavar="UTC", help="select rows uploaded before this time")
        parser.add_argument("--files", choices=("deleted", "live", "old"),
                            help="which files (catalog.files): deleted (default), live, or old versions of live files")
        parser.add_argument("--media-type", action="append", default=[],
                            help="only this media type (BITMAP, DRAWING, ...): among the lists, or in a window")
        parser.add_argument("--mime", action="append", default=[],
                            help="only this MIME type (image/jpeg, ...): among the lists, or in a window")
    return parser


def parse_utc(text: str, option: str):
    """Return an aware UTC datetime from 2026-10-01, 2026-10-01T00:00Z or 2026-10-01T00:00:00+00:00."""
    from datetime import datetime, timezone

    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"{option} wants a UTC time like 2026-10-01T00:00Z, not {text!r}") from None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def selection_from_args(args):
    """Return the pipeline Selection (deletion window, samples) named by the arguments."""
    from .catalog import DeletionWindow
    from .pipeline import Selection
    from .sampling import SampleSpec

    window = None
    times = {option: parse_utc(value, option) if value else None
             for option, value in (("--deleted-since", args.deleted_since), ("--deleted-until", args.deleted_until),
                                   ("--uploaded-since", args.uploaded_since), ("--uploaded-until", args.uploaded_until))}
    # Media and MIME types select within a window, or among the rows of the named lists (a
    # window without dates); alone they would select every file of a type.
    if any(times.values()) or ((args.media_type or args.mime) and args.lists):
        window = DeletionWindow(
            since=times["--deleted-since"], until=times["--deleted-until"],
            media_types=tuple(m for v in args.media_type for m in v.split(",") if m),
            mimes=tuple(m for v in args.mime for m in v.split(",") if m),
            uploaded_since=times["--uploaded-since"], uploaded_until=times["--uploaded-until"])
        for what in ("deleted", "uploaded"):
            since, until = times[f"--{what}-since"], times[f"--{what}-until"]
            if since and until and since >= until:
                raise BadInput(f"--{what}-since must be before --{what}-until")
    elif args.media_type or args.mime:
        raise BadInput("--media-type and --mime select among named lists or within a window: "
                       "name lists or add --deleted-since/--deleted-until or --uploaded-since/--uploaded-until")
    files = getattr(args, "files", None) or "deleted"
    return Selection(window=window, window_list=args.name or files,
                     samples=tuple(SampleSpec.parse(s) for s in args.sample), seed=args.seed)


def configure_logging(quiet: bool = False, verbose: bool = False) -> None:
    """Set up mediaextract's logging once: messages on the console's stderr, one line each."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(CONSOLE.err)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def settings_from_args(args) -> Settings:
    """Return the settings named by --conf and --set (and --files: catalog.files)."""
    files = getattr(args, "files", None)
    return load_settings(args.conf, [*args.overrides, *([f"catalog.files={files}"] if files else [])])


def extraction_name(args) -> str:
    """Return --name, or a stable name made from the list arguments (so a re-run resumes); live
    and old files (--files) get a suffix of their own, so that controls drawn by a deletion
    list's name never land in that list's data set."""
    if getattr(args, "name", None):
        return args.name
    files = getattr(args, "files", None) or "deleted"
    stems = sorted({a.partition("=")[0] if "=" in a else a.rstrip("/").rsplit("/", 1)[-1].split(".")[0]
                    for a in args.lists})
    joined = "+".join(stems)
    if len(joined) > 60:
        joined = stems[0][:40] + "+" + hashlib.sha1(joined.encode()).hexdigest()[:10]
    if not joined:
        return files
    return joined if files == "deleted" else f"{joined}-{files}"


def _stop_spark() -> None:
    """Stop the session a script started: executors then end cleanly instead of being lost."""
    if "pyspark" in sys.modules:
        from pyspark.sql import SparkSession

        try:
            session = SparkSession.getActiveSession()
            if session is not None:
                session.stop()
        except Exception:  # a JVM already gone (killed, interrupted): nothing left to stop
            traceback.print_exc()


def run(main: Callable[[Sequence[str]], int], argv: Sequence[str] | None = None) -> int:
    """Run a job's main, turning errors into one line on stderr and a documented exit code.

    Run as a script (argv None) it also stops Spark at the end, and when spark-submit.sh started
    it, it speaks to the console the script names (console.py); called from tests with argv, it
    leaves the shared session and the streams alone.
    """
    as_script = argv is None
    argv = sys.argv[1:] if argv is None else argv
    if as_script:
        CONSOLE.attach()
    try:
        return _main(main, argv)
    finally:
        if as_script:
            _stop_spark()


def _main(main: Callable[[Sequence[str]], int], argv: Sequence[str]) -> int:
    try:
        return main(argv)
    except KeyboardInterrupt:
        return _interrupted()
    except MediaextractError as error:
        return _fail(str(error), error.exit_code)
    except SystemExit as exit_:
        return int(exit_.code or 0) if not isinstance(exit_.code, str) else EXIT_BAD_INPUT
    except Exception:
        if CONSOLE.interrupted:  # the JVM went first: its errors are the interruption's
            return _interrupted()
        traceback.print_exc()  # on the run's log when spark-submit.sh started us
        where = f"the traceback is in {CONSOLE.run_log}" if CONSOLE.run_log else "see the traceback above"
        return _fail(f"unexpected failure (a bug): {where}", EXIT_BUG)


def _interrupted() -> int:
    """Return 130; say so unless spark-submit.sh, which got the same Ctrl-C, says it."""
    if not CONSOLE.wrapped:
        print(stopped_line("INT"), file=CONSOLE.err)
    return EXIT_INTERRUPTED


def _fail(message: str, code: int) -> int:
    """Print the one line of a failure (nothing after a Ctrl-C: the wrapper says it) and return code."""
    if CONSOLE.interrupted:
        return _interrupted()
    print(f"mediaextract: error: {message}", file=CONSOLE.err, flush=True)
    CONSOLE.note_reported(code)
    return code
