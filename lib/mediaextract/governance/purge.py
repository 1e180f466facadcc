"""purge: remove files from every copy under the configured roots and every registered copy.

Order of a purge, all under an exclusive lock on every root (writers hold them shared, so no
batch commit, export or snapshot write is in progress, and every writer that died left only
garbage):
  1. clean up: half-done swaps are repaired (dataset.repair_swap), and leftovers of dead runs
     (Spark's _temporary, swap and export staging, replaced exports, uncommitted batches,
     half-written small files) are deleted; interrupted purges' journals are logged;
  2. every Parquet table under each root is matched (governance.matching: joins, never literals)
     and, when rows match, rewritten beside itself and swapped in; tables of requested lines keep
     a `removed` row per line; label texts (a deletion reason, a description, live duplicates)
     of other rows that name a removed file are cleared; part files Spark cannot read are
     deleted and listed;
  3. every export, registered anywhere or found under a root, loses its matching files, and its
     samples' metadata the label texts naming them; a copy that cannot be reached or read
     (another host's disk, moved, manifest gone) is named;
  4. each changed data set records the removal and gets report.json/txt/html counted again;
  5. everything is scanned again; the audit line of each root records what was really removed.
A purge that could not reach a copy or still finds a match exits 7 naming paths, never files.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterable, Mapping

from pyspark.sql import SparkSession

from .. import audit, dataset, export, locks, pipeline
from ..report import plural
from ..errors import BadInput, PurgeIncomplete
from ..faults import checkpoint
from ..hadoopfs import HadoopFS
from . import inventory as inv
from . import matching, rules
from .rules import LEGAL_REQUEST, Selector


@dataclass
class PurgeResult:
    """What a purge did (or, in a dry run, would do)."""

    run: str
    dry_run: bool
    tables: dict[str, int] = field(default_factory=dict)       # table -> rows (removed or to remove)
    labels: dict[str, int] = field(default_factory=dict)       # table or export -> rows whose label texts
                                                               # named a removed file (cleared)
    units: dict[str, int] = field(default_factory=dict)        # data set / snapshot -> rows, all its tables
    items_rows: dict[str, int] = field(default_factory=dict)   # data set -> rows of its items (its report's)
    datasets: set[str] = field(default_factory=set)            # which units are data sets
    export_files: dict[str, int] = field(default_factory=dict)  # export path -> files removed
    unreachable: dict[str, str] = field(default_factory=dict)  # copy path -> why it was not reached
    remaining: dict[str, int] = field(default_factory=dict)    # after the re-scan: path -> matches
    cleaned: list[inv.Leftover] = field(default_factory=list)  # leftovers of dead runs deleted
    corrupt: list[str] = field(default_factory=list)           # unreadable part files deleted
    recovered: list[dict] = field(default_factory=list)        # interrupted runs logged first
    audit_logs: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def purge_roots(fs: HadoopFS, settings, roots: Iterable[str] | None) -> list[str]:
    """Return the roots a governance command covers: every configured root, plus any named."""
    chosen = inv.configured_roots(fs, settings)
    for root in roots or []:
        if not fs.exists(root):
            raise BadInput(f"root {root} does not exist")
        path = fs.qualify(root).rstrip("/")
        if path not in chosen:
            chosen.append(path)
    return [r for r in chosen if fs.exists(r)] or chosen[:1]


def lock_directories(roots: Iterable[str]) -> list[str]:
    return [f"{root}/{inv.LOCKS}" for root in roots]


def user_of(fs: HadoopFS) -> str:
    try:
        return fs.user()
    except Exception:  # no JVM user: fall back to the OS account
        import getpass
        return getpass.getuser()


def purge(spark: SparkSession, settings, selector: Selector, request: str, roots: Iterable[str] | None = None,
          *, dry_run: bool = False, reason: str = LEGAL_REQUEST, now: datetime | None = None,
          out: Callable[[str], None] = print, audit_extra: Mapping | None = None) -> PurgeResult:
    """Remove every row and file the selector matches from every copy; return what went.

    Raises PurgeIncomplete (exit 7) when a copy could not be reached or a match remains, and
    LockTimeout (exit 8) when writers kept a root past governance.lock_timeout_s.
    """
    if selector.is_empty():
        raise BadInput("nothing to purge: no identifier given")
    if not request or not request.strip():
        raise BadInput("a purge needs a request ID (--request)")
    fs = HadoopFS(spark)
    roots = purge_roots(fs, settings, roots)
    result = PurgeResult(run=uuid.uuid4().hex[:12], dry_run=dry_run)
    moment = now or datetime.now(timezone.utc)
    note = {"run": result.run, "request": request, "reason": reason, "at": audit.utc_text(moment)}
    out(f"purge {request}{' (dry run)' if dry_run else ''}: {selector.describe()}; "
        f"root{'s' if len(roots) > 1 else ''} {', '.join(roots)}")
    hold = locks.shared_all if dry_run else locks.exclusive_all
    with hold(fs, lock_directories(roots), "purge", **locks.options(settings)):
        _purge_locked(spark, fs, settings, selector, roots, result, note, out, audit_extra, moment)
    _summary(result, out)
    problems = []
    if result.unreachable:
        problems.append(f"could not reach {plural(len(result.unreachable), 'copy', 'copies')} "
                        f"({'; '.join(f'{p}: {why}' for p, why in sorted(result.unreachable.items()))})")
    if result.remaining:
        problems.append(f"{sum(result.remaining.values())} matches remain (in {', '.join(sorted(result.remaining))})")
    if problems:
        raise PurgeIncomplete(f"purge {request}: {'; '.join(problems)}: what could be removed was; "
                              "make those copies reachable (or delete them) and run the purge again")
    return result


def _purge_locked(spark, fs: HadoopFS, settings, selector: Selector, roots: list[str], result: PurgeResult,
                  note: dict, out, audit_extra, moment: datetime) -> None:
    dry_run = result.dry_run
    if not dry_run:
        for root in roots:
            _clean_up(fs, root, roots, result, out, moment)
    inventories = [inv.discover(fs, root) for root in roots]
    if dry_run:
        for leftover in (l for i in inventories for l in i.leftovers):
            out(f"  {leftover.path}: {leftover.kind}, would be deleted")
    tables = _tables(inventories)
    # Label texts may name a file a legal request removes by its sha1 or storage key: its names,
    # found now (the rewrites below take them out of the data), are hashed into the audit line
    # like the request's. Not for reconcile: an undeleted file's name is no secret.
    named = frozenset()
    if note["reason"] == LEGAL_REQUEST:
        named = matching.names_of_matches(spark, [t for _, t in tables], selector) - selector.names

    logs: dict[str, audit.AuditLog] = {}
    if not dry_run:
        user = user_of(fs)
        for root in roots:
            log_ = audit.AuditLog(fs, root)
            identifiers = log_.hashes(selector.identifiers())
            if named:
                identifiers[audit.NAMED] = log_.hashes({"name": named})["name"]
            record = {"action": "purge", "run": result.run, "request": note["request"], "reason": note["reason"],
                      "time": note["at"], "user": user, "identifiers": identifiers, **(audit_extra or {})}
            log_.begin(result.run, record)
            logs[root] = log_
        checkpoint("purge.journal_begun")

    ids = matching.Identifiers(spark, selector, _removed_names(fs, roots, selector.names | named), named)
    for owner, table in tables:
        hits = _count(spark, fs, table, ids, result, out, dry_run)
        if not hits.any:
            continue
        rows = hits.rows
        inventory = next(i for i in inventories if i.root == owner)
        if table.unit in inventory.datasets and rules.base_name(table.path) != dataset.BLOBS:
            result.datasets.add(table.unit)  # chunks no row keeps are no removal of the data set's rows
        result.tables[table.path] = rows
        result.units[table.unit] = result.units.get(table.unit, 0) + rows
        if hits.labels:
            result.labels[table.path] = hits.labels
        if table.path == f"{table.unit}/{inv.ITEMS}":
            result.items_rows[table.unit] = rows
        labels = f" the label texts naming a removed file in {plural(hits.labels, 'row')}" if hits.labels else ""
        if dry_run:
            out(f"  would remove {plural(rows, 'row')} from {table.path}{'; would clear' + labels if labels else ''}")
            continue
        _rewrite(spark, fs, table, ids, result.run, logs[owner], rows)
        if hits.labels:
            logs[owner].note_copies(result.run, "labels_cleared", {table.path: hits.labels})
        out(f"  removed {plural(rows, 'row')} from {table.path}{'; cleared' + labels if labels else ''}")
    if not dry_run:
        for unit in sorted(result.datasets):
            _record_removal(fs, unit, {**note, "labels": result.labels.get(f"{unit}/{inv.ITEMS}", 0)},
                            result.items_rows.get(unit, 0))
        for line in result.recovered:  # a killed purge may have died before recording its removals
            for unit in sorted(line.get("datasets") or {}):
                if any(unit in i.datasets for i in inventories):
                    _record_removal(fs, unit, _note_of(line, unit), int(line["datasets"][unit]))
        for inventory in inventories:
            for unit in sorted(inventory.datasets):
                _refresh_reports_if_behind(spark, fs, unit, out)

    for owner, path, copy in _exports(fs, inventories):
        why = _unreachable(fs, path, copy)
        if why:
            result.unreachable[path] = why
            out(f"  could not reach export {path}: {why}")
            continue
        entry = {"path": path, "format": (copy.extra.get("format") if copy else None) or export.infer_format(fs, path)}
        if dry_run:
            files = export.scan_export(fs, entry, selector.matches)
            labels = export.scan_mentions(fs, entry, ids.removed_name)
            if files:
                result.export_files[path] = files
                out(f"  would remove {plural(files, 'file')} from export {path}")
            if labels:
                result.labels[path] = labels
                out(f"  would clear the label texts naming a removed file in {plural(labels, 'sample')} of export {path}")
            continue
        files = export.purge_export(fs, entry, selector.matches)
        if files:
            result.export_files[path] = files
            logs[owner].note_copies(result.run, "exports", {path: files})
            out(f"  removed {plural(files, 'file')} from export {path}")
        labels = export.clear_mentions(fs, entry, ids.removed_name)
        if labels:
            result.labels[path] = labels
            logs[owner].note_copies(result.run, "labels_cleared", {path: labels})
            out(f"  cleared the label texts naming a removed file in {plural(labels, 'sample')} of export {path}")
    for path, why in _unreachable_entries(fs, inventories, roots).items():
        result.unreachable[path] = why
        out(f"  could not reach {path}: {why}")
    if dry_run:
        return

    checkpoint("purge.rescan")
    for inventory in (inv.discover(fs, root) for root in roots):
        for table in inventory.tables:
            hits = _count(spark, fs, table, ids, result, out, dry_run=True)
            if hits.any:
                result.remaining[table.path] = hits.rows + hits.labels
    for _, path, copy in _exports(fs, [inv.discover(fs, root) for root in roots]):
        if path in result.unreachable:
            continue
        entry = {"path": path, "format": (copy.extra.get("format") if copy else None) or export.infer_format(fs, path)}
        files = export.scan_export(fs, entry, selector.matches) + export.scan_mentions(fs, entry, ids.removed_name)
        if files:
            result.remaining[path] = files
    for root, log_ in logs.items():
        mine = lambda path: rules.under(path, root)  # noqa: E731 - a root answers for what lies under it
        line = log_.finish(result.run,
                           remaining=sum(n for p, n in result.remaining.items() if mine(p)),
                           unreachable=sorted(p for p in result.unreachable if mine(p) or root == roots[0]),
                           leftovers_deleted=sum(1 for l in result.cleaned if mine(l.path)),
                           corrupt_deleted=sorted(p for p in result.corrupt if mine(p)))
        checkpoint("purge.logged")
        result.audit_logs.append(log_.path)
        del line


def _removed_names(fs: HadoopFS, roots: list[str], names: frozenset[str]) -> Callable[[str], bool] | None:
    """Return the test of whether a name in a label text is a removed file's: this request's
    names and those its other identifiers found, and every name an earlier purge under these
    roots removed (audit logs and the journals of killed purges), so that a text an earlier purge
    could not reach, or that came back, goes too. None when there is no such name."""
    blocked = [audit.names_under_a_fresh_salt(names)] if names else []
    for root in roots:
        log_ = audit.AuditLog(fs, root)
        if _exists(fs, log_.salt_path):
            hashes = log_.blocked()
            if hashes:
                blocked.append((log_.salt(), hashes))
    if not any("name" in h or audit.NAMED in h for _, h in blocked):
        return None
    return audit.names_test(blocked)


def _clean_up(fs: HadoopFS, root: str, roots: list[str], result: PurgeResult, out, moment: datetime) -> None:
    """Repair half-done swaps, log interrupted purges and delete what dead runs left under a root
    (we hold it exclusively, so every writer that left something is dead)."""
    inventory = inv.discover(fs, root)
    for target in inventory.swaps:
        done = dataset.repair_swap(fs, target)
        if done:
            out(f"  {target}: a swap was interrupted: {done}")
    registry = inv.Registry(fs, root)
    for copy in inventory.copies:
        if copy.kind == inv.EXPORT and copy.reachable_here():
            _repair_export(fs, registry, copy, result, out)
        elif copy.kind in (inv.BATCH, inv.DATASET, inv.SNAPSHOT) and rules.under(copy.path, root) \
                and not _exists(fs, copy.path):
            registry.unregister(copy)  # deleted (a finished run, or by hand): nothing left to reach
    # Before the leftovers go: a killed purge's pending rewrite counts when its staging was
    # swapped in (is gone), not when it is still there.
    result.recovered += audit.AuditLog(fs, root).flush_interrupted(
        moment, swapped_in=lambda staging: not fs.exists(staging))
    for leftover in inventory.leftovers:
        if not fs.exists(leftover.path):
            continue  # an export's staging, dealt with through its entry above
        if leftover.kind == rules.EXPIRING:
            from .expire import finish_interrupted  # expire builds on purge's helpers
            unreachable = finish_interrupted(fs, roots, leftover.path, moment, user_of(fs))
            result.unreachable.update(unreachable)
            result.cleaned.append(leftover)
            out(f"  finished deleting {leftover.path} (an interrupted expire)")
            continue
        fs.delete(leftover.path)
        result.cleaned.append(leftover)
        out(f"  deleted {leftover.path} ({leftover.kind})")
        checkpoint("purge.leftover_deleted")


def _repair_export(fs: HadoopFS, registry: inv.Registry, copy: inv.Copy, result: PurgeResult, out) -> None:
    """Finish what a dead export left wherever it is: a half-done swap repaired (the old export
    back in place, or the old copy dropped), its staging deleted, its entry complete or gone."""
    done = dataset.repair_swap(fs, copy.path)
    if done:
        out(f"  {copy.path}: an export was interrupted: {done}")
    staging = copy.extra.get("staging")
    if staging and _exists(fs, staging):
        fs.delete(staging)
        result.cleaned.append(inv.Leftover(staging, rules.SWAP_STAGING))
        out(f"  deleted {staging} ({rules.SWAP_STAGING})")
    if copy.state == inv.WRITING:
        if _exists(fs, f"{copy.path}/{inv.MANIFEST}"):
            registry.complete(copy)   # whole (swapped in, or rolled back): it is purged like any
        elif not _exists(fs, copy.path):
            registry.unregister(copy)  # it never got further than its staging


def _exists(fs: HadoopFS, path: str) -> bool:
    try:
        return fs.exists(path)
    except Exception:  # an unreachable file system (a host or name node that is gone)
        return False


def _tables(inventories: list[inv.Inventory]) -> list[tuple[str, inv.Table]]:
    """Return (owning root, table) of every table once; a data set's blobs/ after its items/,
    whose rows (as this purge leaves them) say which originals blobs/ may keep."""
    seen, tables = set(), []
    for inventory in inventories:
        for table in inventory.tables:
            if table.path not in seen:
                seen.add(table.path)
                tables.append((inventory.root, table))
    return sorted(tables, key=lambda owned: rules.base_name(owned[1].path) == dataset.BLOBS)


def _count(spark, fs: HadoopFS, table: inv.Table, ids: matching.Identifiers, result: PurgeResult, out,
           dry_run: bool) -> matching.Hits:
    """Return what a request selects in a table; unreadable part files are deleted first (listed),
    or in a dry run reported and skipped."""
    kept = matching.kept_originals(spark, fs, table)
    try:
        return matching.count_matches(spark, table, ids, kept)
    except Exception as error:  # noqa: BLE001 - Py4J/Spark errors: which file is broken is found below
        broken = [part for part in table.parts if not _readable(spark, part)]
        if not broken:
            raise RuntimeError(f"cannot read the table {table.path} ({type(error).__name__})") from None
    for part in broken:
        if dry_run:
            out(f"  unreadable part file {part}: would be deleted")
            continue
        fs.delete(part)
        crc = part.rsplit("/", 1)
        fs.delete(f"{crc[0]}/.{crc[1]}.crc")
        result.corrupt.append(part)
        out(f"  deleted the unreadable part file {part}")
    if dry_run:
        return matching.Hits(0, 0)
    survivors = tuple(p for p in table.parts if p not in broken)
    if not survivors:
        return matching.Hits(0, 0)
    return matching.count_matches(spark, inv.Table(table.path, table.unit, table.partitions, survivors), ids, kept)


def _readable(spark, part: str) -> bool:
    try:
        spark.read.parquet(part).count()  # the footer's row counts: every footer is read
        return True
    except Exception:  # noqa: BLE001 - any failure to read it means it cannot be kept
        return False


def _rewrite(spark, fs: HadoopFS, table: inv.Table, ids: matching.Identifiers, run: str,
             log_: audit.AuditLog, rows: int) -> None:
    """Write the table without its matches beside itself, with its modes, and swap it in; the
    journal names the rewrite before the swap and counts its rows after."""
    frame = matching.read_table(spark, table)
    staging = dataset.staging_path(table.path, run)
    options = dataset.BLOB_WRITE_OPTIONS if rules.base_name(table.path) == dataset.BLOBS else dataset.BYTES_WRITE_OPTIONS
    writer = (matching.without_matches(frame, ids, matching.kept_originals(spark, fs, table)).write.mode("overwrite")
              .options(**options))
    if table.partitions:
        writer = writer.partitionBy(*table.partitions)
    writer.parquet(staging)
    checkpoint("purge.staged")
    mode = fs.info(table.path).mode
    for entry in [fs.info(staging), *fs.walk(staging)]:
        fs.set_mode(entry.path, mode if entry.is_dir else mode & 0o666)
    if fs.exists(f"{table.path}/{inv.COMMITTED}"):
        fs.write_bytes(f"{staging}/{inv.COMMITTED}", b"", mode & 0o666)  # a batch stays committed
    log_.stage(run, staging, table.unit, rows)
    checkpoint("purge.journal_staged")
    dataset.swap_in(fs, staging, table.path)
    log_.note(run, table.unit, rows, staging)


def _record_removal(fs: HadoopFS, unit: str, note: Mapping, rows: int) -> None:
    """Record a removal in a data set's metadata (once per run)."""
    dataset.add_removal(fs, dataset.Paths(unit), {**note, "rows": rows})
    checkpoint("purge.metadata")


def _note_of(line: Mapping, unit: str) -> dict:
    """Return the removal note of an interrupted purge's audit line for one data set (the label
    texts it cleared there included: its journal noted them per table)."""
    labels = (line.get("labels_cleared") or {}).get(f"{unit}/{inv.ITEMS}", 0)
    return {"run": line.get("run"), "request": line.get("request"), "reason": line.get("reason"),
            "at": line.get("time"), "labels": int(labels)}


def _refresh_reports_if_behind(spark, fs: HadoopFS, unit: str, out) -> None:
    """Count a data set's reports again when they do not show every removal its metadata records
    (this purge's, or one killed between its metadata and its reports)."""
    paths = dataset.Paths(unit)
    if not fs.exists(paths.report_json):
        return
    removals = (dataset.read_metadata(fs, paths) or {}).get("removals") or []
    try:
        shown = json.loads(fs.read_text(paths.report_json)).get("removals") or []
    except ValueError:
        shown = []
    if len(shown) == len(removals):
        return
    _, problem = pipeline.refresh_reports(spark, fs, unit, removals)
    if problem:
        out(f"  {problem}")
    checkpoint("purge.reports")


def _exports(fs: HadoopFS, inventories: list[inv.Inventory]):
    """Yield (owning root, path, registry entry or None) of every export: registered anywhere,
    or found under a root without an entry."""
    seen = set()
    for inventory in inventories:
        for copy in inventory.copies:
            if copy.kind == inv.EXPORT and copy.path not in seen:
                seen.add(copy.path)
                yield inventory.root, copy.path, copy
    for inventory in inventories:
        for path in inventory.exports:
            if path not in seen:
                seen.add(path)
                yield inventory.root, path, None


def _unreachable(fs: HadoopFS, path: str, copy: inv.Copy | None) -> str | None:
    """Return why an export cannot be purged from here, None when it can."""
    if copy is not None and not copy.reachable_here():
        return f"on the local disk of host {copy.host}"
    if not _exists(fs, path):
        return "not found (moved or deleted by hand?)"
    if not _exists(fs, f"{path}/{inv.MANIFEST}"):
        return f"its {inv.MANIFEST} is gone: which files it holds cannot be told"
    return None


def _unreachable_entries(fs: HadoopFS, inventories: list[inv.Inventory], roots: list[str]) -> dict[str, str]:
    """Return registered data sets and snapshots outside every root that cannot be read, and
    registry entries that cannot be read at all."""
    found = {}
    for inventory in inventories:
        for path in inventory.unreadable_entries:
            found[path] = "unreadable registry entry: the copy it names cannot be told"
        for copy in inventory.copies:
            if copy.kind == inv.EXPORT or any(rules.under(copy.path, r) for r in roots):
                continue
            if not copy.reachable_here():
                found[copy.path] = f"on the local disk of host {copy.host}"
            elif not _exists(fs, copy.path):
                found[copy.path] = "not found (moved or deleted by hand?)"
            else:
                found[copy.path] = "outside every configured root: add it to output.roots"
    return found


def _summary(result: PurgeResult, out) -> None:
    datasets = len(result.datasets)
    others = len(result.units) - datasets
    where = plural(datasets, "data set")
    if others:
        where += f" and {plural(others, 'other table')}"
    files = sum(result.export_files.values())
    exports = f", and {plural(files, 'file')} from exports" if files else ""
    labels = sum(result.labels.values())
    if labels:
        exports += f"; {plural(labels, 'row or sample', 'rows or samples')} lose label texts naming a removed file"
    if result.dry_run:
        out(f"dry run: would remove {plural(result.rows, 'row')} from {where}{exports}; nothing changed")
        return
    if result.remaining or result.unreachable:
        rescan = (f"INCOMPLETE: {plural(len(result.unreachable), 'copy', 'copies')} not reached, "
                  f"{sum(result.remaining.values())} matches remain")
    else:
        rescan = "re-scan: nothing matches any more"
    out(f"removed {plural(result.rows, 'row')} from {where}{exports}; {rescan}")
    if result.cleaned or result.corrupt:
        out(f"deleted {plural(len(result.cleaned), 'leftover')} of interrupted runs and "
            f"{plural(len(result.corrupt), 'unreadable part file')}")
    for path in result.audit_logs:
        out(f"audit: {path}")
