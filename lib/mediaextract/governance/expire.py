"""expire: delete every data set past its `expires`, with its batches and registered exports.

Under an exclusive lock on every root (no writer is at work). A data set is first renamed to
<name>.expiring (readers see it whole or not at all), its exports are deleted, the deletion is
audited, then it is deleted and unregistered; a `.expiring` left by a killed run is finished
the same way. What cannot be dated (no readable _metadata.json) is never deleted by a schedule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterable, Mapping

from pyspark.sql import SparkSession

from .. import audit, dataset, locks
from ..errors import PurgeIncomplete
from ..faults import checkpoint
from ..hadoopfs import HadoopFS
from . import inventory as inv
from . import rules
from .purge import lock_directories, purge_roots, user_of


@dataclass
class ExpireResult:
    deleted: list[str] = field(default_factory=list)
    expiring: list[tuple[str, str]] = field(default_factory=list)   # (data set, expires) listed by --warn-days
    unreadable: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    unreachable: dict[str, str] = field(default_factory=dict)       # export path -> why


def _data_sets(fs: HadoopFS, root: str) -> list[str]:
    """Return the data sets under root (and `.expiring` leftovers), not nested."""
    found, pending = [], [root]
    while pending:
        directory = pending.pop()
        entries = fs.list(directory)
        names = {rules.base_name(e.path): e.is_dir for e in entries}
        if directory != root and (inv.is_dataset(names) or directory.endswith(rules.EXPIRING_SUFFIX)):
            found.append(directory)
            continue
        pending += [e.path for e in entries if e.is_dir and not (directory == root and rules.base_name(e.path) in inv.BOOKKEEPING)
                    and rules.leftover_kind(rules.base_name(e.path), True) in (None, rules.EXPIRING)]
    return sorted(found)


def expire(spark: SparkSession, settings, roots: Iterable[str] | None = None, *, now: datetime | None = None,
           warn_days: float | None = None, dry_run: bool = False,
           out: Callable[[str], None] = print) -> ExpireResult:
    """Delete every data set (and its exports) past its `expires`; with warn_days or dry_run only list."""
    fs = HadoopFS(spark)
    roots = purge_roots(fs, settings, roots)
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    result = ExpireResult()
    listing = warn_days is not None or dry_run
    hold = locks.shared_all if listing else locks.exclusive_all
    with hold(fs, lock_directories(roots), "expire", **locks.options(settings)):
        registries = {root: inv.Registry(fs, root) for root in roots}
        copies = [(root, c) for root, r in registries.items() for c in r.entries()[0]]
        user = None
        for root in roots:
            log_ = audit.AuditLog(fs, root)
            for data_set in _data_sets(fs, root):
                leftover = data_set.endswith(rules.EXPIRING_SUFFIX)
                metadata = dataset.read_metadata(fs, dataset.Paths(data_set))
                state, expires = rules.expiry_state(metadata, now, warn_days)
                if leftover and state == "unreadable":
                    state = "expired"  # renamed by a killed expire: its metadata said so then
                when = expires.strftime("%Y-%m-%d") if expires else "?"
                if state == "unreadable":
                    result.unreadable.append(data_set)
                    out(f"  {data_set}: no readable {dataset.METADATA}: kept (delete it by hand if it should go)")
                    continue
                if warn_days is not None and not dry_run:
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
                original = data_set[:-len(rules.EXPIRING_SUFFIX)] if leftover else data_set
                mine = _copies_of(copies, original)
                if dry_run:
                    result.deleted.append(original)
                    exports = sum(1 for _, c in mine if c.kind == inv.EXPORT)
                    out(f"  {original}: expired {when}: would be deleted, with {exports} export(s)")
                    continue
                user = user or user_of(fs)
                _expire_one(fs, log_, registries, data_set, original, metadata or {}, when, now, user, mine, result)
                result.deleted.append(original)
                out(f"  {original}: expired {when}: deleted")
    verb = "would be deleted" if dry_run else "deleted"
    if warn_days is not None and not dry_run:
        out(f"expire: {len(result.expiring)} data set(s) expired or expiring within {warn_days:g} days; "
            f"nothing deleted; {len(result.unreadable)} without readable metadata")
    else:
        out(f"expire{' (dry run)' if dry_run else ''}: {len(result.deleted)} {verb}, {len(result.kept)} kept, "
            f"{len(result.unreadable)} without readable metadata (kept)")
    if result.unreachable:
        raise PurgeIncomplete("expire: could not reach " + "; ".join(
            f"{p}: {why}" for p, why in sorted(result.unreachable.items())) + ": delete them by hand")
    return result


def _copies_of(copies: list[tuple[str, inv.Copy]], data_set: str) -> list[tuple[str, inv.Copy]]:
    """Return the registered copies that go with a data set: its exports, and copies inside it."""
    return [(root, c) for root, c in copies if c.dataset == data_set or rules.under(c.path, data_set)]


def finish_interrupted(fs: HadoopFS, roots: list[str], moved: str, now: datetime, user: str) -> dict[str, str]:
    """Finish the deletion a killed expire began (`<data set>.expiring`): its exports, its audit
    line, the directory; return the exports that could not be reached (path -> why).

    purge calls it for a `.expiring` it finds under the root it holds (so a removal never
    waits for the next expire, and the deletion is still audited as an expire)."""
    registries = {root: inv.Registry(fs, root) for root in roots}
    original = moved[:-len(rules.EXPIRING_SUFFIX)]
    mine = _copies_of([(root, c) for root, r in registries.items() for c in r.entries()[0]], original)
    metadata = dataset.read_metadata(fs, dataset.Paths(moved)) or {}
    owner = next((r for r in roots if rules.under(moved, r)), roots[0])
    result = ExpireResult()
    _expire_one(fs, audit.AuditLog(fs, owner), registries, moved, original, metadata,
                str(metadata.get("expires") or "?"), now, user, mine, result)
    return result.unreachable


def _expire_one(fs: HadoopFS, log_: audit.AuditLog, registries: Mapping[str, inv.Registry], data_set: str,
                original: str, metadata: Mapping, when: str, now: datetime, user: str,
                copies: list[tuple[str, inv.Copy]], result: ExpireResult) -> None:
    moved = data_set if data_set.endswith(rules.EXPIRING_SUFFIX) else data_set + rules.EXPIRING_SUFFIX
    if moved != data_set:
        if fs.exists(moved):
            fs.delete(moved)
        if not fs.rename(data_set, moved):
            raise OSError(f"could not move {data_set} aside to delete it")
        checkpoint("expire.moved_aside")
    exports = 0
    for root, copy in copies:
        if copy.kind != inv.EXPORT:
            continue
        if not copy.reachable_here():
            result.unreachable[copy.path] = f"on the local disk of host {copy.host}"
            continue
        for path in (copy.path, copy.extra.get("staging"), copy.extra.get("replaced")):
            if path and fs.exists(path):
                fs.delete(path)
        exports += 1
        registries[root].unregister(copy)
        checkpoint("expire.export_deleted")
    log_.append({"action": "expire", "time": audit.utc_text(now), "user": user, "dataset": original,
                 "expires": metadata.get("expires", when), "created": metadata.get("created"),
                 "exports_deleted": exports})
    checkpoint("expire.logged")
    fs.delete(moved)
    checkpoint("expire.deleted")
    for root, copy in copies:
        if copy.kind != inv.EXPORT:
            registries[root].unregister(copy)
