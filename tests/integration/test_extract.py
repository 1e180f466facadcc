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


def test_images_get_a_500px_thumbnail_and_other_files_a_reason(extraction):
    rows = extraction["items"].where(F.col("status") == statuses.OK).collect()
    images = [r for r in rows if r["mime"].startswith("image/")]
    for row in images:
        assert row["thumbnail"] is not None, (row["name"], row["reason"])
        shown = Image.open(io.BytesIO(row["thumbnail"]))
        assert shown.size == (row["thumbnail_width"], row["thumbnail_height"])
        assert row["thumbnail_width"] == min(500, row["width"]) or row["name"].startswith("Phone_photo")
    wide = [r for r in images if r["width"] and r["width"] > 500]
    assert wide and all(r["thumbnail_width"] == 500 for r in wide)
    assert {r["thumbnail_status"] for r in images} == {"made"}
    others = [r for r in rows if not r["mime"].startswith("image/")]
    assert others
    for row in others:
        # Nothing to see in a sound; a PDF's first page is drawn; a visual file no thumbnailer
        # here handles failed, and says why.
        if row["media_type"] == "audio":
            assert (row["thumbnail_status"], row["reason"], row["thumbnail"]) == \
                ("not_visual", "thumbnail: no visual content", None)
        elif row["mime"] == "application/pdf":
            assert (row["thumbnail_status"], row["thumbnail_mime"], row["thumbnail_width"]) == ("made", "image/jpeg", 500)
        else:
            assert row["thumbnail_status"] == "failed" and row["reason"].startswith("thumbnail: unsupported")
    assert {r["mime"] for r in others} >= {"application/pdf"} and {r["media_type"] for r in others} >= {"audio"}


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
    assert lines[0].split(": ", 1)[1].startswith(f"71 requested, {retried} to fetch")
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
