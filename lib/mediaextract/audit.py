"""The audit log of a root: who removed what, when and why, naming no file (no Spark).

Under each root that governance commands touch:
    _audit/purge.jsonl        one JSON object a line, appended, never rewritten (0600)
    _audit/salt               random bytes made once per root (0600)
    _audit/running/<run>.json what a purge in progress has removed so far (0600)

Identifiers (names, sha1s, storage keys) are logged as HMAC-SHA256(salt, "kind:value"): whoever
holds the salt and a candidate name can prove it was removed; a reader of the log alone learns
nothing about which files were. The journal of a run names each table rewrite before its swap
("pending", with its staging path) and counts it after, so a run killed half-way still ends up in
the log (as "interrupted") the next time a purge runs there, with exactly the rows it removed: a
pending rewrite counts when its staging is gone (swapped in), not when it is still there.

File operations go through `fs`, anything with HadoopFS's small-file methods (exists, mkdirs,
read_bytes, write_bytes, create_exclusive, append_bytes, delete, list).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime, timezone
from typing import Callable, Iterable, Mapping

AUDIT_DIR = "_audit"
LOG_NAME = "purge.jsonl"
SALT_NAME = "salt"
RUNNING_DIR = "running"
FILE_MODE, DIR_MODE = 0o600, 0o700


def utc_text(moment: datetime | None = None) -> str:
    """Return moment (default now) as ISO 8601 UTC to the second, with a Z."""
    moment = moment or datetime.now(timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_salt() -> bytes:
    """Return a fresh salt: 32 random bytes as hex text."""
    return secrets.token_hex(32).encode("ascii")


def salted_hash(salt: bytes, kind: str, value: str) -> str:
    """Return the hex HMAC-SHA256 of "kind:value" under salt (kind keeps a name and a key apart)."""
    return hmac.new(salt, f"{kind}:{value}".encode("utf-8"), hashlib.sha256).hexdigest()


def hash_identifiers(salt: bytes, identifiers: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """Return {kind: sorted salted hashes} for every non-empty kind of identifiers."""
    return {kind: sorted(salted_hash(salt, kind, str(v)) for v in values)
            for kind, values in sorted(identifiers.items()) if values}


def encode_line(record: Mapping) -> bytes:
    """Return record as one line of JSON (ASCII, keys sorted, newline-terminated)."""
    return (json.dumps(record, sort_keys=True, ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii")


def parse_lines(data: bytes) -> list[dict]:
    """Return the records of a log; a line cut short by a crash is skipped, not fatal."""
    records = []
    for line in data.decode("utf-8", errors="replace").splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            records.append(value)
    return records


# Identifier kinds whose removal must also stop a later extract from fetching the file again,
# and NAMED: the names of files a purge removed by another identifier (a sha1, a storage key),
# found in the data, hashed as names are. They block no row: label texts naming them go.
NAMED = "named"
BLOCKING_KINDS = ("name", "sha1", "storage_key", NAMED)


def names_under_a_fresh_salt(names: Iterable[str], kind: str = "name") -> tuple[bytes, dict[str, frozenset[str]]]:
    """Return (a new salt, {kind: the names' salted hashes}): names as a closure that travels to
    Spark's executors may hold them, hashed (as names, whatever the kind), never in clear."""
    salt = new_salt()
    return salt, {kind: frozenset(salted_hash(salt, "name", name) for name in names)}


def names_test(blocked: Iterable[tuple[bytes, Mapping]]) -> Callable[[str], bool]:
    """Return whether a DB key is the name of a removed file, from [(salt, {kind: salted hashes})]
    (removed_hashes per root): its names and the names found for its other identifiers."""
    sets = [(salt, frozenset(hashes.get("name", ())) | frozenset(hashes.get(NAMED, ()))) for salt, hashes in blocked]
    sets = [(salt, hashes) for salt, hashes in sets if hashes]
    return lambda key: any(salted_hash(salt, "name", key) in hashes for salt, hashes in sets)


def removed_hashes(records: Iterable[Mapping]) -> dict[str, frozenset[str]]:
    """Return {kind: salted hashes} of every name, sha1 and storage key a purge ever removed."""
    found: dict[str, set[str]] = {kind: set() for kind in BLOCKING_KINDS}
    for record in records:
        if record.get("action") != "purge" or not isinstance(record.get("identifiers"), Mapping):
            continue
        for kind in BLOCKING_KINDS:
            found[kind].update(h for h in record["identifiers"].get(kind, []) if isinstance(h, str))
    return {kind: frozenset(hashes) for kind, hashes in found.items() if hashes}


class AuditLog:
    """The audit log of one root."""

    def __init__(self, fs, root: str):
        self.fs = fs
        self.root = root.rstrip("/")
        self.directory = f"{self.root}/{AUDIT_DIR}"
        self.path = f"{self.directory}/{LOG_NAME}"
        self.salt_path = f"{self.directory}/{SALT_NAME}"
        self.running = f"{self.directory}/{RUNNING_DIR}"
        self._salt: bytes | None = None

    def _ensure_directory(self) -> None:
        if not self.fs.exists(self.directory):
            self.fs.mkdirs(self.directory, DIR_MODE)

    def salt(self) -> bytes:
        """Return this root's salt, creating it the first time (whoever creates it first wins)."""
        if self._salt is None:
            self._ensure_directory()
            if not self.fs.exists(self.salt_path):
                self.fs.create_exclusive(self.salt_path, new_salt(), FILE_MODE)
            self._salt = self.fs.read_bytes(self.salt_path).strip()
        return self._salt

    def hashes(self, identifiers: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
        """Return the identifiers as this root's salted hashes."""
        return hash_identifiers(self.salt(), identifiers)

    def append(self, record: Mapping) -> None:
        """Append one record to the log."""
        self._ensure_directory()
        self.fs.append_bytes(self.path, encode_line(record), FILE_MODE)

    def records(self) -> list[dict]:
        """Return every record of the log (oldest first)."""
        if not self.fs.exists(self.path):
            return []
        return parse_lines(self.fs.read_bytes(self.path))

    # -- the journal of a run in progress ------------------------------------------------------------

    def _journal(self, run: str) -> str:
        return f"{self.running}/{run}.json"

    def read_journal(self, run: str) -> dict | None:
        """Return the journal of a run, or None when it has none (finished, or never started)."""
        path = self._journal(run)
        if not self.fs.exists(path):
            return None
        try:
            return json.loads(self.fs.read_text(path))
        except ValueError:
            return None

    def _write_journal(self, run: str, journal: Mapping) -> None:
        if not self.fs.exists(self.running):
            self._ensure_directory()
            self.fs.mkdirs(self.running, DIR_MODE)
        self.fs.write_bytes(self._journal(run), json.dumps(journal, sort_keys=True).encode("utf-8"), FILE_MODE)

    def begin(self, run: str, record: Mapping) -> None:
        """Start the journal of a run with the record its log line will carry."""
        self._write_journal(run, {"record": dict(record), "datasets": {}})

    def note_copies(self, run: str, field: str, counts: Mapping[str, int]) -> None:
        """Record in the journal what a run did to copies other than data sets (by path)."""
        journal = self.read_journal(run) or {"record": {"run": run}, "datasets": {}}
        journal.setdefault(field, {}).update({k: int(v) for k, v in counts.items()})
        self._write_journal(run, journal)

    def blocked(self) -> dict[str, frozenset[str]]:
        """Return {kind: salted hashes} a later extract must not fetch: every finished purge's
        and every purge still running (or killed) under this root."""
        records = self.records()
        if self.fs.exists(self.running):
            for entry in self.fs.list(self.running):
                if entry.path.endswith(".json"):
                    journal = self.read_journal(entry.path.rsplit("/", 1)[-1][:-len(".json")])
                    if journal:
                        records.append(journal.get("record") or {})
        return removed_hashes(records)

    def stage(self, run: str, staging: str, dataset: str, rows: int) -> None:
        """Record that a run is about to swap in a rewritten table (staging) of a data set."""
        journal = self.read_journal(run) or {"record": {"run": run}, "datasets": {}}
        journal.setdefault("pending", {})[staging] = {"dataset": dataset, "rows": int(rows)}
        self._write_journal(run, journal)

    def note(self, run: str, dataset: str, rows: int, staging: str | None = None) -> None:
        """Record that a run removed rows from a data set (added up over its tables); the staged
        rewrite they came from, if any, is no longer pending."""
        journal = self.read_journal(run) or {"record": {"run": run}, "datasets": {}}
        journal["datasets"][dataset] = journal["datasets"].get(dataset, 0) + int(rows)
        (journal.get("pending") or {}).pop(staging, None)
        self._write_journal(run, journal)

    def finish(self, run: str, **extra) -> dict:
        """Append the run's line (its record, data sets, rows and extra fields); drop its journal."""
        journal = self.read_journal(run) or {"record": {"run": run}, "datasets": {}}
        line = self._line(journal, extra)
        self.append(line)
        self.fs.delete(self._journal(run))
        return line

    @staticmethod
    def _line(journal: Mapping, extra: Mapping) -> dict:
        line = dict(journal["record"])
        line["datasets"] = dict(sorted(journal["datasets"].items()))
        line["rows_removed"] = sum(journal["datasets"].values())
        exports = dict(sorted((journal.get("exports") or {}).items()))
        if exports:
            line["exports"] = exports
        line["export_files_removed"] = sum(exports.values())
        cleared = journal.get("labels_cleared") or {}
        if cleared:  # rows and samples that stay, without label texts that named a removed file
            line["labels_cleared"] = dict(sorted(cleared.items()))
        line.update(extra)
        return line

    def flush_interrupted(self, now: datetime | None = None,
                          swapped_in: Callable[[str], bool] | None = None) -> list[dict]:
        """Append a line for every run that was killed before writing its own; return them.

        A run whose line is already in the log (killed between appending it and dropping its
        journal) is not logged twice. swapped_in(staging) tells whether a pending rewrite was
        swapped in (its rows count); call it after half-done swaps are repaired and before
        leftover staging is deleted. Without it, pending rewrites do not count.
        """
        if not self.fs.exists(self.running):
            return []
        journals = [e.path for e in self.fs.list(self.running) if e.path.endswith(".json")]
        if not journals:
            return []
        logged = {r.get("run") for r in self.records()}
        lines = []
        for path in sorted(journals):
            run = path.rsplit("/", 1)[-1][:-len(".json")]
            journal = self.read_journal(run)
            if journal is not None and run not in logged:
                for staging, pending in sorted((journal.get("pending") or {}).items()):
                    if swapped_in is not None and swapped_in(staging):
                        unit = pending["dataset"]
                        journal["datasets"][unit] = journal["datasets"].get(unit, 0) + int(pending["rows"])
                line = self._line(journal, {"interrupted": True, "completed_at": utc_text(now)})
                self.append(line)
                lines.append(line)
            self.fs.delete(path)
        return lines
