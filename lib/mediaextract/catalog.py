"""The filearchive catalog: read it (JDBC or a Parquet snapshot), join the names, choose versions.

The join runs on the binary `fa_name` (the names encoded as UTF-8 by Spark): no SQL text is ever
built from a name, so `'`, `"` and `\\` need no escaping anywhere. Byte columns are decoded only
after the join, where every matched name is known to be valid UTF-8.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import BinaryType

from . import layout, statuses
from .catalog_client import Login
from .digest import EXTENSION_SQUISH, base36_to_hex
from .errors import BadInput, CatalogUnreachable
from .rows import CATALOG_COLUMNS, LABEL_COLUMNS, LIST_COLUMNS, TYPES

# Where each catalog column comes from in MediaWiki's `filearchive`. A source on MediaWiki's new
# file tables (file/filerevision) is a new mapping here, not a new code path. Never fa_metadata:
# it can be huge (PDF text layers).
FILEARCHIVE_COLUMNS = {
    "fa_id": "fa_id",
    "name_bytes": "fa_name",
    "archive_name": "fa_archive_name",
    "storage_key": "fa_storage_key",
    "deleted_ts": "fa_deleted_timestamp",
    "uploaded_ts": "fa_timestamp",
    "size": "fa_size",
    "width": "fa_width",
    "height": "fa_height",
    "media_type": "fa_media_type",
    "major_mime": "fa_major_mime",
    "minor_mime": "fa_minor_mime",
    "visibility": "fa_deleted",
    "sha1": "fa_sha1",
    "reason_id": "fa_deleted_reason_id",
    "description_id": "fa_description_id",
}
# Mapped columns a filearchive frame may lack (a snapshot written before they were mapped).
ADDED_LATER = ("reason_id", "description_id")
# The same mapped columns for live files (`image`) and old versions of live files (`oldimage`),
# the controls of a deletion model (catalog.files). None: the table has no such column (null).
# Neither has a storage key: the content is found by name (layout.file_location), but for an
# old version whose file MediaWiki hides, which resolve gives MediaWiki's deleted-zone key.
LIVE_COLUMNS = {
    "fa_id": None, "name_bytes": "img_name", "archive_name": None, "storage_key": None,
    "deleted_ts": None, "uploaded_ts": "img_timestamp", "size": "img_size", "width": "img_width",
    "height": "img_height", "media_type": "img_media_type", "major_mime": "img_major_mime",
    "minor_mime": "img_minor_mime", "visibility": None, "sha1": "img_sha1", "reason_id": None,
    "description_id": "img_description_id",
}
OLD_COLUMNS = {
    "fa_id": None, "name_bytes": "oi_name", "archive_name": "oi_archive_name", "storage_key": None,
    "deleted_ts": None, "uploaded_ts": "oi_timestamp", "size": "oi_size", "width": "oi_width",
    "height": "oi_height", "media_type": "oi_media_type", "major_mime": "oi_major_mime",
    "minor_mime": "oi_minor_mime", "visibility": "oi_deleted", "sha1": "oi_sha1", "reason_id": None,
    "description_id": "oi_description_id",
}
# MediaWiki's migrated file tables (file, filerevision, filetypes: ../shared/mediawiki-storage.md)
# hold the same files: a live file is a `file` row and its latest `filerevision`, an old
# version any other revision; the media type is the file's (`filetypes`). A deleted file keeps
# its `file` row with file_deleted set: it is no live file, and its revisions no old versions
# (filearchive, which stays, has it).
_FILE_COLUMNS = ("f.file_name, r.fr_archive_name, r.fr_timestamp, r.fr_size, r.fr_width, r.fr_height, "
                 "t.ft_media_type, t.ft_major_mime, t.ft_minor_mime, r.fr_deleted, r.fr_sha1, r.fr_description_id")
_FILE_JOIN = "file f JOIN filerevision r ON r.fr_file = f.file_id JOIN filetypes t ON t.ft_id = f.file_type"
MIGRATED_LIVE_COLUMNS = {
    **LIVE_COLUMNS, "name_bytes": "file_name", "uploaded_ts": "fr_timestamp", "size": "fr_size",
    "width": "fr_width", "height": "fr_height", "media_type": "ft_media_type", "major_mime": "ft_major_mime",
    "minor_mime": "ft_minor_mime", "sha1": "fr_sha1", "description_id": "fr_description_id",
}
MIGRATED_OLD_COLUMNS = {**MIGRATED_LIVE_COLUMNS, "archive_name": "fr_archive_name", "visibility": "fr_deleted"}
# The type of a mapped column a table lacks (the others come typed from the table).
_ABSENT_TYPES = {"fa_id": "bigint", "archive_name": "binary", "storage_key": "binary",
                 "deleted_ts": "binary", "visibility": "int", "reason_id": "bigint"}


@dataclass(frozen=True)
class FileTable:
    """Where one kind of files is in the catalog: a table (or a join) and its mapped columns."""

    files: str                      # layout.DELETED, LIVE or OLD
    table: str                      # the table people know it by, for messages
    source: str                     # what JDBC reads (dbtable): a table, or a join as a subquery
    columns: dict[str, str | None]  # mapped name -> the source's column (None: null)

    @property
    def not_found(self) -> str:
        """Return the reason of a requested name the table has no row of."""
        return f"no {self.table} row has this name"


_FILEARCHIVE = FileTable(layout.DELETED, "filearchive", "filearchive", FILEARCHIVE_COLUMNS)
# One preset per catalog schema (setting catalog.tables): the only place a table name is written.
PRESETS: dict[str, dict[str, FileTable]] = {
    "image": {
        layout.DELETED: _FILEARCHIVE,
        layout.LIVE: FileTable(layout.LIVE, "image", "image", LIVE_COLUMNS),
        layout.OLD: FileTable(layout.OLD, "oldimage", "oldimage", OLD_COLUMNS),
    },
    "file": {
        layout.DELETED: _FILEARCHIVE,
        layout.LIVE: FileTable(layout.LIVE, "file", f"(SELECT {_FILE_COLUMNS} FROM {_FILE_JOIN} "
                               "WHERE f.file_deleted = 0 AND r.fr_id = f.file_latest) live_files",
                               MIGRATED_LIVE_COLUMNS),
        layout.OLD: FileTable(layout.OLD, "filerevision", f"(SELECT {_FILE_COLUMNS} FROM {_FILE_JOIN} "
                              "WHERE f.file_deleted = 0 AND r.fr_id <> f.file_latest) old_versions",
                              MIGRATED_OLD_COLUMNS),
    },
}


def looked_up_in(settings) -> dict[str, str]:
    """Return which files a run looked up, and in which table (for its report and metadata)."""
    return {"files": settings["catalog.files"], "table": file_table(settings).table}


def file_table(settings, files: str | None = None) -> FileTable:
    """Return where `files` (default: catalog.files) are under the catalog's schema (catalog.tables)."""
    return PRESETS[settings["catalog.tables"]][files or settings["catalog.files"]]


# MediaWiki's visibility bits (fa_deleted).
DELETED_FILE = 1
DELETED_COMMENT = 2
DELETED_RESTRICTED = 8

@dataclass(frozen=True)
class JdbcTarget:
    host: str
    port: int
    database: str
    url: str


def parse_jdbc_url(url: str) -> JdbcTarget:
    """Return host, port and database of a jdbc:mysql:// URL, or raise BadInput."""
    if not url or not url.startswith("jdbc:mysql://"):
        raise BadInput(f"catalog.url must start with jdbc:mysql:// (got {url!r}); "
                       "jdbc:mariadb:// matches no Spark dialect")
    parts = urlsplit(url[len("jdbc:"):])
    database = parts.path.lstrip("/")
    if not parts.hostname or not database:
        raise BadInput(f"catalog.url needs a host and a database: {url!r}")
    return JdbcTarget(parts.hostname, parts.port or 3306, database, url)


def _with_timeouts(url: str, connect_timeout_s: float) -> str:
    # Connector/J's own timeouts: a dead catalog fails fast instead of hanging the job.
    millis = int(connect_timeout_s * 1000)
    params = f"connectTimeout={millis}&socketTimeout={max(millis * 30, 300000)}"
    return url + ("&" if "?" in url else "?") + params


def login(settings) -> Login:
    """Return where the catalog is and who we are there, or raise BadInput."""
    target = parse_jdbc_url(settings["catalog.url"])
    if not settings["catalog.user"]:
        raise BadInput("no catalog user: set MEDIAEXTRACT_CATALOG_USER or catalog.user in secrets_file")
    return Login(target.host, target.port, target.database, settings["catalog.user"],
                 settings["catalog.password"] or "", settings["catalog.connect_timeout_s"])


def fa_id_bounds(settings) -> tuple[int, int]:
    """Return (min fa_id, max fa_id) of filearchive with one small query, for partitioned reads."""
    connection = login(settings).connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT MIN(fa_id), MAX(fa_id) FROM filearchive")
            low, high = cursor.fetchone()
    except Exception as error:
        raise CatalogUnreachable(f"catalog query failed: {str(error).splitlines()[0]}") from None
    finally:
        connection.close()
    return (int(low or 0), int(high or 0))


def jdbc_url(settings) -> str:
    """Return the catalog's JDBC URL with the connect timeout set."""
    return _with_timeouts(settings["catalog.url"], settings["catalog.connect_timeout_s"])


def _jdbc_reader(spark: SparkSession, settings, table: str):
    return (spark.read.format("jdbc")
            .option("url", jdbc_url(settings))
            .option("driver", settings["catalog.driver"])
            .option("user", settings["catalog.user"])
            .option("password", settings["catalog.password"] or "")
            .option("fetchsize", settings["catalog.fetch_size"])
            .option("dbtable", table))


def select_mapped(frame: DataFrame, mapping: dict[str, str | None]) -> DataFrame:
    """Return frame's mapped columns under the names this package uses (null where unmapped)."""
    return frame.select(*[(F.col(source) if source else F.lit(None).cast(_ABSENT_TYPES[name])).alias(name)
                          for name, source in mapping.items()])


def read_files_jdbc(spark: SparkSession, settings, files: str | None = None) -> DataFrame:
    """Return the mapped columns of the table of `files` (default: catalog.files), over JDBC."""
    table = file_table(settings, files)
    if table.files == layout.DELETED:
        return read_filearchive_jdbc(spark, settings)
    return select_mapped(_jdbc_reader(spark, settings, table.source).load(), table.columns)


def read_filearchive_jdbc(spark: SparkSession, settings) -> DataFrame:
    """Return filearchive's mapped columns over JDBC, partitioned on fa_id (bytes kept as bytes)."""
    low, high = fa_id_bounds(settings)
    partitions = settings["catalog.partitions"] if high > low else 1
    frame = (_jdbc_reader(spark, settings, "filearchive")
             .option("partitionColumn", FILEARCHIVE_COLUMNS["fa_id"])
             .option("lowerBound", low).option("upperBound", high + 1)
             .option("numPartitions", partitions)
             .load())
    return select_mapped(frame, FILEARCHIVE_COLUMNS)


def live_name_columns(settings) -> dict[str, str]:
    """Return the mapping of the live files' name and sha1 only (catalog.tables' preset)."""
    columns = file_table(settings, layout.LIVE).columns
    return {"name_bytes": columns["name_bytes"], "sha1": columns["sha1"]}


def read_image_names_jdbc(spark: SparkSession, settings) -> DataFrame:
    """Return (name_bytes, sha1) of the live files, to say a listed name is a live file."""
    return select_mapped(_jdbc_reader(spark, settings, file_table(settings, layout.LIVE).source).load(),
                         live_name_columns(settings))


def snapshot_paths(root: str) -> tuple[str, str]:
    """Return the Parquet paths of a snapshot's filearchive and image parts."""
    root = root.rstrip("/")
    return f"{root}/filearchive", f"{root}/{SNAPSHOT_IMAGE}"


SNAPSHOT_IMAGE = "image"  # a snapshot's part besides filearchive (a directory under it)


def read_snapshot_part(spark: SparkSession, settings, part: str) -> DataFrame | None:
    """Return a part of the configured snapshot, or None when the snapshot has none."""
    try:
        return spark.read.parquet(f"{settings['catalog.snapshot'].rstrip('/')}/{part}")
    except Exception:  # AnalysisException: no such directory (a snapshot from before the part)
        return None


def load_catalog(spark: SparkSession, settings) -> tuple[DataFrame, DataFrame | None]:
    """Return (filearchive, live image names or None) from the configured source."""
    explain = settings["catalog.explain_undeleted"] and settings["catalog.files"] == layout.DELETED
    if settings["catalog.files"] != layout.DELETED:  # over JDBC: config refuses them with a snapshot
        return read_files_jdbc(spark, settings), None
    if settings["catalog.source"] == "snapshot":
        fa_path, image_path = snapshot_paths(settings["catalog.snapshot"])
        try:
            filearchive = spark.read.parquet(fa_path)
            image = spark.read.parquet(image_path) if explain else None
        except Exception as error:
            raise BadInput(f"cannot read catalog snapshot {settings['catalog.snapshot']}: "
                           f"{str(error).splitlines()[0]}") from None
        return filearchive, image
    filearchive = read_filearchive_jdbc(spark, settings)
    image = read_image_names_jdbc(spark, settings) if explain else None
    return filearchive, image


def text_column(frame: DataFrame, column: str, strip: bool = True) -> F.Column:
    """Return a column as text (trimmed unless strip=False) whether it holds bytes or a string."""
    col = F.col(column)
    if isinstance(frame.schema[column].dataType, BinaryType):
        col = F.decode(col, "UTF-8")
    return F.trim(col) if strip else col


# sha1_hex is digest.base36_to_hex itself, run by the executors' Python workers (a plain UDF: no
# Arrow on executors). A base-36 sha1 is a number of up to 161 bits, wider than any Spark SQL
# integer (conv() stops at 64 bits, decimal at 38 digits), and both SQL versions written for it
# cost more than a Python worker: limbs folded by higher-order functions are interpreted row by
# row (about 170 us a row on 2 cores: 205 s of a 600,000-name extract's plan), exact decimal
# arithmetic about 50 us; the UDF about 3 us, pickling included (200,000 sha1s on local[2]).
def sha1_hex_column(sha1: F.Column) -> F.Column:
    """Return the 40 lower-case hex digits of a base-36 sha1 column; null when it is not one
    (null, "" as MediaWiki writes for a lost file, not [0-9a-z]{1,31}, wider than 160 bits):
    digest.base36_to_hex, in the executors."""
    return F.udf(base36_to_hex, "string", useArrow=False)(sha1)  # made here: a UDF needs a session


def has_catalog_row() -> F.Column:
    """Return whether a planned or item row holds its catalog row's columns: found, and neither
    suppressed (resolve keeps nothing of those) nor removed. Not `fa_id`: live and old files
    have none."""
    return F.coalesce((F.col("versions") > 0) & ~F.col("status").isin(statuses.SUPPRESSED, statuses.REMOVED),
                      F.lit(False))


def deleted_zone_key(sha1: F.Column, name: F.Column) -> F.Column:
    """Return MediaWiki's deleted-zone storage key of a sha1 and a file name (sha1 + "." + the
    name's normalised extension; the sha1 alone when it has none), or null without a sha1.

    Only for old versions whose file MediaWiki hides (oi_deleted & 1): oldimage has no key
    column, and MediaWiki moves such a file to this key. The same rule as
    digest.storage_key_for, which the tests hold it to. A deleted file's key is read from its row.
    """
    raw = F.regexp_extract(name, r"^.+\.([^.]*)$", 1)  # a dot at position 0 starts no extension
    # Only ASCII letters and digits make an extension (PHP's strtolower is ASCII-only).
    lower = F.when(raw.rlike("^[0-9A-Za-z]+$"), F.lower(raw)).otherwise(F.lit(""))
    squished = lower
    for long, short in EXTENSION_SQUISH.items():
        squished = F.when(lower == long, F.lit(short)).otherwise(squished)
    valid = F.coalesce(F.length(sha1), F.lit(0)) > 0
    return F.when(valid, F.when(squished == "", sha1).otherwise(F.concat(sha1, F.lit("."), squished)))


def _timestamp(column: str, frame: DataFrame) -> F.Column:
    return F.to_timestamp(text_column(frame, column), "yyyyMMddHHmmss")


# A live name with no filearchive row: never deleted, or undeleted since (undeleting moves its
# rows out of filearchive), which the catalog alone cannot tell apart.
NOT_DELETED_LIVE = "not deleted: a live file"
# The reason of a found row whose comments MediaWiki hides (fa_deleted & 2); a fetch's own reason
# (a thumbnail it could not make) goes first.
COMMENT_HIDDEN = "comment hidden (fa_deleted & 2): no deleted_reason or description"
COMMENT_HIDDEN_OLD = "comment hidden (oi_deleted & 2): no description"  # an old version's (catalog.files old)
# The filearchive comment ids (mapped names) labels.attach reads LABEL_COLUMNS' texts by:
# resolve hands them on as `_reason_id` and `_description_id`.
COMMENT_IDS = ("reason_id", "description_id")


def resolve(names: DataFrame, filearchive: DataFrame, settings, image: DataFrame | None = None) -> DataFrame:
    """Return the planned rows (rows.PLANNED): the names with their catalog columns and a status
    (PENDING = to fetch).

    Rows that already have a status (invalid, duplicate, sampled out) pass through untouched.
    """
    table = file_table(settings)
    for column in ADDED_LATER:  # e.g. a snapshot written before they were mapped: no labels from it
        if column not in filearchive.columns:
            filearchive = filearchive.withColumn(column, F.lit(None).cast("bigint"))
    # Whether a name matched a row: not fa_id, which live and old files do not have.
    filearchive = filearchive.withColumn("_found", F.lit(True))
    in_play = names.where(F.col("status").isNull()).withColumn("name_bytes", F.encode("name", "UTF-8"))
    decided = names.where(F.col("status").isNotNull())

    matched = in_play.join(filearchive, on="name_bytes", how="left")
    per_request = Window.partitionBy("list", "line")
    # Among the rows of the newest deletion, the current version (NULL fa_archive_name) before
    # the old versions deleted with it, whatever their upload times say; then the newest upload.
    # (Old versions of live files are all old: there the newest upload decides.)
    current_version = F.lit(table.files == layout.DELETED) & \
        (F.coalesce(F.length(text_column(matched, "archive_name")), F.lit(0)) == 0)
    newest_first = per_request.orderBy(F.col("deleted_ts").desc_nulls_last(),
                                       current_version.desc(),
                                       F.col("uploaded_ts").desc_nulls_last(),
                                       F.col("fa_id").desc_nulls_last())
    matched = (matched
               .withColumn("versions", F.count("_found").over(per_request))
               .withColumn("_rank", F.row_number().over(newest_first)))
    if settings["catalog.versions"] == "latest":
        matched = matched.where(F.col("_rank") == 1)

    hidden_bits = DELETED_RESTRICTED | (DELETED_FILE if settings["catalog.hidden_content_is_suppressed"] else 0)
    suppressed = F.coalesce(F.col("visibility").cast("int").bitwiseAND(hidden_bits) != 0, F.lit(False))
    found = F.col("_found").isNotNull()
    file_hidden = F.coalesce(F.col("visibility").cast("int").bitwiseAND(DELETED_FILE) != 0, F.lit(False))
    if table.files == layout.OLD:  # a hidden old version's content moved to the deleted zone, under this key
        matched = matched.withColumn("storage_key", F.when(file_hidden, deleted_zone_key(
            text_column(matched, "sha1"), text_column(matched, "name_bytes"))))
    # Live files and visible old versions are found by name: only the deleted zone needs a key.
    needs_key = {layout.DELETED: F.lit(True), layout.OLD: file_hidden}.get(table.files, F.lit(False))
    no_key = needs_key & (F.coalesce(F.length(F.col("storage_key")), F.lit(0)) == 0)
    status = (F.when(~found, F.lit(statuses.NOT_IN_FILEARCHIVE))
              .when(suppressed, F.lit(statuses.SUPPRESSED))
              .when(no_key, F.lit(statuses.NO_STORAGE_KEY))
              .otherwise(F.lit(statuses.PENDING)))
    comment_hidden = F.coalesce(F.col("visibility").cast("int").bitwiseAND(DELETED_COMMENT) != 0, F.lit(False))
    bits = table.columns["visibility"] or "fa_deleted"
    reason = (F.when(~found, F.lit(table.not_found))
              .when(suppressed, F.lit(f"suppressed ({bits} & 8): left out"))
              .when(no_key, F.lit(f"the {table.table} row has no storage key: the content was lost"))
              .when(comment_hidden, F.lit(COMMENT_HIDDEN if table.files == layout.DELETED else COMMENT_HIDDEN_OLD)))
    resolved = matched.withColumn("status", status).withColumn("reason", reason)

    if image is not None:
        live = image.select("name_bytes", F.lit(True).alias("_live")).dropDuplicates(["name_bytes"])
        resolved = (resolved.join(live, on="name_bytes", how="left")
                    .withColumn("reason", F.when((F.col("status") == statuses.NOT_IN_FILEARCHIVE) & F.col("_live"),
                                                 F.lit(NOT_DELETED_LIVE))
                                .otherwise(F.col("reason"))))

    # Nothing about suppressed material leaves the catalog but the fact that it is suppressed.
    def visible(column: F.Column) -> F.Column:
        return F.when(F.col("status") == statuses.SUPPRESSED, F.lit(None)).otherwise(column)

    mime = F.concat_ws("/", text_column(resolved, "major_mime"), text_column(resolved, "minor_mime"))
    # Each catalog column of the planned row from the mapped filearchive columns, cast to its
    # declared type (rows.CATALOG_PART).
    values = {
        "fa_id": visible(F.col("fa_id")),
        "sha1": visible(text_column(resolved, "sha1")),
        "sha1_hex": visible(sha1_hex_column(text_column(resolved, "sha1"))),
        "storage_key": visible(text_column(resolved, "storage_key")),
        "size": visible(F.col("size")),
        "width": visible(F.col("width")),
        "height": visible(F.col("height")),
        "media_type": visible(F.lower(text_column(resolved, "media_type"))),
        "mime": visible(F.when(found, mime)),
        "uploaded_at": visible(_timestamp("uploaded_ts", resolved)),
        "deleted_at": visible(_timestamp("deleted_ts", resolved)),
        "versions": F.col("versions"),
        "archive_name": visible(text_column(resolved, "archive_name")),
    }
    # The labels are looked up later, for the rows extract fetches (labels.attach): here only the
    # comment ids they need, none when the comments are hidden.
    labels_later = {c: F.lit(None) for c in LABEL_COLUMNS}
    comment_ids = {f"_{c}": visible(F.when(~comment_hidden, F.col(c))) for c in COMMENT_IDS}
    resolved = resolved.select(*LIST_COLUMNS, *[{**values, **labels_later}[c].cast(TYPES[c]).alias(c)
                                                for c in CATALOG_COLUMNS],
                               *[v.cast("bigint").alias(k) for k, v in comment_ids.items()])
    passthrough = decided.select(*LIST_COLUMNS, *[F.lit(None).cast(TYPES[c]).alias(c) for c in CATALOG_COLUMNS],
                                 *[F.lit(None).cast("bigint").alias(k) for k in comment_ids])
    return resolved.unionByName(passthrough)


@dataclass(frozen=True)
class DeletionWindow:
    """Rows deleted in [since, until) and uploaded in [uploaded_since, uploaded_until) (UTC),
    optionally of some media types or MIME types only. Live and old files (catalog.files) have
    no deletion time: they are selected by upload time only."""

    since: datetime | None = None
    until: datetime | None = None
    media_types: tuple[str, ...] = ()
    mimes: tuple[str, ...] = ()
    uploaded_since: datetime | None = None
    uploaded_until: datetime | None = None

    def describe(self) -> str:
        def day(t):
            return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t else "…"
        parts = [f"deleted {day(self.since)} to {day(self.until)}"] if self.since or self.until else []
        if self.uploaded_since or self.uploaded_until:
            parts.append(f"uploaded {day(self.uploaded_since)} to {day(self.uploaded_until)}")
        if self.media_types:
            parts.append("media type " + ",".join(self.media_types))
        if self.mimes:
            parts.append("MIME type " + ",".join(self.mimes))
        return "; ".join(parts) or "any deletion"

    @property
    def by_deletion(self) -> bool:
        """Return whether the window selects by deletion time."""
        return bool(self.since or self.until)


def _stamp_between(stamp: F.Column, since: datetime | None, until: datetime | None) -> F.Column:
    condition = F.lit(True)
    if since:
        condition &= stamp >= since.strftime("%Y%m%d%H%M%S")
    if until:
        condition &= stamp < until.strftime("%Y%m%d%H%M%S")
    return condition


def in_window(files: DataFrame, window: DeletionWindow) -> F.Column:
    """Return whether a catalog row (mapped columns) is in the window."""
    condition = (_stamp_between(text_column(files, "deleted_ts"), window.since, window.until)
                 & _stamp_between(text_column(files, "uploaded_ts"), window.uploaded_since, window.uploaded_until))
    if window.media_types:
        condition &= F.upper(text_column(files, "media_type")).isin([m.upper() for m in window.media_types])
    if window.mimes:
        mime = F.concat_ws("/", text_column(files, "major_mime"), text_column(files, "minor_mime"))
        condition &= F.lower(mime).isin([m.lower() for m in window.mimes])
    return condition


def names_in_window(files: DataFrame, window: DeletionWindow) -> DataFrame:
    """Return the distinct names (column `name`) with a catalog row (mapped columns) in the
    window; a name that is not valid UTF-8 is left out (no list can request it either)."""
    names = files.where(in_window(files, window)).select(F.col("name_bytes").cast("string").alias("name")).distinct()
    return names.where(F.expr("is_valid_utf8(name)"))


def write_snapshot(spark: SparkSession, settings, path: str) -> dict:
    """Write filearchive (and image names) as Parquet under path; return row counts."""
    filearchive = read_filearchive_jdbc(spark, settings)
    fa_path, image_path = snapshot_paths(path)
    filearchive.write.mode("overwrite").parquet(fa_path)
    counts = {"filearchive": spark.read.parquet(fa_path).count()}
    if settings["catalog.explain_undeleted"]:
        read_image_names_jdbc(spark, settings).write.mode("overwrite").parquet(image_path)
        counts["image"] = spark.read.parquet(image_path).count()
    return counts
