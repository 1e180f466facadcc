"""The extract job's flow: plan -> reuse what earlier runs did -> fetch in committed batches -> finalize.

Resuming needs no bookkeeping of its own: whatever earlier runs committed (items/ and the
committed batches under _work/) is read back, rows whose status is final are reused, and only
the rest is fetched. A driver killed at any point leaves nothing half-counted: a batch without
Spark's _SUCCESS is ignored, and items/ is swapped in whole.
"""

from __future__ import annotations

import hashlib
import shutil
from contextlib import contextmanager
import json
import logging
import math
import time
from datetime import datetime, timezone
from functools import partial

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from . import audit, catalog, catalog_client, dataset, labels, layout, locks, pipeline, report, statuses, storage, thumbs
from .dataset import FETCHED_SCHEMA, ITEM_COLUMNS, ITEMS_SCHEMA, PLAN_COLUMNS, Paths
from .errors import BadInput, NothingInStorage, StorageAuthError, StorageDown
from .fetch import FetchPlan, Stop, fetch_partition
from .faults import checkpoint
from .governance import inventory as inv
from .governance import rules
from .hadoopfs import HadoopFS
from .limits import slots_directory
from .report import human_duration
from .rows import CONTENT_INLINE, LABEL_COLUMNS

log = logging.getLogger("mediaextract")
KEY = ["list", "name", "sha1"]


def preflight(settings, container: str, must_exist: bool = False) -> None:
    """Fail fast, before any Spark stage, when storage refuses us or cannot be reached (and,
    with must_exist, when it has no such container: wrong wiki.id, zone or sharding)."""
    store = storage.store_for(settings.storage(), max_pool=1)
    try:
        store.preflight(container, must_exist=must_exist)
    except storage.ObjectNotFound:
        raise BadInput(f"storage has no container {container}, where a planned row's file would be: "
                       "check wiki.id, storage.zone and storage.sharded; nothing fetched") from None
    except storage.StorageAuthRefused as error:
        raise StorageAuthError(f"storage refused our credentials ({error}): check storage.access_key/"
                               "secret_key in the environment or secrets_file") from None
    except storage.RetryableStorageError as error:
        raise StorageDown(f"storage unreachable ({error}): nothing fetched; run again when it is back") from None
    except storage.StorageError as error:
        raise BadInput(f"storage not usable: {error}") from None


def container_of(settings, row) -> str:
    """Return the container holding a planned row's content under these settings."""
    return layout.file_location(settings["catalog.files"], row["name"], row["storage_key"], row["archive_name"],
                                settings["wiki.id"], settings["storage.sharded"], settings["storage.zone"]).container


def _blocked(fs: HadoopFS, settings) -> list[tuple[bytes, dict]]:
    """Return (salt, {kind: salted hashes}) of every identifier removed under any configured root:
    finished purges (audit logs) and purges running or killed (their journals)."""
    blocked = []
    for root in inv.configured_roots(fs, settings):
        log_ = audit.AuditLog(fs, root)
        if fs.exists(log_.directory):
            hashes = log_.blocked()
            if hashes:
                blocked.append((log_.salt(), hashes))
    return blocked


def _row_test(blocked: list[tuple[bytes, dict]]):
    """Return whether a row (its name, sha1 and storage key) is a removed file's."""
    def removed(name, sha1, storage_key) -> bool:
        for salt, hashes in blocked:
            for kind, value in (("name", name), ("sha1", sha1), ("storage_key", storage_key)):
                if value and audit.salted_hash(salt, kind, value) in hashes.get(kind, ()):
                    return True
            # A row holding no version (a `duplicate` line) of a file removed by sha1 or key.
            if sha1 is None and name and audit.salted_hash(salt, "name", name) in hashes.get(audit.NAMED, ()):
                return True
        return False
    return removed


def _names_removed_by_content(frame: DataFrame, blocked: list[tuple[bytes, dict]]) -> list[tuple[bytes, dict]]:
    """Return [(salt, {NAMED: hashes})] of the names of the rows of frame removed by their sha1 or
    storage key, or []: a file a purge removed by its content before any copy held it has no name
    in the audit, and its `duplicate` lines and the label texts naming it must go too."""
    if not any(kind in hashes for _, hashes in blocked for kind in ("sha1", "storage_key")):
        return []
    hit = F.coalesce(F.udf(_row_test(blocked), "boolean", useArrow=False)("name", "sha1", "storage_key"), F.lit(False))
    names = [r["name"] for r in frame.where(hit & F.col("sha1").isNotNull() & F.col("name").isNotNull())
             .select("name").distinct().collect()]
    if not names:
        return []
    return [audit.names_under_a_fresh_salt(names, audit.NAMED)]


def _mark_removed(frame: DataFrame, blocked: list[tuple[bytes, dict]]) -> DataFrame:
    """Return frame with every row of a removed file turned into a `removed` row (list, line and
    status only), whatever its status; the audit keeps salted hashes, so each row is hashed alike."""
    if not blocked:
        return frame
    removed_name = audit.names_test(blocked)
    hit = F.udf(_row_test(blocked), "boolean", useArrow=False)("name", "sha1", "storage_key")
    flagged = frame.withColumn("_removed", F.coalesce(hit, F.lit(False)))
    # A label text read from the catalog again may name a removed file: it goes, as the purge
    # cleared it (governance.rules.names_a_removed_file), and the row stays.
    names_one = F.udf(lambda text: rules.names_a_removed_file(text, removed_name), "boolean", useArrow=False)
    labels = [c for c in LABEL_COLUMNS if c in frame.columns] \
        if any("name" in h or audit.NAMED in h for _, h in blocked) else []
    kept = []
    for field in frame.schema.fields:
        column = field.name
        if column in labels:
            gone = F.col("_removed") | F.coalesce(names_one(F.col(column)), F.lit(False))
            kept.append(F.when(gone, F.lit(None).cast(field.dataType)).otherwise(F.col(column)).alias(column))
        elif column in ("list", "line") or column.startswith("_"):
            kept.append(F.col(column))
        elif column == "status":
            kept.append(F.when(F.col("_removed"), F.lit(statuses.REMOVED)).otherwise(F.col(column)).alias(column))
        elif column == "reason":
            kept.append(F.when(F.col("_removed"), F.lit(rules.REMOVED_REASON)).otherwise(F.col(column)).alias(column))
        else:
            kept.append(F.when(F.col("_removed"), F.lit(None).cast(field.dataType)).otherwise(F.col(column)).alias(column))
    return flagged.select(*kept)


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


def _container_of_a_missing_row(spark: SparkSession, settings, path: str) -> str:
    """Return the container one `not_in_storage` row of a committed batch was looked for in."""
    row = (spark.read.schema(FETCHED_SCHEMA).option("basePath", path).parquet(path)
           .where(F.col("status") == statuses.NOT_IN_STORAGE).select("name", "storage_key", "archive_name").first())
    return container_of(settings, row)


def _batch_stats(spark: SparkSession, path: str) -> dict:
    """Return rows, ok, failed and bytes of a committed batch, and how many of its rows carry
    each stop verdict (auth: Stop.AUTH_REFUSED, down: Stop.STORAGE_DOWN)."""
    fetched = spark.read.schema(FETCHED_SCHEMA).option("basePath", path).parquet(path).where(dataset.is_item())
    rows = (fetched.groupBy("status", "stop")
            .agg(F.count(F.lit(1)).alias("n"),
                 F.coalesce(F.sum(F.when(F.col("status") == statuses.OK, F.col("size"))), F.lit(0)).alias("bytes"))
            .collect())
    stats = {"rows": 0, "ok": 0, "failed": 0, "bytes": 0, "auth": 0, "down": 0, "missing": 0}
    verdicts = {Stop.AUTH_REFUSED: "auth", Stop.STORAGE_DOWN: "down"}
    for r in rows:
        stats["rows"] += r["n"]
        if r["status"] == statuses.NOT_IN_STORAGE:
            stats["missing"] += r["n"]
        stats["bytes"] += r["bytes"]
        stats["ok" if r["status"] == statuses.OK else "failed"] += r["n"]
        if r["stop"] is not None:
            stats[verdicts[Stop(r["stop"])]] += r["n"]
    return stats


def _progress(batch: int, batches: int, done: int, total: int, ok: int, failed: int,
              fetched_bytes: int, started: float) -> str:
    elapsed = max(time.monotonic() - started, 1e-6)
    rate = done / elapsed
    eta = (total - done) / rate if rate > 0 else 0
    return (f"batch {batch}/{batches}: {done}/{total} rows, ok {ok}, failed {failed}, "
            f"{rate:.1f} items/s, {fetched_bytes / elapsed / 1e6:.1f} MB/s, ETA {human_duration(eta)}")


def thumbnail_status_before() -> F.Column:
    """Return the thumbnail_status of an ok result fetched before the column existed: made with a
    thumbnail; without one, not_visual or failed by the same rule as a fetch (its reason says
    "thumbnail: ..." when one was tried); null when none was asked for. Such rows are not
    fetched again: a file drawn only by a newer thumbnailer keeps its failure until refetched."""
    not_visual = (F.lower(F.coalesce(F.col("media_type"), F.lit(""))).isin(*thumbs.NOT_VISUAL_MEDIA_TYPES)
                  | F.lower(F.coalesce(F.col("mime"), F.lit(""))).startswith("audio/"))
    tried = F.coalesce(F.col("reason"), F.lit("")).startswith("thumbnail: ")
    return (F.when(F.col("status") != statuses.OK, F.lit(None))
            .when(F.col("thumbnail").isNotNull(), F.lit(thumbs.MADE))
            .when(tried & not_visual, F.lit(thumbs.NOT_VISUAL))
            .when(tried, F.lit(thumbs.FAILED)))


def content_in_before() -> F.Column:
    """Return the content_in of a result fetched before the column existed: its content was inline."""
    return F.when(F.col("content").isNotNull(), F.lit(CONTENT_INLINE))


def _final_items(planned: DataFrame, results: DataFrame) -> DataFrame:
    """Return one row per planned row: plan columns from the plan, fetch columns from results."""
    fetch_only = [c for c in dataset.FETCH_COLUMNS if c not in ("status", "reason")]
    decided = planned.where(F.col("status") != statuses.PENDING).select(
        *PLAN_COLUMNS, "status", "reason",
        *[F.lit(None).cast(ITEMS_SCHEMA[c].dataType).alias(c) for c in fetch_only])
    pending = (planned.where(F.col("status") == statuses.PENDING)
               .select(*PLAN_COLUMNS, F.col("reason").alias("_planned_reason"))
               .join(results.select(*KEY, *dataset.FETCH_COLUMNS), on=KEY, how="left"))
    # A pending row without a result cannot happen once every batch committed; should it ever,
    # it is counted as failed rather than lost. The fetch's reason goes first; the plan's (its
    # comments hidden) when the fetch has none.
    fetched = [F.coalesce(F.col(c), thumbnail_status_before()).alias(c) if c == "thumbnail_status"
               else F.coalesce(F.col(c), content_in_before()).alias(c) if c == "content_in" else F.col(c)
               for c in fetch_only]
    pending = pending.select(
        *PLAN_COLUMNS,
        F.coalesce("status", F.lit(statuses.FETCH_FAILED)).alias("status"),
        F.when(F.col("status").isNull(), F.lit("not fetched"))
        .otherwise(F.coalesce(F.col("reason"), F.col("_planned_reason"))).alias("reason"),
        *fetched)
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


class Guard:
    """What every write of an extract run goes through: the root held shared, and the block list
    (files removed by legal requests, under any root) read again inside that hold.

    Writers take the root only while they write, so a purge waits for one batch at most, never
    for a whole run; and whatever a purge removed before this hold was taken is in the block
    list read inside it, so no write puts a removed file back.
    """

    def __init__(self, fs: HadoopFS, settings, root: str, paths: Paths):
        self.fs, self.settings, self.paths = fs, settings, paths
        self.lock = locks.Lock.for_root(fs, root, "extract", settings)
        # One extract per data set at a time: the second waits (exit 8 after the timeout).
        self.own = locks.Lock(fs, dataset_lock_directory(root, fs.qualify(paths.root)), "extract",
                              **locks.options(settings))
        # Names of the files this run's rows show removed by sha1 or key (see find_named).
        self.named: list[tuple[bytes, dict]] = []

    def find_named(self, planned: DataFrame) -> None:
        """Read, before any row is marked, the names of the planned files removed by their sha1
        or storage key (_names_removed_by_content): every later write marks by them too."""
        with self.lock.shared():
            self.named = _names_removed_by_content(planned, _blocked(self.fs, self.settings))

    @contextmanager
    def running(self):
        """Hold the data set's own lock for a whole run."""
        with self.own.exclusive():
            yield

    @contextmanager
    def writing(self):
        """Hold the root shared; yield a function that marks removed rows in a frame.

        A swap a dead purge or extract left half done in this data set is finished first: with
        the root held shared no purge is at work, and with the data set's lock no other extract.
        """
        with self.lock.shared():
            dataset.repair_swaps(self.fs, self.paths)
            blocked = _blocked(self.fs, self.settings)
            yield lambda frame: _mark_removed(frame, [*blocked, *self.named])


def dataset_lock_directory(root: str, data_set: str) -> str:
    """Return the lock directory of one data set (under its root's lock directory)."""
    digest = hashlib.sha1(data_set.encode("utf-8")).hexdigest()[:16]
    return f"{root.rstrip('/')}/{inv.LOCKS}/datasets/{digest}"


def _fetch_batches(spark: SparkSession, fs: HadoopFS, paths: Paths, run_id: str, guard: Guard,
                   registry: inv.Registry, sizes: dict[int, int], plan: FetchPlan, max_tasks: int, out,
                   first_missing: int = 0) -> None:
    """Fetch the batches one after the other, each committed before the next starts.

    Raises StorageAuthError / StorageDown after committing the batch that showed the problem,
    and NothingInStorage when the first `first_missing` rows or more (whole batches) fetched
    were all missing (0: never checked).
    """
    started = time.monotonic()
    total = sum(sizes.values())
    done = ok = failed = fetched_bytes = missing = tried = 0
    worker = partial(fetch_partition, plan)
    for position, number in enumerate(sorted(sizes)):
        path = paths.batch(run_id, number)
        with guard.writing() as mark_removed:
            # Read the plan again each time: a purge between two batches may have rewritten it.
            planned_rows = spark.read.parquet(paths.planned(run_id))
            rows = (mark_removed(planned_rows.where(F.col("_batch") == number))
                    .where(F.col("status") == statuses.PENDING).select(*PLAN_COLUMNS))
            partitions = max(1, min(sizes[number], max_tasks))
            fetched = spark.createDataFrame(rows.repartition(partitions).rdd.mapPartitions(worker), FETCHED_SCHEMA)
            batch = registry.register(inv.BATCH, path, dataset=fs.qualify(paths.root), job="extract")
            dataset.write_batch(fs, fetched, path)
            registry.complete(batch)
        stats = _batch_stats(spark, path)
        done += sizes[number]
        ok += stats["ok"]
        failed += stats["failed"]
        fetched_bytes += stats["bytes"]
        out(_progress(position + 1, len(sizes), done, total, ok, failed, fetched_bytes, started))
        resume = f"committed {done} of {total} rows; run the same command again to resume"
        if stats["auth"]:
            raise StorageAuthError(f"storage refused our credentials mid-run: {resume}")
        if stats["down"]:
            raise StorageDown(f"storage looks down (most recent requests failed): stopped; {resume}")
        missing += stats["missing"]
        tried += stats["rows"]
        # Checked once, at the batch that brings the rows this run fetched to first_missing.
        if first_missing and tried - stats["rows"] < first_missing <= tried:
            if missing == tried:
                raise NothingInStorage(
                    f"the first {tried} objects this run fetched were all missing, e.g. in container "
                    f"{_container_of_a_missing_row(spark, guard.settings, path)}: check wiki.id, storage.zone and "
                    f"storage.sharded ({resume}, or with --set fetch.stop_if_first_missing=0 if they are right)")


def _finalize(spark: SparkSession, fs: HadoopFS, paths: Paths, run_id: str, settings, guard: Guard) -> dict:
    """Swap in the final items and write the report and metadata; return the report."""
    file_mode, _ = dataset.modes(settings)
    with guard.writing() as mark_removed:
        planned_rows = spark.read.parquet(paths.planned(run_id))
        results = dataset.previous_results(spark, fs, paths)
        if results is None:
            results = spark.createDataFrame([], ITEMS_SCHEMA)
        final = mark_removed(_final_items(planned_rows.drop("_reuse", "_batch"), results))
        # blobs/ first: items/ never names an original blobs/ does not hold yet.
        current = mark_removed(dataset.read_items(spark, paths.items)) if fs.exists(paths.items) else None
        in_blobs = dataset.replace_blobs(spark, fs, paths, final, run_id, current)
        checkpoint("extract.blobs_swapped")
        dataset.replace_items(spark, fs, paths, final, run_id)
        checkpoint("extract.items_swapped")
        items = dataset.read_items(spark, paths.items)
        metadata = dataset.build_metadata(settings, dataset.read_metadata(fs, paths), catalog_source(settings))
        rows, lines = pipeline.tally(items, settings)
        built = report.build_report(
            rows, "extract", connections=pipeline.effective_connections(spark, settings), lines=lines,
            labels=pipeline.count_labels(items),
            extra={"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   "output": fs.qualify(paths.root), "settings": settings.public(), **catalog.looked_up_in(settings),
                   **({"originals_in_blobs": in_blobs} if in_blobs else {})},
            removals=metadata.get("removals") or [])
        broken = report.check_sums(built)
        if broken:
            raise AssertionError(f"counts do not add up for {broken}: a bug, please report it")
        pipeline.write_report(fs, paths.root, built, file_mode)
        pipeline.write_report_html(spark, fs, paths.root, built, items, file_mode)
        dataset.write_metadata(fs, paths, metadata, file_mode)
        checkpoint("extract.reported")
    return built


def _prepare(spark: SparkSession, settings, list_args: list[str], output: str, column: str,
             selection: pipeline.Selection) -> tuple[HadoopFS, Paths, str, DataFrame]:
    """What a run and a dry run check before any work, in this order; return the file system, the
    data set's paths, the configured root holding it and the planned rows (not yet computed).

    Exit 2 when the storage settings are incomplete or the output is outside the configured roots;
    the lists are read and the storage's credentials and container checked (preflight).
    """
    fs = HadoopFS(spark)
    paths = Paths(output)
    settings.storage()
    root = inv.root_of(fs, settings, paths.root, "data set")
    if fs.exists(paths.metadata):
        metadata = dataset.read_metadata(fs, paths) or {}
        held = (metadata.get("catalog") or {}).get("files") or layout.DELETED
        if held != settings["catalog.files"]:
            raise BadInput(f"{paths.root} holds {held} files, not {settings['catalog.files']}: give another --name "
                           "or --output (controls and deleted files are data sets of their own)")
        # Chunks of one size per data set: an original put together from chunks cut two ways
        # would be cut wrong.
        chunk = ((metadata.get("settings") or {}).get("output") or {}).get("blob_chunk_bytes")
        if chunk is not None and chunk != settings["output.blob_chunk_bytes"]:
            raise BadInput(f"{paths.root} keeps large originals in chunks of {chunk} bytes, not "
                           f"{settings['output.blob_chunk_bytes']}: set output.blob_chunk_bytes={chunk} for it")
    planned = pipeline.planned(spark, settings, list_args, column, selection)
    zone = settings["storage.zone"] if settings["catalog.files"] == layout.DELETED else "public"
    preflight(settings, f"{settings['wiki.id']}-local-{zone}")
    return fs, paths, root, planned


def run_extract(spark: SparkSession, settings, list_args: list[str], output: str,
                column: str = "name", out=print, selection: pipeline.Selection = pipeline.Selection()) -> dict:
    """Extract the lists into output; return the report. Raises StorageAuthError/StorageDown."""
    fs, paths, root, planned = _prepare(spark, settings, list_args, output, column, selection)
    registry = inv.Registry(fs, root)
    dataset.make_root(fs, root, settings)  # before its locks and registry go into it
    guard = Guard(fs, settings, root, paths)
    with guard.running():
        return _run(spark, fs, settings, paths, registry, guard, planned, out)


def dry_run(spark: SparkSession, settings, list_args: list[str], output: str, column: str = "name",
            out=print, selection: pipeline.Selection = pipeline.Selection()) -> dict:
    """Return the report of what run_extract would do, writing nothing: the plan's counts, and
    how many found rows it would fetch and how many earlier runs already hold.

    Checks what run_extract checks first (storage settings and credentials, output under a
    configured root); reads the lists, the catalog, the audit logs and earlier runs' results,
    takes no lock and registers nothing.
    """
    fs, paths, _, planned = _prepare(spark, settings, list_args, output, column, selection)
    blocked = _blocked(fs, settings)
    planned = _mark_removed(planned, [*blocked, *_names_removed_by_content(planned, blocked)]).persist()
    try:
        previous = dataset.previous_results(spark, fs, paths) if fs.exists(paths.root) else None
        marked = _mark_reuse_and_batches(planned, previous, settings)
        pending = (marked.where(F.col("status") == statuses.PENDING)
                   .groupBy(F.col("_reuse").isNotNull().alias("reused")).count().collect())
        reused = sum(r["count"] for r in pending if r["reused"])
        to_fetch = sum(r["count"] for r in pending if not r["reused"])
        rows, lines = pipeline.tally(planned, settings)
        built = report.build_report(
            rows, "plan", connections=pipeline.effective_connections(spark, settings), lines=lines,
            request_s=settings["fetch.estimate_request_s"], bytes_per_s=settings["fetch.estimate_bytes_per_s"],
            extra={"output": fs.qualify(paths.root), "dry_run": True, **catalog.looked_up_in(settings), "to_fetch": to_fetch,
                   "done_by_earlier_runs": reused})
    finally:
        planned.unpersist()
    out(f"extract {paths.root} (dry run): {built['totals']['requested']} requested, {to_fetch} to fetch "
        f"({reused} done by earlier runs); nothing fetched or written")
    out(report.format_table(built).rstrip("\n"))
    return built


def _run(spark: SparkSession, fs: HadoopFS, settings, paths: Paths, registry: inv.Registry, guard: Guard,
         planned, out) -> dict:
    file_mode, dir_mode = dataset.modes(settings)
    run_id = dataset.new_run_id()
    resolved = planned.persist()  # read for the names removed by content, then marked: the catalog read once
    guard.find_named(resolved)
    with guard.writing() as mark_removed:
        # Registered before its first byte; writing until this run has finished it.
        this = registry.find(inv.DATASET, paths.root) or registry.register(inv.DATASET, paths.root, job="extract")
        if this.state != inv.WRITING:
            this.state = inv.WRITING
            registry.write(this)
        fs.mkdirs(paths.root, dir_mode)
        fs.mkdirs(paths.work, 0o700)
        if fs.exists(paths.success):
            fs.delete(paths.success)  # the data set is being changed: not complete until the end
        previous = dataset.previous_results(spark, fs, paths)
        # An earlier run that found objects had the right storage settings: a re-run whose rows
        # to fetch are the missing ones again must not stop for them (exit 9).
        found_before = previous is not None and not previous.where(F.col("status") == statuses.OK).isEmpty()
        unlabelled = mark_removed(resolved)  # read for the labels' keys, then joined: kept
        if unlabelled is not resolved:  # else nothing was marked, and resolved is kept already
            unlabelled.persist()
        # Counted for the batches, then written: computed once. Marked again: the label texts are
        # read from the catalog only now, and one naming a removed file must not reach the disk.
        planned = mark_removed(labels.attach(spark, settings, unlabelled)).persist()
        with catalog_client.tasks_reaching_the_catalog():  # the label lookups run in these jobs
            marked = _mark_reuse_and_batches(planned, previous, settings)
            marked.write.mode("overwrite").parquet(paths.planned(run_id))
        unlabelled.unpersist()
        resolved.unpersist()
        checkpoint("extract.planned")
        # The container of a row to fetch must exist: with a wrong wiki.id or zone every row
        # would end `not_in_storage` and the run exit 0 (the first preflight's container is
        # unsharded, and a missing one is no credentials problem).
        first = (planned.where(F.col("status") == statuses.PENDING)
                 .select("name", "storage_key", "archive_name").limit(1).collect())
        planned.unpersist()
        if first:
            try:
                container = container_of(settings, first[0])
            except ValueError:  # that row fails alone (fetch_failed), as the worker finds
                container = None
            if container:
                preflight(settings, container, must_exist=True)
    planned_rows = spark.read.parquet(paths.planned(run_id))

    # The batches' sizes and the reused rows in one pass over the plan: every Spark job adds a
    # fixed cost to the run (issue 12, item 4).
    reusing = F.coalesce(F.col("_reuse"), F.lit(False)) & (F.col("status") == statuses.PENDING)
    counts = (planned_rows.groupBy("_batch")
              .agg(F.count(F.lit(1)).alias("count"), F.sum(F.when(reusing, 1).otherwise(0)).alias("reused"))
              .collect())
    sizes = {r["_batch"]: r["count"] for r in counts if r["_batch"] is not None}
    requested = sum(r["count"] for r in counts)
    reused = sum(r["reused"] for r in counts)
    slots, threads, max_tasks = fetch_shape(settings, spark.sparkContext.defaultParallelism,
                                            pipeline.executor_count(spark, settings))
    run_token = hashlib.sha1(f"{fs.qualify(paths.root)}|{run_id}".encode()).hexdigest()[:16]
    plan = FetchPlan.from_settings(settings, run_token, slots, threads, str(slots_directory(run_token)))
    out(f"extract {paths.root}: {requested} requested, {sum(sizes.values())} to fetch in "
        f"{len(sizes)} batches"
        f" ({reused} done by earlier runs), at most {min(slots, settings['fetch.max_connections'])} "
        "connections per executor")

    try:
        _fetch_batches(spark, fs, paths, run_id, guard, registry, sizes, plan, max_tasks, out,
                       first_missing=0 if found_before else settings["fetch.stop_if_first_missing"])
    finally:
        shutil.rmtree(plan.slots_dir, ignore_errors=True)  # this host's lock files of the run
    built = _finalize(spark, fs, paths, run_id, settings, guard)
    with guard.writing():
        fs.delete(paths.work)
        for copy in registry.entries()[0]:
            if copy.kind == inv.BATCH and copy.dataset == fs.qualify(paths.root):
                registry.unregister(copy)
        dataset.apply_permissions(fs, paths.root, settings)
        fs.write_text(paths.success, "", file_mode)
        registry.complete(this)
    out(report.format_table(built).rstrip("\n"))
    return built


def catalog_source(settings) -> dict:
    """Return where the catalog came from (which files, from where), without credentials."""
    if settings["catalog.source"] == "snapshot":
        return {"source": "snapshot", "path": settings["catalog.snapshot"], **catalog.looked_up_in(settings)}
    url = settings["catalog.url"].split("?", 1)[0]
    return {"source": "jdbc", "url": url, "read_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **catalog.looked_up_in(settings)}
