"""The output data set: its schema, where things live, batch commits, finalizing, permissions.

Layout of one extraction (see README "Output"):
    <output>/items/list=<list>/part-*.parquet   one row per requested name (all statuses)
    <output>/report.json, report.txt            counts per list
    <output>/_metadata.json                     created, expires, catalog source, code version
    <output>/_SUCCESS                           written last
    <output>/_work/                             batches of a run in progress (gone when done)

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

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (BinaryType, IntegerType, LongType, StringType, StructField,
                               StructType, TimestampType)

from . import __version__
from .hadoopfs import HadoopFS

# The items table: names are part of the contract (add, don't rename).
ITEMS_SCHEMA = StructType([
    StructField("list", StringType(), False),
    StructField("line", IntegerType(), False),
    StructField("requested_name", StringType(), False),
    StructField("name", StringType(), True),
    StructField("status", StringType(), False),
    StructField("reason", StringType(), True),
    StructField("fa_id", LongType(), True),
    StructField("sha1", StringType(), True),
    StructField("storage_key", StringType(), True),
    StructField("size", LongType(), True),
    StructField("width", IntegerType(), True),
    StructField("height", IntegerType(), True),
    StructField("media_type", StringType(), True),
    StructField("mime", StringType(), True),
    StructField("uploaded_at", TimestampType(), True),
    StructField("deleted_at", TimestampType(), True),
    StructField("versions", IntegerType(), True),
    StructField("archive_name", StringType(), True),
    StructField("content", BinaryType(), True),
    StructField("thumbnail", BinaryType(), True),
    StructField("thumbnail_mime", StringType(), True),
    StructField("thumbnail_width", IntegerType(), True),
    StructField("thumbnail_height", IntegerType(), True),
    StructField("fetched_at", TimestampType(), True),
    StructField("attempts", IntegerType(), True),
])
ITEM_COLUMNS = tuple(ITEMS_SCHEMA.fieldNames())
# Columns the fetch stage fills; everything before `content` comes from the plan.
FETCH_COLUMNS = ("status", "reason", "content", "thumbnail", "thumbnail_mime", "thumbnail_width",
                 "thumbnail_height", "fetched_at", "attempts")
PLAN_COLUMNS = tuple(c for c in ITEM_COLUMNS if c not in FETCH_COLUMNS)

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
        self.items = f"{self.root}/items"
        self.work = f"{self.root}/_work"
        self.success = f"{self.root}/_SUCCESS"
        self.metadata = f"{self.root}/_metadata.json"

    def run(self, run_id: str) -> str:
        return f"{self.work}/run-{run_id}"

    def planned(self, run_id: str) -> str:
        return f"{self.run(run_id)}/planned"

    def batch(self, run_id: str, number: int) -> str:
        return f"{self.run(run_id)}/batch-{number:05d}"


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
        frames.append(frame.select(*ITEM_COLUMNS).withColumn("_order", F.lit(order)))
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


COMMITTED = "_COMMITTED"


def write_batch(fs: HadoopFS, frame: DataFrame, path: str) -> None:
    """Write one batch of items, then mark it committed (a batch without the mark never counts)."""
    frame.select(*ITEM_COLUMNS).write.mode("overwrite").partitionBy("list").parquet(path)
    fs.write_bytes(f"{path}/{COMMITTED}", b"")


def read_items(spark: SparkSession, path: str) -> DataFrame:
    """Return the items under path (a data set's items/ or a batch) with the contract's columns."""
    return spark.read.schema(ITEMS_SCHEMA).option("basePath", path).parquet(path).select(*ITEM_COLUMNS)


_VANISHED = ("FileNotFoundException", "FILE_NOT_EXIST", "PATH_NOT_FOUND", "does not exist")


def with_items(spark: SparkSession, path: str, action, attempts: int = 5):
    """Return action(items at path), reading again when a swap moved the files under the read.

    items/ is replaced by renaming directories (extract's finish, purge): a read that listed
    the old files and opens them after the swap fails on a vanished file, it never mixes old
    and new rows; reading again sees the new items.
    """
    for attempt in range(attempts):
        try:
            return action(read_items(spark, path))
        except Exception as error:  # py4j/AnalysisException: the message names the cause
            if attempt + 1 == attempts or not any(mark in str(error) for mark in _VANISHED):
                raise
            time.sleep(0.1 * (attempt + 1))


def replace_items(spark: SparkSession, fs: HadoopFS, paths: Paths, final: DataFrame, run_id: str) -> None:
    """Write final as the new items/, swapping it in so readers see old or new, never half."""
    staging = f"{paths.run(run_id)}/items"
    final.select(*ITEM_COLUMNS).repartition("list").write.mode("overwrite").partitionBy("list").parquet(staging)
    swap_in(fs, staging, paths.items)


def swap_in(fs: HadoopFS, staging: str, target: str) -> None:
    """Replace target by staging with two renames; the old copy is deleted after the swap."""
    old = f"{target}.old"
    if fs.exists(old):
        fs.delete(old)
    if fs.exists(target) and not fs.rename(target, old):
        raise OSError(f"could not move {target} aside")
    if not fs.rename(staging, target):
        raise OSError(f"could not move {staging} to {target}")
    fs.delete(old)


def read_metadata(fs: HadoopFS, paths: Paths) -> dict | None:
    """Return _metadata.json, or None when there is none (or it is unreadable)."""
    if not fs.exists(paths.metadata):
        return None
    try:
        return json.loads(fs.read_text(paths.metadata))
    except (ValueError, Exception):
        return None


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
    metadata.setdefault("exports", [])
    metadata.setdefault("removals", [])
    return metadata


def apply_permissions(fs: HadoopFS, root: str, settings) -> None:
    """Set every file and directory under root to the configured modes."""
    file_mode, dir_mode = modes(settings)
    fs.set_mode(root, dir_mode)
    for entry in fs.walk(root):
        fs.set_mode(entry.path, dir_mode if entry.is_dir else file_mode)
