"""Governance: remove files from every copy on request (purge), past their date (expire), when the
wiki changed its mind (reconcile); and find copies others could read (check_access).

What a purge looks at under each root:
    every Parquet table: a directory of part files, maybe partitioned (`k=v/`): the data sets'
    items/, the batches and plan of a run in progress (_work/), leftovers of a swap (items.old),
    catalog snapshots (filearchive/, image/: matched on `name_bytes`);
    every export registered in a data set's _metadata.json (through mediaextract.export);
    report.html (its contact sheets show names and thumbnails) is drawn again from what is left.
A table with matching rows is written again without them and swapped in, one table at a time:
    <unit>/_purge/<table id>/new     the table without the rows; READY (a JSON note) once complete
    <unit>/_purge/<table id>/old     the table moved aside by the swap, deleted right after; DONE
where <unit> is the data set holding the table (a directory with _metadata.json or items/), or
else the table's parent (a snapshot). Swapping is two renames, so a reader lists the old files or
the new ones; a read that spans the swap fails on a vanished file instead of mixing the two (see
dataset.with_items, which reads again). A purge killed at any point leaves _purge/ behind; the
next purge first finishes the swaps that were half done (their rows count for the killed run,
which then gets its audit line) and discards the rest, then scans again from scratch, so running
the same command again always completes the removal.

The pure part (identifier files, what matches, reconcile's reasons, expiry and access rules, what
to do with a half-finished swap) comes first and imports nothing from Spark's runtime.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import reduce
from typing import Callable, Iterable, Iterator, Mapping

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from . import audit, catalog, dataset, pipeline
from .digest import hex_to_base36
from .errors import BadInput, PurgeIncomplete
from .hadoopfs import HadoopFS
from .lists import parse_list

log = logging.getLogger("mediaextract")

STAGING = "_purge"
EXPIRING_SUFFIX = ".expiring"
METADATA = "_metadata.json"
REPORT_TEXT = "report.txt"
REPORT_HTML = "report.html"
LEGAL_REQUEST = "legal request"

# Reconcile's reasons, in the order they are decided: a row has at most one.
SUPPRESSED = "suppressed"
UNDELETED = "undeleted"
HARD_DELETED = "hard_deleted"
RECONCILE_REASONS = (SUPPRESSED, UNDELETED, HARD_DELETED)

# --- identifiers and what matches them (pure) ---------------------------------------------------

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
    bad = [f"line {line} ({reason})" for _, line, _, key, _, reason in rows if key is None]
    if bad:
        raise BadInput(f"names file: not a file name at {'; '.join(bad[:5])}" + (" ..." if len(bad) > 5 else ""))
    if not rows:
        raise BadInput("names file holds no name")
    return frozenset(key for _, _, _, key, _, _ in rows)


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


# What to do with one table's staging left by a killed purge.
FINISHED = "finished"          # swapped; only the old copy (and the DONE mark) may be left
FINISH_SWAP = "finish_swap"    # killed between the two renames: the new table goes in
DISCARD = "discard"            # not swapped: the staged copy goes, the table stays as it is
ROLL_BACK = "roll_back"        # the table is missing and nothing new to put in: old goes back


def recovery_action(*, ready: bool, done: bool, target: bool, new: bool, old: bool) -> str:
    """Return what a purge does with a table's staging found from an earlier, killed run."""
    if not ready:
        return DISCARD  # nothing was moved before READY
    if done:
        return FINISHED
    if not target and new and old:
        return FINISH_SWAP
    if target and old and not new:
        return FINISHED
    if not target and old and not new:
        return ROLL_BACK
    return DISCARD


def removal_line(when: str, rows: int, reason: str, request: str) -> str:
    """Return the line a data set's report.txt gains when rows are removed."""
    noun = "row" if rows == 1 else "rows"
    return f"{when}: {rows} {noun} removed ({reason}, request {request}); see _audit/purge.jsonl under the root."


def table_id(path: str) -> str:
    """Return the staging name of a table: short, stable, no path separators."""
    return hashlib.sha1(path.encode("utf-8")).hexdigest()[:16]


_PARTITION_DIR = re.compile(r"^[^=/]+=[^/]*$")


def table_root(leaf: str, stop: str) -> tuple[str, tuple[str, ...]]:
    """Return (table directory, partition columns) of a directory holding part files."""
    parts: list[str] = []
    path = leaf.rstrip("/")
    while path != stop.rstrip("/") and _PARTITION_DIR.match(path.rsplit("/", 1)[-1]):
        name, path = path.rsplit("/", 1)[-1], path.rsplit("/", 1)[0]
        parts.insert(0, name.split("=", 1)[0])
    return path, tuple(parts)


def _under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


# --- finding what is under a root -----------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    path: str                       # qualified directory of the table
    unit: str                       # data set (or parent) whose _purge/ stages its rewrite
    partitions: tuple[str, ...]     # partition columns (directory names k=v)
    sample: str                     # one part file, for the data columns


@dataclass
class Inventory:
    root: str
    datasets: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    staging: list[str] = field(default_factory=list)       # units with _purge/ left behind
    exports: dict[str, list[dict]] = field(default_factory=dict)  # data set -> export entries


def _name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def discover(fs: HadoopFS, root: str) -> Inventory:
    """Return the data sets, Parquet tables, leftover staging and exports under a root."""
    root = fs.qualify(root).rstrip("/")
    inventory = Inventory(root)
    leaves: list[tuple[str, str]] = []
    pending = [root]
    while pending:
        directory = pending.pop()
        entries = fs.list(directory)
        names = {_name(e.path): e for e in entries}
        if (METADATA in names and not names[METADATA].is_dir) or ("items" in names and names["items"].is_dir):
            inventory.datasets.append(directory)
        part_file = next((e.path for e in entries if not e.is_dir and _name(e.path).endswith(".parquet")), None)
        if part_file:
            leaves.append((directory, part_file))
        for entry in entries:
            if not entry.is_dir:
                continue
            name = _name(entry.path)
            if name == STAGING:
                inventory.staging.append(directory)
            elif not (directory == root and name == audit.AUDIT_DIR):
                pending.append(entry.path)
    for data_set in inventory.datasets:
        metadata = _read_json(fs, f"{data_set}/{METADATA}")
        entries = (metadata or {}).get("exports") or []
        inventory.exports[data_set] = [e for e in entries if isinstance(e, dict) and e.get("path")]
    export_paths = [fs.qualify(e["path"]).rstrip("/") for es in inventory.exports.values() for e in es]
    seen = set()
    for leaf, sample in sorted(leaves):
        path, partitions = table_root(leaf, root)
        if path in seen or any(_under(path, p) for p in export_paths):
            continue
        seen.add(path)
        owners = [d for d in inventory.datasets if _under(path, d) and path != d]
        unit = max(owners, key=len) if owners else path.rsplit("/", 1)[0]
        inventory.tables.append(Table(path, unit, partitions, sample))
    inventory.datasets.sort()
    inventory.staging.sort()
    return inventory


def _read_json(fs: HadoopFS, path: str) -> dict | None:
    try:
        if not fs.exists(path):
            return None
        value = json.loads(fs.read_text(path))
        return value if isinstance(value, dict) else None
    except Exception:  # unreadable, permissions, half-written: the caller says "no readable metadata"
        return None


# --- Spark: reading tables and matching rows ------------------------------------------------------


def read_table(spark: SparkSession, table: Table) -> DataFrame:
    """Return a table's rows: items with their contract schema, anything else as written.

    Partition values are read as text whatever they look like (a list named 2024 stays "2024").
    """
    if _name(table.path) == "items" or table.partitions == ("list",):
        return dataset.read_items(spark, table.path)
    data = spark.read.parquet(table.sample).schema
    schema = StructType([*data.fields, *[StructField(p, StringType(), True) for p in table.partitions
                                          if p not in data.fieldNames()]])
    return spark.read.schema(schema).option("basePath", table.path).parquet(table.path)


def match_condition(frame: DataFrame, selector: Selector) -> Column | None:
    """Return a never-null condition selecting the frame's matching rows, None if it cannot match."""
    columns = set(frame.columns)
    name = "name" if "name" in columns else "name_bytes" if "name_bytes" in columns else None
    parts = []
    if selector.names and name:
        parts.append(catalog.text_column(frame, name, strip=False).isin(sorted(selector.names)))
    if selector.sha1s and "sha1" in columns:
        parts.append(catalog.text_column(frame, "sha1").isin(sorted(selector.sha1s)))
    if selector.storage_keys and "storage_key" in columns:
        parts.append(catalog.text_column(frame, "storage_key").isin(sorted(selector.storage_keys)))
    if selector.fa_ids and "fa_id" in columns:
        parts.append(F.col("fa_id").cast("long").isin(sorted(selector.fa_ids)))
    if selector.versions and name and "sha1" in columns:
        pair = F.concat_ws("\u0000", catalog.text_column(frame, name, strip=False), catalog.text_column(frame, "sha1"))
        parts.append(pair.isin(sorted(f"{n}\u0000{s}" for n, s in selector.versions)))
    if not parts:
        return None
    # isin on a null is null, and where(~null) drops the row: a row with a null identifier
    # must count as "no match", never vanish from the rewritten table.
    return F.coalesce(reduce(lambda a, b: a | b, parts), F.lit(False))


def count_matches(spark: SparkSession, table: Table, selector: Selector) -> int:
    """Return how many rows of a table the selector matches."""
    frame = read_table(spark, table)
    condition = match_condition(frame, selector)
    return 0 if condition is None else frame.where(condition).count()


def _export_module():
    try:
        from . import export  # built separately; until then, exports are none
    except ImportError:
        return None
    return export


def _export_function(name: str) -> Callable | None:
    module = _export_module()
    return getattr(module, name, None) if module is not None else None


def export_matches(fs: HadoopFS, entry: dict, selector: Selector) -> int:
    """Return how many files of a registered export the selector matches, removing none."""
    scan = _export_function("scan_export")
    if scan is not None:
        return int(scan(fs, entry, selector.matches))
    purge_export = _export_function("purge_export")
    if purge_export is None:
        return 0
    matched = []

    def count_only(row: dict) -> bool:
        # purge_export removes what this answers True for: answering False leaves the export as
        # it is, while every row it looks at is seen here.
        if selector.matches(row):
            matched.append(row.get("file"))
        return False

    purge_export(fs, entry, count_only)
    return len(matched)


# --- purge ---------------------------------------------------------------------------------------


@dataclass
class PurgeResult:
    """What a purge did (or, in a dry run, would do), per table and per unit."""

    run: str
    dry_run: bool
    tables: dict[str, int] = field(default_factory=dict)       # table -> rows (removed or to remove)
    units: dict[str, int] = field(default_factory=dict)        # data set / snapshot -> rows
    datasets: set[str] = field(default_factory=set)            # which units are data sets
    export_files: dict[str, int] = field(default_factory=dict)  # export path -> files removed
    remaining: dict[str, int] = field(default_factory=dict)    # after the re-scan: table -> rows
    recovered: list[dict] = field(default_factory=list)        # interrupted runs completed first
    audit_logs: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def _roots(fs: HadoopFS, settings, roots: Iterable[str] | None) -> list[str]:
    chosen = list(roots or []) or [settings["output.root"]]
    qualified = []
    for root in chosen:
        if not fs.exists(root):
            raise BadInput(f"root {root} does not exist")
        path = fs.qualify(root).rstrip("/")
        if path not in qualified:
            qualified.append(path)
    return qualified


def _user(fs: HadoopFS) -> str:
    try:
        return fs.user()
    except Exception:  # no JVM user: fall back to the OS account
        import getpass
        return getpass.getuser()


def _owning_root(path: str, roots: list[str]) -> str:
    return next((r for r in roots if _under(path, r)), roots[0])


def _stage(spark: SparkSession, fs: HadoopFS, table: Table, selector: Selector, work: str,
           note: dict, removed: int) -> None:
    """Write the table without its `removed` matching rows into work/new, then mark it READY.

    The copy gets the table's modes (a group-readable data set stays group-readable).
    """
    frame = read_table(spark, table)
    new = f"{work}/new"
    writer = frame.where(~match_condition(frame, selector)).write.mode("overwrite")
    if table.partitions:
        writer = writer.partitionBy(*table.partitions)
    writer.parquet(new)
    mode = fs.info(table.path).mode
    for entry in [fs.info(new), *fs.walk(new)]:
        fs.set_mode(entry.path, mode if entry.is_dir else mode & 0o666)
    fs.write_text(f"{work}/READY", json.dumps({**note, "target": table.path, "removed": removed}))


def _swap(fs: HadoopFS, work: str, target: str) -> None:
    """Put work/new in place of target: target -> work/old, work/new -> target, DONE, drop old."""
    if not fs.rename(target, f"{work}/old"):
        raise OSError(f"could not move {target} aside")
    _finish_swap(fs, work, target)


def _finish_swap(fs: HadoopFS, work: str, target: str) -> None:
    if not fs.rename(f"{work}/new", target):
        raise OSError(f"could not move the purged copy of {target} in place")
    fs.write_bytes(f"{work}/DONE", b"")
    fs.delete(f"{work}/old")


def _record_removal(spark: SparkSession, fs: HadoopFS, unit: str, note: Mapping, rows: int, out) -> None:
    """Add the removal to a data set's _metadata.json "removals" and report.txt (once per run);
    draw report.html again, since its contact sheets show names and thumbnails."""
    metadata_path = f"{unit}/{METADATA}"
    metadata = _read_json(fs, metadata_path)
    if metadata is not None and not any(r.get("run") == note["run"] for r in metadata.get("removals") or []):
        metadata.setdefault("removals", []).append(
            {"at": note["at"], "rows": rows, "reason": note["reason"], "request": note["request"], "run": note["run"]})
        fs.write_text(metadata_path, json.dumps(metadata, indent=2, sort_keys=True) + "\n",
                      fs.info(metadata_path).mode)
    report_path = f"{unit}/{REPORT_TEXT}"
    if fs.exists(report_path):
        text = fs.read_text(report_path)
        line = removal_line(note["at"], rows, note["reason"], note["request"])
        if line not in text:
            fs.write_text(report_path, text + ("" if text.endswith("\n") else "\n") + line + "\n",
                          fs.info(report_path).mode)
    _redraw_report_html(spark, fs, unit, out)


def _redraw_report_html(spark: SparkSession, fs: HadoopFS, unit: str, out) -> None:
    html, built = f"{unit}/{REPORT_HTML}", f"{unit}/report.json"
    if not fs.exists(html):
        return
    try:
        pipeline.write_report_html(spark, fs, unit, json.loads(fs.read_text(built)),
                                   dataset.read_items(spark, f"{unit}/items"), fs.info(html).mode)
    except Exception as error:  # noqa: BLE001 - whatever failed, the old page must not stay
        fs.delete(html)
        out(f"  {html} could not be drawn again ({type(error).__name__}): deleted; run the report job to redo it")


def _recover(spark: SparkSession, fs: HadoopFS, unit: str, roots: list[str], out) -> list[dict]:
    """Finish or discard the staging a killed purge left in unit; return what was completed."""
    staging = f"{unit}/{STAGING}"
    completed: dict[str, dict] = {}
    for work in sorted(e.path for e in fs.list(staging) if e.is_dir):
        note = _read_json(fs, f"{work}/READY")
        target = (note or {}).get("target", "")
        action = recovery_action(ready=note is not None, done=fs.exists(f"{work}/DONE"),
                                 target=bool(target) and fs.exists(target), new=fs.exists(f"{work}/new"),
                                 old=fs.exists(f"{work}/old"))
        if action == FINISH_SWAP:
            _finish_swap(fs, work, target)
        elif action == ROLL_BACK:
            fs.rename(f"{work}/old", target)
        if action in (FINISH_SWAP, FINISHED):
            fs.delete(f"{work}/old")
            entry = completed.setdefault(note["run"], {**{k: note[k] for k in ("run", "request", "reason", "at")},
                                                       "unit": unit, "rows": 0, "tables": {}})
            entry["rows"] += int(note["removed"])
            entry["tables"][target] = int(note["removed"])
    for entry in completed.values():
        _record_removal(spark, fs, unit, entry, entry["rows"], out)
        root = _owning_root(unit, roots)
        record = {"action": "purge", "run": entry["run"], "request": entry["request"], "reason": entry["reason"],
                  "time": entry["at"]}
        audit.AuditLog(fs, root).note(entry["run"], unit, entry["rows"], record)
        out(f"  completed an interrupted purge (request {entry['request']}): {entry['rows']} rows from {unit}")
    fs.delete(staging)
    return list(completed.values())


def purge(spark: SparkSession, settings, selector: Selector, request: str, roots: Iterable[str] | None = None,
          *, dry_run: bool = False, reason: str = LEGAL_REQUEST, now: datetime | None = None,
          out: Callable[[str], None] = print, audit_extra: Mapping | None = None) -> PurgeResult:
    """Remove every row the selector matches from every copy under the roots; return what went.

    Raises PurgeIncomplete (exit 7) when the re-scan afterwards still finds a match.
    """
    if selector.is_empty():
        raise BadInput("nothing to purge: no identifier given")
    if not request or not request.strip():
        raise BadInput("a purge needs a request ID (--request)")
    fs = HadoopFS(spark)
    roots = _roots(fs, settings, roots)
    result = PurgeResult(run=uuid.uuid4().hex[:12], dry_run=dry_run)
    moment = now or datetime.now(timezone.utc)
    note = {"run": result.run, "request": request, "reason": reason, "at": audit.utc_text(moment)}
    out(f"purge {request}{' (dry run)' if dry_run else ''}: {selector.describe()}; "
        f"root{'s' if len(roots) > 1 else ''} {', '.join(roots)}")

    inventories = [discover(fs, root) for root in roots]
    if not dry_run:
        for inventory in inventories:
            for unit in inventory.staging:
                result.recovered += _recover(spark, fs, unit, roots, out)
        for root in roots:
            audit.AuditLog(fs, root).flush_interrupted(moment)
        if any(i.staging for i in inventories):
            inventories = [discover(fs, root) for root in roots]
    else:
        for unit in (u for i in inventories for u in i.staging):
            out(f"  {unit} holds an interrupted purge: run purge without --dry-run to complete it")

    logs = {}
    if not dry_run:
        user = _user(fs)
        for root in roots:
            log_ = audit.AuditLog(fs, root)
            record = {"action": "purge", "run": result.run, "request": request, "reason": reason,
                      "time": note["at"], "user": user, "identifiers": log_.hashes(selector.identifiers()),
                      **(audit_extra or {})}
            log_.begin(result.run, record)
            logs[root] = log_

    units_done: set[str] = set()
    for inventory in inventories:
        by_unit: dict[str, list[tuple[Table, int]]] = {}
        for table in inventory.tables:
            if table.unit in units_done:
                continue
            rows = count_matches(spark, table, selector)
            if rows:
                by_unit.setdefault(table.unit, []).append((table, rows))
        for unit, tables in sorted(by_unit.items()):
            units_done.add(unit)
            if unit in inventory.datasets:
                result.datasets.add(unit)
            if dry_run:
                for table, rows in tables:
                    result.tables[table.path] = rows
                    out(f"  would remove {rows} row{'s' if rows != 1 else ''} from {table.path}")
                result.units[unit] = sum(rows for _, rows in tables)
                continue
            removed = _purge_unit(spark, fs, unit, tables, selector, note)
            for table, rows in removed.items():
                result.tables[table] = rows
                out(f"  removed {rows} row{'s' if rows != 1 else ''} from {table}")
            result.units[unit] = sum(removed.values())
            _record_removal(spark, fs, unit, note, result.units[unit], out)
            logs[inventory.root].note(result.run, unit, result.units[unit])
            fs.delete(f"{unit}/{STAGING}")
        _purge_exports(fs, inventory, selector, result, dry_run, out)

    if not dry_run:
        rescan = [discover(fs, root) for root in roots]
        for inventory in rescan:
            for table in inventory.tables:
                rows = count_matches(spark, table, selector)
                if rows:
                    result.remaining[table.path] = rows
            for entries in inventory.exports.values():
                for entry in entries:
                    files = export_matches(fs, entry, selector)
                    if files:
                        result.remaining[entry["path"]] = files
        for root, log_ in logs.items():
            files = sum(n for p, n in result.export_files.items() if _under(fs.qualify(p), root))
            log_.finish(result.run, export_files_removed=files,
                        remaining=sum(n for p, n in result.remaining.items() if _under(p, root)))
            result.audit_logs.append(log_.path)

    _summary(result, out)
    if result.remaining:
        raise PurgeIncomplete(
            f"purge {request}: {sum(result.remaining.values())} matching rows remain after the purge "
            f"(in {', '.join(sorted(result.remaining))}); run it again, and report a bug if they stay")
    return result


def _purge_unit(spark: SparkSession, fs: HadoopFS, unit: str, tables: list[tuple[Table, int]],
                selector: Selector, note: dict) -> dict[str, int]:
    """Rewrite a unit's matching tables: stage every one, then swap them in; return rows removed."""
    staging = f"{unit}/{STAGING}"
    fs.mkdirs(staging, 0o700)
    staged = []
    for table, rows in tables:
        work = f"{staging}/{table_id(table.path)}"
        _stage(spark, fs, table, selector, work, note, rows)
        staged.append((table, work, rows))
    for table, work, _ in staged:
        _swap(fs, work, table.path)
    return {table.path: rows for table, _, rows in staged}


def _purge_exports(fs: HadoopFS, inventory: Inventory, selector: Selector, result: PurgeResult,
                   dry_run: bool, out) -> None:
    entries = [(d, e) for d, es in inventory.exports.items() for e in es]
    if not entries:
        return
    purge_export = _export_function("purge_export")
    if purge_export is None:
        out(f"  warning: {len(entries)} registered export(s) but no export module to purge them with")
        return
    for data_set, entry in entries:
        if dry_run:
            files = export_matches(fs, entry, selector)
            if files:
                result.export_files[entry["path"]] = files
                out(f"  would remove {files} file(s) from export {entry['path']}")
            continue
        files = int(purge_export(fs, entry, selector.matches))
        if files:
            result.export_files[entry["path"]] = files
            out(f"  removed {files} file(s) from export {entry['path']}")


def _summary(result: PurgeResult, out) -> None:
    rows = result.rows
    datasets = len(result.datasets)
    others = len(result.units) - datasets
    where = f"{datasets} data set{'s' if datasets != 1 else ''}"
    if others:
        where += f" and {others} snapshot{'s' if others != 1 else ''}"
    files = sum(result.export_files.values())
    exports = f", and {files} file{'s' if files != 1 else ''} from exports" if files else ""
    if result.dry_run:
        out(f"dry run: would remove {rows} row{'s' if rows != 1 else ''} from {where}{exports}; nothing changed")
        return
    rescan = ("re-scan: nothing matches any more" if not result.remaining
              else f"re-scan: {sum(result.remaining.values())} matching rows remain")
    out(f"removed {rows} row{'s' if rows != 1 else ''} from {where}{exports}; {rescan}")
    for path in result.audit_logs:
        out(f"audit: {path}")


# --- expire --------------------------------------------------------------------------------------


@dataclass
class ExpireResult:
    deleted: list[str] = field(default_factory=list)
    expiring: list[tuple[str, str]] = field(default_factory=list)   # (data set, expires) listed by --warn-days
    unreadable: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def _data_sets(fs: HadoopFS, root: str) -> list[str]:
    """Return the data sets under root (directories with _metadata.json or items/), not nested."""
    found, pending = [], [root]
    while pending:
        directory = pending.pop()
        entries = fs.list(directory)
        names = {_name(e.path): e for e in entries}
        if (METADATA in names and not names[METADATA].is_dir) or ("items" in names and names["items"].is_dir):
            found.append(directory)
            continue
        pending += [e.path for e in entries
                    if e.is_dir and not (directory == root and _name(e.path) == audit.AUDIT_DIR)
                    and _name(e.path) != STAGING]
    return sorted(found)


def expire(spark: SparkSession, settings, roots: Iterable[str] | None = None, *, now: datetime | None = None,
           warn_days: float | None = None, out: Callable[[str], None] = print) -> ExpireResult:
    """Delete every data set (and its exports) past its `expires`; with warn_days only list.

    A directory without readable metadata is reported and kept: what cannot be dated is never
    deleted by a schedule. A data set is first renamed to <name>.expiring (so readers see it or
    nothing), then audited, then deleted; a leftover .expiring from a killed run is finished.
    """
    fs = HadoopFS(spark)
    roots = _roots(fs, settings, roots)
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    result = ExpireResult()
    user = None
    for root in roots:
        log_ = audit.AuditLog(fs, root)
        for data_set in _data_sets(fs, root):
            metadata = _read_json(fs, f"{data_set}/{METADATA}")
            leftover = data_set.endswith(EXPIRING_SUFFIX)
            state, expires = expiry_state(metadata, now, warn_days)
            if leftover and state == "unreadable":
                state = "expired"  # renamed by a killed expire: its metadata said so then
            when = expires.strftime("%Y-%m-%d") if expires else "?"
            if state == "unreadable":
                result.unreadable.append(data_set)
                out(f"  {data_set}: no readable {METADATA}: kept (delete it by hand if it should go)")
                continue
            if warn_days is not None:
                if state in ("expired", "soon"):
                    result.expiring.append((data_set, when))
                    days = (expires - now).total_seconds() / 86400 if expires else 0
                    text = "expired" if state == "expired" else f"expires in {days:.0f} days"
                    out(f"  {data_set}: {text} ({when})")
                else:
                    result.kept.append(data_set)
                continue
            if state != "expired":
                result.kept.append(data_set)
                continue
            user = user or _user(fs)
            result.deleted.append(_expire_one(fs, log_, data_set, metadata or {}, when, now, user, leftover))
            out(f"  {data_set}: expired {when}: deleted")
    if warn_days is not None:
        out(f"expire: {len(result.expiring)} data set(s) expired or expiring within {warn_days:g} days; "
            f"nothing deleted; {len(result.unreadable)} without readable metadata")
    else:
        out(f"expire: {len(result.deleted)} deleted, {len(result.kept)} kept, "
            f"{len(result.unreadable)} without readable metadata (kept)")
    return result


def _expire_one(fs: HadoopFS, log_: audit.AuditLog, data_set: str, metadata: Mapping, when: str,
                now: datetime, user: str, leftover: bool) -> str:
    original = data_set[:-len(EXPIRING_SUFFIX)] if leftover else data_set
    moved = data_set if leftover else data_set + EXPIRING_SUFFIX
    if not leftover:
        if fs.exists(moved):
            fs.delete(moved)
        if not fs.rename(data_set, moved):
            raise OSError(f"could not move {data_set} aside to delete it")
    exports = [e["path"] for e in metadata.get("exports") or [] if isinstance(e, dict) and e.get("path")]
    for path in exports:
        if fs.exists(path):
            fs.delete(path)
    log_.append({"action": "expire", "time": audit.utc_text(now), "user": user, "dataset": original,
                 "expires": metadata.get("expires", when), "created": metadata.get("created"),
                 "exports_deleted": len(exports)})
    fs.delete(moved)
    return original


# --- reconcile -----------------------------------------------------------------------------------


@dataclass
class ReconcileResult:
    rows: dict[str, int]                 # reason -> items rows
    selector: Selector
    purge: PurgeResult | None = None


def _versions(spark: SparkSession, fs: HadoopFS, roots: list[str]) -> DataFrame | None:
    """Return (fa_id, name, sha1, storage_key, rows) of every extracted file version under roots."""
    frames = []
    for root in roots:
        for table in discover(fs, root).tables:
            if _name(table.path) != "items":
                continue
            frame = read_table(spark, table)
            frames.append(frame.where(F.col("fa_id").isNotNull())
                          .select("fa_id", "name", "sha1", "storage_key"))
    if not frames:
        return None
    union = reduce(DataFrame.unionByName, frames)
    return union.groupBy("fa_id", "name", "sha1", "storage_key").agg(F.count(F.lit(1)).alias("rows"))


def reconcile(spark: SparkSession, settings, roots: Iterable[str] | None = None, *, apply: bool = False,
              now: datetime | None = None, out: Callable[[str], None] = print) -> ReconcileResult:
    """Find extracted rows the wiki has since undeleted, hard-deleted or suppressed; remove them if apply.

    The live catalog (filearchive and image over JDBC) is compared with every data set's items;
    removal goes through purge (audited with reason "reconcile" and the counts per reason).
    """
    fs = HadoopFS(spark)
    roots = _roots(fs, settings, roots)
    rows = {reason: 0 for reason in RECONCILE_REASONS}
    versions = _versions(spark, fs, roots)
    fa_ids: dict[str, set[int]] = {reason: set() for reason in RECONCILE_REASONS}
    pairs: set[tuple[str, str]] = set()
    if versions is not None:
        filearchive = catalog.read_filearchive_jdbc(spark, settings)
        image = catalog.read_image_names_jdbc(spark, settings)
        by_id = filearchive.select(F.col("fa_id").cast("long").alias("fa_id"),
                                   F.col("visibility").cast("int").alias("_visibility"))
        keys = (filearchive.select(catalog.text_column(filearchive, "storage_key").alias("_key"))
                .where(F.length("_key") > 0).distinct().withColumn("_held", F.lit(True)))
        live = (image.select(catalog.text_column(image, "name_bytes", strip=False).alias("_live_name"),
                             catalog.text_column(image, "sha1").alias("_live_sha1"))
                .distinct().withColumn("_live", F.lit(True)))
        joined = (versions.join(by_id, on="fa_id", how="left")
                  .join(keys, F.col("storage_key") == F.col("_key"), "left")
                  .join(live, (F.col("name") == F.col("_live_name")) & (F.col("sha1") == F.col("_live_sha1")), "left")
                  .select("fa_id", "name", "sha1", "storage_key", "rows", "_visibility", "_held", "_live"))
        bits = catalog.DELETED_RESTRICTED | (catalog.DELETED_FILE if settings["catalog.hidden_content_is_suppressed"] else 0)
        for row in joined.collect():
            reason = reconcile_reason(visibility=row["_visibility"], suppress_bits=bits,
                                      live_same_sha1=bool(row["_live"]), key_held=bool(row["_held"]),
                                      has_key=bool(row["storage_key"]))
            if reason:
                rows[reason] += int(row["rows"])
                fa_ids[reason].add(int(row["fa_id"]))
                if row["name"] and row["sha1"]:
                    pairs.add((row["name"], row["sha1"]))
    selector = Selector(fa_ids=frozenset(i for ids in fa_ids.values() for i in ids), versions=frozenset(pairs))
    counts = ", ".join(f"{reason} {rows[reason]}" for reason in RECONCILE_REASONS)
    total = sum(rows.values())
    result = ReconcileResult(rows, selector)
    if not apply:
        out(f"reconcile (dry run): {total} row{'s' if total != 1 else ''} to remove: {counts}; "
            "nothing changed (run with --apply to remove them)")
        return result
    out(f"reconcile: {total} row{'s' if total != 1 else ''} to remove: {counts}")
    if selector.is_empty():
        return result
    moment = now or datetime.now(timezone.utc)
    request = f"reconcile-{moment.strftime('%Y%m%dT%H%M%SZ')}"
    result.purge = purge(spark, settings, selector, request, roots, reason="reconcile", now=moment, out=out,
                         audit_extra={"reasons": dict(rows)})
    return result


# --- check-access --------------------------------------------------------------------------------


def check_access(spark: SparkSession, settings, root: str | None = None,
                 out: Callable[[str], None] = print) -> list[tuple[str, int, str]]:
    """Return (path, mode, problem) of every entry under root that someone beyond its owner can read."""
    fs = HadoopFS(spark)
    (root,) = _roots(fs, settings, [root] if root else None)
    group_readable = bool(settings["output.group_readable"])
    found = []
    for entry in [fs.info(root), *fs.walk_all(root)]:
        problem = access_problem(entry.mode, group_readable, entry.acl)
        if problem:
            found.append((entry.path, entry.mode, problem))
            out(f"{entry.mode:04o} {'d' if entry.is_dir else 'f'} {entry.path}  ({problem})")
    allowed = "owner and group (read)" if group_readable else "owner"
    if found:
        out(f"check-access: {len(found)} entr{'ies' if len(found) != 1 else 'y'} under {root} "
            f"can be read beyond the {allowed}")
    else:
        out(f"check-access: nothing under {root} can be read beyond the {allowed}")
    return found
