"""Which rows of a table a removal request selects, with Spark, never naming a file in a plan.

A filter built from Python literals puts them into the query plan, and from there into Spark's
SQL UI, `explain()` output and event log: logs that no purge reaches. So identifiers are never
literals here: they go into small DataFrames made from local rows (a local relation shows only
its columns in a plan) and rows are matched by broadcast joins against them.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType

from .. import catalog, dataset, statuses
from . import rules
from .inventory import Table

MATCH = "_removal_match"
_TEXT = StructType([StructField("value", StringType(), False)])
_IDS = StructType([StructField("value", LongType(), False)])


def read_table(spark: SparkSession, table: Table) -> DataFrame:
    """Return a table's rows: items with their contract schema, anything else as written.

    Partition values are read as text whatever they look like (a list named 2024 stays "2024").
    """
    if rules.base_name(table.path) == dataset.ITEMS or table.partitions == ("list",):
        return dataset.read_items(spark, table.path)
    data = spark.read.parquet(*table.parts[:1]).schema
    schema = StructType([*data.fields, *[StructField(p, StringType(), True) for p in table.partitions
                                          if p not in data.fieldNames()]])
    return spark.read.schema(schema).option("basePath", table.path).parquet(table.path)


class Identifiers:
    """A request's identifiers as small DataFrames, one per kind (made once per purge)."""

    def __init__(self, spark: SparkSession, selector: rules.Selector):
        def text(values) -> DataFrame | None:
            return spark.createDataFrame([(v,) for v in sorted(values)], _TEXT) if values else None

        self.names = text(selector.names)
        self.sha1s = text(selector.sha1s)
        self.storage_keys = text(selector.storage_keys)
        self.versions = text(f"{n}\u0000{s}" for n, s in selector.versions) if selector.versions else None
        self.fa_ids = spark.createDataFrame([(i,) for i in sorted(selector.fa_ids)], _IDS) if selector.fa_ids else None


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


def count_matches(spark: SparkSession, table: Table, ids: Identifiers) -> int:
    """Return how many rows of a table the request selects (a removed row never matches again)."""
    flagged = flag_matches(read_table(spark, table), ids)
    return 0 if flagged is None else flagged.where(F.col(MATCH)).count()


def without_matches(frame: DataFrame, ids: Identifiers) -> DataFrame:
    """Return the table as a purge leaves it: matching rows removed, or, for tables of requested
    lines, turned into `removed` rows that keep only their list and line."""
    flagged = flag_matches(frame, ids)
    if flagged is None:
        return frame
    if not rules.keeps_rows(frame.columns):
        return flagged.where(~F.col(MATCH)).select(*frame.columns)
    hit = F.col(MATCH)
    kept = []
    for field in frame.schema.fields:
        column = field.name
        if column in ("list", "line"):
            kept.append(F.col(column))
        elif column == "status":
            kept.append(F.when(hit, F.lit(statuses.REMOVED)).otherwise(F.col(column)).alias(column))
        elif column == "reason":
            kept.append(F.when(hit, F.lit(rules.REMOVED_REASON)).otherwise(F.col(column)).alias(column))
        else:
            kept.append(F.when(hit, F.lit(None).cast(field.dataType)).otherwise(F.col(column)).alias(column))
    return flagged.select(*kept)
