"""Lists read and sampled in Spark give exactly the rows of the pure parser and sampler: the
same parse per file (plain, CSV, TSV, BOM, CRLF, invalid UTF-8, duplicates), the same sample picks
(counts, shares, every list), and window lists numbered in name order. No sandbox: Spark only."""

from __future__ import annotations

import random

import pytest
from chispa import assert_df_equality

from mediaextract import list_reader, pipeline, sampling
from mediaextract.errors import BadInput
from mediaextract.lists import file_kind, parse_list, stem
from mediaextract.sampling import SampleSpec


def _names(rng: random.Random, count: int) -> list[bytes]:
    words = ["Foo", "bar", "Café", "Élan", "東京", "😀", "O'Reilly", "100%", "scan", "logo", "a" * 40]
    out = []
    for _ in range(count):
        name = " ".join(rng.choice(words) for _ in range(rng.randint(1, 4))) + rng.choice([".jpg", ".png", ".pdf"])
        prefix = rng.choice(["", "", "File:", "file:", "  ", "* [[File:"])
        line = (prefix + name + ("]]" if prefix.endswith("[[File:") else "")).encode()
        if rng.random() < 0.02:
            line = b"Bad \xff bytes.jpg"
        out.append(line)
    return out + out[: count // 20]  # duplicates of earlier lines


@pytest.fixture(scope="module")
def list_dir(tmp_path_factory):
    rng = random.Random(12)
    root = tmp_path_factory.mktemp("lists")
    (root / "covers.txt").write_bytes(b"\xef\xbb\xbf" + b"\n".join(_names(rng, 1500)) + b"\n# a comment\n\n")
    (root / "books.txt").write_bytes(b"\r\n".join(_names(rng, 900)))
    (root / "logos.csv").write_bytes(b"id,name\n" + b"\n".join(b"%d,\"%s\"" % (i, n.replace(b'"', b'""'))
                                                               for i, n in enumerate(_names(rng, 400))) + b"\n")
    (root / "shots.tsv").write_bytes(b"name\tnote\n" + b"\n".join(n + b"\tx" for n in _names(rng, 300)))
    return root


def _expected(list_dir) -> list[tuple]:
    rows = []
    for path in sorted(list_dir.iterdir()):
        rows.extend(parse_list(stem(str(path)), path.read_bytes(), file_kind(str(path)), "name", True))
    return rows


def test_lists_parsed_in_executors_are_the_parsers_rows(spark, list_dir):
    lists = list_reader.read_lists(spark, [str(list_dir)])
    expected = spark.createDataFrame(_expected(list_dir), list_reader.LIST_SCHEMA)
    assert_df_equality(lists.rows, expected, ignore_row_order=True)
    assert lists.rows.count() > 3000
    assert lists.names == ["books", "covers", "logos", "shots"] and lists.requesting == set(lists.names)


def test_a_table_without_the_column_is_one_line_before_any_name_is_read(spark, list_dir, tmp_path):
    (tmp_path / "wrong.csv").write_bytes(b"title,other\nA.jpg,1\n")
    with pytest.raises(BadInput) as error:
        list_reader.read_lists(spark, [str(tmp_path / "wrong.csv"), str(list_dir)])
    assert str(error.value).startswith("list file:") and "has no column 'name' (columns: title, other)" in str(error.value)


@pytest.mark.parametrize("specs", [
    [SampleSpec("covers", count=100)],
    [SampleSpec("*", fraction=0.1)],
    [SampleSpec("*", count=50), SampleSpec("books", fraction=0.25), SampleSpec("shots", count=10_000)],
    [SampleSpec("logos", fraction=1.0)],
])
def test_spark_samples_pick_what_the_pure_sampler_picks(spark, list_dir, specs):
    rows = _expected(list_dir)
    frame = list_reader.read_lists(spark, [str(list_dir)]).rows
    actual = pipeline.sample_rows(frame, specs, 7)
    expected = spark.createDataFrame(sampling.apply_sample(rows, specs, 7), list_reader.LIST_SCHEMA)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_windows_names_are_numbered_in_name_order(spark):
    names = ["Zebra.jpg", "Éclair.png", "Apple.jpg", "東京.jpg", "apple.jpg", "😀.png", "Zz.jpg"]
    frame = spark.createDataFrame([(n,) for n in names], "name string")
    rows = pipeline.window_rows(frame, "deleted").collect()
    assert [(r["line"], r["name"]) for r in sorted(rows, key=lambda r: r["line"])] == \
        list(enumerate(sorted(names), start=1))
    assert {r["requested_name"] == r["name"] and r["status"] is None for r in rows} == {True}


def test_one_file_named_twice_gives_each_list_its_rows(spark, list_dir):
    path = str(list_dir / "books.txt")
    lists = list_reader.read_lists(spark, [f"first={path}", f"second={path}"])
    counts = {r["list"]: r["count"] for r in lists.rows.groupBy("list").count().collect()}
    assert counts["first"] == counts["second"] == len(parse_list("x", (list_dir / "books.txt").read_bytes()))
    assert lists.names == ["first", "second"]


def test_a_list_with_nothing_in_it_is_known_but_requests_nothing(spark, tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"# only a comment\n\n   \n")
    (tmp_path / "full.csv").write_bytes(b"name\n\nA.jpg\n")
    lists = list_reader.read_lists(spark, [str(tmp_path)])
    assert lists.names == ["empty", "full"] and lists.requesting == {"full"}
    with pytest.raises(BadInput, match="^--sample names a list with no names given: empty"):
        sampling.check_lists([SampleSpec("empty", count=5)], lists.requesting)


def test_a_list_the_parser_cannot_read_is_one_line_naming_it(spark, tmp_path):
    (tmp_path / "broken.csv").write_bytes(b'name\n"A.jpg\n' + b"x" * 200_000 + b"\n")  # a quote never closed
    with pytest.raises(BadInput) as error:
        list_reader.read_lists(spark, [str(tmp_path / "broken.csv")])
    message = str(error.value)
    assert message.startswith("list file:") and "broken.csv cannot be parsed: Error: field larger than field limit" in message
    assert "\n" not in message
