"""The labels a deletion model learns from, looked up for the rows an extract plans (Spark).

- `deleted_reason` and `description`: the `comment` texts of the chosen filearchive row's
  fa_deleted_reason_id and fa_description_id (catalog.resolve hands them on as `_reason_id` and
  `_description_id`, null when MediaWiki hides them: fa_deleted & 2);
- `live_duplicate_of`: the live files (`image`) whose sha1 is the row's, names joined by "|"
  (a character no title may hold): a deleted file that lives on as a duplicate, a better
  re-upload or a rename is often not a bad file at all.

`comment` holds hundreds of millions of rows on Commons and `image` tens of millions: both are
read by the keys the planned rows need only, in batches of catalog.lookup_batch keys, each batch
one `IN (...)` query pushed down to the database (one JDBC partition each), never whole.
"""

from __future__ import annotations

import re
from typing import Iterable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from . import catalog, layout

SEPARATOR = "|"
COMMENT_ID_COLUMNS = tuple(f"_{c}" for c in catalog.COMMENT_IDS)
_BASE36 = re.compile(r"[0-9a-z]{1,32}")
BROADCAST_KEYS = 10_000  # comment texts of up to this many ids are sent whole to every task


def batches(keys: Iterable, size: int) -> list[list]:
    """Return the sorted distinct keys cut into lists of at most size keys."""
    ordered = sorted(set(keys))
    return [ordered[i:i + size] for i in range(0, len(ordered), size)]


def in_predicates(column: str, keys: Iterable, size: int) -> list[str]:
    """Return one `column IN (...)` condition per batch of keys: integers as they are, sha1s
    (base 36, checked) quoted. Nothing else is accepted: the text goes into SQL."""
    conditions = []
    for batch in batches(keys, size):
        literals = []
        for key in batch:
            if isinstance(key, int) and not isinstance(key, bool):
                literals.append(str(key))
            elif isinstance(key, str) and _BASE36.fullmatch(key):
                literals.append(f"'{key}'")
            else:
                raise ValueError(f"not a comment id or a base-36 sha1: {key!r}")
        conditions.append(f"{column} IN ({', '.join(literals)})")
    return conditions


def _lookup_jdbc(spark: SparkSession, settings, table: str, predicates: list[str]) -> DataFrame:
    properties = {"user": settings["catalog.user"] or "", "password": settings["catalog.password"] or "",
                  "driver": settings["catalog.driver"], "fetchsize": str(settings["catalog.fetch_size"])}
    url = catalog.jdbc_url(settings)
    return spark.read.jdbc(url, table, predicates=predicates, properties=properties)


def comments(spark: SparkSession, settings, ids: list[int]) -> DataFrame:
    """Return (comment_id, text) of the given comment ids (none from a snapshot source: a snapshot
    copies filearchive and image only)."""
    schema = "comment_id bigint, text string"
    if not ids or settings["catalog.source"] == "snapshot":  # a snapshot holds no comments
        return spark.createDataFrame([], schema)
    frame = _lookup_jdbc(spark, settings, "comment", in_predicates("comment_id", ids, settings["catalog.lookup_batch"]))
    return frame.select(F.col("comment_id").cast("bigint"),
                        catalog.text_column(frame, "comment_text", strip=False).alias("text"))


def live_names(spark: SparkSession, settings, sha1s: list[str]) -> DataFrame:
    """Return (sha1, live_duplicate_of) for the given sha1s that live files have."""
    if not sha1s:
        return spark.createDataFrame([], "sha1 string, live_duplicate_of string")
    if settings["catalog.source"] == "snapshot":
        image = catalog.read_snapshot_part(spark, settings, catalog.SNAPSHOT_IMAGE)
        if image is None:
            return spark.createDataFrame([], "sha1 string, live_duplicate_of string")
    else:
        columns = catalog.live_name_columns(settings)
        image = catalog.select_mapped(
            _lookup_jdbc(spark, settings, catalog.file_table(settings, layout.LIVE).source,
                         in_predicates(columns["sha1"], sha1s, settings["catalog.lookup_batch"])),
            columns)
    live = image.select(catalog.text_column(image, "sha1").alias("sha1"),
                        catalog.text_column(image, "name_bytes", strip=False).alias("live_name"))
    # Joined against a local relation, never `isin(...)`: literals would put the sha1s into the
    # query plan, and from there into the SQL UI and event logs (as governance.matching avoids).
    wanted = spark.createDataFrame([(s,) for s in sorted(set(sha1s))], "sha1 string")
    return (live.join(F.broadcast(wanted), on="sha1", how="inner")
            .groupBy("sha1")
            .agg(F.array_join(F.array_sort(F.collect_set("live_name")), SEPARATOR).alias("live_duplicate_of")))


def attach(spark: SparkSession, settings, planned: DataFrame) -> DataFrame:
    """Return planned with deleted_reason, description and live_duplicate_of filled in, and
    without the comment id columns. Call it on a cached frame: it reads the keys first."""
    if not settings["catalog.labels"]:
        return planned.drop(*COMMENT_ID_COLUMNS)
    has_row = catalog.has_catalog_row()
    found = planned.where(has_row)
    # Both kinds of keys in one pass (collect_set leaves nulls out).
    keys = found.agg(*[F.collect_set(c).alias(c) for c in COMMENT_ID_COLUMNS],
                     F.collect_set(F.when(F.length("sha1") > 0, F.col("sha1"))).alias("sha1")).first()
    ids = sorted({i for c in COMMENT_ID_COLUMNS for i in keys[c]})
    sha1s = [s for s in keys["sha1"] if _BASE36.fullmatch(s)]  # anything else is no sha1 a live file can have
    texts = comments(spark, settings, [int(i) for i in ids])
    small = len(ids) <= BROADCAST_KEYS
    with_labels = planned.drop(*catalog.LABEL_COLUMNS)
    for column, id_column in (("deleted_reason", "_reason_id"), ("description", "_description_id")):
        text = texts.select(F.col("comment_id").alias("_comment_id"), F.col("text").alias("_text"))
        with_labels = (with_labels
                       .join(F.broadcast(text) if small else text, F.col(id_column) == F.col("_comment_id"), "left")
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
