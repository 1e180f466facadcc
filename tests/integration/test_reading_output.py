"""README "Reading the output" runs: each of its ```python blocks is run, as written, against a data
set extracted from the sandbox, and what it reads is held to the ground truth."""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image
from pyspark.sql import functions as F

from mediaextract import dataset, statuses
from mediaextract.extract import run_extract
from mediaextract.safe_names import THUMBNAIL_EXTENSIONS

from ..conftest import REPO, sandbox_settings

# The blocks' data set path, as written for `make demo`; the test puts its own in its place.
DEMO = "out/demo"
# Two lists hold every status the sandbox seeds and thumbnails in more than one format.
LISTS = ("album_covers", "logos")
# Their originals over 40 kB (five: 41-462 kB) go to blobs/, so the blocks meet both kinds.
BLOB_BYTES = 40_000
# What each block is, in README order: a block added or removed must come with its check here.
BLOCK_MARKERS = ("SparkSession", "pd.read_parquet", "duckdb.sql", "write_bytes", "toLocalIterator")
INTEGER_COLUMNS = ("line", "fa_id", "size", "width", "height", "thumbnail_width", "thumbnail_height")


def reading_blocks() -> list[str]:
    """Return the ```python blocks of README's "Reading the output" section, in order."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Reading the output\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```python\n(.*?)^```$", section, re.S | re.M)


@pytest.fixture(scope="module")
def data_set(spark, sandbox, list_paths, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("reading") / "demo"
    chosen = [p for p in list_paths if Path(p).stem in LISTS]
    assert len(chosen) == len(LISTS)
    run_extract(spark, sandbox_settings(sandbox, output__blob_bytes=BLOB_BYTES, output__blob_chunk_bytes=8192),
                chosen, str(output), out=lambda line: None)
    return output


@pytest.fixture(scope="module")
def items(spark, data_set):
    return dataset.read_items(spark, str(data_set / "items")).drop("content").cache()


@pytest.fixture(scope="module")
def expected(truth) -> dict:
    """The ground truth of the chosen lists: counts per (list, status) and rows by (list, line)."""
    rows = {(name, r["line"]): r for name in LISTS for r in truth["lists"][name]["rows"]}
    return {"counts": Counter((name, r["status"]) for (name, _), r in rows.items()), "rows": rows}


def run_block(number: int, data_set: Path) -> dict:
    """Return the names a README block defines, run with the test's data set in place of out/demo."""
    block = reading_blocks()[number]
    assert DEMO in block, "every block reads the demo data set's path, so the test can give its own"
    namespace: dict = {"__name__": f"readme_block_{number}"}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(block.replace(DEMO, str(data_set)), f"README.md block {number}", "exec"), namespace)
    return namespace


def test_the_section_has_the_blocks_this_test_checks():
    blocks = reading_blocks()
    assert len(blocks) == len(BLOCK_MARKERS)
    for block, marker in zip(blocks, BLOCK_MARKERS):
        assert marker in block


def test_spark_reads_the_counts_of_the_ground_truth(spark, data_set, expected):
    names = run_block(0, data_set)
    counts = {(r["list"], r["status"]): r["count"] for r in names["counts"].collect()}
    assert counts == dict(expected["counts"])
    ok = {(r["list"], r["line"]): r["sha1_hex"] for r in names["ok"].collect()}
    assert ok and ok == {key: r["sha1_hex"] for key, r in expected["rows"].items() if r["status"] == statuses.OK}


def test_pandas_reads_counts_and_keeps_integer_columns_integers(data_set, expected):
    names = run_block(1, data_set)
    frame, counts = names["items"], names["counts"]
    assert {key: int(n) for key, n in counts.items()} == dict(expected["counts"])
    for column in INTEGER_COLUMNS:
        assert "float" not in str(frame[column].dtype) and "int" in str(frame[column].dtype), column
    # The check means something: these columns do hold nulls (invalid names have no fa_id, ...).
    assert all(frame[column].isna().any() for column in INTEGER_COLUMNS if column != "line")
    assert "string" in str(frame["list"].dtype)
    got = {(r.list, r.line): (None if pd.isna(r.sha1_hex) else r.sha1_hex) for r in frame.itertuples()}
    assert got == {key: r["sha1_hex"] for key, r in expected["rows"].items()}


def test_duckdb_reads_the_counts_of_the_ground_truth(data_set, expected):
    counts = run_block(2, data_set)["counts"]
    assert {(name, status): n for name, status, n in counts} == dict(expected["counts"])
    assert counts == sorted(counts)


def test_thumbnails_and_originals_are_written_with_their_extensions(data_set, items, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    names = run_block(3, data_set)
    assert names["EXTENSIONS"] == {mime: extensions[0] for mime, extensions in THUMBNAIL_EXTENSIONS.items()}
    ok = items.where(F.col("status") == statuses.OK).collect()
    thumbnails = {f"{r['list']}/{r['line']}.{names['EXTENSIONS'][r['thumbnail_mime']]}": r
                  for r in ok if r["thumbnail"] is not None}
    originals = {f"{r['list']}/{r['sha1_hex']}.{r['name'].rsplit('.', 1)[-1].lower()}": r for r in ok}
    assert len({r["thumbnail_mime"] for r in thumbnails.values()}) > 1, "more than one format is written"
    written = {str(p.relative_to(tmp_path / "files")) for p in (tmp_path / "files").rglob("*") if p.is_file()}
    assert written == {*thumbnails, *originals}
    pillow_formats = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
    for path, row in thumbnails.items():
        with Image.open(tmp_path / "files" / path) as image:
            assert image.size == (row["thumbnail_width"], row["thumbnail_height"]), path
            assert image.format == pillow_formats[row["thumbnail_mime"]], path
    for path, row in originals.items():
        data = (tmp_path / "files" / path).read_bytes()
        assert len(data) == row["size"] and hashlib.sha1(data).hexdigest() == row["sha1_hex"], path
    assert any(r["content_in"] == "blobs" for r in ok) and any(r["content_in"] == "content" for r in ok)


def test_spark_writes_each_large_original_whole(data_set, items, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_block(4, data_set)
    large = {r["sha1_hex"]: r["size"] for r in items.where(F.col("content_in") == "blobs").collect()}
    assert len(large) == 5 and min(large.values()) > BLOB_BYTES
    written = {p.name: p.read_bytes() for p in (tmp_path / "large").iterdir()}
    assert {name: len(data) for name, data in written.items()} == large
    assert all(hashlib.sha1(data).hexdigest() == name for name, data in written.items())
