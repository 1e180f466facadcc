import pytest

from mediaextract.errors import BadInput
from mediaextract.lists import ListSpec, file_kind, parse_list, stem


def test_plain_list_skips_blank_and_comment_lines_and_numbers_physical_lines():
    data = b"# covers\n\nFile:Foo bar.jpg\n   \n  # indented comment\nbaz.png\r\n"
    rows = parse_list("covers", data)
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [
        (3, "File:Foo bar.jpg", "Foo_bar.jpg", None),
        (6, "baz.png", "Baz.png", None),
    ]


def test_bom_is_tolerated():
    rows = parse_list("l", b"\xef\xbb\xbfFoo.jpg\n")
    assert rows[0][2:4] == ("Foo.jpg", "Foo.jpg")


def test_invalid_utf8_line_becomes_an_invalid_name_row_not_a_crash():
    rows = parse_list("l", b"Good.jpg\nBad\xff\xfe.jpg\nAlso_good.jpg\n")
    assert [r[4] for r in rows] == [None, "invalid_name", None]
    assert rows[1][1] == 2 and rows[1][5] == "the line is not valid UTF-8"
    assert "\ufffd" in rows[1][2]


def test_repeat_after_normalisation_is_a_duplicate_pointing_at_the_first():
    rows = parse_list("l", b"File:Foo bar.jpg\nfoo_bar.jpg\nImage:Foo__bar.jpg\n")
    assert [r[4] for r in rows] == [None, "duplicate", "duplicate"]
    assert rows[1][5] == "same file as line 1"


def test_rejected_names_carry_the_reason_from_names():
    rows = parse_list("l", b"Category:Foo\n")
    assert rows[0][3] is None and rows[0][4] == "invalid_name" and rows[0][5]


def test_csv_with_named_column_and_line_numbers():
    data = "id,name\n1,Foo.jpg\n2,\n3,\"Bar, baz.jpg\"\n".encode()
    rows = parse_list("c", data, kind="csv", column="name")
    assert [(r[1], r[3]) for r in rows] == [(2, "Foo.jpg"), (4, "Bar,_baz.jpg")]


def test_tsv_with_invalid_utf8_cell():
    rows = parse_list("t", b"name\tx\nA.jpg\t1\nB\xff.jpg\t2\n", kind="tsv", column="name")
    assert [r[4] for r in rows] == [None, "invalid_name"]


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
    assert [r[3] for r in rows] == ["Foo.jpg", "Bar.jpg"]
