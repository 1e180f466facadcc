"""The catalog join against the real sandbox MariaDB over Spark JDBC, checked against ground truth."""

from __future__ import annotations

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from mediaextract import catalog, list_reader, lists, pipeline, statuses
from mediaextract.config import load_settings
from mediaextract.report import build_report, check_sums
from mediaextract.errors import BadInput, CatalogUnreachable

from ..conftest import sandbox_settings

PLAN_LEVEL = {"invalid_name", "duplicate", "not_in_filearchive", "suppressed", "no_storage_key"}


def expected_plan_status(status: str) -> str:
    return status if status in PLAN_LEVEL else statuses.PENDING


@pytest.fixture(scope="module")
def planned(spark, sandbox, list_paths):
    settings = sandbox_settings(sandbox)
    return pipeline.planned(spark, settings, list_paths).cache()


def test_every_requested_line_has_one_row_with_the_ground_truth_status(spark, planned, truth):
    expected = [(name, row["line"], row["requested_name"], row["name"], expected_plan_status(row["status"]))
                for name, part in truth["lists"].items() for row in part["rows"]]
    actual = planned.select("list", "line", "requested_name", "name", "status")
    expected_df = spark.createDataFrame(expected, actual.schema)
    assert_df_equality(actual, expected_df, ignore_row_order=True, ignore_nullable=True)


def test_found_rows_carry_the_chosen_version(spark, planned, truth):
    expected = [(name, row["line"], row["fa_id"], row["sha1"], row["storage_key"], row["size"], row["versions"])
                for name, part in truth["lists"].items() for row in part["rows"]
                if expected_plan_status(row["status"]) == statuses.PENDING]
    actual = (planned.where(F.col("status") == statuses.PENDING)
              .select("list", "line", "fa_id", "sha1", "storage_key", "size", "versions"))
    assert_df_equality(actual, spark.createDataFrame(expected, actual.schema),
                       ignore_row_order=True, ignore_nullable=True)


def test_names_deleted_more_than_once_count_their_versions(planned, truth):
    several = [(n, r["line"], r["versions"]) for n, p in truth["lists"].items() for r in p["rows"]
               if (r.get("versions") or 0) > 1]
    assert several, "the seed must hold names deleted more than once"
    got = {(r["list"], r["line"]): r["versions"] for r in planned.select("list", "line", "versions").collect()}
    assert all(got[(n, line)] == versions for n, line, versions in several)


def test_suppressed_rows_reveal_nothing_but_their_status(planned):
    leaked = planned.where((F.col("status") == statuses.SUPPRESSED) &
                           (F.col("sha1").isNotNull() | F.col("storage_key").isNotNull() | F.col("fa_id").isNotNull()))
    assert planned.where(F.col("status") == statuses.SUPPRESSED).count() > 0
    assert leaked.count() == 0


def test_counts_per_list_equal_ground_truth(planned, truth):
    from mediaextract.report import build_report

    built = build_report(pipeline.count_rows(planned), "plan")
    for name, part in truth["lists"].items():
        counts = built["lists"][name]
        for key in ("requested", *PLAN_LEVEL, "found", "bytes_found"):
            assert counts[key] == part["counts"][key], (name, key)


def test_all_versions_gives_a_row_per_deleted_version(spark, sandbox, list_paths, truth):
    settings = sandbox_settings(sandbox, catalog__versions="all")
    frame = pipeline.planned(spark, settings, list_paths)
    matched = [r for p in truth["lists"].values() for r in p["rows"] if (r.get("versions") or 0) > 0
               and r["status"] not in ("invalid_name", "duplicate")]
    unmatched = sum(1 for p in truth["lists"].values() for r in p["rows"]
                    if not r.get("versions") or r["status"] in ("invalid_name", "duplicate"))
    assert frame.count() == sum(r["versions"] for r in matched) + unmatched
    # The report counts requested lines and rows (versions included) apart, and its sums hold.
    rows, lines = pipeline.tally(frame, settings)
    built = build_report(rows, "plan", lines=lines)
    for name, part in truth["lists"].items():
        assert built["lists"][name]["requested"] == part["counts"]["requested"]
    assert built["totals"]["rows"] == frame.count() > built["totals"]["requested"]
    assert check_sums(built) == []


def test_snapshot_source_gives_the_same_plan(spark, sandbox, list_paths, planned, tmp_path):
    settings = sandbox_settings(sandbox)
    counts = catalog.write_snapshot(spark, settings, str(tmp_path / "snap"))
    assert counts["filearchive"] > 0
    from_snapshot = pipeline.planned(spark, sandbox_settings(sandbox, catalog__source="snapshot",
                                                            catalog__snapshot=str(tmp_path / "snap")), list_paths)
    assert_df_equality(from_snapshot, planned, ignore_row_order=True, ignore_nullable=True)


def test_a_live_name_says_it_is_a_live_file_not_that_it_was_undeleted(planned):
    # Never deleted and undeleted since look alike in the catalog: the reason claims neither.
    live = planned.where(F.col("name").isin("Undeleted_cover.jpg", "Live_photo.jpg")).collect()
    assert live and all(r["status"] == statuses.NOT_IN_FILEARCHIVE and r["reason"] == catalog.NOT_DELETED_LIVE
                        for r in live)
    others = planned.where((F.col("status") == statuses.NOT_IN_FILEARCHIVE)
                           & ~F.col("name").isin("Undeleted_cover.jpg", "Live_photo.jpg")).collect()
    assert others and all(r["reason"] != catalog.NOT_DELETED_LIVE for r in others)


def test_the_current_version_wins_among_rows_of_the_newest_deletion_before_upload_time(spark):
    # An acceptance corpus had an old version deleted with its file but uploaded (by its
    # timestamp) after the current one: the current version (NULL fa_archive_name) is the file.
    settings = load_settings(overrides={"catalog.versions": "latest"}, environ={})
    filearchive = spark.createDataFrame([
        (1, b"Twice.jpg", None, "key1.jpg", "20240101000000", "20200101000000"),
        (2, b"Twice.jpg", b"20230101000000!Twice.jpg", "key2.jpg", "20240101000000", "20230101000000"),
        (3, b"Twice.jpg", None, "key3.jpg", "20190101000000", "20190101000000"),
    ], "fa_id long, name_bytes binary, archive_name binary, storage_key string, deleted_ts string, uploaded_ts string")
    for column, kind in (("size", "long"), ("width", "int"), ("height", "int"), ("media_type", "string"),
                         ("major_mime", "string"), ("minor_mime", "string"), ("visibility", "int"),
                         ("sha1", "string")):
        filearchive = filearchive.withColumn(column, F.lit(0 if kind != "string" else "x").cast(kind))
    names = spark.createDataFrame([("covers", 1, "Twice.jpg", "Twice.jpg", None, None)], list_reader.LIST_SCHEMA)
    chosen = catalog.resolve(names, filearchive, settings).collect()
    assert [(r["fa_id"], r["versions"], r["archive_name"]) for r in chosen] == [(1, 3, None)]


def test_missing_list_path_is_bad_input(spark, sandbox):
    with pytest.raises(BadInput, match="list path not found"):
        list_reader.read_lists(spark, ["/nonexistent/covers.txt"])


def test_unreachable_catalog_is_exit_3(spark, sandbox, list_paths):
    from ..conftest import free_ports

    settings = sandbox_settings(sandbox, catalog__url=f"jdbc:mysql://127.0.0.1:{free_ports()}/commonswiki",
                                catalog__connect_timeout_s=5)
    with pytest.raises(CatalogUnreachable) as error:
        pipeline.planned(spark, settings, list_paths)
    assert error.value.exit_code == 3
