"""manifest.csv cells: nothing a spreadsheet would run, and every text read back as it was."""

from __future__ import annotations

import csv
import io

import pytest

from mediaextract import manifest

FORMULAS = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3.jpg", "@SUM(A1).png", "\tTab.jpg", "\rCR.jpg"]
PLAIN = ["Foo_bar.jpg", "O'Reilly.jpg", "a=b.jpg", "", "'", "''", "'Til_Tuesday.jpg", "'=x.jpg", "'''-y"]


@pytest.mark.parametrize("text", FORMULAS + PLAIN)
def test_escape_is_undone_by_unescape(text):
    assert manifest.unescape(manifest.escape(text)) == text


@pytest.mark.parametrize("text", FORMULAS)
def test_a_cell_a_spreadsheet_would_run_starts_with_a_quote(text):
    assert manifest.escape(text) == "'" + text


def test_plain_names_are_written_as_they_are():
    assert [manifest.escape(t) for t in ["Foo_bar.jpg", "a=b.jpg", "O'Reilly.jpg"]] == ["Foo_bar.jpg", "a=b.jpg", "O'Reilly.jpg"]


def test_rows_written_are_read_back_with_what_the_file_holds():
    text = io.StringIO()
    writer = manifest.Writer(text)
    rows = [{"file": "covers/-1.jpg", "list": "covers", "line": 3, "name": "-1.jpg", "sha1": "abc", "storage_key": None},
            {"file": "covers/Foo.jpg", "list": "covers", "line": 4, "name": "Foo.jpg", "sha1": "def", "storage_key": "k.jpg"}]
    writer.add_all(rows)
    lines = list(csv.reader(io.StringIO(text.getvalue())))
    assert lines[0] == list(manifest.COLUMNS)
    assert lines[1] == ["covers/-1.jpg", "covers", "3", "'-1.jpg", "abc", ""]  # the file column starts with c
    read = list(manifest.read(io.BytesIO(text.getvalue().encode("utf-8"))))
    assert [row["name"] for row, _ in read] == ["-1.jpg", "Foo.jpg"]
    assert [written["name"] for _, written in read] == ["'-1.jpg", "Foo.jpg"]
    assert read[0][0]["line"] == "3" and read[0][0]["storage_key"] == ""
