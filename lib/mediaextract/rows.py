"""The row of every stage, declared once: list row -> planned row -> item row (no Spark).

Each column is declared here once, with its Spark SQL type name and whether the items table
may hold null in it; each stage adds its columns to the row of the stage before:

    list row     ListRow: list .. reason          lists, sampling, a deletion window (plain tuples)
    planned row  + CATALOG_PART: fa_id ..         catalog.resolve (status PENDING: to fetch)
    item row     + FETCH_PART: content ..         the items table, the output contract
    fetched row  + `stop`, `chunk`                what a fetch worker gives back for a batch
    blob row     BLOB: sha1, chunk, bytes         the blobs/ table: originals over output.blob_bytes

Type names are Spark's own (`DataType.simpleString()`): `F.col(c).cast(TYPES[c])` works as it
is, and `schema()` builds a StructType only when called, so pure modules (lists, sampling,
fetch) use these declarations without importing Spark.
"""

from __future__ import annotations

from typing import Iterable, NamedTuple


class Column(NamedTuple):
    """One column: its name (part of the contract), Spark SQL type name and nullability."""

    name: str
    type: str
    nullable: bool = True


LIST_PART: tuple[Column, ...] = (
    Column("list", "string", False),
    Column("line", "int", False),
    Column("requested_name", "string"),  # null once a legal request removed the row
    Column("name", "string"),            # the DB key; null when the line is not a usable name
    Column("status", "string", False),   # one of statuses.*; null in a list row while in play
    Column("reason", "string"),
)
# What the catalog adds (catalog.resolve); never anything that identifies a user or an actor.
CATALOG_PART: tuple[Column, ...] = (
    Column("fa_id", "bigint"),
    Column("sha1", "string"),            # MediaWiki's base 36
    Column("sha1_hex", "string"),        # the same sha1 as 40 hex digits, as other tools write it
    Column("storage_key", "string"),
    Column("size", "bigint"),
    Column("width", "int"),
    Column("height", "int"),
    Column("media_type", "string"),
    Column("mime", "string"),
    Column("uploaded_at", "timestamp"),
    Column("deleted_at", "timestamp"),
    Column("versions", "int"),
    Column("archive_name", "string"),
    # The labels a deletion model learns from (labels.attach, in extract): null when the row has
    # no version to speak of, and the two comment texts null when MediaWiki hides them (fa_deleted & 2).
    Column("deleted_reason", "string"),     # why it was deleted: fa_deleted_reason_id's comment text
    Column("description", "string"),        # what the uploader said: fa_description_id's comment text
    Column("live_duplicate_of", "string"),  # live files with the same sha1 (`image`), names joined by "|"
)
# The free texts among them: a purge clears any that names a removed file (governance.rules).
LABEL_COLUMNS = ("deleted_reason", "description", "live_duplicate_of")
# What fetching adds (fetch.Outcome, and when it was fetched).
FETCH_PART: tuple[Column, ...] = (
    Column("content", "binary"),
    # Where an ok row's original is: CONTENT_INLINE (the `content` column), CONTENT_IN_BLOBS (the
    # data set's blobs/ table, by sha1: an object over output.blob_bytes); null when none is kept.
    Column("content_in", "string"),
    Column("thumbnail", "binary"),
    # made / not_visual / failed (thumbs.thumbnail_status); null when no thumbnail was asked for,
    # the row is not ok, or it was fetched before the column existed.
    Column("thumbnail_status", "string"),
    Column("thumbnail_mime", "string"),
    Column("thumbnail_width", "int"),
    Column("thumbnail_height", "int"),
    Column("fetched_at", "timestamp"),
    Column("attempts", "int"),
)
# fetch.Stop's value on a row a worker gave up on because the whole job must stop (storage
# refused our credentials, or looks down): the driver's verdict after a batch, never in items.
STOP = Column("stop", "string")
# A fetched row that carries one chunk of a large original (in `content`) instead of an item: its
# index in the object. Such rows go to a batch's BLOB_LIST partition, never to items.
CHUNK = Column("chunk", "int")
CONTENT_INLINE, CONTENT_IN_BLOBS = "content", "blobs"
# The partition of a batch holding chunk rows: no list can be named so (lists.LIST_NAME).
BLOB_LIST = "_blobs"

# The blobs/ table of a data set: each large original once, whatever names hold it, in chunks.
BLOB: tuple[Column, ...] = (
    Column("sha1", "string", False),     # base 36, as items.sha1: join on it
    Column("chunk", "int", False),       # 0, 1, ...: concatenated in this order they are the object
    Column("bytes", "binary", False),
)


class ListRow(NamedTuple):
    """One requested line of a list (LIST_PART); `status` is None while the name is in play."""

    list: str
    line: int
    requested_name: str
    name: str | None
    status: str | None = None
    reason: str | None = None

    @property
    def in_play(self) -> bool:
        """Return True while no stage has given this row a status."""
        return self.status is None

    def decided(self, status: str, reason: str | None) -> "ListRow":
        """Return this row with a status and its reason: it leaves play."""
        return self._replace(status=status, reason=reason)


def names(columns: Iterable[Column]) -> tuple[str, ...]:
    """Return the names of columns, in order."""
    return tuple(column.name for column in columns)


# The rows of each stage.
LIST = tuple(c._replace(nullable=True) if c.name == "status" else c for c in LIST_PART)
PLANNED = LIST_PART + CATALOG_PART
ITEM = PLANNED + FETCH_PART
FETCHED = ITEM + (STOP, CHUNK)

LIST_COLUMNS = names(LIST)
CATALOG_COLUMNS = names(CATALOG_PART)
ITEM_COLUMNS = names(ITEM)
FETCHED_COLUMNS = names(FETCHED)
# What a fetch decides (a planned row comes in PENDING) and what it reads from the plan.
FETCH_COLUMNS = ("status", "reason", *names(FETCH_PART))
PLAN_COLUMNS = tuple(c for c in ITEM_COLUMNS if c not in FETCH_COLUMNS)
BLOB_COLUMNS = names(BLOB)
TYPES = {c.name: c.type for c in FETCHED}


def schema(columns: Iterable[Column]):
    """Return the Spark StructType of columns (imports Spark: call it on the Spark side only)."""
    from pyspark.sql import types

    spark_types = {"string": types.StringType, "int": types.IntegerType, "bigint": types.LongType,
                   "binary": types.BinaryType, "timestamp": types.TimestampType}
    return types.StructType([types.StructField(c.name, spark_types[c.type](), c.nullable) for c in columns])
