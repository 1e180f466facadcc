"""reconcile: find extracted rows the wiki has since undeleted, hard-deleted or suppressed, and
remove them through purge (audited with reason "reconcile" and the counts per reason).

The comparison reads the live catalog (filearchive and image over JDBC) against every data set's
items; it only reads, so it holds the roots shared, and the removal that follows is a purge,
which holds them exclusively.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from functools import reduce
from typing import Callable, Iterable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from .. import catalog, layout, locks
from ..hadoopfs import HadoopFS
from . import inventory as inv
from . import matching, rules
from .purge import PurgeResult, lock_directories, purge, purge_roots
from .rules import RECONCILE_REASONS, Selector, control_reconcile_reason, reconcile_reason


@dataclass
class ReconcileResult:
    rows: dict[str, int]                 # reason -> items rows
    selector: Selector
    purge: PurgeResult | None = None


def _versions(spark: SparkSession, fs: HadoopFS, roots: list[str]) -> tuple[DataFrame | None, DataFrame | None]:
    """Return (fa_id, name, sha1, storage_key, rows) of every extracted deleted file version
    under roots, and (name, sha1, rows) of every extracted live file or old version (the
    controls: catalog.files live or old, no fa_id); None for either when there is none."""
    deleted, controls = [], []
    for root in roots:
        for table in inv.discover(fs, root).tables:
            if rules.base_name(table.path) != inv.ITEMS:
                continue
            frame = matching.read_table(spark, table)
            deleted.append(frame.where(F.col("fa_id").isNotNull()).select("fa_id", "name", "sha1", "storage_key"))
            controls.append(frame.where(F.col("fa_id").isNull() & catalog.has_catalog_row()
                                        & F.col("name").isNotNull() & (F.length("sha1") > 0))
                            .select("name", "sha1"))
    if not deleted:
        return None, None
    versions = (reduce(DataFrame.unionByName, deleted)
                .groupBy("fa_id", "name", "sha1", "storage_key").agg(F.count(F.lit(1)).alias("rows")))
    return versions, (reduce(DataFrame.unionByName, controls)
                      .groupBy("name", "sha1").agg(F.count(F.lit(1)).alias("rows")))


def reconcile(spark: SparkSession, settings, roots: Iterable[str] | None = None, *, apply: bool = False,
              now: datetime | None = None, out: Callable[[str], None] = print) -> ReconcileResult:
    """Find extracted rows the wiki has since undeleted, hard-deleted or suppressed; remove them if apply."""
    fs = HadoopFS(spark)
    roots = purge_roots(fs, settings, roots)
    rows = {reason: 0 for reason in RECONCILE_REASONS}
    fa_ids: set[int] = set()
    pairs: set[tuple[str, str]] = set()
    with locks.shared_all(fs, lock_directories(roots), "reconcile", **locks.options(settings)):
        versions, controls = _versions(spark, fs, roots)
        if versions is not None:
            for row in _judged(spark, settings, versions).collect():
                reason = reconcile_reason(visibility=row["_visibility"], suppress_bits=_suppress_bits(settings),
                                          live_same_sha1=bool(row["_live"]), key_held=bool(row["_held"]),
                                          has_key=bool(row["storage_key"]))
                if reason:
                    rows[reason] += int(row["rows"])
                    fa_ids.add(int(row["fa_id"]))
                    if row["name"] and row["sha1"]:
                        pairs.add((row["name"], row["sha1"]))
            # Live files and old versions are found by (name, sha1): they have no fa_id.
            for row in _judged_controls(spark, settings, controls).collect():
                reason = control_reconcile_reason(visibility=row["_visibility"], suppress_bits=_suppress_bits(settings),
                                                  sha1_held=bool(row["_held"]))
                if reason:
                    rows[reason] += int(row["rows"])
                    pairs.add((row["name"], row["sha1"]))
    selector = Selector(fa_ids=frozenset(fa_ids), versions=frozenset(pairs))
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


def _suppress_bits(settings) -> int:
    return catalog.DELETED_RESTRICTED | (catalog.DELETED_FILE if settings["catalog.hidden_content_is_suppressed"] else 0)


def _judged(spark: SparkSession, settings, versions: DataFrame) -> DataFrame:
    """Return the versions with what the live catalog says of them now."""
    filearchive = catalog.read_filearchive_jdbc(spark, settings)
    image = catalog.read_image_names_jdbc(spark, settings)
    by_id = filearchive.select(F.col("fa_id").cast("long").alias("fa_id"),
                               F.col("visibility").cast("int").alias("_visibility"))
    keys = (filearchive.select(catalog.text_column(filearchive, "storage_key").alias("_key"))
            .where(F.length("_key") > 0).distinct().withColumn("_held", F.lit(True)))
    live = (image.select(catalog.text_column(image, "name_bytes", strip=False).alias("_live_name"),
                         catalog.text_column(image, "sha1").alias("_live_sha1"))
            .distinct().withColumn("_live", F.lit(True)))
    return (versions.join(by_id, on="fa_id", how="left")
            .join(keys, F.col("storage_key") == F.col("_key"), "left")
            .join(live, (F.col("name") == F.col("_live_name")) & (F.col("sha1") == F.col("_live_sha1")), "left")
            .select("fa_id", "name", "sha1", "storage_key", "rows", "_visibility", "_held", "_live"))


def _judged_controls(spark: SparkSession, settings, controls: DataFrame) -> DataFrame:
    """Return the controls (name, sha1, rows) with what the live catalog says of them now: the
    OR of the bits of the old versions and deleted files with the same name and sha1, and
    whether any live file, old version or deleted file still has the sha1."""
    if controls.isEmpty():
        return controls.select("name", "sha1", "rows", F.lit(None).cast("int").alias("_visibility"),
                               F.lit(None).cast("boolean").alias("_held"))
    tables = [catalog.read_files_jdbc(spark, settings, files) for files in layout.FILES]
    rows = reduce(DataFrame.unionByName, [
        frame.select(catalog.text_column(frame, "name_bytes", strip=False).alias("_name"),
                     catalog.text_column(frame, "sha1").alias("_sha1"),
                     F.col("visibility").cast("int").alias("_bits"))
        for frame in tables])
    bits = (rows.where(F.col("_bits").isNotNull()).groupBy("_name", "_sha1")
            .agg(F.bit_or("_bits").alias("_visibility")))
    held = rows.select(F.col("_sha1").alias("_held_sha1")).where(F.length("_held_sha1") > 0).distinct() \
        .withColumn("_held", F.lit(True))
    return (controls
            .join(bits, (F.col("name") == F.col("_name")) & (F.col("sha1") == F.col("_sha1")), "left")
            .join(held, F.col("sha1") == F.col("_held_sha1"), "left")
            .select("name", "sha1", "rows", "_visibility", "_held"))
