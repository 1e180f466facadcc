"""The stages every job shares, composed with Spark: lists -> catalog -> counts."""

from __future__ import annotations

import json
import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from dataclasses import dataclass

from . import catalog, lists, report, sampling, statuses
from .errors import BadInput
from .hadoopfs import HadoopFS

log = logging.getLogger("mediaextract")


@dataclass(frozen=True)
class Selection:
    """What to take besides the lists: a deletion window and samples."""

    window: catalog.DeletionWindow | None = None
    window_list: str = "deleted"
    samples: tuple[sampling.SampleSpec, ...] = ()
    seed: int = 0


def window_rows(names: list[str], list_name: str) -> list[tuple]:
    """Return LIST_SCHEMA tuples for the names a deletion window selected (a list of its own)."""
    return [(list_name, number, name, name, None, None) for number, name in enumerate(names, start=1)]


def outside_window(rows: list[tuple], names: set[str], window: catalog.DeletionWindow) -> list[tuple]:
    """Return rows with names that have no deletion in the window marked not_in_filearchive."""
    reason = f"no deletion in the selected window ({window.describe()})"
    return [(l, n, r, k, statuses.NOT_IN_FILEARCHIVE, reason) if s is None and k not in names else (l, n, r, k, s, why)
            for l, n, r, k, s, why in rows]


def planned(spark: SparkSession, settings, list_args: list[str], column: str = "name",
            selection: Selection = Selection()) -> DataFrame:
    """Return one row per requested name with its catalog columns and status (PENDING = to fetch)."""
    rows = []
    if list_args:  # lists first: a wrong path is reported before the catalog is touched
        rows = lists.read_list_rows(spark, list_args, column=column,
                                    capitalize_first=settings["wiki.capitalize_first"])
    elif selection.window is None:
        raise BadInput("no lists given: name list files, or select by --deleted-since/--deleted-until")
    filearchive, image = catalog.load_catalog(spark, settings)
    if selection.window is not None:
        selected = catalog.names_deleted_in(filearchive, selection.window)
        rows = outside_window(rows, set(selected), selection.window) if list_args else \
            window_rows(selected, selection.window_list)
    rows = sampling.apply_sample(rows, selection.samples, selection.seed)
    names = spark.createDataFrame(rows, lists.LIST_SCHEMA)
    return catalog.resolve(names, filearchive, settings, image=image)


def count_rows(frame: DataFrame) -> list[report.CountRow]:
    """Return the (list, status, media_type) -> rows, bytes aggregates of a frame."""
    grouped = (frame.groupBy("list", "status", "media_type")
               .agg(F.count(F.lit(1)).alias("rows"), F.coalesce(F.sum("size"), F.lit(0)).alias("bytes"))
               .collect())
    return [report.CountRow(r["list"], r["status"], r["media_type"], int(r["rows"]), int(r["bytes"]))
            for r in grouped]


def executor_count(spark: SparkSession, settings) -> int:
    """Return how many executors fetch at once: the setting, else what Spark was given."""
    if settings["fetch.executors"]:
        return int(settings["fetch.executors"])
    conf = spark.sparkContext.getConf()
    master = conf.get("spark.master", "local")
    if master.startswith("local-cluster["):
        return int(master[len("local-cluster["):].split(",")[0])
    if master.startswith("local"):
        return 1
    return int(conf.get("spark.dynamicAllocation.maxExecutors", conf.get("spark.executor.instances", "2")))


def effective_connections(spark: SparkSession, settings) -> int:
    """Return the connections the whole job may have open: the lower of the two caps."""
    return min(settings["fetch.max_connections"],
               settings["fetch.connections_per_executor"] * executor_count(spark, settings))


def write_report(fs: HadoopFS, directory: str, built: dict, mode: int = 0o600) -> str:
    """Write report.json and report.txt into directory; return the table text."""
    table = report.format_table(built)
    fs.write_text(f"{directory}/report.json", json.dumps(built, indent=2, sort_keys=True, default=str) + "\n", mode)
    fs.write_text(f"{directory}/report.txt", table, mode)
    return table


def write_report_html(spark: SparkSession, fs: HadoopFS, directory: str, built: dict, items: DataFrame,
                      mode: int = 0o600) -> str:
    """Write report.html beside report.json (counts, charts, contact sheets); return its path.

    Spark reduces the data set to histogram bins and a seeded sample of thumbnails (chosen
    without reading any bytes, then fetched by key), so the driver gets a few hundred values.
    """
    from pyspark.sql import Window

    from . import report_html as page

    ok = items.where(F.col("status") == statuses.OK)
    size_bin = F.floor(F.log10(F.greatest(F.col("size"), F.lit(1))) * page.SIZE_BINS_PER_DECADE)
    bins = (ok.select(F.explode(F.array(
                F.struct(F.lit("size").alias("kind"), size_bin.alias("bin")),
                F.struct(F.lit("width").alias("kind"), F.floor(F.col("thumbnail_width") / page.DIMENSION_BIN_PX).alias("bin")),
                F.struct(F.lit("height").alias("kind"), F.floor(F.col("thumbnail_height") / page.DIMENSION_BIN_PX).alias("bin")),
            )).alias("b")).select("b.*").where(F.col("bin").isNotNull())
            .groupBy("kind", "bin").count().collect())
    histograms: dict[str, dict[int, int]] = {"size": {}, "width": {}, "height": {}}
    for r in bins:
        histograms[r["kind"]][int(r["bin"])] = int(r["count"])
    order = F.sha1(F.concat_ws("|", F.lit(page.SAMPLE_SEED), F.col("list"), F.col("line").cast("string"), F.col("name")))
    ranked = Window.partitionBy("list").orderBy(order, F.col("fa_id"))
    chosen = (ok.where(F.col("thumbnail_width").isNotNull()).select("list", "line", "fa_id", "name")
              .withColumn("_rank", F.row_number().over(ranked)).where(F.col("_rank") <= page.SAMPLE_PER_LIST)
              .select("list", "line", "fa_id"))
    picked = (ok.where(F.col("thumbnail").isNotNull()).join(F.broadcast(chosen), on=["list", "line", "fa_id"])
              .select("list", "line", "name", "thumbnail_mime", "thumbnail").orderBy("list", "line").collect())
    samples = page.group_samples(page.Sample(r["list"], int(r["line"]), r["name"], r["thumbnail_mime"],
                                             bytes(r["thumbnail"])) for r in picked)
    html = page.render(built, histograms["size"], histograms["width"], histograms["height"], samples)
    path = f"{directory}/report.html"
    fs.write_text(path, html, mode)
    return path
