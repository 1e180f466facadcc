"""The stages every job shares, composed with Spark: lists -> catalog -> counts."""

from __future__ import annotations

import json
import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from . import catalog, lists, report
from .hadoopfs import HadoopFS

log = logging.getLogger("mediaextract")


def planned(spark: SparkSession, settings, list_args: list[str], column: str = "name") -> DataFrame:
    """Return one row per requested name with its catalog columns and status (PENDING = to fetch)."""
    names = lists.read_lists(spark, list_args, column=column,
                             capitalize_first=settings["wiki.capitalize_first"])
    filearchive, image = catalog.load_catalog(spark, settings)
    return catalog.resolve(names, filearchive, settings, image=image)


def count_rows(frame: DataFrame) -> list[report.CountRow]:
    """Return the (list, status, media_type) -> rows, bytes aggregates of a frame."""
    grouped = (frame.groupBy("list", "status", "media_type")
               .agg(F.count(F.lit(1)).alias("rows"), F.coalesce(F.sum("size"), F.lit(0)).alias("bytes"))
               .collect())
    return [report.CountRow(r["list"], r["status"], r["media_type"], int(r["rows"]), int(r["bytes"]))
            for r in grouped]


def effective_connections(spark: SparkSession, settings) -> int:
    """Return the connections the whole job may have open: the lower of the two caps."""
    executors = settings["fetch.executors"]
    if not executors:
        conf = spark.sparkContext.getConf()
        if conf.get("spark.master", "local").startswith("local"):
            executors = 1
        else:
            executors = int(conf.get("spark.dynamicAllocation.maxExecutors",
                                     conf.get("spark.executor.instances", "2")))
    return min(settings["fetch.max_connections"], settings["fetch.connections_per_executor"] * int(executors))


def write_report(fs: HadoopFS, directory: str, built: dict, mode: int = 0o600) -> str:
    """Write report.json and report.txt into directory; return the table text."""
    table = report.format_table(built)
    fs.write_text(f"{directory}/report.json", json.dumps(built, indent=2, sort_keys=True, default=str) + "\n", mode)
    fs.write_text(f"{directory}/report.txt", table, mode)
    return table
