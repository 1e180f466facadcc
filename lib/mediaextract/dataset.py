"""The output data set, the one module that knows its on-disk shape: schema, paths, batch
commits, metadata, the one swap-in, permissions.

Layout of one extraction (see README "Output"):
    <output>/items/list=<list>/part-*.parquet   one row per requested name (all statuses)
    <output>/report.json, report.txt, report.html   counts per list, removals
    <output>/_metadata.json                     created, expires, catalog source, code version, removals
    <output>/_SUCCESS                           written last
    <output>/_work/                             batches of a run in progress (gone when done)
Where copies are (the data set itself, its batches, its exports) is kept by the registry of the
root (governance.inventory), not here: one small file per copy, so that no two writers ever
read-modify-write the same file.

Work is committed in batches: each batch is one Spark write into _work/<run>/batch-NNNNN, and a
batch counts only once its _COMMITTED marker exists, written after Spark's write has returned
(so after Spark's own job commit, whatever committer is configured). A run killed at any moment
leaves committed batches that the next run reuses. `items/` is replaced whole at the end
(new directory, swap, delete old), so a reader sees the old or the new data set, never half.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from . import __version__, rows, statuses
from .dataset_files import BLOBS, COMMITTED, ITEMS, METADATA, PLANS, REPORT_HTML, REPORT_JSON, REPORT_TEXT, SUCCESS, WORK
from .faults import checkpoint
from .governance.rules import OLD_SUFFIX
from .hadoopfs import HadoopFS

# The items table, declared in rows.ITEM: names are part of the contract (add, don't rename).
ITEMS_SCHEMA = rows.schema(rows.ITEM)
ITEM_COLUMNS = rows.ITEM_COLUMNS
# Columns the fetch stage fills; the rest (PLAN_COLUMNS) comes from the plan.
FETCH_COLUMNS = rows.FETCH_COLUMNS
PLAN_COLUMNS = rows.PLAN_COLUMNS
# A batch as fetch workers give it back and write_batch keeps it: the items and each row's
# `stop` verdict, which the driver reads after the batch (never part of items/).
FETCHED_SCHEMA = rows.schema(rows.FETCHED)
FETCHED_COLUMNS = rows.FETCHED_COLUMNS
# The blobs/ table: large originals once each, in chunks (rows.BLOB).
BLOBS_SCHEMA = rows.schema(rows.BLOB)
BLOB_COLUMNS = rows.BLOB_COLUMNS


def is_item() -> "F.Column":
    """Return the test of a batch's row being an item, not a chunk of a large original (rows.BLOB_LIST)."""
    return F.col("list") != rows.BLOB_LIST

FILE_MODE, DIR_MODE = 0o600, 0o700
GROUP_FILE_MODE, GROUP_DIR_MODE = 0o640, 0o750


def modes(settings) -> tuple[int, int]:
    """Return (file mode, directory mode) for the output."""
    if settings["output.group_readable"]:
        return GROUP_FILE_MODE, GROUP_DIR_MODE
    return FILE_MODE, DIR_MODE


class Paths:
    """Where each part of one extraction lives."""

    def __init__(self, output: str):
        self.root = output.rstrip("/")
        self.items = f"{self.root}/{ITEMS}"
        self.blobs = f"{self.root}/{BLOBS}"
        self.work = f"{self.root}/{WORK}"
        self.success = f"{self.root}/{SUCCESS}"
        self.metadata = f"{self.root}/{METADATA}"
        self.report_json = f"{self.root}/{REPORT_JSON}"
        self.report_text = f"{self.root}/{REPORT_TEXT}"
        self.report_html = f"{self.root}/{REPORT_HTML}"

    def run(self, run_id: str) -> str:
        return f"{self.work}/run-{run_id}"

    def planned(self, run_id: str) -> str:
        return f"{self.run(run_id)}/planned"

    def batch(self, run_id: str, number: int) -> str:
        return f"{self.run(run_id)}/batch-{number:05d}"


def plan_path(root: str, name: str) -> str:
    """Return where `plan` writes the plan of extraction `name`: beside the data sets of root."""
    return f"{root.rstrip('/')}/{PLANS}/{name}"


def make_root(fs: HadoopFS, root: str, settings) -> None:
    """Create an output root that does not exist yet, with the output's directory mode (an
    existing root keeps its mode: it may be shared with other tools)."""
    if not fs.exists(root):
        fs.mkdirs(root, modes(settings)[1])


def new_run_id() -> str:
    """Return a sortable id for one run (time first, so later runs sort after earlier ones)."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


def committed_batches(fs: HadoopFS, paths: Paths) -> list[str]:
    """Return the committed batch directories of every run so far, oldest first."""
    batches = []
    for run in sorted(fs.list(paths.work), key=lambda f: f.path):
        if run.is_dir and run.path.rsplit("/", 1)[-1].startswith("run-"):
            for entry in sorted(fs.list(run.path), key=lambda f: f.path):
                name = entry.path.rsplit("/", 1)[-1]
                if entry.is_dir and name.startswith("batch-") and fs.exists(f"{entry.path}/{COMMITTED}"):
                    batches.append(entry.path)
    return batches


def previous_results(spark: SparkSession, fs: HadoopFS, paths: Paths) -> DataFrame | None:
    """Return the fetched rows of earlier runs (items/ and committed batches), newest per key.

    The key is (list, name, sha1): the same file requested by the same list, robust to lines
    moving when a list is edited between runs.
    """
    sources = []
    if fs.exists(paths.items):
        sources.append((0, paths.items))
    sources += [(i + 1, path) for i, path in enumerate(committed_batches(fs, paths))]
    frames = []
    for order, path in sources:
        frame = spark.read.schema(ITEMS_SCHEMA).option("basePath", path).parquet(path)
        frames.append(frame.where(is_item()).select(*ITEM_COLUMNS).withColumn("_order", F.lit(order)))
    if not frames:
        return None
    union = frames[0]
    for frame in frames[1:]:
        union = union.unionByName(frame)
    from pyspark.sql import Window
    newest = Window.partitionBy("list", "name", "sha1").orderBy(F.col("_order").desc(), F.col("line"))
    return (union.where(F.col("sha1").isNotNull())
            .withColumn("_rank", F.row_number().over(newest))
            .where(F.col("_rank") == 1).drop("_rank", "_order"))




# Every write of rows that may hold bytes (batches, items, blobs, a purge's rewrites):
# - Parquet checks the size of its page and row group after every row, not after its first 100
#   (its default), so a writer holds about one row group of them, not a hundred values;
# - no min/max statistics for the byte columns. Parquet keeps a copy of the smallest and largest
#   value of each column chunk in memory until the file is closed (for the footer), so a task
#   writing 4,096 chunks of 512 KiB held 4 GB of copies: this, not the rows, ran a 1 GB driver
#   JVM out of heap when a finalize rewrote 2 GB originals into blobs/ (bench/fetch.py). Nobody
#   filters on bytes; sha1 keeps its statistics, so readers still skip row groups by sha1.
BYTE_COLUMNS = ("content", "bytes", "thumbnail")
BYTES_WRITE_OPTIONS = {"parquet.block.size.row.check.min": "1", "parquet.block.size.row.check.max": "1",
                       "parquet.page.size.row.check.min": "1", "parquet.page.size.row.check.max": "1",
                       **{f"parquet.column.statistics.enabled#{column}": "false" for column in BYTE_COLUMNS}}
# Every write of blobs/ (extract's, a purge's): a row group per chunk, so that a reader filtering on
# sha1 (pandas, Spark) skips the others whole. Parquet checks the size after every row, and a
# 1-byte target closes a group after each one (also after an original's short last chunk).
BLOB_WRITE_OPTIONS = {**BYTES_WRITE_OPTIONS, "parquet.block.size": "1"}
# The largest chunk output.blob_chunk_bytes allows (config): what a reader plans memory with.
BLOB_CHUNK_BYTES_MAX = 8 * 1024 * 1024
# Row groups of a batch: a task holds about this much of a partition's rows at once.
BATCH_ROW_GROUP_BYTES = 32 * 1024 * 1024


def write_batch(fs: HadoopFS, frame: DataFrame, path: str) -> None:
    """Write one batch of fetched rows (FETCHED_COLUMNS: items and their stop verdicts, and the
    chunk rows of large originals under list=rows.BLOB_LIST), then mark it committed (a batch
    without the mark never counts)."""
    (frame.select(*FETCHED_COLUMNS).write.mode("overwrite").option("parquet.block.size", BATCH_ROW_GROUP_BYTES)
     .options(**BYTES_WRITE_OPTIONS).partitionBy("list").parquet(path))
    checkpoint("batch.written")
    fs.write_bytes(f"{path}/{COMMITTED}", b"")
    checkpoint("batch.committed")


def read_items(spark: SparkSession, path: str) -> DataFrame:
    """Return the items under path (a data set's items/ or a batch) with the contract's columns."""
    return spark.read.schema(ITEMS_SCHEMA).option("basePath", path).parquet(path).select(*ITEM_COLUMNS)


_VANISHED = ("FileNotFoundException", "FILE_NOT_EXIST", "PATH_NOT_FOUND", "does not exist")


def _vanished(error: Exception) -> bool:
    """Return whether a read failed because a swap moved its files away under it."""
    if any(mark in str(error) for mark in _VANISHED):
        return True
    # Spark's file listing, finding the directory gone between two of its steps ("was it deleted
    # very recently?" in its log), raises an IllegalArgumentException without a message.
    return type(error).__name__ == "IllegalArgumentException" and not str(error).strip()


def with_items(spark: SparkSession, path: str | Callable[[], str], action, within_s: float = 60.0):
    """Return action(items at path), reading again when a swap moved the files under the read.

    items/ is replaced by renaming directories (extract's finish, purge): a read that listed
    the old files and opens them after the swap fails on a vanished file, it never mixes old
    and new rows; reading again sees the new items. path may be a function giving the path to
    read at each attempt (e.g. `readable`'s answer, which changes as a swap goes on).
    Reads again for up to within_s seconds, not a number of times: on a loaded host a read takes
    long enough for several swaps of a purge to fall inside it (CI saw five in a row).
    """
    deadline = time.monotonic() + within_s
    attempt = 0
    while True:
        attempt += 1
        try:
            return action(read_items(spark, path() if callable(path) else path))
        except Exception as error:  # py4j/AnalysisException: the message names the cause
            if not _vanished(error) or time.monotonic() > deadline:
                raise
            time.sleep(min(0.1 * attempt, 1.0))


def replace_items(spark: SparkSession, fs: HadoopFS, paths: Paths, final: DataFrame, run_id: str) -> None:
    """Write final as the new items/, swapping it in so readers see old or new, never half."""
    staging = staging_path(paths.items, run_id)
    (final.select(*ITEM_COLUMNS).repartition("list").write.mode("overwrite").options(**BYTES_WRITE_OPTIONS)
     .partitionBy("list").parquet(staging))
    swap_in(fs, staging, paths.items)


def _chunk_sources(spark: SparkSession, fs: HadoopFS, paths: Paths) -> list[DataFrame]:
    """Return every chunk the data set holds (BLOB_COLUMNS and _file, the part file it is in): its
    blobs/ table and the chunk rows of committed batches (a purge may have made some `removed`)."""
    frames = []
    if fs.exists(paths.blobs):
        frames.append(spark.read.schema(BLOBS_SCHEMA).parquet(paths.blobs))
    for batch in committed_batches(fs, paths):
        chunks = f"{batch}/list={rows.BLOB_LIST}"
        if fs.exists(chunks):
            frame = spark.read.schema(FETCHED_SCHEMA).parquet(chunks)
            frames.append(frame.where(F.col("chunk").isNotNull() & F.col("content").isNotNull() & F.col("sha1").isNotNull())
                          .select("sha1", "chunk", F.col("content").alias("bytes")))
    # Where each row is (file, row number in it), read on each scan itself, before the union.
    return [frame.select(*BLOB_COLUMNS, F.col("_metadata.file_path").alias("_file"),
                         F.col("_metadata.row_index").alias("_row")) for frame in frames]


def kept_in_blobs(items: DataFrame) -> DataFrame:
    """Return the sha1 of every ok row of items whose original is in blobs/ (one per row)."""
    return items.where((F.col("status") == statuses.OK) & (F.col("content_in") == rows.CONTENT_IN_BLOBS)).select("sha1")


def replace_blobs(spark: SparkSession, fs: HadoopFS, paths: Paths, final: DataFrame, run_id: str,
                  current: DataFrame | None = None) -> int:
    """Write blobs/ anew with the chunks of every original final's ok rows keep there, each once,
    and swap it in (deleted when none is kept); return how many originals final keeps there.

    It is swapped in before final's items/: the originals the items/ in place keep stay too, so
    a reader of either items/ (an export running beside, or a run killed between the two swaps)
    finds every original its rows name (current: the items/ in place, as the caller reads them,
    removed files marked). What only the old items/ kept goes with the next run's blobs/, or with
    the next purge (chunks no row keeps are its matches).

    No byte is shuffled: which copy of each chunk is kept is decided on the chunks' sha1, index
    and place (file, row) alone, and the chunks are then read through a broadcast join on that.
    """
    sources = _chunk_sources(spark, fs, paths)
    if not sources:  # no blobs/ and no chunk in any batch: no original was ever large (no query)
        return 0
    kept_now = kept_in_blobs(final)
    if current is not None:
        kept_now = kept_now.unionByName(kept_in_blobs(current))
    wanted = kept_in_blobs(final).distinct().count()
    referenced = kept_now.distinct().persist()
    try:
        kept = referenced.count()
        if kept == 0:  # every original kept there is gone (removed, or fetched again smaller)
            if fs.exists(paths.blobs):
                fs.delete(paths.blobs)
            return 0
        chunks = sources[0]
        for frame in sources[1:]:
            chunks = chunks.unionByName(frame)
        chunks = chunks.join(F.broadcast(referenced), on="sha1", how="left_semi")
        place = F.min(F.struct("_file", "_row"))
        chosen = (chunks.groupBy("sha1", "chunk").agg(place.alias("_place"), F.count(F.lit(1)).alias("copies"))
                  .select("sha1", "chunk", "_place._file", "_place._row", "copies").persist())
        try:
            check = (chosen.groupBy("sha1").agg(F.count(F.lit(1)).alias("n"), F.max("chunk").alias("last"),
                                                F.max("copies").alias("copies"))
                     .agg(F.count(F.lit(1)).alias("objects"),
                          F.sum(F.when(F.col("n") != F.col("last") + 1, 1).otherwise(0)).alias("broken"),
                          F.max("copies").alias("copies")).first())
            if check["objects"] != kept or check["broken"]:
                raise RuntimeError(f"blobs/: {kept - check['objects']} originals without chunks and "
                                   f"{check['broken'] or 0} with chunks missing: a bug, please report it")
            if len(sources) == 1 and fs.exists(paths.blobs) and check["copies"] == 1 \
                    and spark.read.schema(BLOBS_SCHEMA).parquet(paths.blobs).select("sha1").distinct().count() == kept:
                return wanted  # blobs/ holds exactly these originals already: nothing to write
            staging = staging_path(paths.blobs, run_id)
            (chunks.join(F.broadcast(chosen.select("sha1", "chunk", "_file", "_row")),
                         on=["sha1", "chunk", "_file", "_row"], how="left_semi")
             .select(*BLOB_COLUMNS).write.mode("overwrite").options(**BLOB_WRITE_OPTIONS).parquet(staging))
            checkpoint("blobs.staged")
            swap_in(fs, staging, paths.blobs)
        finally:
            chosen.unpersist()
    finally:
        referenced.unpersist()
    return wanted


def staging_path(target: str, run_id: str) -> str:
    """Return where a run writes the new copy of target before swapping it in (beside it)."""
    return f"{target.rstrip('/')}.staging-{run_id}"


def old_path(target: str) -> str:
    """Return where a swap moves the current copy of target while the new one goes in."""
    return f"{target.rstrip('/')}{OLD_SUFFIX}"


def swap_in(fs, staging: str, target: str) -> None:
    """Replace target by staging with two renames; the old copy is deleted after the swap.

    The one swap of the project (extract's items, purge's rewritten tables, exports; `fs` is
    HadoopFS or an export's target, anything with exists/rename/delete): target -> target.old,
    staging -> target, delete target.old. A run killed between the steps leaves target.old,
    which `repair_swap` puts back (target missing) or deletes (target in place); readers see
    the old copy or the new one.
    """
    old = old_path(target)
    repair_swap(fs, target)
    if fs.exists(target) and not fs.rename(target, old):
        raise OSError(f"could not move {target} aside")
    checkpoint("swap.moved_aside")
    if not fs.rename(staging, target):
        raise OSError(f"could not move {staging} to {target}")
    checkpoint("swap.moved_in")
    fs.delete(old)


def repair_swap(fs, target: str) -> str | None:
    """Finish what a swap killed half-way left at target; return what was done, None if nothing."""
    old = old_path(target)
    if not fs.exists(old):
        return None
    if fs.exists(target):
        fs.delete(old)
        return "dropped the old copy"
    if not fs.rename(old, target):
        raise OSError(f"could not put {old} back in place")
    return "rolled back"


def repair_swaps(fs: HadoopFS, paths: Paths) -> list[str]:
    """Finish every swap a dead run left in a data set (items, and the plans and batches under
    _work); return the targets repaired. Only for a caller no other swapper of these can run
    beside: an extract holding the data set's lock and its root shared (purges swap under the
    root held exclusively, extracts under the data set's lock)."""
    directories = [paths.root]
    if fs.exists(paths.work):
        directories += [run.path for run in fs.list(paths.work) if run.is_dir]
    repaired = []
    for directory in directories:
        for entry in fs.list(directory):
            if entry.is_dir and entry.path.endswith(OLD_SUFFIX):
                target = entry.path[:-len(OLD_SUFFIX)]
                if repair_swap(fs, target):
                    repaired.append(target)
    return repaired


def readable(fs: HadoopFS, target: str) -> str:
    """Return where target can be read now: itself, or its old copy while a swap is half done
    (target moved aside, the new copy not yet in: by a live run, or one that died there)."""
    if fs.exists(target) or not fs.exists(old_path(target)):
        return target
    return old_path(target)


def read_metadata(fs: HadoopFS, paths: Paths) -> dict | None:
    """Return _metadata.json, or None when there is none (or it is unreadable)."""
    try:
        if not fs.exists(paths.metadata):
            return None
        value = json.loads(fs.read_text(paths.metadata))
    except Exception:  # unreadable, permissions, half-written: callers say "no readable metadata"
        return None
    return value if isinstance(value, dict) else None


def write_metadata(fs: HadoopFS, paths: Paths, metadata: dict, mode: int | None = None) -> None:
    """Write _metadata.json (replacing it atomically), keeping its mode unless one is given.

    Callers hold the root's lock (extract: shared and this data set's own; purge: exclusive),
    so no two read-modify-writes of one data set's metadata ever interleave.
    """
    if mode is None:
        mode = fs.info(paths.metadata).mode if fs.exists(paths.metadata) else FILE_MODE
    fs.write_text(paths.metadata, json.dumps(metadata, indent=2, sort_keys=True) + "\n", mode)


def add_removal(fs: HadoopFS, paths: Paths, removal: dict) -> list[dict]:
    """Record a removal (at, rows, reason, request, run, and labels: rows whose label texts named
    a removed file, when any) in _metadata.json once per run; return all."""
    metadata = read_metadata(fs, paths)
    if metadata is None:
        return []
    removals = metadata.setdefault("removals", [])
    if not any(r.get("run") == removal["run"] for r in removals):
        removals.append({k: removal[k] for k in ("at", "rows", "reason", "request", "run")}
                        | ({"labels": int(removal["labels"])} if removal.get("labels") else {}))
        write_metadata(fs, paths, metadata)
    return removals


def build_metadata(settings, previous: dict | None, catalog_source: dict, now: datetime | None = None) -> dict:
    """Return the metadata of an extraction; `created` is kept from an earlier run of it.

    Content reused from an earlier run is as old as that run, so its expiry date stands.
    """
    now = now or datetime.now(timezone.utc)
    created = datetime.fromisoformat(previous["created"]) if previous and previous.get("created") else now
    expires = created + timedelta(days=settings["output.retention_days"])
    metadata = dict(previous or {})
    metadata.update({
        "created": created.isoformat(timespec="seconds"),
        "expires": expires.isoformat(timespec="seconds"),
        "updated": now.isoformat(timespec="seconds"),
        "catalog": catalog_source,
        "code_version": __version__,
        "settings": settings.public(),
    })
    metadata.pop("exports", None)  # exports are kept by the root's registry now
    metadata.setdefault("removals", [])
    return metadata


def apply_permissions(fs: HadoopFS, root: str, settings) -> None:
    """Set every file and directory under root to the configured modes."""
    file_mode, dir_mode = modes(settings)
    fs.set_mode(root, dir_mode)
    for entry in fs.walk(root):
        fs.set_mode(entry.path, dir_mode if entry.is_dir else file_mode)
