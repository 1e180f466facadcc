"""An export's manifest.csv: one row per exported file, mapping it back to its row (no Spark).

It is read by people (often in a spreadsheet) and by purge, which finds a removed file's copies
through it. A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return would be run
as a formula by a spreadsheet (CSV injection; MediaWiki names may start with `-`, `+`, `@` or
`=`), so such a cell is written with a leading `'`, and so is a cell that itself starts with `'`,
which keeps the escape reversible: `unescape(escape(x)) == x` for every text.
"""

from __future__ import annotations

import csv
import io
from typing import BinaryIO, Iterable, Iterator, Mapping

COLUMNS = ("file", "list", "line", "name", "sha1", "storage_key")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_QUOTE = "'"


def escape(cell: str) -> str:
    """Return a cell as written: a leading `'` before what a spreadsheet would run, or before `'`."""
    return _QUOTE + cell if cell.startswith(_FORMULA_STARTS + (_QUOTE,)) else cell


def unescape(cell: str) -> str:
    """Return the text a written cell stands for (the inverse of escape)."""
    if cell.startswith(_QUOTE) and cell[1:].startswith(_FORMULA_STARTS + (_QUOTE,)):
        return cell[1:]
    return cell


class Writer:
    """Write manifest rows (the header first) to a text stream."""

    def __init__(self, text: io.TextIOBase):
        self._csv = csv.writer(text, lineterminator="\n")
        self._csv.writerow(COLUMNS)

    def add(self, row: Mapping[str, object]) -> None:
        self._csv.writerow([escape("" if row.get(c) is None else str(row[c])) for c in COLUMNS])

    def add_all(self, rows: Iterable[Mapping[str, object]]) -> None:
        for row in rows:
            self.add(row)


def read(raw: BinaryIO) -> Iterator[tuple[dict, dict]]:
    """Yield (row, row as written) for each line: the texts, and the cells as they are in the file.

    purge matches both, so a manifest written before cells were escaped is still purged right.
    """
    for written in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline="")):
        yield {k: unescape(v) if isinstance(v, str) else v for k, v in written.items()}, written
