"""Reading list files with Spark (local or Hadoop paths) into rows of the pure `lists` parser.

The driver lists the files (paths and sizes only) and checks what it can from them: a file over
`input.max_list_bytes`, list names that are no directory names or clash. The names themselves
never come to the driver: each file is parsed by `lists.parse_list` in an executor (a file is one
task, so "the first line of a name wins" stays the file's own order), and the rows stay a
DataFrame, parsed once and kept. Counting them per list, before anything else, finds what only
the files' content can show (a file that cannot be read, a CSV/TSV list without its column) and
which lists request anything, so that bad input is one line and exit 2 before the catalog is
touched. Driver memory does not grow with the names.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Iterator

from pyspark import RDD, StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from .config import DEFAULTS
from .errors import BadInput
from .lists import LIST_NAME, ListSpec, file_kind, parse_list, stem
from .rows import LIST, schema

# Callers pass settings["input.max_list_bytes"]; this is only the declared default for those that do not.
DECLARED_MAX_LIST_BYTES: int = DEFAULTS["input.max_list_bytes"]

# One row per non-blank, non-comment line (rows.ListRow). `status` is null while the name is in play.
LIST_SCHEMA = schema(LIST)


@dataclass(frozen=True)
class ListFile:
    """One list file: where it is, the list it holds, how to read it."""

    path: str        # as Spark's binaryFile source names it
    list_name: str
    kind: str        # lists.file_kind: "lines", "csv" or "tsv"


@dataclass(frozen=True)
class Lists:
    """The list rows (LIST_SCHEMA, in Spark) and the lists that request anything (a line or cell
    that is not blank: a name, valid or not)."""

    rows: DataFrame
    names: list[str]       # every list, in argument order
    requesting: set[str]


def _sizes(spark: SparkSession, path: str) -> list:
    """Return (path, length) of every file at path (a file, directory or glob); reads no content
    (binaryFile reads none for a query without the content column)."""
    try:
        sizes = spark.read.format("binaryFile").load(path).select("path", "length").collect()
    except Exception as error:
        raise _unreadable(path, error) from None
    if not sizes:
        raise BadInput(f"no list files at {path}")
    return sorted(sizes, key=lambda row: row.path)


def _unreadable(path: str, error: Exception) -> BadInput:
    """Return the one-line BadInput for a list path Spark could not read."""
    # AnalysisException: its first line names the path; an executor's error is wrapped deeper.
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if "PATH_NOT_FOUND" in message or "does not exist" in message:
        return BadInput(f"list path not found: {path}")
    return BadInput(f"cannot read list {path}: {message[:300]}")


def _refuse_large(sizes: list, max_list_bytes: int) -> None:
    """Raise BadInput naming the first list file (by path) larger than max_list_bytes."""
    for row in sizes:
        if row.length > max_list_bytes:
            raise BadInput(f"list file {row.path} is {row.length} bytes, more than input.max_list_bytes "
                           f"({max_list_bytes}): split it or raise the setting")


def list_files(spark: SparkSession, arguments: list[str],
               max_list_bytes: int = DECLARED_MAX_LIST_BYTES) -> list[tuple[ListSpec, list[ListFile]]]:
    """Return each list argument with its files and their list names, checked from paths and sizes."""
    if not arguments:
        raise BadInput("no lists given: name at least one list file or directory")
    found: list[tuple[ListSpec, list[ListFile]]] = []
    sources: dict[str, str] = {}
    for spec in map(ListSpec.parse, arguments):
        sizes = _sizes(spark, spec.path)
        _refuse_large(sizes, max_list_bytes)
        if spec.name and len(sizes) > 1:
            raise BadInput(f"{spec.name}={spec.path} names {len(sizes)} files: a named list is one file")
        files = []
        for row in sizes:
            list_name = spec.name or stem(row.path)
            if not LIST_NAME.match(list_name):
                raise BadInput(f"list name {list_name!r} (from {row.path}) is not usable as a "
                               "directory name: give one as NAME=PATH")
            if list_name in sources:
                raise BadInput(f"two lists are named {list_name!r} ({sources[list_name]} and "
                               f"{row.path}): name one as NAME=PATH")
            sources[list_name] = row.path
            files.append(ListFile(row.path, list_name, file_kind(row.path)))
        found.append((spec, files))
    return found


def _contents(spark: SparkSession, found: list[tuple[ListSpec, list[ListFile]]]) -> tuple[list[ListFile], RDD]:
    """Return every list file (its index: its position) and (index, content) pairs, read from
    the arguments as given (a glob stays a glob) and joined to the files listed from them, so
    that one file named by two arguments is read for each of its lists."""
    files: list[ListFile] = []
    frames = []
    for spec, spec_files in found:
        first = len(files)
        files.extend(spec_files)
        index = spark.createDataFrame([(f.path, first + i) for i, f in enumerate(spec_files)], "path string, index int")
        read = spark.read.format("binaryFile").load(spec.path).select("path", "content")
        frames.append(read.join(F.broadcast(index), "path").select("index", "content"))
    contents = frames[0]
    for frame in frames[1:]:
        contents = contents.unionByName(frame)
    # Lists are parsed side by side: file i goes to task i mod n (a hash of i would put two
    # files in one task and leave another idle).
    tasks = max(1, min(len(files), spark.sparkContext.defaultParallelism))
    return files, contents.rdd.map(lambda row: (row["index"], row["content"])).partitionBy(tasks, lambda i: i % tasks)


# The list of a row that is no list row but what is wrong with a file (no list has this name);
# its line is the file's index and its requested_name the one-line message.
_PROBLEM = ""


def _parsed(files: list[ListFile], column: str, capitalize_first: bool, partition: Iterator) -> Iterator[tuple]:
    """Yield the list rows of each file, or one problem row for a file that cannot be parsed."""
    for index, content in partition:
        source = files[index]
        data = bytes(content)
        del content
        problem = None
        try:
            rows = parse_list(source.list_name, data, source.kind, column, capitalize_first, where=source.path)
        except BadInput as error:  # a table without the column: the parser's own one-line message
            problem = str(error)
        except Exception as error:  # e.g. csv.Error: a quote never closed swallows the file
            problem = f"list {source.path} cannot be parsed: {type(error).__name__}: {error}"[:500]
        if problem:
            yield _PROBLEM, index, " ".join(problem.split()), None, None, None
        else:
            yield from rows


def read_lists(spark: SparkSession, arguments: list[str], column: str = "name",
               capitalize_first: bool = True, max_list_bytes: int = DECLARED_MAX_LIST_BYTES) -> Lists:
    """Return the list rows, one per requested name of every list argument, and the lists.

    Everything wrong with the input is raised here, as one-line BadInput, before any row is
    planned: from the paths and sizes on the driver, then from the parse (a file that cannot be
    read, a CSV/TSV list's missing column). The rows are parsed once and kept (memory, then
    disk): parsing in Python is the costly part, and the catalog join reads them more than once.
    """
    found = list_files(spark, arguments, max_list_bytes)
    files, contents = _contents(spark, found)
    rows = spark.createDataFrame(contents.mapPartitions(partial(_parsed, files, column, capitalize_first)),
                                 LIST_SCHEMA).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        per_list = {r["list"]: r["count"] for r in rows.groupBy("list").count().collect()}
        problem = (rows.where(F.col("list") == _PROBLEM).orderBy("line").select("requested_name").first()
                   if _PROBLEM in per_list else None)
    except Exception as error:
        rows.unpersist()
        raise _unreadable(" ".join(arguments), error) from None
    if problem is not None:
        rows.unpersist()
        raise BadInput(problem["requested_name"])
    return Lists(rows, [f.list_name for f in files], set(per_list))
