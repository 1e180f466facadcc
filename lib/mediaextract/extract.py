"""The extract job's flow: plan -> reuse what earlier runs did -> fetch in committed batches -> finalize.

Resuming needs no bookkeeping of its own: whatever earlier runs committed (items/ and the
committed batches under _work/) is read back, rows whose status is final are reused, and only
the rest is fetched. A driver killed at any point leaves nothing half-counted: a batch without
Spark's _SUCCESS is ignored, and items/ is swapped in whole.
"""

from __future__ import annotations

import hashlib
import shutil
import json
import logging
import math
import time
from datetime import datetime, timezone
from functools import partial

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from . import audit, catalog, dataset, pipeline, report, statuses, storage
from .dataset import ITEM_COLUMNS, ITEMS_SCHEMA, PLAN_COLUMNS, Paths
from .errors import BadInput, StorageAuthError, StorageDown
from .fetch import AUTH_REFUSED, STORAGE_DOWN, FetchPlan, fetch_partition
from .hadoopfs import HadoopFS
from .limits import slots_directory
from .report import human_duration

log = logging.getLogger("mediaextract")
KEY = ["list", "name", "sha1"]


def preflight(settings, container: str) -> None:
    """Fail fast, before any Spark stage, when storage refuses us or cannot be reached."""
    store = storage.store_for(settings.section("storage"),
                              {k: settings[k] for k in ("storage.access_key", "storage.secret_key")}, max_pool=1)
    try:
        store.preflight(container)
    except storage.StorageError as error:
        if error.kind == "auth":
            raise StorageAuthError(f"storage refused our credentials ({error}): check storage.access_key/"
                                   "secret_key in the environment or secrets_file") from None
        if error.kind == "retryable":
            raise StorageDown(f"storage unreachable ({error}): nothing fetched; run again when it is back") from None
        raise BadInput(f"storage not usable: {error}") from None


REMOVED = "removed by a legal request (see _audit/purge.jsonl): not fetched again"


def _without_removed(fs: HadoopFS, settings, planned: DataFrame, output: str) -> DataFrame:
    """Return planned rows with files that a purge removed under this root marked suppressed.

    The audit log keeps only salted hashes, so each row's identifiers are hashed the same way.
    """
    roots = {output.rstrip("/").rsplit("/", 1)[0], settings["output.root"].rstrip("/")}
    blocked: list[tuple[bytes, dict]] = []
    for root in roots:
        log_ = audit.AuditLog(fs, root)
        if fs.exists(log_.path):
            hashes = audit.removed_hashes(log_.records())
            if hashes:
                blocked.append((log_.salt(), hashes))
    if not blocked:
        return planned

    def removed(name, sha1, storage_key) -> bool:
        for salt, hashes in blocked:
            for kind, value in (("name", name), ("sha1", sha1), ("storage_key", storage_key)):
                if value and audit.salted_hash(salt, kind, value) in hashes.get(kind, ()):
                    return True
        return False

    hit = F.udf(removed, "boolean")("name", "sha1", "storage_key")
    pending = F.col("status") == statuses.PENDING
    marked = (planned.withColumn("_removed", F.when(pending, hit).otherwise(F.lit(False)))
              .withColumn("status", F.when(F.col("_removed"), F.lit(statuses.SUPPRESSED)).otherwise(F.col("status")))
              .withColumn("reason", F.when(F.col("_removed"), F.lit(REMOVED)).otherwise(F.col("reason"))))
    # Like a suppressed row from the catalog: nothing about it but its status and version count.
    for column in (c for c in catalog.RESOLVED_COLUMNS if c != "versions"):
        marked = marked.withColumn(column, F.when(F.col("_removed"), F.lit(None)).otherwise(F.col(column)))
    return marked.drop("_removed")


def _mark_reuse_and_batches(planned: DataFrame, previous: DataFrame | None, settings) -> DataFrame:
    """Return planned rows with _reuse (an earlier result stands) and _batch (to fetch) columns."""
    if previous is not None:
        final = previous.where(~F.col("status").isin(settings["fetch.retry_statuses"]))
        planned = planned.join(final.select(*KEY).withColumn("_reuse", F.lit(True)), on=KEY, how="left")
    else:
        planned = planned.withColumn("_reuse", F.lit(None).cast("boolean"))
    pending = (F.col("status") == statuses.PENDING) & F.col("_reuse").isNull()
    # Batches by a hash of the row, not a global ranking: no single-partition sort at scale.
    to_fetch = planned.where(pending).count()
    batches = max(1, math.ceil(to_fetch / settings["fetch.batch_rows"]))
    batch = F.when(pending, F.pmod(F.xxhash64("list", "line", "fa_id"), F.lit(batches)).cast("int"))
    return planned.withColumn("_batch", batch)


def _batch_stats(spark: SparkSession, path: str) -> dict:
    rows = (dataset.read_items(spark, path)
            .groupBy("status", (F.col("reason") == AUTH_REFUSED).alias("auth"),
                     (F.col("reason") == STORAGE_DOWN).alias("down"))
            .agg(F.count(F.lit(1)).alias("n"),
                 F.coalesce(F.sum(F.when(F.col("status") == statuses.OK, F.col("size"))), F.lit(0)).alias("bytes"))
            .collect())
    stats = {"rows": 0, "ok": 0, "failed": 0, "bytes": 0, "auth": 0, "down": 0}
    for r in rows:
        stats["rows"] += r["n"]
        stats["bytes"] += r["bytes"]
        stats["ok" if r["status"] == statuses.OK else "failed"] += r["n"]
        stats["auth"] += r["n"] if r["auth"] else 0
        stats["down"] += r["n"] if r["down"] else 0
    return stats


def _progress(batch: int, batches: int, done: int, total: int, ok: int, failed: int,
              fetched_bytes: int, started: float) -> str:
    elapsed = max(time.monotonic() - started, 1e-6)
    rate = done / elapsed
    eta = (total - done) / rate if rate > 0 else 0
    return (f"batch {batch}/{batches}: {done}/{total} rows, ok {ok}, failed {failed}, "
            f"{rate:.1f} items/s, {fetched_bytes / elapsed / 1e6:.1f} MB/s, ETA {human_duration(eta)}")


def _final_items(planned: DataFrame, results: DataFrame) -> DataFrame:
    """Return one row per planned row: plan columns from the plan, fetch columns from results."""
    fetch_only = [c for c in dataset.FETCH_COLUMNS if c not in ("status", "reason")]
    decided = planned.where(F.col("status") != statuses.PENDING).select(
        *PLAN_COLUMNS, "status", "reason",
        *[F.lit(None).cast(ITEMS_SCHEMA[c].dataType).alias(c) for c in fetch_only])
    pending = (planned.where(F.col("status") == statuses.PENDING).select(*PLAN_COLUMNS)
               .join(results.select(*KEY, *dataset.FETCH_COLUMNS), on=KEY, how="left"))
    # A pending row without a result cannot happen once every batch committed; should it ever,
    # it is counted as failed rather than lost.
    pending = pending.select(
        *PLAN_COLUMNS,
        F.coalesce("status", F.lit(statuses.FETCH_FAILED)).alias("status"),
        F.when(F.col("status").isNull(), F.lit("not fetched")).otherwise(F.col("reason")).alias("reason"),
        *fetch_only)
    return decided.select(*ITEM_COLUMNS).unionByName(pending.select(*ITEM_COLUMNS))


def fetch_shape(settings, parallelism: int, executors: int = 1) -> tuple[int, int, int]:
    """Return (host slots, threads per task, tasks per batch at most) for the connection caps.

    Host slots (file locks shared by every task of the run on a host) hold each executor to
    connections_per_executor; tasks x threads <= max_connections holds the whole job to its
    cap on any number of executors, since a task never has more requests than threads. Of the
    shapes that respect both, the one that can use the most connections wins (ties: fewer
    threads, so more tasks share the thumbnailing CPU).
    """
    cap = settings["fetch.max_connections"]
    slots = max(1, min(settings["fetch.connections_per_executor"], cap))

    def usable(threads: int) -> int:
        running = min(max(1, parallelism), cap // threads)
        return min(running * threads, slots * max(1, executors))

    threads = max(range(1, slots + 1), key=lambda t: (usable(t), -t))
    return slots, threads, max(1, cap // threads)


def _fetch_batches(spark: SparkSession, fs: HadoopFS, paths: Paths, run_id: str, planned_rows: DataFrame,
                   sizes: dict[int, int], plan: FetchPlan, max_tasks: int, out) -> None:
    """Fetch the batches one after the other, each committed before the next starts.

    Raises StorageAuthError / StorageDown after committing the batch that showed the problem.
    """
    started = time.monotonic()
    total = sum(sizes.values())
    done = ok = failed = fetched_bytes = 0
    worker = partial(fetch_partition, plan, ITEM_COLUMNS, PLAN_COLUMNS)
    for position, number in enumerate(sorted(sizes)):
        rows = planned_rows.where(F.col("_batch") == number).select(*PLAN_COLUMNS)
        partitions = max(1, min(sizes[number], max_tasks))
        fetched = spark.createDataFrame(rows.repartition(partitions).rdd.mapPartitions(worker), ITEMS_SCHEMA)
        dataset.write_batch(fs, fetched, paths.batch(run_id, number))
        stats = _batch_stats(spark, paths.batch(run_id, number))
        done += stats["rows"]
        ok += stats["ok"]
        failed += stats["failed"]
        fetched_bytes += stats["bytes"]
        out(_progress(position + 1, len(sizes), done, total, ok, failed, fetched_bytes, started))
        resume = f"committed {done} of {total} rows; run the same command again to resume"
        if stats["auth"]:
            raise StorageAuthError(f"storage refused our credentials mid-run: {resume}")
        if stats["down"]:
            raise StorageDown(f"storage looks down (most recent requests failed): stopped; {resume}")


def _finalize(spark: SparkSession, fs: HadoopFS, paths: Paths, run_id: str, planned_rows: DataFrame,
              settings) -> dict:
    """Swap in the final items and write the report and metadata; return the report."""
    file_mode, _ = dataset.modes(settings)
    results = dataset.previous_results(spark, fs, paths)
    if results is None:
        results = spark.createDataFrame([], ITEMS_SCHEMA)
    final = _final_items(planned_rows.drop("_reuse", "_batch"), results)
    dataset.replace_items(spark, fs, paths, final, run_id)
    items = dataset.read_items(spark, paths.items)
    built = report.build_report(
        pipeline.count_rows(items), "extract", connections=pipeline.effective_connections(spark, settings),
        extra={"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "output": fs.qualify(paths.root), "settings": settings.public()})
    broken = report.check_sums(built)
    if broken:
        raise AssertionError(f"counts do not add up for {broken}: a bug, please report it")
    pipeline.write_report(fs, paths.root, built, file_mode)
    pipeline.write_report_html(spark, fs, paths.root, built, items, file_mode)
    metadata = dataset.build_metadata(settings, dataset.read_metadata(fs, paths), catalog_source(settings))
    fs.write_text(paths.metadata, json.dumps(metadata, indent=2, sort_keys=True) + "\n", file_mode)
    return built


def run_extract(spark: SparkSession, settings, list_args: list[str], output: str,
                column: str = "name", out=print, selection: pipeline.Selection = pipeline.Selection()) -> dict:
    """Extract the lists into output; return the report. Raises StorageAuthError/StorageDown."""
    fs = HadoopFS(spark)
    paths = Paths(output)
    file_mode, dir_mode = dataset.modes(settings)
    if settings["storage.backend"] == "s3" and not settings["storage.endpoint"]:
        raise BadInput("storage.endpoint is not set")
    planned = pipeline.planned(spark, settings, list_args, column, selection)
    preflight(settings, f"{settings['wiki.id']}-local-{settings['storage.zone']}")
    planned = _without_removed(fs, settings, planned, output)

    fs.mkdirs(paths.root, dir_mode)
    fs.mkdirs(paths.work, 0o700)
    if fs.exists(paths.success):
        fs.delete(paths.success)  # the data set is being changed: not complete until the end
    previous = dataset.previous_results(spark, fs, paths)
    run_id = dataset.new_run_id()
    planned = planned.persist()  # counted for the batches, then written: computed once
    marked = _mark_reuse_and_batches(planned, previous, settings)
    marked.write.mode("overwrite").parquet(paths.planned(run_id))
    planned.unpersist()
    planned_rows = spark.read.parquet(paths.planned(run_id))

    counts = planned_rows.groupBy("_batch").count().collect()
    sizes = {r["_batch"]: r["count"] for r in counts if r["_batch"] is not None}
    slots, threads, max_tasks = fetch_shape(settings, spark.sparkContext.defaultParallelism,
                                            pipeline.executor_count(spark, settings))
    run_token = hashlib.sha1(f"{fs.qualify(paths.root)}|{run_id}".encode()).hexdigest()[:16]
    plan = FetchPlan.from_settings(settings, run_token, slots, threads, str(slots_directory(run_token)))
    reused = planned_rows.where(F.col("_reuse") & (F.col("status") == statuses.PENDING)).count()
    out(f"extract {paths.root}: {planned_rows.count()} requested, {sum(sizes.values())} to fetch in "
        f"{len(sizes)} batches"
        f" ({reused} done by earlier runs), at most {min(slots, settings['fetch.max_connections'])} "
        "connections per executor")

    try:
        _fetch_batches(spark, fs, paths, run_id, planned_rows, sizes, plan, max_tasks, out)
    finally:
        shutil.rmtree(plan.slots_dir, ignore_errors=True)  # this host's lock files of the run
    built = _finalize(spark, fs, paths, run_id, planned_rows, settings)
    fs.delete(paths.work)
    dataset.apply_permissions(fs, paths.root, settings)
    fs.write_text(paths.success, "", file_mode)
    out(report.format_table(built).rstrip("\n"))
    return built


def catalog_source(settings) -> dict:
    """Return where the catalog came from, without credentials."""
    if settings["catalog.source"] == "snapshot":
        return {"source": "snapshot", "path": settings["catalog.snapshot"]}
    url = settings["catalog.url"].split("?", 1)[0]
    return {"source": "jdbc", "url": url, "read_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
