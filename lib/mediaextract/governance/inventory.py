"""Where every copy is: the registry of each root, the configured roots, and a scan of what is
really under a root (no Spark: file operations go through the fs object handed in).

Registry: `<root>/_registry/<id>.json`, one small file per copy, written before the copy's
first byte (state "writing") and marked "complete" once whole; deleted when the copy is. One
file per copy means writers never read-modify-write a shared file, and a crash leaves at worst
a "writing" entry pointing at what the dead run left (purge cleans it up). A copy on a driver's
local disk (`file:`) records its host: another host's purge cannot reach it and says so.

Kinds of copies: `dataset` (an extraction), `batch` (a committed or in-progress batch of a run),
`snapshot` (a catalog snapshot), `export` (files made from a data set; its entry also names the
staging and replaced directories it may leave). Data sets, snapshots and exports are written
only under the configured roots (`output.root` plus `output.roots`); anything else is refused.

Discovery walks a root and classifies every entry: data sets, Parquet tables (any directory of
part files, partitioned or not), exports (a directory holding manifest.csv), and leftovers of dead
runs (governance.rules.leftover_kind); purge works from the registry plus this scan, so neither
an unregistered leftover under a root nor a registered copy elsewhere is missed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Iterable

from ..dataset_files import COMMITTED, ITEMS, MANIFEST, METADATA
from ..errors import BadInput
from ..faults import checkpoint
from . import rules

REGISTRY = "_registry"
AUDIT = "_audit"
LOCKS = "_locks"
# Directories of a root that hold bookkeeping, never copies of files.
BOOKKEEPING = (REGISTRY, AUDIT, LOCKS)

DATASET, BATCH, SNAPSHOT, EXPORT = "dataset", "batch", "snapshot", "export"
WRITING, COMPLETE = "writing", "complete"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


def is_dataset(entries: dict[str, bool]) -> bool:
    """Return True when a directory with these entries (name -> is a directory) is a data set."""
    return entries.get(METADATA) is False or entries.get(ITEMS) is True


def is_local(path: str) -> bool:
    """Return True when a qualified path is on the local disk of the machine that wrote it."""
    match = _SCHEME.match(path)
    return match is None or match.group(1).lower() == "file"


def this_host() -> str:
    return socket.gethostname()


@dataclass
class Copy:
    """One registered copy."""

    kind: str
    path: str                           # qualified
    state: str = WRITING
    host: str | None = None             # for a path on one machine's local disk
    dataset: str | None = None          # the data set it was made from (exports, batches)
    created: str = ""
    job: str = ""
    extra: dict = field(default_factory=dict)   # exports: format, staging, replaced
    source: str = ""                    # the registry file it was read from

    @property
    def id(self) -> str:
        return copy_id(self.kind, self.path)

    def reachable_here(self) -> bool:
        """Return True when this machine can reach the copy (any cluster path, or our own disk)."""
        return self.host is None or self.host == this_host()

    def to_json(self) -> bytes:
        data = {k: v for k, v in asdict(self).items() if k != "source"}
        return json.dumps(data, sort_keys=True).encode("utf-8")


def copy_id(kind: str, path: str) -> str:
    """Return the registry name of a copy: stable, so registering it again replaces its entry."""
    return hashlib.sha1(f"{kind}|{path.rstrip('/')}".encode("utf-8")).hexdigest()[:20]


class Registry:
    """The registry of one root."""

    def __init__(self, fs, root: str):
        self.fs = fs
        self.root = root.rstrip("/")
        self.directory = f"{self.root}/{REGISTRY}"

    def _entry_path(self, copy: Copy) -> str:
        return f"{self.directory}/{copy.id}.json"

    def register(self, kind: str, path: str, *, state: str = WRITING, dataset: str | None = None,
                 job: str = "", extra: dict | None = None, mode: int = 0o600) -> Copy:
        """Register a copy (before its first byte is written); return its entry."""
        qualified = self.fs.qualify(path).rstrip("/")
        copy = Copy(kind=kind, path=qualified, state=state, host=this_host() if is_local(qualified) else None,
                    dataset=dataset, created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    job=job, extra=dict(extra or {}))
        self.write(copy, mode)
        return copy

    def write(self, copy: Copy, mode: int = 0o600) -> None:
        if not self.fs.exists(self.directory):
            self.fs.mkdirs(self.directory, 0o700)
        self.fs.write_bytes(self._entry_path(copy), copy.to_json(), mode)
        checkpoint(f"registry.{copy.kind}.{copy.state}")

    def complete(self, copy: Copy) -> Copy:
        """Mark a copy whole."""
        copy.state = COMPLETE
        self.write(copy)
        return copy

    def unregister(self, copy: Copy) -> None:
        """Forget a copy (after it was deleted)."""
        self.fs.delete(self._entry_path(copy), False)
        checkpoint(f"registry.{copy.kind}.unregistered")

    def entries(self) -> tuple[list[Copy], list[str]]:
        """Return (copies, registry files that could not be read)."""
        copies, unreadable = [], []
        for entry in self.fs.list(self.directory):
            if entry.is_dir or not entry.path.endswith(".json"):
                continue
            try:
                data = json.loads(self.fs.read_bytes(entry.path))
                copy = Copy(**{k: v for k, v in data.items() if k in Copy.__dataclass_fields__})
            except Exception:  # half-written or damaged: it may name a copy, so it is never ignored
                unreadable.append(entry.path)
                continue
            copy.source = entry.path
            copies.append(copy)
        return copies, unreadable

    def find(self, kind: str, path: str) -> Copy | None:
        """Return the entry of a copy, None when it is not registered."""
        qualified = self.fs.qualify(path).rstrip("/")
        entry = f"{self.directory}/{copy_id(kind, qualified)}.json"
        if not self.fs.exists(entry):
            return None
        try:
            data = json.loads(self.fs.read_bytes(entry))
            return Copy(**{k: v for k, v in data.items() if k in Copy.__dataclass_fields__})
        except Exception:
            return None


# --- configured roots ----------------------------------------------------------------------------


def configured_roots(fs, settings) -> list[str]:
    """Return the qualified configured roots: output.root first, then output.roots."""
    roots = []
    for root in [settings["output.root"], *(settings["output.roots"] or [])]:
        path = fs.qualify(str(root)).rstrip("/")
        if path not in roots:
            roots.append(path)
    return roots


def root_of(fs, settings, path: str, what: str) -> str:
    """Return the configured root holding path; raise BadInput (exit 2) when none does."""
    qualified = fs.qualify(path).rstrip("/")
    roots = configured_roots(fs, settings)
    holding = [r for r in roots if rules.under(qualified, r) and qualified != r]
    if not holding:
        raise BadInput(f"{what} {qualified} is not under a configured root ({', '.join(roots)}): "
                       "add its root to output.roots, or write it under one")
    return max(holding, key=len)


def registry_for(fs, settings, path: str, what: str) -> Registry:
    """Return the registry of the configured root holding path (refusing any other path)."""
    return Registry(fs, root_of(fs, settings, path, what))


# --- what is really under a root -----------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    path: str                       # qualified directory of the table
    unit: str                       # data set (or parent) the table belongs to
    partitions: tuple[str, ...]     # partition columns (directory names k=v)
    parts: tuple[str, ...]          # its part files


@dataclass(frozen=True)
class Leftover:
    path: str
    kind: str                       # rules.leftover_kind, or rules.SWAP_OLD


@dataclass
class Inventory:
    root: str
    datasets: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    exports: list[str] = field(default_factory=list)        # directories holding manifest.csv
    leftovers: list[Leftover] = field(default_factory=list)
    swaps: list[str] = field(default_factory=list)          # targets with a `.old` beside them
    copies: list[Copy] = field(default_factory=list)        # the registry
    unreadable_entries: list[str] = field(default_factory=list)


def _name(path: str) -> str:
    return rules.base_name(path)


def discover(fs, root: str) -> Inventory:
    """Return what is under a root: data sets, tables, exports, leftovers, half-done swaps,
    and the root's registry."""
    root = fs.qualify(root).rstrip("/")
    inventory = Inventory(root)
    inventory.copies, inventory.unreadable_entries = Registry(fs, root).entries()
    leaves: list[tuple[str, list[str]]] = []
    pending = [root]
    while pending:
        directory = pending.pop()
        entries = fs.list(directory)
        by_name = {_name(e.path): e for e in entries}
        if is_dataset({n: e.is_dir for n, e in by_name.items()}):
            inventory.datasets.append(directory)
        if MANIFEST in by_name and not by_name[MANIFEST].is_dir:
            inventory.exports.append(directory)
        parts = [e.path for e in entries if not e.is_dir and _is_part_file(_name(e.path))]
        if parts:
            leaves.append((directory, parts))
        for entry in entries:
            name = _name(entry.path)
            if directory == root and name in BOOKKEEPING:
                continue
            committed = entry.is_dir and name.startswith("batch-") and fs.exists(f"{entry.path}/{COMMITTED}")
            kind = rules.leftover_kind(name, entry.is_dir, committed)
            if kind is not None:
                inventory.leftovers.append(Leftover(entry.path, kind))
                continue
            if rules.swapped_aside(name, entry.is_dir):
                inventory.swaps.append(entry.path[:-len(rules.OLD_SUFFIX)])
                continue
            if entry.is_dir:
                pending.append(entry.path)
    export_dirs = inventory.exports
    seen: set[str] = set()
    by_table: dict[str, list[str]] = {}
    partitions_of: dict[str, tuple[str, ...]] = {}
    for leaf, parts in sorted(leaves):
        path, partitions = rules.table_root(leaf, root)
        if any(rules.under(path, e) for e in export_dirs):
            continue
        by_table.setdefault(path, []).extend(parts)
        partitions_of.setdefault(path, partitions)
    for path in sorted(by_table):
        if path in seen:
            continue
        seen.add(path)
        owners = [d for d in inventory.datasets if rules.under(path, d) and path != d]
        unit = max(owners, key=len) if owners else path.rsplit("/", 1)[0]
        inventory.tables.append(Table(path, unit, partitions_of[path], tuple(sorted(by_table[path]))))
    inventory.datasets.sort()
    inventory.exports.sort()
    return inventory


def _is_part_file(name: str) -> bool:
    # Spark's part files; hidden and checksum files (.part-*.crc, _SUCCESS) are not data.
    return name.endswith(".parquet") and not name.startswith((".", "_"))


def registered_paths(copies: Iterable[Copy]) -> set[str]:
    """Return every path the entries name, staging and replaced directories included."""
    paths = set()
    for copy in copies:
        paths.add(copy.path)
        for key in ("staging", "replaced"):
            if copy.extra.get(key):
                paths.add(str(copy.extra[key]).rstrip("/"))
    return paths


def local_path(path: str) -> str:
    """Return the OS path of a file: URI (for copies on the driver's own disk)."""
    text = re.sub(r"^file:(//)?", "", path, flags=re.IGNORECASE)
    return os.path.abspath("/" + text.lstrip("/"))
