"""List files -> one row per requested name, normalised or rejected with a reason.

A list is a text file (one name per line), a CSV/TSV file with a named column, or a directory
of them; local or any Hadoop path. The list name is the file stem unless given as NAME=PATH.
Parsing is plain Python (`parse_list`); `list_reader.read_lists` is the Spark edge: the files are read with
Spark's binaryFile source (so HDFS paths work) and each is parsed whole in an executor, which keeps
"first occurrence in file order wins" trivially deterministic without the names reaching the driver.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Iterator

from . import statuses
from .errors import BadInput
from .names import normalize_title
from .rows import ListRow

LIST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}$")
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class ListSpec:
    """One list argument: NAME=PATH or PATH (name from each file's stem)."""

    path: str
    name: str | None = None

    @classmethod
    def parse(cls, argument: str) -> "ListSpec":
        name, sep, path = argument.partition("=")
        if sep and LIST_NAME.match(name) and "/" not in name:
            return cls(path=path, name=name)
        return cls(path=argument)


def file_kind(path: str) -> str:
    """Return "csv", "tsv" or "lines" from a file name."""
    lower = path.lower()
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith(".tsv"):
        return "tsv"
    return "lines"


def stem(path: str) -> str:
    """Return the file name without directories and without its last extension."""
    base = path.rstrip("/").rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base


def _raw_lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    if data.startswith(BOM):
        data = data[len(BOM):]
    for number, raw in enumerate(data.split(b"\n"), start=1):
        yield number, raw.rstrip(b"\r")


def _lines(data: bytes) -> Iterator[tuple[int, str, bool]]:
    """Yield (line number, text, valid UTF-8) for every name line of a plain list."""
    for number, raw in _raw_lines(data):
        if not raw.strip() or raw.lstrip().startswith(b"#"):
            continue
        try:
            yield number, raw.decode("utf-8"), True
        except UnicodeDecodeError:
            yield number, raw.decode("utf-8", errors="replace"), False


def _reader(data: bytes, kind: str):
    if data.startswith(BOM):
        data = data[len(BOM):]
    # surrogateescape keeps invalid bytes visible per cell instead of failing the whole file.
    return csv.reader(io.StringIO(data.decode("utf-8", errors="surrogateescape"), newline=""),
                      delimiter="," if kind == "csv" else "\t")


def _missing_column(header: list[str] | None, column: str, where: str) -> str | None:
    if header is not None and column in [h.strip() for h in header]:
        return None
    found = ", ".join(h.strip() for h in header or []) or "no header"
    return f"list {where} has no column {column!r} (columns: {found}); set lists column with --column"


def _cells(data: bytes, kind: str, column: str, where: str) -> Iterator[tuple[int, str, bool]]:
    """Yield (line number, cell, valid UTF-8) for the named column of a CSV/TSV list."""
    reader = _reader(data, kind)
    header = next(reader, None)
    problem = _missing_column(header, column, where)
    if problem:
        raise BadInput(problem)
    index = [h.strip() for h in header].index(column)
    for row in reader:
        if index >= len(row) or not row[index].strip():
            continue
        cell = row[index]
        try:
            cell.encode("utf-8")
            yield reader.line_num, cell, True
        except UnicodeEncodeError:
            text = cell.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")
            yield reader.line_num, text, False


def parse_list(list_name: str, data: bytes, kind: str = "lines", column: str = "name",
               capitalize_first: bool = True, where: str = "") -> list[ListRow]:
    """Return the rows of one list file's bytes, duplicates marked after the first."""
    if kind == "lines":
        entries = _lines(data)
    else:
        entries = _cells(data, kind, column, where or list_name)
    rows = []
    first_line: dict[str, int] = {}
    for number, text, valid in entries:
        if not valid:
            rows.append(ListRow(list_name, number, text, None, statuses.INVALID_NAME,
                                "the line is not valid UTF-8"))
            continue
        # Deletion requests are wiki pages: names often come as bullet items ("* [[File:X]]").
        unbulleted = text.lstrip().lstrip("*") if text.lstrip().startswith("*") else text
        result = normalize_title(unbulleted, capitalize_first=capitalize_first)
        if result.key is None:
            rows.append(ListRow(list_name, number, text, None, statuses.INVALID_NAME, result.reason))
        elif result.key in first_line:
            rows.append(ListRow(list_name, number, text, result.key, statuses.DUPLICATE,
                                f"same file as line {first_line[result.key]}"))
        else:
            first_line[result.key] = number
            rows.append(ListRow(list_name, number, text, result.key))
    return rows
