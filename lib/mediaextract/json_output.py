"""`--json`: the one JSON object plan, extract and status print on stdout for schedulers (no Spark).

With --json, stdout carries exactly one line, a JSON object, and nothing else: the job's human
lines (progress, tables) are not printed, and its log is cut to warnings and errors, which go
to stderr like every one-line error. The object says how the run ended (`exit_code`, `meaning`)
so a scheduler that keeps only stdout still knows; a documented failure prints an object too,
with its `error` line, before the job exits with its code.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Iterator

from .errors import EXIT_MEANINGS, EXIT_OK, MediaextractError

OPTION_HELP = "print one JSON object on stdout and nothing else (for schedulers)"


def add_option(parser) -> None:
    """Add --json to a job's parser."""
    parser.add_argument("--json", action="store_true", help=OPTION_HELP)


def quiet(args) -> bool:
    """Return whether the job's log is cut to warnings and errors: --quiet, or --json without --verbose."""
    return bool(args.quiet or (getattr(args, "json", False) and not args.verbose))


def outcome(code: int = EXIT_OK, error: str | None = None) -> dict:
    """Return the keys every object has: the exit code, what it means, and the error line if any."""
    result = {"exit_code": code, "meaning": EXIT_MEANINGS.get(code, "unknown")}
    if error is not None:
        result["error"] = error
    return result


def dumps(value: dict) -> str:
    """Return value as one line of JSON (keys sorted, so equal results print equal lines)."""
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


def emit(value: dict, stream=None) -> None:
    """Print the one object on stdout (the stream the job's prints reach)."""
    print(dumps(value), file=stream or sys.stdout, flush=True)


@contextmanager
def failures_as_json(enabled: bool, stream=None) -> Iterator[None]:
    """With --json, print a documented failure as the object too, then let it go on to its exit code."""
    try:
        yield
    except MediaextractError as error:
        if enabled:
            emit(outcome(error.exit_code, str(error)), stream)
        raise
