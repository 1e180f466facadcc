"""Originals over output.blob_bytes: kept in blobs/ in chunks, and every command that reads or
removes content covers them (extract, a re-run, export, purge, expire), on the sandbox.

The seed's originals are small, so the threshold is lowered to 50 kB: seven of them (a 512 kB
TIFF, a 462 kB PNG, JPEGs of 60-256 kB, two held by several lists) go to blobs/ in 10 kB chunks.
"""

from __future__ import annotations

import csv
import json
import shutil
import tarfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from mediaextract import dataset, export, rows, statuses
from mediaextract.config import load_settings
from mediaextract.digest import sha1_base36
from mediaextract.extract import run_extract
from mediaextract.governance import expire, purge as purging, rules

from ..conftest import sandbox_settings

# Chunks no multiple of tarfile's 16 kB reads: a tar export meets reads across chunk boundaries.
BLOB_BYTES, CHUNK_BYTES = 50_000, 10_000
# Unique content, a JPEG (its entropy data is stored literally: a byte scan can find it).
PURGED = "Screenshot_big.jpg"
# One content under three lists' rows: stored once.
SHARED = "Foo_bar.jpg"


def settings_for(sandbox, root: Path, **extra):
    return sandbox_settings(sandbox, output__root=str(root), output__blob_bytes=BLOB_BYTES,
                            output__blob_chunk_bytes=CHUNK_BYTES, fetch__batch_rows=10, **extra)


@pytest.fixture(scope="module")
def pristine(spark, sandbox, list_paths, tmp_path_factory):
    root = tmp_path_factory.mktemp("blobs") / "root"
    lines: list[str] = []
    built = run_extract(spark, settings_for(sandbox, root), list_paths, str(root / "ds"), out=lines.append)
    items = [r.asDict() for r in dataset.read_items(spark, str(root / "ds" / "items")).collect()]
    return {"root": root, "report": built, "lines": lines, "items": items}


@pytest.fixture
def root(pristine, tmp_path) -> Path:
    copy = tmp_path / "root"
    shutil.copytree(pristine["root"], copy, symlinks=True)
    for entry in (copy / "_registry").glob("*.json"):
        entry.write_text(entry.read_text().replace(f"file:{pristine['root']}", f"file:{copy}"))
        (entry.parent / f".{entry.name}.crc").unlink(missing_ok=True)
    return copy


def originals(spark, data_set: Path) -> dict[str, bytes]:
    """Return each original of blobs/ put together from its chunks; fail on a chunk missing or doubled."""
    chunks = spark.read.parquet(str(data_set / "blobs")).collect()
    by_sha1: dict[str, dict[int, bytes]] = {}
    for row in chunks:
        assert row["chunk"] not in by_sha1.setdefault(row["sha1"], {}), "a chunk stored twice"
        by_sha1[row["sha1"]][row["chunk"]] = bytes(row["bytes"])
    assert all(sorted(parts) == list(range(len(parts))) for parts in by_sha1.values()), "a chunk missing"
    return {sha1: b"".join(parts[i] for i in range(len(parts))) for sha1, parts in by_sha1.items()}


def rows_per_group(data_set: Path) -> set[int]:
    """Return the row counts of the row groups of blobs/ (one chunk each, for readers that skip by sha1)."""
    import pyarrow.parquet as pq

    metadata = [pq.ParquetFile(part).metadata for part in (data_set / "blobs").glob("*.parquet")]
    return {m.row_group(g).num_rows for m in metadata for g in range(m.num_row_groups)}


def in_blobs(items) -> list[dict]:
    return [r for r in items if r["content_in"] == rows.CONTENT_IN_BLOBS]


def signatures(data: bytes, count: int = 8, width: int = 64) -> list[bytes]:
    middle = len(data) // 2
    return [data[middle + k * 257: middle + k * 257 + width] for k in range(-count // 2, count // 2)]


def traces(root: Path, data: bytes) -> list[str]:
    """Return the files under root holding any signature of data."""
    needles = signatures(data)
    return sorted(str(p) for p in root.rglob("*") if p.is_file() and any(n in p.read_bytes() for n in needles))


def test_every_line_keeps_the_status_the_ground_truth_gives(spark, pristine, truth):
    expected = [(n, r["line"], r["status"]) for n, p in truth["lists"].items() for r in p["rows"]]
    actual = spark.createDataFrame([(r["list"], r["line"], r["status"]) for r in pristine["items"]],
                                   "list string, line int, status string")
    assert_df_equality(actual, spark.createDataFrame(expected, actual.schema), ignore_row_order=True)


def test_originals_over_the_threshold_are_in_blobs_each_once_and_whole(spark, pristine):
    ok = [r for r in pristine["items"] if r["status"] == statuses.OK]
    large = in_blobs(ok)
    assert {r["name"] for r in large} >= {PURGED, SHARED, "Moby_dick.tif", "Emblem.png"}
    assert all(r["size"] > BLOB_BYTES and r["content"] is None for r in large)
    small = [r for r in ok if r not in large]
    assert small and all(r["size"] <= BLOB_BYTES and r["content_in"] == rows.CONTENT_INLINE
                         and sha1_base36(bytes(r["content"])) == r["sha1"] for r in small)
    stored = originals(spark, pristine["root"] / "ds")
    assert set(stored) == {r["sha1"] for r in large}, "each original once, whatever rows hold it"
    assert len([r for r in large if r["name"] == SHARED]) == 3
    for row in large:
        assert sha1_base36(stored[row["sha1"]]) == row["sha1"] and len(stored[row["sha1"]]) == row["size"]
    assert "7 originals over output.blob_bytes are kept in blobs/" in report_text(pristine["root"] / "ds")
    assert rows_per_group(pristine["root"] / "ds") == {1}, "a row group per chunk"
    assert pristine["report"]["originals_in_blobs"] == len(stored) == 7


def test_byte_columns_carry_no_statistics_and_sha1_does(spark, tmp_path):
    # Parquet holds a copy of each column chunk's min and max until the file closes: for chunks
    # of bytes that ran a 1 GB JVM out of heap with 2 GB originals (dataset.BYTES_WRITE_OPTIONS).
    # Values of 100 bytes: Parquet's footer keeps min/max only for values under 4 kB, so only
    # small ones show whether statistics were gathered.
    import pyarrow.parquet as pq

    from mediaextract.hadoopfs import HadoopFS

    fs, paths, small = HadoopFS(spark), dataset.Paths(str(tmp_path / "ds")), b"x" * 100
    item = {**dict.fromkeys(rows.FETCHED_COLUMNS), "list": "covers", "line": 1, "status": statuses.OK,
            "name": "A.jpg", "sha1": "s1", "content_in": rows.CONTENT_IN_BLOBS, "thumbnail": small}
    chunk = {**dict.fromkeys(rows.FETCHED_COLUMNS), "list": rows.BLOB_LIST, "line": 0, "status": statuses.OK,
             "sha1": "s1", "chunk": 0, "content": small}
    batch = spark.createDataFrame([tuple(r[c] for c in rows.FETCHED_COLUMNS) for r in (item, chunk)],
                                  dataset.FETCHED_SCHEMA)
    dataset.write_batch(fs, batch, paths.batch("r1", 0))
    final = dataset.read_items(spark, paths.batch("r1", 0)).where(dataset.is_item())
    assert dataset.replace_blobs(spark, fs, paths, final, "r1") == 1
    dataset.replace_items(spark, fs, paths, final, "r1")
    checked = {"bytes": 0, "content": 0, "thumbnail": 0, "sha1": 0}
    for part in (tmp_path / "ds").rglob("*.parquet"):
        metadata = pq.ParquetFile(part).metadata
        for group in range(metadata.num_row_groups):
            for index in range(metadata.num_columns):
                column = metadata.row_group(group).column(index)
                name, stats = column.path_in_schema, column.statistics
                if name in dataset.BYTE_COLUMNS:
                    assert stats is None or not stats.has_min_max, (part, name)
                    values = pq.ParquetFile(part).read_row_group(group, columns=[name]).column(0)
                    checked[name] += values.null_count < len(values)  # all null: no min/max anyway
                elif name == "sha1" and stats is not None and stats.null_count < column.num_values:
                    assert stats.has_min_max and stats.min == "s1", (part, name)
                    checked[name] += 1
    assert all(checked.values()), checked


def report_text(data_set: Path) -> str:
    return (data_set / "report.txt").read_text()


def test_thumbnails_of_large_originals_are_those_of_the_ground_truth(pristine, truth):
    expected = {(n, r["line"]): r["thumbnail"] for n, p in truth["lists"].items() for r in p["rows"]
                if r["status"] == "ok"}
    large = in_blobs(pristine["items"])
    got = {(r["list"], r["line"]): (r["thumbnail_status"], r["thumbnail_mime"], r["thumbnail_width"],
                                    r["thumbnail_height"]) for r in large}
    assert got and got == {key: (expected[key]["status"], expected[key]["mime"] or got[key][1],
                                 expected[key]["width"], expected[key]["height"]) for key in got}


def test_a_rerun_fetches_nothing_and_keeps_blobs_as_they_were(spark, sandbox, list_paths, pristine, root):
    before = originals(spark, root / "ds")
    lines: list[str] = []
    run_extract(spark, settings_for(sandbox, root), list_paths, str(root / "ds"), out=lines.append)
    ok = sum(1 for r in pristine["items"] if r["status"] == statuses.OK)
    assert any(f"({ok} done by earlier runs)" in line for line in lines), lines
    assert originals(spark, root / "ds") == before
    after = dataset.read_items(spark, str(root / "ds" / "items"))
    assert after.where(F.col("content_in") == rows.CONTENT_IN_BLOBS).count() == len(in_blobs(pristine["items"]))
    assert not list((root / "ds").glob("blobs.*")), "no staging or old copy left"


def test_export_streams_large_originals_and_checks_them(spark, pristine, root):
    plain = load_settings(overrides={"output.root": str(root)}, environ={})
    exported = export.run_export(spark, plain, str(root / "ds"), str(root / "exports" / "files"), "files",
                                 out=lambda line: None)
    ok = [r for r in pristine["items"] if r["status"] == statuses.OK and r["content_in"]]
    assert sum(exported["files"].values()) == len(ok) and exported["skipped"] == 0
    with open(root / "exports" / "files" / "manifest.csv", encoding="utf-8", newline="") as manifest:
        files = [row["file"] for row in csv.DictReader(manifest)]
    hashes = sorted(sha1_base36((root / "exports" / "files" / f).read_bytes()) for f in files)
    assert hashes == sorted(r["sha1"] for r in ok)
    export.run_export(spark, plain, str(root / "ds"), str(root / "exports" / "tars"), "tar", out=lambda line: None)
    members = []
    for archive in sorted((root / "exports" / "tars").glob("*.tar")):
        with tarfile.open(archive) as tar:
            members += [sha1_base36(tar.extractfile(m).read()) for m in tar.getmembers() if m.isfile()]
    assert sorted(members) == sorted(r["sha1"] for r in ok)

    # One byte of one chunk changed behind the data set's back: the export refuses it (exit 1).
    blobs = spark.read.parquet(str(root / "ds" / "blobs"))
    flip = F.udf(lambda data: bytes([data[0] ^ 1]) + bytes(data[1:]), "binary")
    victim = next(r["sha1"] for r in in_blobs(pristine["items"]) if r["name"] == "Moby_dick.tif")
    damaged = blobs.withColumn("bytes", F.when((F.col("sha1") == victim) & (F.col("chunk") == 3), flip("bytes"))
                               .otherwise(F.col("bytes")))
    damaged.write.parquet(str(root / "ds" / "blobs.damaged"))
    shutil.rmtree(root / "ds" / "blobs")
    (root / "ds" / "blobs.damaged").rename(root / "ds" / "blobs")
    with pytest.raises(export.CorruptDataSet, match="books line 2 .Moby_dick.tif.: stored bytes do not match"):
        export.run_export(spark, plain, str(root / "ds"), str(root / "exports" / "tar"), "tar", lists=["books"],
                          out=lambda line: None)
    assert not (root / "exports" / "tar").exists() and not list((root / "exports").glob("tar.*"))


def test_a_purge_by_name_takes_the_chunks_and_leaves_no_trace(spark, pristine, root):
    stored = originals(spark, root / "ds")
    sha1s = {r["name"]: r["sha1"] for r in in_blobs(pristine["items"])}
    for name in (PURGED, SHARED):
        assert traces(root, stored[sha1s[name]]), f"{name}: the scan finds its bytes before the purge"
    result = purging.purge(spark, load_settings(overrides={"output.root": str(root)}, environ={}),
                           rules.Selector(names=frozenset({PURGED, SHARED})), "T-blobs", out=lambda line: None)
    chunks = sum(-(-len(stored[sha1s[n]]) // CHUNK_BYTES) for n in (PURGED, SHARED))
    assert [n for path, n in result.tables.items() if path.endswith("/ds/blobs")] == [chunks], "each chunk once"
    left = originals(spark, root / "ds")
    assert set(left) == set(stored) - {sha1s[PURGED], sha1s[SHARED]}
    assert all(left[s] == stored[s] for s in left), "the others are untouched"
    assert rows_per_group(root / "ds") == {1}, "the rewrite keeps a row group per chunk"
    for name in (PURGED, SHARED):
        assert traces(root, stored[sha1s[name]]) == [], f"{name}: its bytes are nowhere under the root"
    items = dataset.read_items(spark, str(root / "ds" / "items"))
    assert "5 originals over output.blob_bytes are kept in blobs/" in report_text(root / "ds"), "recounted"
    lines = sum(1 for r in pristine["items"] if r["name"] in (PURGED, SHARED))
    assert items.where(F.col("status") == statuses.REMOVED).count() == lines, "every line naming them"


def test_a_killed_purge_leaves_chunks_the_next_purge_takes(spark, pristine, root):
    """A purge that rewrote items/ and died before blobs/ leaves chunks no row keeps: any later
    purge (whatever it asks for) takes them, and its re-scan finds nothing."""
    stored = originals(spark, root / "ds")
    victim = next(r for r in in_blobs(pristine["items"]) if r["name"] == PURGED)
    plain = load_settings(overrides={"output.root": str(root)}, environ={})
    items = dataset.read_items(spark, str(root / "ds" / "items"))
    # items/ as that purge left it: the rows of the file removed, blobs/ not yet rewritten.
    from mediaextract.governance import matching
    ids = matching.Identifiers(spark, rules.Selector(names=frozenset({PURGED})))
    matching.without_matches(items, ids).write.partitionBy("list").parquet(str(root / "ds" / "items.new"))
    shutil.rmtree(root / "ds" / "items")
    (root / "ds" / "items.new").rename(root / "ds" / "items")
    assert victim["sha1"] in originals(spark, root / "ds")
    purging.purge(spark, plain, rules.Selector(names=frozenset({"No_such_file.jpg"})), "T-later", out=lambda line: None)
    assert set(originals(spark, root / "ds")) == set(stored) - {victim["sha1"]}
    assert traces(root, stored[victim["sha1"]]) == []


def test_expire_deletes_blobs_with_their_data_set(spark, pristine, root):
    stored = originals(spark, root / "ds")
    created = datetime.fromisoformat(json.loads((root / "ds" / "_metadata.json").read_text())["created"])
    plain = load_settings(overrides={"output.root": str(root)}, environ={})
    result = expire.expire(spark, plain, [str(root)], now=created + timedelta(days=400), out=lambda line: None)
    assert [Path(p).name for p in result.deleted] == ["ds"]
    assert not (root / "ds").exists()
    assert all(traces(root, data) == [] for data in stored.values())
