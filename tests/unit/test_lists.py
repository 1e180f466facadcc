import subprocess
import sys
from pathlib import Path

import pytest

from mediaextract import rows, statuses
from mediaextract.errors import BadInput
from mediaextract.lists import ListSpec, file_kind, parse_list, stem
from mediaextract.rows import ListRow


def test_plain_list_skips_blank_and_comment_lines_and_numbers_physical_lines():
    data = b"# covers\n\nFile:Foo bar.jpg\n   \n  # indented comment\nbaz.png\r\n"
    rows = parse_list("covers", data)
    assert [(r.line, r.requested_name, r.name, r.status) for r in rows] == [
        (3, "File:Foo bar.jpg", "Foo_bar.jpg", None),
        (6, "baz.png", "Baz.png", None),
    ]


def test_bom_is_tolerated():
    rows = parse_list("l", b"\xef\xbb\xbfFoo.jpg\n")
    assert (rows[0].requested_name, rows[0].name) == ("Foo.jpg", "Foo.jpg")


def test_invalid_utf8_line_becomes_an_invalid_name_row_not_a_crash():
    rows = parse_list("l", b"Good.jpg\nBad\xff\xfe.jpg\nAlso_good.jpg\n")
    assert [r.status for r in rows] == [None, "invalid_name", None]
    assert rows[1].line == 2 and rows[1].reason == "the line is not valid UTF-8"
    assert "\ufffd" in rows[1].requested_name


def test_repeat_after_normalisation_is_a_duplicate_pointing_at_the_first():
    rows = parse_list("l", b"File:Foo bar.jpg\nfoo_bar.jpg\nImage:Foo__bar.jpg\n")
    assert [r.status for r in rows] == [None, "duplicate", "duplicate"]
    assert rows[1].reason == "same file as line 1"


def test_rejected_names_carry_the_reason_from_names():
    rows = parse_list("l", b"Category:Foo\n")
    assert rows[0].name is None and rows[0].status == "invalid_name" and rows[0].reason


def test_csv_with_named_column_and_line_numbers():
    data = "id,name\n1,Foo.jpg\n2,\n3,\"Bar, baz.jpg\"\n".encode()
    rows = parse_list("c", data, kind="csv", column="name")
    assert [(r.line, r.name) for r in rows] == [(2, "Foo.jpg"), (4, "Bar,_baz.jpg")]


def test_tsv_with_invalid_utf8_cell():
    rows = parse_list("t", b"name\tx\nA.jpg\t1\nB\xff.jpg\t2\n", kind="tsv", column="name")
    assert [r.status for r in rows] == [None, "invalid_name"]


def test_csv_without_the_column_is_bad_input_naming_the_columns():
    with pytest.raises(BadInput, match="no column 'name' \\(columns: id, title\\)"):
        parse_list("c", b"id,title\n1,Foo.jpg\n", kind="csv", column="name")


def test_list_spec_and_file_names():
    assert ListSpec.parse("books=/x/y.txt") == ListSpec(path="/x/y.txt", name="books")
    assert ListSpec.parse("hdfs:///x/y.txt") == ListSpec(path="hdfs:///x/y.txt")
    assert stem("hdfs://nn/lists/album_covers.txt") == "album_covers"
    assert file_kind("a.CSV") == "csv" and file_kind("a.tsv") == "tsv" and file_kind("a.txt") == "lines"


def test_wiki_bullets_are_list_markup_not_part_of_the_name():
    rows = parse_list("l", b"* [[File:Foo.jpg]]\n** Bar.jpg\n")
    assert [r.name for r in rows] == ["Foo.jpg", "Bar.jpg"]


# --- the list row (rows.ListRow, rows.LIST) -------------------------------------------------------

def test_parsed_rows_are_list_rows_in_the_declared_column_order():
    parsed = parse_list("covers", b"Foo.jpg\nfoo.jpg\n")
    assert all(type(r) is ListRow for r in parsed)
    assert ListRow._fields == rows.LIST_COLUMNS == rows.ITEM_COLUMNS[:len(ListRow._fields)]
    assert parsed == [ListRow("covers", 1, "Foo.jpg", "Foo.jpg"),
                      ListRow("covers", 2, "foo.jpg", "Foo.jpg", statuses.DUPLICATE, "same file as line 1")]


def test_a_decided_row_leaves_play_and_keeps_its_place():
    row = ListRow("covers", 3, "Foo.jpg", "Foo.jpg")
    decided = row.decided(statuses.SAMPLED_OUT, "not in the sample")
    assert row.in_play and not decided.in_play
    assert decided == ("covers", 3, "Foo.jpg", "Foo.jpg", statuses.SAMPLED_OUT, "not in the sample")


def test_the_list_schema_differs_from_the_items_only_where_a_row_is_still_in_play():
    listed = rows.schema(rows.LIST)
    items = rows.schema(rows.ITEM)
    assert listed.fieldNames() == list(ListRow._fields)
    assert [(f.name, f.dataType) for f in listed] == [(f.name, f.dataType) for f in items][:len(listed)]
    assert [f.name for f in listed if f.nullable != items[f.name].nullable] == ["status"]
    assert listed["status"].nullable and listed["requested_name"].nullable


PURE = """
import sys
import mediaextract.lists, mediaextract.rows, mediaextract.sampling, mediaextract.fetch
assert not [m for m in sys.modules if m.split(".")[0] in ("pyspark", "py4j")], "Spark imported"
"""


def test_the_pure_modules_use_the_row_declarations_without_importing_spark():
    lib = Path(__file__).resolve().parents[2] / "lib"
    done = subprocess.run([sys.executable, "-c", PURE], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(lib), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
