"""The labels a deletion model learns from, looked up for the rows an extract plans (Spark).

- `deleted_reason` and `description`: the `comment` texts of the chosen filearchive row's
  fa_deleted_reason_id and fa_description_id (catalog.resolve hands them on as `_reason_id` and
  `_description_id`, null when MediaWiki hides them: fa_deleted & 2);
- `live_duplicate_of`: the live files (`image`) whose sha1 is the row's, names joined by "|"
  (a character no title may hold): a deleted file that lives on as a duplicate, a better
  re-upload or a rename is often not a bad file at all.

`comment` holds hundreds of millions of rows on Commons and `image` tens of millions: both are
read by the keys the planned rows need only, never whole. The keys stay in the executors (their
number grows with the names, and the driver must not): Spark makes them distinct, and each of at
most catalog.partitions tasks (the catalog's connection cap) asks the catalog for its share in
batches of catalog.lookup_batch keys, one `IN (...)` query each (catalog_client.select_in).
"""

from __future__ import annotations

import re
from functools import partial
from typing import Iterable, Iterator

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from . import catalog, catalog_client, layout
from .catalog_client import Login
from .digest import BASE36_SHA1_RE

SEPARATOR = "|"
COMMENT_ID_COLUMNS = tuple(f"_{c}" for c in catalog.COMMENT_IDS)
BASE36_SHA1 = f"^{BASE36_SHA1_RE.pattern}$"  # anything else is no sha1 a live file can have
COMMENT_QUERY = "SELECT comment_id, comment_text FROM comment WHERE comment_id IN ({keys})"


def comment_texts(login: Login, batch: int, ids: Iterable) -> Iterator[tuple[int, str | None]]:
    """Yield (comment_id, text) of a partition's comment ids (rows of one column): a task's work."""
    for comment_id, text in catalog_client.select_in(login, COMMENT_QUERY, (int(r[0]) for r in ids), batch):
        yield int(comment_id), catalog_client.text(text)


def live_file_names(login: Login, query: str, batch: int, sha1s: Iterable) -> Iterator[tuple[str, str | None]]:
    """Yield (sha1, live name) of the live files with a partition's sha1s: a task's work."""
    for name, sha1 in catalog_client.select_in(login, query, (r[0] for r in sha1s), batch):
        yield catalog_client.text(sha1).strip(), catalog_client.text(name)


def live_names_query(settings) -> str:
    """Return the query of live files' names and sha1s by sha1 (catalog.tables' preset: a table
    or a derived one; names from the presets, never from input)."""
    columns = catalog.live_name_columns(settings)
    source = catalog.file_table(settings, layout.LIVE).source
    return f"SELECT {columns['name_bytes']}, {columns['sha1']} FROM {source} WHERE {columns['sha1']} IN ({{keys}})"


def _looked_up(spark: SparkSession, settings, keys: DataFrame, task, schema: str) -> DataFrame:
    # At most catalog.partitions tasks, so at most that many connections at once; a task with
    # no keys opens none.
    tasks = keys.coalesce(settings["catalog.partitions"]).rdd.mapPartitions(task)
    return spark.createDataFrame(tasks, schema)


def comments(spark: SparkSession, settings, ids: DataFrame) -> DataFrame:
    """Return (comment_id, text) of the comment ids in `ids` (one column, distinct; none from a
    snapshot source: a snapshot copies filearchive and image only)."""
    schema = "comment_id bigint, text string"
    if settings["catalog.source"] == "snapshot":  # a snapshot holds no comments
        return spark.createDataFrame([], schema)
    task = partial(comment_texts, catalog.login(settings), settings["catalog.lookup_batch"])
    return _looked_up(spark, settings, ids, task, schema)


def live_names(spark: SparkSession, settings, sha1s: DataFrame) -> DataFrame:
    """Return (sha1, live_duplicate_of) for the sha1s in `sha1s` (one column `sha1`, distinct)
    that live files have."""
    if settings["catalog.source"] == "snapshot":
        image = catalog.read_snapshot_part(spark, settings, catalog.SNAPSHOT_IMAGE)
        if image is None:
            return spark.createDataFrame([], "sha1 string, live_duplicate_of string")
        live = (image.select(catalog.text_column(image, "sha1").alias("sha1"),
                             catalog.text_column(image, "name_bytes", strip=False).alias("live_name"))
                .join(sha1s, on="sha1", how="inner"))
    else:
        task = partial(live_file_names, catalog.login(settings), live_names_query(settings),
                       settings["catalog.lookup_batch"])
        live = _looked_up(spark, settings, sha1s, task, "sha1 string, live_name string")
    return (live.groupBy("sha1")
            .agg(F.array_join(F.array_sort(F.collect_set("live_name")), SEPARATOR).alias("live_duplicate_of")))


def attach(spark: SparkSession, settings, planned: DataFrame) -> DataFrame:
    """Return planned with deleted_reason, description and live_duplicate_of filled in, and
    without the comment id columns. Call it on a cached frame: the keys and the joins both read
    it, and building the lookups already runs the stages before them (Spark's adaptive plan
    computes a shuffle's input when an RDD is made of it); no row comes to the driver."""
    if not settings["catalog.labels"]:
        return planned.drop(*COMMENT_ID_COLUMNS)
    has_row = catalog.has_catalog_row()
    found = planned.where(has_row)
    ids = (found.select(F.explode(F.array(*COMMENT_ID_COLUMNS)).alias("comment_id"))
           .where(F.col("comment_id").isNotNull()).distinct())
    sha1s = found.select("sha1").where(F.col("sha1").rlike(BASE36_SHA1)).distinct()
    texts = comments(spark, settings, ids)
    with_labels = planned.drop(*catalog.LABEL_COLUMNS)
    for column, id_column in (("deleted_reason", "_reason_id"), ("description", "_description_id")):
        text = texts.select(F.col("comment_id").alias("_comment_id"), F.col("text").alias("_text"))
        with_labels = (with_labels
                       .join(text, F.col(id_column) == F.col("_comment_id"), "left")
                       .withColumn(column, F.when(has_row, F.col("_text")))
                       .drop("_comment_id", "_text"))
    live = live_names(spark, settings, sha1s)
    duplicates = F.col("live_duplicate_of")
    if settings["catalog.files"] == layout.LIVE:  # a live file is not a duplicate of itself
        others = F.array_remove(F.split(duplicates, re.escape(SEPARATOR), -1), F.col("name"))
        duplicates = F.when(F.size(others) > 0, F.array_join(others, SEPARATOR))
    with_labels = (with_labels.join(live, on="sha1", how="left")
                   .withColumn("live_duplicate_of", F.when(has_row, duplicates)))
    return with_labels.select(*planned.columns).drop(*COMMENT_ID_COLUMNS)
