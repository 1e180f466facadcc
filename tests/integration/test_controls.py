"""Controls for a deletion model: live files (`image`, public zone) and old versions of live files
(`oldimage`, archive zone; the deleted zone when oi_deleted & 1), extracted by name or drawn by
upload period and media type, equal to the sandbox's ground truth; reconcile covers them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from jobs import extract as extract_job
from jobs import reconcile as reconcile_job
from mediaextract import dataset, digest, pipeline, statuses
from mediaextract.catalog import DeletionWindow
from mediaextract.errors import BadInput
from mediaextract.extract import run_extract

from ..conftest import sandbox_settings
from .test_governance import job_sets, run_job

# The catalog columns a control row is compared on (fa_id and deleted_at stay null: never deleted).
COLUMNS = ("name", "status", "fa_id", "archive_name", "sha1", "sha1_hex", "storage_key", "size", "width", "height",
           "media_type", "mime", "uploaded_at", "deleted_at", "deleted_reason", "description", "live_duplicate_of")
ABSENT = "Never_uploaded.jpg"


def expected_frame(spark, rows: list[dict], schema):
    def value(row, column):
        if column == "fa_id":
            return None
        if column == "uploaded_at":
            return datetime.strptime(row[column], "%Y%m%d%H%M%S")
        if column == "media_type":  # the rows hold MediaWiki's media types in lower case
            return row[column].lower()
        return row[column]
    return spark.createDataFrame([tuple(value(r, c) for c in COLUMNS) for r in rows], schema)


def write_list(path: Path, names: list[str]) -> str:
    path.write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def live(spark, sandbox, truth, tmp_path_factory):
    base = tmp_path_factory.mktemp("controls")
    names = [r["name"] for r in truth["controls"]["live"]]
    lists = [write_list(base / "live.txt", [f"File:{n.replace('_', ' ')}" for n in names] + [ABSENT, "Foo_bar.jpg"])]
    output = str(base / "live")
    settings = sandbox_settings(sandbox, catalog__files="live", output__content="both")
    built = run_extract(spark, settings, lists, output, out=lambda line: None)
    return {"report": built, "items": dataset.read_items(spark, output + "/items"), "output": output}


def test_live_files_carry_the_ground_truth_and_their_bytes(spark, live, truth):
    items = live["items"]
    found = items.where(F.col("status") == statuses.OK).select(*COLUMNS)
    assert_df_equality(found, expected_frame(spark, truth["controls"]["live"], found.schema),
                       ignore_row_order=True, ignore_nullable=True)
    for row in items.where(F.col("status") == statuses.OK).select("sha1", "content", "thumbnail_width", "width").collect():
        assert digest.sha1_base36(bytes(row["content"])) == row["sha1"]  # the public zone's bytes, verified
        assert row["thumbnail_width"] == min(row["width"], 500)
    # A name image does not have, whether or not filearchive has it, says which table it missed.
    missing = {r["name"]: r for r in items.where(F.col("status") != statuses.OK).collect()}
    assert set(missing) == {ABSENT, "Foo_bar.jpg"}
    assert {r["status"] for r in missing.values()} == {statuses.NOT_IN_FILEARCHIVE}
    assert {r["reason"] for r in missing.values()} == {"no image row has this name"}
    assert "image knew 2, 2 downloaded" in Path(live["output"], "report.txt").read_text()


def test_the_migrated_file_tables_give_the_same_live_files(spark, sandbox, truth, live, tmp_path):
    # Deleted_since.jpg: a `file` row with file_deleted = 1, and revisions: no live file.
    lists = [write_list(tmp_path / "live.txt", [f"File:{r['name'].replace('_', ' ')}" for r in truth["controls"]["live"]]
                        + [ABSENT, "Foo_bar.jpg", "Deleted_since.jpg"])]
    settings = sandbox_settings(sandbox, catalog__files="live", catalog__tables="file", output__content="both")
    run_extract(spark, settings, lists, str(tmp_path / "live"), out=lambda line: None)
    got = dataset.read_items(spark, str(tmp_path / "live" / "items")).drop("fetched_at")
    assert_df_equality(got.where(F.col("status") == statuses.OK),
                       live["items"].drop("fetched_at").where(F.col("status") == statuses.OK),
                       ignore_row_order=True, ignore_nullable=True)
    missing = {r["reason"] for r in got.where(F.col("status") != statuses.OK).collect()}
    assert missing == {"no file row has this name"}


@pytest.mark.parametrize("tables", ["image", "file"])
def test_old_versions_come_from_the_archive_or_the_deleted_zone(spark, sandbox, truth, tmp_path, tables):
    expected = truth["controls"]["old"]
    assert {bool(r["storage_key"]) for r in expected} == {True, False}  # one of each zone
    lists = [write_list(tmp_path / "old.txt", sorted({r["name"] for r in expected}) + ["Deleted_since.jpg"])]
    settings = sandbox_settings(sandbox, catalog__files="old", catalog__versions="all", catalog__tables=tables)
    run_extract(spark, settings, lists, str(tmp_path / "old"), out=lambda line: None)
    every = dataset.read_items(spark, str(tmp_path / "old" / "items"))
    gone = every.where(F.col("name") == "Deleted_since.jpg").collect()
    assert [(r["status"], r["versions"]) for r in gone] == [(statuses.NOT_IN_FILEARCHIVE, 0)]
    items = every.where(F.col("name") != "Deleted_since.jpg")
    got = items.select(*COLUMNS)
    assert_df_equality(got, expected_frame(spark, expected, got.schema), ignore_row_order=True, ignore_nullable=True)
    assert {r["thumbnail_width"] for r in items.collect()} == {r["width"] for r in expected}


def test_a_control_set_is_drawn_by_upload_period_and_media_type(spark, sandbox, truth, tmp_path, capsys):
    uploaded_2022_on = sorted(r["name"] for r in truth["controls"]["live"] if r["uploaded_at"] >= "2022")
    assert len(uploaded_2022_on) == 2
    argv = [*job_sets(sandbox), "--files", "live", "--uploaded-since", "2022-01-01", "--uploaded-until", "2024-01-01",
            "--media-type", "BITMAP", "--sample", "1", "--seed", "7", "--name", "controls",
            "--output", str(tmp_path / "controls")]
    code, out, err = run_job(extract_job, argv, capsys)
    assert code == 0, err
    items = dataset.read_items(spark, str(tmp_path / "controls" / "items")).collect()
    assert {r["list"] for r in items} == {"controls"}
    assert sorted(r["name"] for r in items) == uploaded_2022_on
    assert sorted(r["status"] for r in items) == [statuses.OK, statuses.SAMPLED_OUT]
    assert "controls: of 2 requested, 1 sampled out; of the other 1, image knew 1, 1 downloaded" in out


@pytest.mark.parametrize("window, names", [
    (DeletionWindow(uploaded_since=datetime(2022, 6, 1)), ["Undeleted_cover.jpg"]),
    (DeletionWindow(uploaded_until=datetime(2022, 6, 1)), ["Live_photo.jpg"]),
    (DeletionWindow(uploaded_since=datetime(2020, 1, 1), media_types=("DRAWING",)), []),
    (DeletionWindow(uploaded_since=datetime(2020, 1, 1), mimes=("image/jpeg",)), ["Live_photo.jpg", "Undeleted_cover.jpg"]),
])
def test_the_upload_window_and_types_select_the_live_files(spark, sandbox, window, names):
    settings = sandbox_settings(sandbox, catalog__files="live")
    planned = pipeline.planned(spark, settings, [], selection=pipeline.Selection(window=window, window_list="c"))
    assert sorted(r["name"] for r in planned.collect()) == names


@pytest.mark.parametrize("since, until, expected", [
    (2016, 2019, [("Live_photo.jpg", 2018)]), (2010, 2016, [("Undeleted_cover.jpg", 2015)]), (2019, 2030, []),
])
def test_old_versions_are_drawn_by_their_own_upload_time(spark, sandbox, since, until, expected):
    settings = sandbox_settings(sandbox, catalog__files="old")
    window = DeletionWindow(uploaded_since=datetime(since, 1, 1), uploaded_until=datetime(until, 1, 1))
    rows = pipeline.planned(spark, settings, [], selection=pipeline.Selection(window=window, window_list="c")).collect()
    assert sorted((r["name"], r["uploaded_at"].year) for r in rows) == expected


def test_live_files_have_no_deletion_window(sandbox, tmp_path, capsys):
    argv = [*job_sets(sandbox), "--files", "live", "--deleted-since", "2022-01-01", "--output", str(tmp_path / "x")]
    code, out, err = run_job(extract_job, argv, capsys)
    assert code == BadInput.exit_code and err.count("\n") == 1
    assert "has no deletion time" in err and not (tmp_path / "x").exists()


def test_reconcile_removes_controls_suppressed_or_gone_since(spark, sandbox, truth, tmp_path, capsys):
    live_truth = {r["name"]: r for r in truth["controls"]["live"]}
    old_truth = {r["archive_name"]: r for r in truth["controls"]["old"]}
    gone, kept = "Undeleted_cover.jpg", "Live_photo.jpg"
    suppressed = next(r for r in old_truth.values() if not r["storage_key"])
    root = tmp_path / "root"
    root.mkdir(mode=0o700)
    lists = [write_list(tmp_path / "controls.txt", sorted(live_truth))]
    for files, extra in (("live", {}), ("old", {"catalog.versions": "all"})):
        settings = sandbox_settings(sandbox, **{"catalog.files": files, "output.root": str(root), **extra})
        run_extract(spark, settings, lists, str(root / files), out=lambda line: None)
    connection = sandbox.connect_db()
    try:
        with connection.cursor() as cursor:
            # The live file's content is gone from the wiki (its name, and no other file has the
            # sha1), and an old version of the other one is suppressed since.
            cursor.execute("DELETE FROM image WHERE img_name = %s", (gone.encode(),))
            cursor.execute("UPDATE oldimage SET oi_deleted = 8 WHERE oi_archive_name = %s",
                           (suppressed["archive_name"].encode(),))
        argv = [*job_sets(sandbox, **{"output.root": str(root)})]
        code, out, err = run_job(reconcile_job, ["--dry-run", *argv], capsys)
        assert code == 0, err
        assert "2 rows to remove: suppressed 1, undeleted 0, hard_deleted 1" in out
        code, out, err = run_job(reconcile_job, ["--apply", *argv], capsys)
        assert code == 0, err
        live_items = dataset.read_items(spark, str(root / "live" / "items"))
        old_items = dataset.read_items(spark, str(root / "old" / "items"))
        assert {(r["line"], r["status"]) for r in live_items.collect()} == {
            (sorted(live_truth).index(gone) + 1, statuses.REMOVED), (sorted(live_truth).index(kept) + 1, statuses.OK)}
        assert {r["archive_name"] for r in old_items.where(F.col("status") == statuses.OK).collect()} == \
            set(old_truth) - {suppressed["archive_name"]}
        assert old_items.where(F.col("status") == statuses.REMOVED).count() == 1
        code, out, _ = run_job(reconcile_job, ["--dry-run", *argv], capsys)
        assert code == 0 and "0 rows to remove" in out
    finally:
        connection.close()
        sandbox.seed()


def test_controls_and_deleted_files_never_share_a_data_set(spark, sandbox, live, tmp_path):
    lists = [write_list(tmp_path / "covers.txt", ["Foo_bar.jpg"])]
    with pytest.raises(BadInput, match="holds live files, not deleted"):
        run_extract(spark, sandbox_settings(sandbox), lists, live["output"], out=lambda line: None)
