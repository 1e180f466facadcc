"""Which rows of a table a removal request selects, with Spark, never naming a file in a plan.

A filter built from Python literals puts them into the query plan, and from there into Spark's
SQL UI, `explain()` output and event log: logs that no purge reaches. So identifiers are never
literals here: they go into small DataFrames made from local rows (a local relation shows only
its columns in a plan) and rows are matched by broadcast joins against them.

Label texts (rows.LABEL_COLUMNS) that name a removed file are found by a Python function
(rules.names_a_removed_file) whose closure holds the names only as hashes under a salt made for
the purge: the closure travels to the executors, and no name needs to. Such a row stays; only
the text goes.
"""

from __future__ import annotations

from functools import reduce
from typing import Callable, NamedTuple

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType

from .. import audit, catalog, dataset, statuses
from ..rows import LABEL_COLUMNS
from . import rules
from .inventory import Table

MATCH = "_removal_match"
_TEXT = StructType([StructField("value", StringType(), False)])
_IDS = StructType([StructField("value", LongType(), False)])
_SHA1S = StructType([StructField("_kept_sha1", StringType(), True)])


def read_table(spark: SparkSession, table: Table) -> DataFrame:
    """Return a table's rows: items with their contract schema, a run's batches with theirs (the
    chunk rows of large originals included), anything else as written.

    Partition values are read as text whatever they look like (a list named 2024 stays "2024").
    """
    if rules.base_name(table.path).startswith("batch-") and table.partitions == ("list",):
        return spark.read.schema(dataset.FETCHED_SCHEMA).option("basePath", table.path).parquet(table.path)
    if rules.base_name(table.path) == dataset.ITEMS or table.partitions == ("list",):
        return dataset.read_items(spark, table.path)
    data = spark.read.parquet(*table.parts[:1]).schema
    schema = StructType([*data.fields, *[StructField(p, StringType(), True) for p in table.partitions
                                          if p not in data.fieldNames()]])
    return spark.read.schema(schema).option("basePath", table.path).parquet(table.path)


class Identifiers:
    """A request's identifiers as small DataFrames, one per kind (made once per purge), and the
    test of whether a name in a label text is a removed file's (by default: the request's names)."""

    def __init__(self, spark: SparkSession, selector: rules.Selector,
                 removed_name: Callable[[str], bool] | None = None, named: frozenset[str] = frozenset()):
        def text(values) -> DataFrame | None:
            return spark.createDataFrame([(v,) for v in sorted(values)], _TEXT) if values else None

        self.names = text(selector.names)
        self.sha1s = text(selector.sha1s)
        self.storage_keys = text(selector.storage_keys)
        self.versions = text(f"{n}\u0000{s}" for n, s in selector.versions) if selector.versions else None
        self.fa_ids = spark.createDataFrame([(i,) for i in sorted(selector.fa_ids)], _IDS) if selector.fa_ids else None
        # Names found for the request's sha1s and storage keys: a row of one that holds no version
        # (a `duplicate` line, sha1 null) is that file's row too.
        self.named = text(named)
        self.removed_name = removed_name or (hashed_membership(selector.names) if selector.names else None)


def hashed_membership(names) -> Callable[[str], bool]:
    """Return a test of whether a DB key is one of names that holds them only as salted hashes."""
    return audit.names_test([audit.names_under_a_fresh_salt(names)])


class Hits(NamedTuple):
    """What a request selects in a table: rows it removes, and other rows whose label texts name
    a removed file (they stay, without those texts)."""

    rows: int
    labels: int

    @property
    def any(self) -> bool:
        return bool(self.rows or self.labels)


def _mention(column: str) -> str:
    return f"_removal_mentions_{column}"


def flag_mentions(frame: DataFrame, ids: Identifiers) -> DataFrame | None:
    """Return frame with a never-null boolean column per label text (see _mention) saying whether
    it names a removed file, None when the frame has no label text or the request no name."""
    labels = [c for c in LABEL_COLUMNS if c in frame.columns]
    if ids.removed_name is None or not labels:
        return None
    removed = ids.removed_name
    names_one = F.udf(lambda text: rules.names_a_removed_file(text, removed), "boolean", useArrow=False)
    flagged = frame
    for column in labels:
        hit = names_one(catalog.text_column(flagged, column, strip=False))
        flagged = flagged.withColumn(_mention(column), F.coalesce(hit, F.lit(False)))
    return flagged


def flag_matches(frame: DataFrame, ids: Identifiers) -> DataFrame | None:
    """Return frame with a never-null boolean MATCH column, None when no identifier can match it."""
    columns = set(frame.columns)
    name = "name" if "name" in columns else "name_bytes" if "name_bytes" in columns else None
    keys: list[tuple[Column, DataFrame]] = []
    if ids.names is not None and name:
        keys.append((catalog.text_column(frame, name, strip=False), ids.names))
    if ids.sha1s is not None and "sha1" in columns:
        keys.append((catalog.text_column(frame, "sha1"), ids.sha1s))
    if ids.storage_keys is not None and "storage_key" in columns:
        keys.append((catalog.text_column(frame, "storage_key"), ids.storage_keys))
    if ids.fa_ids is not None and "fa_id" in columns:
        keys.append((F.col("fa_id").cast("long"), ids.fa_ids))
    if ids.named is not None and name and "sha1" in columns:
        keys.append((F.when(F.col("sha1").isNull(), catalog.text_column(frame, name, strip=False)), ids.named))
    if ids.versions is not None and name and "sha1" in columns:
        keys.append((F.concat_ws("\u0000", catalog.text_column(frame, name, strip=False),
                                 catalog.text_column(frame, "sha1")), ids.versions))
    if not keys:
        return None
    flagged = frame
    hits = []
    for number, (key, values) in enumerate(keys):
        key_column, hit = f"_removal_key_{number}", f"_removal_hit_{number}"
        lookup = values.select(F.col("value").alias(key_column), F.lit(True).alias(hit))
        flagged = flagged.withColumn(key_column, key).join(F.broadcast(lookup), on=key_column, how="left")
        flagged = flagged.drop(key_column)
        hits.append(F.coalesce(F.col(hit), F.lit(False)))
    flagged = flagged.withColumn(MATCH, reduce(lambda a, b: a | b, hits))
    return flagged.drop(*[f"_removal_hit_{n}" for n in range(len(keys))])


def kept_originals(spark: SparkSession, fs, table: Table) -> Callable[[DataFrame], DataFrame] | None:
    """Return, for a table holding chunks of large originals, the function giving the sha1s
    whose chunks it may keep from the table flagged (MATCH); None for any other table.

    - a data set's blobs/: the originals its items/ keep (as they are now: a purge rewrites
      items/ first);
    - a batch of a run in progress: the originals its own item rows keep, but those the request
      matches (the same rewrite turns them into `removed` rows).
    A chunk no row keeps any more is matched like a removed file's: that is how removing a file
    by name, fa_id or version (none of which a chunk holds) reaches its bytes, and how chunks a
    killed purge left behind go with the next purge.
    """
    name = rules.base_name(table.path)
    if name.startswith("batch-") and table.partitions == ("list",):
        return lambda flagged: dataset.kept_in_blobs(flagged.where(F.col("chunk").isNull() & ~F.col(MATCH)))
    if name != dataset.BLOBS or table.path != f"{table.unit}/{dataset.BLOBS}":
        return None
    items = dataset.Paths(table.unit).items
    if not fs.exists(items):
        return lambda flagged: spark.createDataFrame([], _SHA1S).select(F.col("_kept_sha1").alias("sha1"))
    kept = dataset.kept_in_blobs(dataset.read_items(spark, items))
    return lambda flagged: kept


def _flag_all(frame: DataFrame, ids: Identifiers, kept: Callable[[DataFrame], DataFrame] | None = None
              ) -> tuple[DataFrame, Column, list[str]]:
    """Return (frame flagged, its match column, label texts flagged): the match is a literal
    False when no identifier can match the frame. kept: see kept_originals."""
    flagged = flag_matches(frame, ids)
    if kept is not None:
        base = flagged if flagged is not None else frame.withColumn(MATCH, F.lit(False))
        keep = kept(base).select(F.col("sha1").alias("_kept_sha1")).distinct()
        orphan = F.col("chunk").isNotNull() & F.col("_kept_sha1").isNull()
        flagged = (base.join(F.broadcast(keep), base["sha1"] == keep["_kept_sha1"], "left")
                   .withColumn(MATCH, F.col(MATCH) | orphan).drop("_kept_sha1"))
    match = F.col(MATCH) if flagged is not None else F.lit(False)
    mentioned = flag_mentions(flagged if flagged is not None else frame, ids)
    labels = [c for c in LABEL_COLUMNS if c in frame.columns] if mentioned is not None else []
    return (mentioned if mentioned is not None else flagged if flagged is not None else frame), match, labels


def names_of_matches(spark: SparkSession, tables, selector: rules.Selector) -> frozenset[str]:
    """Return the names of the files a request selects by its other identifiers (sha1s, storage
    keys, fa_ids, versions), as the tables hold them: label texts may name them. A table that
    cannot be read is read part file by part file, the broken ones left out (the purge deletes
    them next)."""
    others = rules.Selector(sha1s=selector.sha1s, storage_keys=selector.storage_keys, fa_ids=selector.fa_ids,
                            versions=selector.versions)
    if others.is_empty():
        return frozenset()
    ids, found = Identifiers(spark, others), set()

    def names_in(frame: DataFrame) -> list[str]:
        name = "name" if "name" in frame.columns else "name_bytes" if "name_bytes" in frame.columns else None
        flagged = flag_matches(frame, ids) if name else None
        if flagged is None:
            return []
        return [r["n"] for r in flagged.where(F.col(MATCH)).select(catalog.text_column(flagged, name, strip=False)
                                                                    .alias("n")).where(F.col("n").isNotNull())
                .distinct().collect()]

    for table in tables:
        try:
            found.update(names_in(read_table(spark, table)))
        except Exception:  # noqa: BLE001 - Py4J/Spark errors: a broken part file somewhere in it
            for part in table.parts:
                try:
                    found.update(names_in(spark.read.parquet(part)))  # its columns but the partition's
                except Exception:  # noqa: BLE001 - this one is broken: _count deletes it
                    continue
    return frozenset(found)


def count_matches(spark: SparkSession, table: Table, ids: Identifiers,
                  kept: Callable[[DataFrame], DataFrame] | None = None) -> Hits:
    """Return what the request selects in a table, in one pass (a removed row or a cleared text
    never matches again). kept: see kept_originals."""
    frame = read_table(spark, table)
    flagged, match, labels = _flag_all(frame, ids, kept)
    if flagged is frame:  # nothing in it can match: no need to read it
        return Hits(0, 0)
    mentions = reduce(lambda a, b: a | b, [F.col(_mention(c)) for c in labels], F.lit(False))
    counts = flagged.agg(F.sum(F.when(match, 1).otherwise(0)).alias("rows"),
                         F.sum(F.when(~match & mentions, 1).otherwise(0)).alias("labels")).first()
    return Hits(int(counts["rows"] or 0), int(counts["labels"] or 0))


def without_matches(frame: DataFrame, ids: Identifiers, keeps: Callable[[DataFrame], DataFrame] | None = None
                    ) -> DataFrame:
    """Return the table as a purge leaves it: matching rows removed, or, for tables of requested
    lines, turned into `removed` rows that keep only their list and line (a batch's chunk rows,
    no requested line, simply go). keeps: see kept_originals."""
    flagged, hit, labels = _flag_all(frame, ids, keeps)
    if flagged is frame:
        return frame
    if not rules.keeps_rows(frame.columns):
        return flagged.where(~hit).select(*[_cleared(field, labels) for field in frame.schema.fields])
    if "chunk" in frame.columns:
        flagged = flagged.where(~(hit & F.col("chunk").isNotNull()))
    kept = []
    for field in frame.schema.fields:
        column = field.name
        if column in labels:
            kept.append(F.when(hit | F.col(_mention(column)), F.lit(None).cast(field.dataType))
                        .otherwise(F.col(column)).alias(column))
        elif column in ("list", "line"):
            kept.append(F.col(column))
        elif column == "status":
            kept.append(F.when(hit, F.lit(statuses.REMOVED)).otherwise(F.col(column)).alias(column))
        elif column == "reason":
            kept.append(F.when(hit, F.lit(rules.REMOVED_REASON)).otherwise(F.col(column)).alias(column))
        else:
            kept.append(F.when(hit, F.lit(None).cast(field.dataType)).otherwise(F.col(column)).alias(column))
    return flagged.select(*kept)


def _cleared(field, labels: list[str]) -> Column:
    """Return a column as a purge leaves it in a row that stays: a label text naming a removed
    file becomes null."""
    if field.name not in labels:
        return F.col(field.name)
    return (F.when(F.col(_mention(field.name)), F.lit(None).cast(field.dataType))
            .otherwise(F.col(field.name)).alias(field.name))
