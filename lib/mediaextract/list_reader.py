"""Reading list files with Spark (local or Hadoop paths) into rows of the pure `lists` parser."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from .config import DEFAULTS
from .errors import BadInput
from .lists import LIST_NAME, ListSpec, file_kind, parse_list, stem
from .rows import LIST, ListRow, schema

# Callers pass settings["input.max_list_bytes"]; this is only the declared default for those that do not.
DECLARED_MAX_LIST_BYTES: int = DEFAULTS["input.max_list_bytes"]

# One row per non-blank, non-comment line (rows.ListRow). `status` is null while the name is in play.
LIST_SCHEMA = schema(LIST)


def _load_files(spark: SparkSession, path: str, max_list_bytes: int) -> list[tuple[str, bytes]]:
    """Return (path, bytes) of every file at path (a file, directory or glob), sorted by path.

    Sizes are listed first (binaryFile reads no content for a query without the content column),
    so a list file over max_list_bytes is refused before any of it is read into the driver.
    """
    try:
        frame = spark.read.format("binaryFile").load(path)
        sizes = frame.select("path", "length").collect()
    except Exception as error:
        raise _unreadable(path, error) from None
    if not sizes:
        raise BadInput(f"no list files at {path}")
    _refuse_large(sizes, max_list_bytes)
    try:
        files = frame.select("path", "content").collect()
    except Exception as error:
        raise _unreadable(path, error) from None
    return sorted((row.path, bytes(row.content)) for row in files)


def _unreadable(path: str, error: Exception) -> BadInput:
    """Return the one-line BadInput for a list path Spark could not read."""
    # AnalysisException: its first line names the path.
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    if "PATH_NOT_FOUND" in message or "does not exist" in message:
        return BadInput(f"list path not found: {path}")
    return BadInput(f"cannot read list {path}: {message}")


def _refuse_large(sizes: list, max_list_bytes: int) -> None:
    """Raise BadInput naming the first list file (by path) larger than max_list_bytes."""
    for row in sorted(sizes, key=lambda row: row.path):
        if row.length > max_list_bytes:
            raise BadInput(f"list file {row.path} is {row.length} bytes, more than input.max_list_bytes "
                           f"({max_list_bytes}): split it or raise the setting")


def read_lists(spark: SparkSession, arguments: list[str], column: str = "name",
               capitalize_first: bool = True, max_list_bytes: int = DECLARED_MAX_LIST_BYTES) -> DataFrame:
    """Return a LIST_SCHEMA DataFrame with one row per requested name of every list argument."""
    return spark.createDataFrame(read_list_rows(spark, arguments, column, capitalize_first, max_list_bytes),
                                 LIST_SCHEMA)


def read_list_rows(spark: SparkSession, arguments: list[str], column: str = "name",
                   capitalize_first: bool = True, max_list_bytes: int = DECLARED_MAX_LIST_BYTES) -> list[ListRow]:
    """Return the list rows, one per requested name of every list argument."""
    if not arguments:
        raise BadInput("no lists given: name at least one list file or directory")
    rows: list[ListRow] = []
    sources: dict[str, str] = {}
    for spec in map(ListSpec.parse, arguments):
        files = _load_files(spark, spec.path, max_list_bytes)
        if spec.name and len(files) > 1:
            raise BadInput(f"{spec.name}={spec.path} names {len(files)} files: a named list is one file")
        for file_path, data in files:
            list_name = spec.name or stem(file_path)
            if not LIST_NAME.match(list_name):
                raise BadInput(f"list name {list_name!r} (from {file_path}) is not usable as a "
                               "directory name: give one as NAME=PATH")
            if list_name in sources:
                raise BadInput(f"two lists are named {list_name!r} ({sources[list_name]} and "
                               f"{file_path}): name one as NAME=PATH")
            sources[list_name] = file_path
            rows.extend(parse_list(list_name, data, file_kind(file_path), column, capitalize_first,
                                   where=file_path))
    return rows
