"""Governance's pure rules: what to remove, what matches, what may stay, what is garbage (no Spark).

Everything here is a plain function of its arguments, so its unit tests need no Spark session and
no file system: identifier files, which rows a request selects, reconcile's reasons, expiry and
access, how a row removed by a legal request looks, and which leftovers under a root are garbage.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator, Mapping

from .. import statuses
from ..digest import hex_to_base36
from ..errors import BadInput
from ..lists import parse_list
from ..rows import LABEL_COLUMNS

LEGAL_REQUEST = "legal request"

# Reconcile's reasons, in the order they are decided: a row has at most one.
SUPPRESSED = "suppressed"
UNDELETED = "undeleted"
HARD_DELETED = "hard_deleted"
RECONCILE_REASONS = (SUPPRESSED, UNDELETED, HARD_DELETED)

# --- identifiers and what matches them ----------------------------------------------------------

_BASE36_SHA1 = re.compile(r"[0-9a-z]{1,31}")
_HEX_SHA1 = re.compile(r"[0-9a-fA-F]{40}")


@dataclass(frozen=True)
class Selector:
    """What to remove: a row matches when any of its identifiers is listed.

    `versions` are (name, sha1) pairs: one file's content under one name, for copies that do
    not carry the fa_id (export manifests).
    """

    names: frozenset[str] = frozenset()
    sha1s: frozenset[str] = frozenset()
    storage_keys: frozenset[str] = frozenset()
    fa_ids: frozenset[int] = frozenset()
    versions: frozenset[tuple[str, str]] = frozenset()

    def is_empty(self) -> bool:
        return not (self.names or self.sha1s or self.storage_keys or self.fa_ids or self.versions)

    def matches(self, row: Mapping) -> bool:
        """Return True when a row (a dict: items, catalog or export manifest row) is selected."""
        name = _as_text(row.get("name", row.get("name_bytes")), strip=False)
        sha1 = _as_text(row.get("sha1"))
        key = _as_text(row.get("storage_key"))
        fa_id = row.get("fa_id")
        return bool((name is not None and name in self.names)
                    or (sha1 and sha1 in self.sha1s)
                    or (key and key in self.storage_keys)
                    or (fa_id is not None and int(fa_id) in self.fa_ids)
                    or (name is not None and sha1 and (name, sha1) in self.versions))

    def mentions(self, text) -> bool:
        """Return True when a label text (a deletion reason, a description, live duplicates'
        names) names one of the files to remove (see names_a_removed_file)."""
        return bool(self.names) and names_a_removed_file(text, self.names.__contains__)

    def identifiers(self) -> dict[str, list[str]]:
        """Return every identifier by kind, as text (what the audit log hashes)."""
        return {"name": sorted(self.names), "sha1": sorted(self.sha1s),
                "storage_key": sorted(self.storage_keys), "fa_id": [str(i) for i in sorted(self.fa_ids)],
                "version": sorted(f"{n}\u0000{s}" for n, s in self.versions)}

    def describe(self) -> str:
        """Return "2 names, 1 sha1"-style text (counts only: never the identifiers)."""
        parts = [(len(self.names), "name", "names"), (len(self.sha1s), "sha1", "sha1s"),
                 (len(self.storage_keys), "storage key", "storage keys"),
                 (len(self.fa_ids), "fa_id", "fa_ids"), (len(self.versions), "file version", "file versions")]
        text = ", ".join(f"{n} {one if n == 1 else many}" for n, one, many in parts if n)
        return text or "nothing"


# --- label texts that name a removed file ---------------------------------------------------------
#
# A deletion reason ("Duplicate of [[File:Foo bar.jpg]]"), an uploader's description or the
# names of live duplicates can name a file that a legal request later removes. The row stays
# (its own file is not removed) but such a text goes: a purge clears it wherever it is kept, and
# an extract run after the purge clears it again when it reads the text from the catalog anew.
# The extract knows removed names only as salted hashes, so a text is not searched for names:
# the names it may hold are listed (name_candidates) and each is tested (hashed, or looked up),
# by purge and extract alike, so the two agree on what names a file.


def _word_starts(text: str) -> list[int]:
    return [0, *(i + 1 for i, c in enumerate(text) if not c.isalnum() and i + 1 < len(text))]


_EXTENSION_END = re.compile(r"\.[^\W_]+")


@lru_cache(maxsize=4096)  # the same reason texts come back row after row
def name_candidates(text: str) -> frozenset[str]:
    """Return the DB keys a text may name: every stretch from a word start (the text's start, or
    after a character that is no letter or digit) to the end of an extension (a "." and letters
    or digits up to a character that is neither), of at most MAX_KEY_BYTES, read as a person
    writes a name (spaces or underscores, the first letter in either case), in the text as it
    is, percent-decoded (a URL) and with HTML character references decoded."""
    from html import unescape
    from unicodedata import normalize
    from urllib.parse import unquote

    from ..names import MAX_KEY_BYTES, ucfirst

    found: set[str] = set()
    for variant in {text, unquote(text), unescape(text)}:
        written = normalize("NFC", variant)
        starts = _word_starts(written)
        for end in (m.end() for m in _EXTENSION_END.finditer(written)):
            # A key holds at most MAX_KEY_BYTES bytes, so at most as many characters.
            for start in starts[bisect_left(starts, end - MAX_KEY_BYTES):bisect_left(starts, end)]:
                key = re.sub(r"[\s_]+", "_", written[start:end]).strip("_")
                if key and len(key.encode("utf-8")) <= MAX_KEY_BYTES:
                    found.add(ucfirst(key))
    return frozenset(found)


def names_a_removed_file(text, removed: Callable[[str], bool]) -> bool:
    """Return True when a label text names a file removed(key) says is removed."""
    value = _as_text(text, strip=False)
    return bool(value) and any(removed(key) for key in name_candidates(value))


def without_mentions(record: Mapping, removed: Callable[[str], bool]) -> dict | None:
    """Return a record (an export's sample metadata) with its label texts that name a removed
    file set to None, or None when it has none."""
    hit = [c for c in LABEL_COLUMNS if names_a_removed_file(record.get(c), removed)]
    return {**record, **{c: None for c in hit}} if hit else None


def _as_text(value, strip: bool = True) -> str | None:
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("utf-8", errors="replace")
    text = str(value)
    return text.strip() if strip else text


def _identifier_lines(data: bytes, what: str) -> Iterator[tuple[int, str]]:
    """Yield (line number, stripped text) of an identifier file: blanks and # comments skipped."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise BadInput(f"{what} file line {number} is not valid UTF-8") from None
        if text and not text.startswith("#"):
            yield number, text


def parse_names(data: bytes, capitalize_first: bool = True) -> frozenset[str]:
    """Return the DB keys of a names file (as lists are read); raise BadInput naming bad lines.

    An unusable line fails the whole request: a legal request that silently matched nothing
    because of a typo would be worse than a refusal. Lines are named by number only.
    """
    rows = parse_list("names", data, kind="lines", capitalize_first=capitalize_first)
    bad = [f"line {row.line} ({row.reason})" for row in rows if row.name is None]
    if bad:
        raise BadInput(f"names file: not a file name at {'; '.join(bad[:5])}" + (" ..." if len(bad) > 5 else ""))
    if not rows:
        raise BadInput("names file holds no name")
    return frozenset(row.name for row in rows)


def parse_sha1s(data: bytes) -> frozenset[str]:
    """Return the sha1s of a file in MediaWiki's base-36 form (40-digit hex is converted)."""
    found = set()
    for number, text in _identifier_lines(data, "sha1"):
        if _HEX_SHA1.fullmatch(text):
            found.add(hex_to_base36(text.lower()))
        elif _BASE36_SHA1.fullmatch(text.lower()):
            found.add(text.lower().zfill(31))
        else:
            raise BadInput(f"sha1 file line {number}: not a sha1 (31 base-36 or 40 hex digits)")
    if not found:
        raise BadInput("sha1 file holds no sha1")
    return frozenset(found)


def parse_storage_keys(data: bytes) -> frozenset[str]:
    """Return the storage keys of a file (fa_storage_key values, e.g. <sha1>.jpg)."""
    found = set()
    for number, text in _identifier_lines(data, "storage key"):
        if any(c.isspace() for c in text) or "/" in text:
            raise BadInput(f"storage key file line {number}: not a storage key (no spaces or '/')")
        found.add(text)
    if not found:
        raise BadInput("storage key file holds no storage key")
    return frozenset(found)


def reconcile_reason(*, visibility: int | None, suppress_bits: int, live_same_sha1: bool,
                     key_held: bool, has_key: bool) -> str | None:
    """Return why an extracted file version must go now, or None when it may stay.

    visibility: fa_deleted of the filearchive row with the row's fa_id (None: no such row).
    An undeleted file also loses its filearchive row and key, so `undeleted` is decided before
    `hard_deleted`; a suppressed row says the most, so it comes first.
    """
    if visibility is not None and visibility & suppress_bits:
        return SUPPRESSED
    if live_same_sha1:
        return UNDELETED
    if has_key and not key_held:
        return HARD_DELETED
    return None


def control_reconcile_reason(*, visibility: int | None, suppress_bits: int, sha1_held: bool) -> str | None:
    """Return why an extracted live file or old version (a control: it has no fa_id) must go
    now, or None when it may stay.

    visibility: the bits (OR-ed) of the oldimage and filearchive rows with the row's name and
    sha1 (None: none; `image` has no bits); sha1_held: whether any live file, old version or
    deleted file still has the sha1. A control deleted since is still held by the wiki and may
    stay (it is a deleted file now); one suppressed since, or whose content the wiki no longer
    holds at all, must go. No `undeleted`: a live file was never deleted.
    """
    if visibility is not None and visibility & suppress_bits:
        return SUPPRESSED
    if not sha1_held:
        return HARD_DELETED
    return None


def expiry_state(metadata: Mapping | None, now: datetime, warn_days: float | None = None) -> tuple[str, datetime | None]:
    """Return ("expired" | "soon" | "current" | "unreadable", expires) for a data set's metadata."""
    try:
        expires = datetime.fromisoformat(str(metadata["expires"]).replace("Z", "+00:00"))
    except (TypeError, KeyError, ValueError):
        return "unreadable", None
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=timezone.utc)
    if expires <= now:
        return "expired", expires
    if warn_days is not None and expires <= now + timedelta(days=warn_days):
        return "soon", expires
    return "current", expires


def access_problem(mode: int, group_readable: bool, acl: bool = False) -> str | None:
    """Return who beyond the owner can get at an entry with this mode, or None when nobody.

    With group_readable the group may read (and enter directories), never write.
    """
    problems = []
    if mode & 0o007:
        problems.append(f"others: {_rwx(mode & 0o007)}")
    group = mode & 0o070
    if group and (not group_readable or group & 0o020):
        problems.append(f"group: {_rwx(group >> 3)}")
    if acl:
        problems.append("an ACL grants more (see getfacl)")
    return "; ".join(problems) or None


def _rwx(bits: int) -> str:
    return "".join(c if bits & b else "-" for c, b in (("r", 4), ("w", 2), ("x", 1)))


# --- rows removed by a legal request ------------------------------------------------------------

REMOVED_REASON = "removed by a legal request (see _audit/purge.jsonl under the root)"
# A removed row keeps where it was asked for (so counts still add up) and nothing about the file.
KEPT_WHEN_REMOVED = ("list", "line", "status", "reason")


def keeps_rows(columns) -> bool:
    """Return True when a table's matching rows become `removed` rows rather than go.

    Tables of requested lines (items, a run's plan and batches) keep one row per line, so that
    counts still add up; anything else (catalog snapshots, blobs) simply loses the rows.
    """
    return {"list", "line", "status"} <= set(columns)


def removed_row(row: Mapping) -> dict:
    """Return a requested line's row as a legal removal leaves it: list and line, nothing else."""
    return {column: (row.get(column) if column in ("list", "line") else None) for column in row} | {
        "status": statuses.REMOVED, "reason": REMOVED_REASON}


def removal_line(when: str, rows: int, reason: str, request: str) -> str:
    """Return the line a data set's report.txt gains when rows are removed."""
    noun = "row" if rows == 1 else "rows"
    return f"{when}: {rows} {noun} removed ({reason}, request {request}); see _audit/purge.jsonl under the root."


# --- paths: tables, roots and leftovers -----------------------------------------------------------

_PARTITION_DIR = re.compile(r"^[^=/]+=[^/]*$")


def table_root(leaf: str, stop: str) -> tuple[str, tuple[str, ...]]:
    """Return (table directory, partition columns) of a directory holding part files."""
    parts: list[str] = []
    path = leaf.rstrip("/")
    while path != stop.rstrip("/") and _PARTITION_DIR.match(path.rsplit("/", 1)[-1]):
        name, path = path.rsplit("/", 1)[-1], path.rsplit("/", 1)[0]
        parts.insert(0, name.split("=", 1)[0])
    return path, tuple(parts)


def under(path: str, directory: str) -> bool:
    """Return True when path is directory or lies below it."""
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def base_name(path: str) -> str:
    """Return the last component of a path."""
    return path.rstrip("/").rsplit("/", 1)[-1]


def table_id(path: str) -> str:
    """Return a short, stable name for a path: no separators, no name in clear."""
    return hashlib.sha1(path.encode("utf-8")).hexdigest()[:16]


# Leftovers of a run that died, by what they are. Under a root held exclusively no writer is
# alive, so each of these belongs to a dead run and is deleted (it may hold real files).
SPARK_TEMPORARY = "spark temporary output"
SWAP_STAGING = "swap staging"
SWAP_OLD = "copy moved aside by a swap"
EXPORT_STAGING = "export staging (of an earlier version)"
EXPORT_REPLACED = "replaced export (of an earlier version)"
UNCOMMITTED_BATCH = "uncommitted batch"
HALF_WRITTEN = "half-written small file"
EXPIRING = "data set an interrupted expire was deleting"
OLD_PURGE_STAGING = "staging of an interrupted purge"

STAGING_MARK = ".staging-"
OLD_SUFFIX = ".old"
EXPORTING_MARK = ".exporting-"
REPLACED_MARK = ".replaced-"
WRITING_SUFFIX = "._writing"
EXPIRING_SUFFIX = ".expiring"


def leftover_kind(name: str, is_dir: bool, committed: bool = False) -> str | None:
    """Return what kind of dead run's leftover an entry is, or None when it is not one.

    committed: for a batch-NNNNN directory, whether it holds its _COMMITTED mark. A `.old`
    copy is not decided here: whether it is garbage or the only copy depends on its sibling
    (see swap_repair).
    """
    if "=" in name:
        return None  # a partition directory (list=<name>) is data, whatever the list is called
    if is_dir and name == "_temporary":
        return SPARK_TEMPORARY
    if STAGING_MARK in name:
        return SWAP_STAGING
    if is_dir and name.startswith(".") and EXPORTING_MARK in name:
        return EXPORT_STAGING
    if is_dir and REPLACED_MARK in name:
        return EXPORT_REPLACED
    if is_dir and name.startswith("batch-") and not committed:
        return UNCOMMITTED_BATCH
    if not is_dir and name.endswith(WRITING_SUFFIX):
        return HALF_WRITTEN
    if is_dir and name.endswith(EXPIRING_SUFFIX):
        return EXPIRING
    if is_dir and name == "_purge":
        return OLD_PURGE_STAGING
    return None


ROLL_BACK = "roll_back"      # the swap moved the target aside and died: the old copy goes back
DROP_OLD = "drop_old"        # the swap put the new copy in place: the old copy goes


def swapped_aside(name: str, is_dir: bool) -> bool:
    """Return True when an entry is the copy a swap moved aside (`<target>.old`)."""
    return is_dir and "=" not in name and name.endswith(OLD_SUFFIX)


def swap_repair(target_exists: bool) -> str:
    """Return what to do with `<target>.old` left by a swap that died (dataset.swap_in).

    Rolling back is always safe: the run that died redoes its work (extract finalizes again
    from its committed batches; a purge is run again, and every purge scans everything).
    """
    return DROP_OLD if target_exists else ROLL_BACK
