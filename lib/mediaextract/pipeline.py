"""The stages every job shares, composed with Spark: lists -> catalog -> counts."""

from __future__ import annotations

import json
import logging

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from . import catalog, dataset, list_reader, report, sampling, statuses
from .errors import BadInput
from .hadoopfs import HadoopFS
from .rows import LIST_COLUMNS

log = logging.getLogger("mediaextract")


@dataclass(frozen=True)
class Selection:
    """What to take besides the lists: a deletion window and samples."""

    window: catalog.DeletionWindow | None = None
    window_list: str = "deleted"
    samples: tuple[sampling.SampleSpec, ...] = ()
    seed: int = 0


def window_rows(names: DataFrame, list_name: str) -> DataFrame:
    """Return the list rows (LIST_SCHEMA) of the names a window selected (a list of its own),
    numbered from 1 in name order (UTF-8 byte order, which is code point order). One window over
    all names: a recomputed partition cannot number them differently."""
    line = F.row_number().over(Window.orderBy("name"))
    return names.select(F.lit(list_name).alias("list"), line.cast("int").alias("line"), F.col("name").alias("requested_name"),
                        "name", F.lit(None).cast("string").alias("status"), F.lit(None).cast("string").alias("reason"))


def _decided(rows: DataFrame, condition, status: str, reason) -> DataFrame:
    """Return list rows where those in play that meet condition get status and reason."""
    hit = F.col("status").isNull() & condition
    return rows.select(*[F.when(hit, F.lit(status)).otherwise(F.col("status")).alias("status") if c == "status"
                         else F.when(hit, reason).otherwise(F.col("reason")).alias("reason") if c == "reason"
                         else F.col(c) for c in LIST_COLUMNS])


def outside_window(rows: DataFrame, names: DataFrame, window: catalog.DeletionWindow,
                   files: str = "deleted") -> DataFrame:
    """Return list rows with names that have no row in the window marked not_in_filearchive."""
    by_upload = window.uploaded_since or window.uploaded_until
    what = "deletion" if files == "deleted" and not by_upload else "version"
    reason = f"no {what} in the selected window ({window.describe()})"
    inside = names.select(F.col("name").alias("_in_window"))
    joined = rows.join(inside, rows["name"] == inside["_in_window"], "left")
    return _decided(joined, F.col("_in_window").isNull(), statuses.NOT_IN_FILEARCHIVE, F.lit(reason))


def sample_rows(rows: DataFrame, specs, seed: int) -> DataFrame:
    """Return list rows with names outside their list's sample marked sampled_out: Spark's side
    of `sampling`, which picks exactly what sampling.apply_sample picks from the same ranks.

    A share is decided row by row (rank below the bound); a count keeps the smallest ranks of
    the list's names in play, by a window per list ordered by rank, then line. One rule per
    list given its own --sample, and one for all the others ("*"): the expression stays small
    however many lists a directory holds.
    """
    specs = list(specs)
    if not specs:
        return rows
    own = {s.list: s for s in specs if s.list != sampling.ALL_LISTS}  # the last per list wins
    every = next((s for s in reversed(specs) if s.list == sampling.ALL_LISTS), None)
    in_play = F.col("status").isNull()
    rank = F.udf(lambda list_name, name: sampling.signed_rank(seed, list_name, name), "bigint")
    ranked = rows.withColumn("_rank", F.when(in_play, rank(F.col("list"), F.col("name"))))
    if any(s.count is not None for s in [*own.values(), every] if s is not None):
        order = Window.partitionBy("list", in_play).orderBy("_rank", "line")
        ranked = ranked.withColumn("_order", F.when(in_play, F.row_number().over(order)))

    def picked(spec):
        if spec.count is not None:
            return F.col("_order") <= spec.count
        bound = sampling.signed_bound(spec.fraction)
        return F.lit(True) if bound is None else F.col("_rank") < F.lit(bound)

    kept = picked(every) if every is not None else F.lit(True)
    reason = F.lit(every.describe(seed)) if every is not None else F.lit(None).cast("string")
    for name, spec in own.items():
        kept = F.when(F.col("list") == name, picked(spec)).otherwise(kept)
        reason = F.when(F.col("list") == name, F.lit(spec.describe(seed))).otherwise(reason)
    return _decided(ranked, ~kept, statuses.SAMPLED_OUT, reason)


def planned(spark: SparkSession, settings, list_args: list[str], column: str = "name",
            selection: Selection = Selection()) -> DataFrame:
    """Return one row per requested name with its catalog columns and status (PENDING = to fetch).

    The names stay in Spark from the list files to the result: the driver holds paths, counts
    and settings, never one row per name.
    """
    rows = None
    if list_args:  # lists first: a wrong path or column is reported before the catalog is touched
        lists = list_reader.read_lists(spark, list_args, column=column,
                                       capitalize_first=settings["wiki.capitalize_first"],
                                       max_list_bytes=settings["input.max_list_bytes"])
        rows, requesting = lists.rows, lists.requesting
    elif selection.window is None:
        raise BadInput("no lists given: name list files, or select by --deleted-since/--deleted-until "
                       "or --uploaded-since/--uploaded-until")
    else:
        requesting = {selection.window_list}
    if selection.window is not None and selection.window.by_deletion and settings["catalog.files"] != "deleted":
        raise BadInput(f"catalog.files: {settings['catalog.files']} has no deletion time: select "
                       "by --uploaded-since/--uploaded-until")
    sampling.check_lists(selection.samples, requesting)
    filearchive, image = catalog.load_catalog(spark, settings)
    if selection.window is not None:
        selected = catalog.names_in_window(filearchive, selection.window)
        rows = outside_window(rows, selected, selection.window, settings["catalog.files"]) if list_args else \
            window_rows(selected, selection.window_list)
    if selection.window is not None and (selection.window.uploaded_since or selection.window.uploaded_until):
        # Selected by upload, a name's rows are its versions uploaded in the window (a live or
        # old file's, or a deleted one's): the row chosen for it is one of those.
        filearchive = filearchive.where(catalog.in_window(filearchive, selection.window))
    rows = sample_rows(rows, selection.samples, selection.seed)
    return catalog.resolve(rows, filearchive, settings, image=image)


def count_rows(frame: DataFrame) -> list[report.CountRow]:
    """Return the (list, status, media_type, thumbnail_status) -> rows, bytes aggregates of a frame
    (a planned frame has no thumbnail_status: null)."""
    thumbnail = F.col("thumbnail_status") if "thumbnail_status" in frame.columns else F.lit(None).cast("string")
    grouped = (frame.groupBy("list", "status", "media_type", thumbnail.alias("thumbnail_status"))
               .agg(F.count(F.lit(1)).alias("rows"), F.coalesce(F.sum("size"), F.lit(0)).alias("bytes"))
               .collect())
    return [report.CountRow(r["list"], r["status"], r["media_type"], int(r["rows"]), int(r["bytes"]),
                            r["thumbnail_status"]) for r in grouped]


def count_labels(items: DataFrame) -> list[report.LabelRow]:
    """Return the found rows of an extract's items by list and deletion reason, with how many
    of its ok rows have a live duplicate (report.build_report's labels)."""
    live_ok = (F.col("status") == statuses.OK) & F.col("live_duplicate_of").isNotNull()
    grouped = (items.where(catalog.has_catalog_row()).groupBy("list", "deleted_reason")
               .agg(F.count(F.lit(1)).alias("rows"), F.sum(F.when(live_ok, 1).otherwise(0)).alias("ok_live"))
               .collect())
    return [report.LabelRow(r["list"], r["deleted_reason"], int(r["rows"]), int(r["ok_live"] or 0)) for r in grouped]


def count_lines(frame: DataFrame) -> dict[str, int]:
    """Return the requested lines per list of a frame (a line has a row per version with
    catalog.versions: all)."""
    return {r["list"]: int(r["lines"])
            for r in frame.groupBy("list").agg(F.countDistinct("line").alias("lines")).collect()}


def tally(frame: DataFrame, settings) -> tuple[list[report.CountRow], dict[str, int] | None]:
    """Return count_rows(frame) and the requested lines per list, or None for the lines when each
    line has one row (the rows are the lines). With catalog.versions: all a line may have several
    rows and both are counted: a frame not cached already is cached for the two counts, so that a
    join against the catalog runs once.
    """
    if settings["catalog.versions"] != "all":
        return count_rows(frame), None
    cache = not frame.is_cached
    if cache:
        frame = frame.persist()
    try:
        return count_rows(frame), count_lines(frame)
    finally:
        if cache:
            frame.unpersist()


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


def write_report(fs: HadoopFS, directory: str, built: dict, mode: int = 0o600,
                 text_mode: int | None = None) -> str:
    """Write report.json and report.txt (with text_mode when given, else mode) into directory;
    return the table text."""
    table = report.format_table(built)
    paths = dataset.Paths(directory)
    fs.write_text(paths.report_json, json.dumps(built, indent=2, sort_keys=True, default=str) + "\n", mode)
    fs.write_text(paths.report_text, table, mode if text_mode is None else text_mode)
    return table


def write_report_html(spark: SparkSession, fs: HadoopFS, directory: str, built: dict, items: DataFrame,
                      mode: int = 0o600) -> str:
    """Write report.html beside report.json (counts, charts, contact sheets, the names that did
    not make it); return its path.

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
    # A version of a line: fa_id for deleted files, the archive name for old versions of live
    # files (which have no fa_id); a live file has one row per line.
    version = ("fa_id", "archive_name")
    ranked = Window.partitionBy("list").orderBy(order, *version)
    chosen = (ok.where(F.col("thumbnail_width").isNotNull()).select("list", "line", *version, "name")
              .withColumn("_rank", F.row_number().over(ranked)).where(F.col("_rank") <= page.SAMPLE_PER_LIST)
              .select(*[F.col(c).alias(f"_{c}") for c in ("list", "line", *version)]))
    same = [F.col(c).eqNullSafe(F.col(f"_{c}")) for c in ("list", "line", *version)]
    picked = (ok.where(F.col("thumbnail").isNotNull()).join(F.broadcast(chosen), on=same[0] & same[1] & same[2] & same[3])
              .select("list", "line", "name", "thumbnail_mime", "thumbnail").orderBy("list", "line").collect())
    samples = page.group_samples(page.Sample(r["list"], int(r["line"]), r["name"], r["thumbnail_mime"],
                                             bytes(r["thumbnail"])) for r in picked)
    html = page.render(built, histograms["size"], histograms["width"], histograms["height"], samples,
                       page.not_made(items))
    path = dataset.Paths(directory).report_html
    fs.write_text(path, html, mode)
    return path


# Keys of report.json that refresh_reports computes again; every other key (created, output,
# settings, ...) describes the extraction and is kept as it was.
RECOUNTED_KEYS = ("kind", "connections", "lists", "totals", "removals", "originals_in_blobs")


def originals_in_blobs(items: DataFrame) -> dict:
    """Return {"originals_in_blobs": n} for the originals an extract's items keep in blobs/ (none: {})."""
    count = dataset.kept_in_blobs(items).distinct().count()
    return {"originals_in_blobs": count} if count else {}


def refresh_reports(spark: SparkSession, fs: HadoopFS, directory: str, removals: list[dict],
                    file_mode: int | None = None) -> tuple[dict, str | None]:
    """Return (the new report, a message when report.html could not be drawn, else None).

    Counts the data set's items again and rewrites report.json and report.txt, and report.html
    when there was one, so that after a purge the three agree with items. removals is the data
    set's _metadata.json "removals". Each file keeps its mode unless file_mode is given.
    Reads no content; the page reads the sample thumbnails it always reads.
    """
    paths = dataset.Paths(directory)
    json_path, text_path, html_path = paths.report_json, paths.report_text, paths.report_html
    old = json.loads(fs.read_text(json_path)) if fs.exists(json_path) else {}
    items = dataset.read_items(spark, paths.items)
    # A report that counted rows and lines apart (all versions) is recounted the same way.
    lines = count_lines(items) if report.ROWS in old.get("totals", {}) else None
    kind = old.get("kind", "extract")
    built = report.build_report(
        count_rows(items), kind, list_names=old.get("lists", {}),
        connections=old.get("connections", 1), removals=removals, lines=lines,
        labels=count_labels(items) if kind == "extract" else None,
        extra={**{k: v for k, v in old.items() if k not in RECOUNTED_KEYS}, **originals_in_blobs(items)})
    broken = report.check_sums(built)
    if broken:
        raise AssertionError(f"counts do not add up for {broken}: a bug, please report it")

    def mode_of(path: str) -> int:
        if file_mode is not None:
            return file_mode
        return fs.info(path).mode if fs.exists(path) else dataset.FILE_MODE

    had_html = fs.exists(html_path)
    html_mode = mode_of(html_path) if had_html else None
    write_report(fs, directory, built, mode_of(json_path), text_mode=mode_of(text_path))
    if not had_html:
        return built, None
    try:
        write_report_html(spark, fs, directory, built, items, html_mode)
    except Exception as error:  # noqa: BLE001 - whatever failed, a page with the old counts must not stay
        fs.delete(html_path)
        return built, (f"{fs.qualify(html_path)} could not be drawn again ({type(error).__name__}): deleted; "
                       "run the report job to redo it")
    return built, None
