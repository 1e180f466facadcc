"""sha1_hex beside MediaWiki's base-36 sha1: computed in the executors where sha1 enters the rows
(the catalog), equal to the ground truth, filled in when a data set written before the column existed
resumes, and null in every row a legal request removed."""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from mediaextract import audit, catalog, dataset, pipeline, statuses
from mediaextract.config import load_settings
from mediaextract.dataset import ITEMS_SCHEMA
from mediaextract.digest import base36_to_hex, hex_to_base36, sha1_base36, storage_key_for
from mediaextract.extract import _mark_removed, run_extract
from mediaextract.governance import purge as purging
from mediaextract.governance import rules

from ..conftest import sandbox_settings


def test_the_spark_expression_is_the_plain_function(spark):
    rng = random.Random(16)
    hexes = [f"{rng.getrandbits(rng.choice([1, 63, 64, 65, 128, 159, 160])):040x}" for _ in range(300)]
    values = [hex_to_base36(h) for h in hexes] + [
        None, "", " ", "0" * 31, "1", "z" * 31, "z" * 32, "ABC", "abc-def", hex_to_base36("f" * 40)]
    frame = spark.createDataFrame([(v,) for v in values], "sha1 string")
    got = frame.select("sha1", catalog.sha1_hex_column(F.col("sha1")).alias("sha1_hex"))
    expected = spark.createDataFrame([(v, base36_to_hex(v)) for v in values], got.schema)
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    assert sum(1 for v in values if base36_to_hex(v) is None) == 7  # the bad ones are null, not garbage


def test_the_deleted_zone_key_expression_is_the_plain_function(spark):
    # A hidden old version's key (catalog.deleted_zone_key) follows digest.storage_key_for.
    sha1 = sha1_base36(b"x")
    names = ["A.JPEG", "b.jpg", "c.tiff", "d.Ogv", "noext", ".htaccess", "e.tar.gz", "f.", "g.j\u212ag", "h.p_g",
             "i.MPEG", "k.htm", "Caf\u00e9.png"]
    frame = spark.createDataFrame([(n,) for n in names], "name string")
    got = frame.select("name", catalog.deleted_zone_key(F.lit(sha1), F.col("name")).alias("key"))
    expected = spark.createDataFrame([(n, storage_key_for(b"x", n)) for n in names], got.schema)
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    assert frame.select(catalog.deleted_zone_key(F.lit(""), F.col("name"))).first()[0] is None


def test_planned_rows_carry_the_ground_truths_sha1_hex(spark, sandbox, list_paths, truth):
    planned = pipeline.planned(spark, sandbox_settings(sandbox), list_paths)
    got = planned.select("list", "line", "sha1", "sha1_hex")
    expected = spark.createDataFrame(
        [(name, r["line"], r["sha1"], r["sha1_hex"]) for name, part in truth["lists"].items() for r in part["rows"]],
        got.schema)
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    # no_storage_key rows have sha1 "" (as MediaWiki writes it) and no sha1_hex
    lost = planned.where(F.col("status") == statuses.NO_STORAGE_KEY).select("sha1", "sha1_hex").collect()
    assert lost and all(r["sha1"] == "" and r["sha1_hex"] is None for r in lost)


@pytest.fixture(scope="module")
def old_data_set(spark, sandbox, list_paths, tmp_path_factory) -> dict:
    """A data set as an extract before sha1_hex wrote it: its items/ have no such column."""
    output = tmp_path_factory.mktemp("old-data-set") / "covers"
    chosen = [p for p in list_paths if Path(p).stem == "album_covers"]
    run_extract(spark, sandbox_settings(sandbox), chosen, str(output), out=lambda line: None)
    items, older = output / "items", output / "items-older"
    spark.read.parquet(str(items)).drop("sha1_hex").write.partitionBy("list").parquet(str(older))
    before = {(r["list"], r["line"]): r["fetched_at"] for r in
              spark.read.parquet(str(older)).where(F.col("status") == statuses.OK).collect()}
    os.rename(items, output / "items-new")
    os.rename(older, items)
    assert "sha1_hex" not in spark.read.parquet(str(items)).columns
    return {"output": output, "lists": chosen, "fetched_at": before}


def test_an_old_data_set_resumes_and_gains_sha1_hex_without_fetching_again(spark, sandbox, old_data_set, truth):
    part = truth["lists"]["album_covers"]
    old = dataset.read_items(spark, str(old_data_set["output"] / "items"))
    assert old.where(F.col("sha1_hex").isNotNull()).count() == 0  # read as null by the contract's schema

    lines: list[str] = []
    run_extract(spark, sandbox_settings(sandbox), old_data_set["lists"], str(old_data_set["output"]),
                out=lines.append)
    retried = part["counts"]["not_in_storage"] + part["counts"]["checksum_mismatch"]
    assert lines[0].split(": ", 1)[1].startswith(f"{part['counts']['requested']} requested, {retried} to fetch")
    items = dataset.read_items(spark, str(old_data_set["output"] / "items"))
    got = {(r["list"], r["line"]): r["sha1_hex"] for r in items.collect()}
    assert got == {("album_covers", r["line"]): r["sha1_hex"] for r in part["rows"]}
    ok = {(r["list"], r["line"]): r["fetched_at"] for r in items.where(F.col("status") == statuses.OK).collect()}
    assert ok and ok == old_data_set["fetched_at"], "ok rows are reused, not fetched again"


def _items(spark, rows: list[dict]):
    values = [tuple(row.get(c) for c in ITEMS_SCHEMA.fieldNames()) for row in rows]
    return spark.createDataFrame(values, ITEMS_SCHEMA)


def _ok_row(line: int, name: str, content: bytes) -> dict:
    return {"list": "covers", "line": line, "requested_name": name, "name": name, "status": statuses.OK,
            "fa_id": line, "sha1": sha1_base36(content), "sha1_hex": hashlib.sha1(content).hexdigest(),
            "storage_key": f"key{line}.jpg", "size": len(content), "content": content}


ROWS = [_ok_row(1, "Gone.jpg", b"gone" * 100), _ok_row(2, "Kept.jpg", b"kept" * 100),
        _ok_row(3, "Gone_again.jpg", b"gone" * 100)]
GONE_HEX = hashlib.sha1(b"gone" * 100).hexdigest()


def test_a_purge_by_sha1_in_hex_nulls_sha1_hex_in_the_rows_it_removes(spark, tmp_path):
    root = tmp_path / "root"
    data_set = root / "covers"
    _items(spark, ROWS).write.partitionBy("list").parquet(str(data_set / "items"))
    (data_set / "_metadata.json").write_text(json.dumps({"removals": []}))
    (data_set / "_SUCCESS").write_text("")
    selector = rules.Selector(sha1s=rules.parse_sha1s(f"{GONE_HEX}\n".encode()))
    settings = load_settings(overrides={"output.root": str(root)}, environ={})
    result = purging.purge(spark, settings, selector, "T-hex", out=lambda line: None)
    assert result.rows == 2
    after = {r["line"]: r for r in dataset.read_items(spark, str(data_set / "items")).collect()}
    assert [after[line]["status"] for line in (1, 2, 3)] == [statuses.REMOVED, statuses.OK, statuses.REMOVED]
    assert after[1]["sha1_hex"] is None and after[3]["sha1_hex"] is None and after[1]["sha1"] is None
    assert after[2]["sha1_hex"] == ROWS[1]["sha1_hex"]


def test_an_extract_marks_removed_rows_without_their_sha1_hex(spark):
    salt = b"salt"
    blocked = [(salt, {"sha1": frozenset({audit.salted_hash(salt, "sha1", ROWS[0]["sha1"])})})]
    marked = {r["line"]: r for r in _mark_removed(_items(spark, ROWS), blocked).collect()}
    assert [marked[line]["status"] for line in (1, 2, 3)] == [statuses.REMOVED, statuses.OK, statuses.REMOVED]
    assert [marked[line]["sha1_hex"] for line in (1, 2, 3)] == [None, ROWS[1]["sha1_hex"], None]
