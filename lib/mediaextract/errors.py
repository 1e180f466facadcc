"""Exit codes and the exceptions that map to them (no Spark here).

Every job catches `MediaextractError` at its edge, prints `str(error)` as one line on stderr
and exits with `error.exit_code`. Anything else is a bug and exits 1 with a traceback.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_BUG = 1
EXIT_BAD_INPUT = 2          # bad arguments, settings or input paths
EXIT_CATALOG_UNREACHABLE = 3
EXIT_STORAGE_AUTH = 4       # storage refused our credentials (401/403)
EXIT_STORAGE_DOWN = 5       # too many recent failures: stopped cleanly, resumable
EXIT_LOCKED = 6             # another run holds the lock (scheduler)
EXIT_PURGE_INCOMPLETE = 7   # a copy could not be reached, or a re-scan still found matches
EXIT_LOCK_TIMEOUT = 8       # a root stayed locked by other runs past governance.lock_timeout_s
EXIT_NOTHING_IN_STORAGE = 9  # the first objects a run fetched were all missing: wrong wiki.id, zone or sharding
EXIT_INTERRUPTED = 130      # Ctrl-C (SIGINT)
EXIT_TERMINATED = 143       # SIGTERM to spark-submit.sh (a scheduler stopping the run)

# One line each, as --help prints them (README's exit-code table says what to do about each).
EXIT_MEANINGS = {
    EXIT_OK: "done",
    EXIT_BUG: "unexpected failure (a bug)",
    EXIT_BAD_INPUT: "bad arguments, settings or input paths",
    EXIT_CATALOG_UNREACHABLE: "catalog unreachable or refused us",
    EXIT_STORAGE_AUTH: "storage refused our credentials",
    EXIT_STORAGE_DOWN: "storage looks down: stopped cleanly, resumable",
    EXIT_LOCKED: "(scheduled) another run holds this period's lock",
    EXIT_PURGE_INCOMPLETE: "a purge or expire could not reach a copy, or matches remain",
    EXIT_LOCK_TIMEOUT: "waited too long for a lock held by other runs",
    EXIT_NOTHING_IN_STORAGE: "storage had none of the first objects: check wiki.id, storage.zone, storage.sharded",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C): run again to resume",
    EXIT_TERMINATED: "stopped (SIGTERM): run again to resume",
}

# What a run stopped by a signal says, by the signal's name; spark-submit.sh asks for the same
# line (python -m mediaextract.usage stopped NAME LOG) so that the sentence exists once.
STOPPED_BY = {"INT": (EXIT_INTERRUPTED, "interrupted"), "TERM": (EXIT_TERMINATED, "stopped (SIGTERM)")}


def stopped_line(signal_name: str, log: str | None = None) -> str:
    """Return the one line of a run stopped by SIGINT or SIGTERM (naming its log when it has one)."""
    _, what = STOPPED_BY[signal_name]
    where = f" (log: {log})" if log else ""
    return f"mediaextract: {what}; committed batches are kept, run again to resume{where}"


class MediaextractError(Exception):
    """An error a user can act on: one line, one exit code."""

    exit_code = EXIT_BUG


class BadInput(MediaextractError):
    exit_code = EXIT_BAD_INPUT


class KerberosLoginError(BadInput):
    """The Hadoop cluster asks for Kerberos and this run has no ticket or keytab it may use."""


class SpeculationRefused(BadInput):
    """spark.speculation asked for: a speculative copy of a fetch task would fetch its objects a
    second time, past every connection cap (the session forces it off anyway, session.py; this
    says so before any work instead of overriding it silently)."""


class CatalogUnreachable(MediaextractError):
    exit_code = EXIT_CATALOG_UNREACHABLE


class StorageAuthError(MediaextractError):
    exit_code = EXIT_STORAGE_AUTH


class StorageDown(MediaextractError):
    exit_code = EXIT_STORAGE_DOWN


class Locked(MediaextractError):
    exit_code = EXIT_LOCKED


class PurgeIncomplete(MediaextractError):
    exit_code = EXIT_PURGE_INCOMPLETE


class LockTimeout(MediaextractError):
    exit_code = EXIT_LOCK_TIMEOUT


class NothingInStorage(MediaextractError):
    """The first objects a run fetched were all missing (404): the paths are likely wrong."""

    exit_code = EXIT_NOTHING_IN_STORAGE
