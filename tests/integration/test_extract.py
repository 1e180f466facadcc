"""extract end to end on the sandbox: statuses, bytes, thumbnails, the data set's files, resume."""

from __future__ import annotations

import io
import json
import stat
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from chispa import assert_df_equality
from PIL import Image
from pyspark.sql import functions as F

from mediaextract import dataset, report, statuses
from mediaextract.digest import sha1_base36
from mediaextract.extract import run_extract

from ..conftest import sandbox_settings



@pytest.fixture(scope="module")
def extraction(spark, sandbox, list_paths, tmp_path_factory):
    output = str(tmp_path_factory.mktemp("extract") / "covers")
    lines: list[str] = []
    built = run_extract(spark, sandbox_settings(sandbox, fetch__batch_rows=10), list_paths, output, out=lines.append)
    return {"output": output, "report": built, "lines": lines,
            "items": dataset.read_items(spark, output + "/items").cache()}


def test_counts_per_list_equal_the_ground_truth(extraction, truth):
    for name, part in truth["lists"].items():
        counts = extraction["report"]["lists"][name]
        for key, value in part["counts"].items():
            assert counts[key] == value, (name, key)
    assert report.check_sums(extraction["report"]) == []


def test_every_requested_line_has_exactly_one_row_with_its_status(spark, extraction, truth):
    expected = [(n, r["line"], r["status"]) for n, p in truth["lists"].items() for r in p["rows"]]
    actual = extraction["items"].select("list", "line", "status")
    assert_df_equality(actual, spark.createDataFrame(expected, actual.schema),
                       ignore_row_order=True, ignore_nullable=True)


def test_ok_rows_hold_the_bytes_whose_sha1_filearchive_gave(extraction):
    rows = extraction["items"].where(F.col("status") == statuses.OK).collect()
    assert rows
    assert all(sha1_base36(bytes(r["content"])) == r["sha1"] and len(r["content"]) == r["size"] for r in rows)
    others = extraction["items"].where((F.col("status") != statuses.OK) & F.col("content").isNotNull())
    assert others.count() == 0, "bytes are kept only for verified rows"


def test_every_ok_row_has_the_thumbnail_the_ground_truth_gives(extraction, truth):
    """Rasters, a PDF's and a DjVu's first page, an SVG, a video's middle frame: made at the size rule; a sound:
    nothing to see, and the reason says so."""
    expected = {(n, r["line"]): r["thumbnail"] for n, p in truth["lists"].items() for r in p["rows"]
                if r["status"] == "ok"}
    rows = extraction["items"].where(F.col("status") == statuses.OK).collect()
    assert {(r["list"], r["line"]) for r in rows} == set(expected)
    for row in rows:
        want = expected[(row["list"], row["line"])]
        assert row["thumbnail_status"] == want["status"], (row["name"], row["reason"])
        if want["status"] != "made":
            assert (row["reason"], row["thumbnail"], row["thumbnail_width"]) == (want["reason"], None, None)
            continue
        shown = Image.open(io.BytesIO(row["thumbnail"]))
        assert (row["thumbnail_width"], row["thumbnail_height"]) == shown.size == (want["width"], want["height"]), \
            row["name"]
        assert row["thumbnail_mime"] == Image.MIME[shown.format] and want["mime"] in (None, row["thumbnail_mime"])
        if want["pixel"]:  # the right page, frame or drawing, not only the right size
            seen = shown.convert("RGB").getpixel((want["pixel"]["x"], want["pixel"]["y"]))
            assert max(abs(a - b) for a, b in zip(seen, want["pixel"]["rgb"])) <= 40, (row["name"], seen)
    kinds = {r["mime"] for r in rows if r["thumbnail_status"] == "made"}
    assert kinds >= {"application/pdf", "image/svg+xml", "video/webm", "image/vnd.djvu", "image/jpeg", "image/png"}
    assert {r["media_type"] for r in rows if r["thumbnail_status"] == "not_visual"} == {"audio"}


def test_files_are_0600_and_directories_0700(extraction):
    root = Path(extraction["output"])
    modes = {p: stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}
    assert {m for p, m in modes.items() if p.is_dir()} == {0o700}
    assert {m for p, m in modes.items() if p.is_file()} == {0o600}


def test_the_data_set_files_and_metadata(extraction):
    root = Path(extraction["output"])
    assert (root / "_SUCCESS").exists() and not (root / "_work").exists()
    metadata = json.loads((root / "_metadata.json").read_text())
    created = datetime.fromisoformat(metadata["created"])
    assert datetime.fromisoformat(metadata["expires"]) - created == timedelta(days=180)
    assert metadata["catalog"]["source"] == "jdbc"
    text = (root / "report.txt").read_text()
    assert "album_covers: of 15 requested, filearchive knew 9, 5 downloaded" in text
    written = (root / "report.json").read_text() + (root / "_metadata.json").read_text()
    assert '"secret_key": "***"' in written and "testing" not in written


def test_a_rerun_fetches_only_what_is_worth_retrying_and_changes_nothing(spark, sandbox, list_paths, extraction, truth):
    lines: list[str] = []
    before = extraction["items"].drop("fetched_at", "attempts")
    # The rows retried are mostly the missing ones again: an earlier run found objects, so the
    # storage settings are right and the run must not stop for them (exit 9), one row a batch.
    run_extract(spark, sandbox_settings(sandbox, fetch__stop_if_first_missing=1, fetch__batch_rows=1), list_paths,
                extraction["output"], out=lines.append)
    retried = sum(p["counts"][s] for p in truth["lists"].values() for s in ("not_in_storage", "checksum_mismatch"))
    assert lines[0].split(": ", 1)[1].startswith(f"{truth['totals']['requested']} requested, {retried} to fetch")
    after = dataset.read_items(spark, extraction["output"] + "/items").drop("fetched_at", "attempts")
    assert_df_equality(after, before, ignore_row_order=True, ignore_nullable=True)


def test_thumbnails_only_keeps_no_originals_and_group_readable_widens_modes(spark, sandbox, list_paths, tmp_path, truth):
    output = str(tmp_path / "thumbs")
    run_extract(spark, sandbox_settings(sandbox, output__content="thumbnails", output__group_readable=True),
                list_paths[:1], output, out=lambda line: None)
    items = dataset.read_items(spark, output + "/items")
    assert items.where(F.col("content").isNotNull()).count() == 0
    assert items.where(F.col("thumbnail").isNotNull()).count() == truth["lists"]["album_covers"]["counts"]["ok"]
    root = Path(output)
    assert {stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*") if p.is_file()} == {0o640}
    assert {stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")] if p.is_dir()} == {0o750}


def test_too_large_is_decided_before_download(spark, sandbox, list_paths, tmp_path):
    output = str(tmp_path / "small")
    run_extract(spark, sandbox_settings(sandbox, fetch__max_object_bytes=50_000, output__content="originals"),
                list_paths[:1], output, out=lambda line: None)
    items = dataset.read_items(spark, output + "/items")
    large = items.where(F.col("status") == statuses.TOO_LARGE).collect()
    assert large and all(r["size"] > 50_000 and r["attempts"] == 0 and r["content"] is None for r in large)
