"""export end to end: a sandbox extraction in all three formats round-trips, names stay safe,
the export is registered, and purge_export takes items out again."""

from __future__ import annotations

import csv
import json
import os
import stat
import tarfile
from datetime import datetime
from pathlib import Path

import pytest
import webdataset as wds
from pyspark.sql import functions as F

from jobs import export as export_job
from mediaextract import cli, dataset, faults, manifest, statuses
from mediaextract.config import load_settings
from mediaextract.dataset import ITEMS_SCHEMA, Paths
from mediaextract.digest import sha1_base36
from mediaextract.errors import BadInput
from mediaextract.export import MANIFEST, MANIFEST_COLUMNS, purge_export, run_export, scan_export
from mediaextract.extract import run_extract
from mediaextract.hadoopfs import HadoopFS

from ..conftest import sandbox_settings

EURO = "\u20ac"
NAME_255 = "Long_title_" + EURO * 78 + "abcdef.jpg"


@pytest.fixture(scope="module")
def extraction(spark, sandbox, list_paths, tmp_path_factory):
    output = str(tmp_path_factory.mktemp("export-source") / "covers")
    run_extract(spark, sandbox_settings(sandbox), list_paths, output, out=lambda line: None)
    items = dataset.read_items(spark, output + "/items")
    ok = items.where(F.col("status") == statuses.OK).select(
        "list", "line", "name", "sha1", "storage_key", "content", "thumbnail", "thumbnail_mime").collect()
    return {"output": output, "settings": sandbox_settings(sandbox),
            "ok": {(r["list"], r["line"]): r for r in ok}}


@pytest.fixture(scope="module")
def exports(spark, extraction, tmp_path_factory):
    """The sandbox extraction exported once in each format (shared by the read-only tests)."""
    root = tmp_path_factory.mktemp("exports")
    made = {}
    for fmt, options in (("tar", {"compress": "gz"}), ("files", {}), ("webdataset", {"shard_size": 2})):
        lines: list[str] = []
        result = run_export(spark, extraction["settings"], extraction["output"], str(root / fmt), fmt,
                            out=lines.append, **options)
        made[fmt] = {"path": root / fmt, "result": result, "lines": lines}
    return made


def read_manifest(root: Path) -> list[dict]:
    with open(root / MANIFEST, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == MANIFEST_COLUMNS
        return list(reader)


def archives(root: Path) -> list[Path]:
    # Hadoop's local file system leaves .<name>.crc checksums beside what it writes.
    return sorted(p for p in root.glob("*.tar*") if not p.name.startswith("."))


def export_contents(root: Path, fmt: str) -> dict[str, bytes]:
    """Return manifest file -> bytes, read back the way a user of each format would."""
    found: dict[str, bytes] = {}
    if fmt == "files":
        for path in root.rglob("*"):
            if path.is_file() and path.name != MANIFEST:
                found[str(path.relative_to(root))] = path.read_bytes()
    elif fmt == "tar":
        for archive in archives(root):
            with tarfile.open(archive) as tar:
                for member in tar.getmembers():
                    found[member.name] = tar.extractfile(member).read()
    else:
        shards = [str(p) for p in archives(root)]
        for sample in wds.WebDataset(shards, shardshuffle=False, empty_check=False):
            shard = Path(sample["__url__"]).name
            extensions = [k for k in sample if not k.startswith("__") and k != "json"]
            assert len(extensions) == 1, sample.keys()
            found[f"{shard}/{sample['__key__']}.{extensions[0]}"] = sample[extensions[0]]
            found[f"{shard}/{sample['__key__']}.json"] = sample["json"]
    return found


@pytest.mark.parametrize("fmt", ["tar", "files", "webdataset"])
def test_every_ok_row_appears_once_with_identical_bytes(exports, extraction, fmt):
    root = exports[fmt]["path"]
    manifest = read_manifest(root)
    contents = export_contents(root, fmt)
    ok = extraction["ok"]
    assert sorted((r["list"], int(r["line"])) for r in manifest) == sorted(ok)
    for row in manifest:
        data = contents[row["file"]]
        source = ok[(row["list"], int(row["line"]))]
        assert data == bytes(source["content"]), row["file"]
        assert sha1_base36(data) == row["sha1"] == source["sha1"]
        assert row["name"] == source["name"] and row["storage_key"] == source["storage_key"]
    media = {k for k in contents if not k.endswith(".json")} if fmt == "webdataset" else set(contents)
    assert media == {r["file"] for r in manifest}, "nothing in the export but the manifest's files"
    assert exports[fmt]["result"]["files"] == {n: sum(1 for k in ok if k[0] == n)
                                               for n in exports[fmt]["result"]["lists"]}


def test_formats_are_laid_out_one_container_per_list(exports, extraction):
    lists = sorted({name for name, _ in extraction["ok"]} | {"out_of_domain"})
    tar_root, files_root, wds_root = (exports[f]["path"] for f in ("tar", "files", "webdataset"))
    assert sorted(p.name for p in tar_root.iterdir()) == sorted([MANIFEST, *[f"{n}.tar.gz" for n in lists]])
    assert sorted(p.name for p in files_root.iterdir() if p.is_dir()) == lists
    # tar members unpack to exactly the files layout
    assert {r["file"] for r in read_manifest(tar_root)} == {r["file"] for r in read_manifest(files_root)}
    shards = sorted(p.name for p in wds_root.glob("*.tar"))
    books = sum(1 for n, _ in extraction["ok"] if n == "books")
    assert [s for s in shards if s.startswith("books-")] == [f"books-{i:06d}.tar" for i in range((books + 1) // 2)]
    with tarfile.open(wds_root / "books-000000.tar") as tar:
        names = tar.getnames()
    assert names == ["books_000000.tif", "books_000000.json", "books_000001.jpg", "books_000001.json"]


def test_webdataset_samples_carry_their_row_without_bytes(exports, extraction):
    shards = sorted(str(p) for p in exports["webdataset"]["path"].glob("*.tar"))
    samples = list(wds.WebDataset(shards, shardshuffle=False, empty_check=False).decode())
    assert len(samples) == len(extraction["ok"])
    for sample in samples:
        meta = sample["json"]
        assert isinstance(meta, dict) and "content" not in meta and "thumbnail" not in meta
        source = extraction["ok"][(meta["list"], meta["line"])]
        assert meta["sha1"] == source["sha1"] and meta["status"] == "ok"
        datetime.fromisoformat(meta["uploaded_at"])


def test_the_255_byte_name_and_unicode_names_survive(exports):
    files_root = exports["files"]["path"]
    assert (files_root / "books" / NAME_255).read_bytes()
    assert (files_root / "books" / "O'Reilly_\"Camel\"_book.jpg").exists()
    assert (files_root / "album_covers" / "Smile_\U0001F600_album.png").exists()


def test_modes_are_0600_and_0700_and_the_export_is_registered(exports, extraction):
    for fmt in ("tar", "files", "webdataset"):
        root = exports[fmt]["path"]
        entries = [root, *root.rglob("*")]
        assert {stat.S_IMODE(p.stat().st_mode) for p in entries if p.is_dir()} == {0o700}
        assert {stat.S_IMODE(p.stat().st_mode) for p in entries if p.is_file()} == {0o600}
        assert not list(root.parent.glob(f"{fmt}.staging-*")), "no staging left behind"
        assert not list(root.parent.glob(f"{fmt}.old")), "no replaced copy left behind"
    # Registered in the registry of the data set's root, one file per copy (see governance.inventory).
    registry = Path(extraction["settings"]["output.root"], "_registry")
    entries = [json.loads(p.read_text()) for p in registry.glob("*.json")]
    registered = {e["path"]: e for e in entries if e["kind"] == "export"}
    for fmt in ("tar", "files", "webdataset"):
        entry = registered[f"file:{exports[fmt]['path']}"]
        assert entry["state"] == "complete" and entry["dataset"] == f"file:{extraction['output']}"
        assert entry["extra"]["format"] == fmt and entry["extra"]["what"] == "originals"
        assert entry["extra"]["lists"] == sorted({"album_covers", "books", "logos", "screenshots", "out_of_domain"})
        datetime.fromisoformat(entry["created"])


def test_thumbnails_export_with_the_format_extension_and_group_modes(spark, extraction, tmp_path):
    settings = extraction["settings"].with_overrides({"output.group_readable": True})
    target = tmp_path / "thumbs"
    result = run_export(spark, settings, extraction["output"], str(target), "files", what="thumbnails",
                        lists=["books,screenshots"], out=lambda line: None)
    manifest = read_manifest(target)
    with_thumbnail = {k: r for k, r in extraction["ok"].items() if k[0] in ("books", "screenshots") and r["thumbnail"]}
    assert sorted((r["list"], int(r["line"])) for r in manifest) == sorted(with_thumbnail)
    # A sound has no thumbnail: it is skipped (counted), never an empty file.
    assert result["skipped"] == sum(1 for k, r in extraction["ok"].items()
                                    if k[0] in ("books", "screenshots") and not r["thumbnail"]) > 0
    for row in manifest:
        source = with_thumbnail[(row["list"], int(row["line"]))]
        assert (target / row["file"]).read_bytes() == bytes(source["thumbnail"])
        assert row["file"].endswith({"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}
                                    [source["thumbnail_mime"]]) or row["file"].lower().endswith(".jpeg")
    assert (target / "books" / "Moby_dick.tif.jpg").exists()
    modes = {p: stat.S_IMODE(p.stat().st_mode) for p in [target, *target.rglob("*")]}
    assert {m for p, m in modes.items() if p.is_dir()} == {0o750}
    assert {m for p, m in modes.items() if p.is_file()} == {0o640}


def test_hadoopfs_replace_moves_a_file_over_another_in_one_step(spark, tmp_path):
    # An edited shard goes over the old one: never deleted first (a kill in between lost it).
    fs = HadoopFS(spark)
    old, new = f"file://{tmp_path}/shard.tar", f"file://{tmp_path}/shard.tar.edit"
    fs.write_text(old, "old", 0o600)
    fs.write_text(new, "new", 0o600)
    fs.replace(new, old)
    assert (tmp_path / "shard.tar").read_text() == "new" and not fs.exists(new)
    assert fs.open_read(old).read() == b"new"  # Hadoop's checksum agrees with the bytes


def test_through_hadoopfs_the_export_is_the_same(spark, exports, extraction, tmp_path):
    target = tmp_path / "via-hadoop"
    run_export(spark, extraction["settings"], extraction["output"], f"file://{target}", "webdataset",
               shard_size=2, out=lambda line: None, hadoop=True)
    local = exports["webdataset"]["path"]
    assert read_manifest(target) == read_manifest(local)
    fs = HadoopFS(spark)
    for shard in sorted(local.glob("*.tar")):
        with tarfile.open(shard) as mine, tarfile.open(target / shard.name) as theirs:
            assert [(m.name, m.size) for m in mine] == [(m.name, m.size) for m in theirs]
            for member in mine.getmembers():
                assert mine.extractfile(member).read() == theirs.extractfile(member.name).read()
        with fs.open_read(f"file://{target / shard.name}") as stream:
            assert stream.read() == (target / shard.name).read_bytes()
    assert {stat.S_IMODE(p.stat().st_mode) for p in target.rglob("*") if p.is_file()} == {0o600}
    # purge through HadoopFS as well: shards streamed in and out over py4j, renamed over
    entry = {"path": f"file://{target}", "format": "webdataset"}
    books = sum(1 for r in read_manifest(target) if r["list"] == "books")
    assert purge_export(fs, entry, lambda row: row["list"] == "books", hadoop=True) == books > 0
    assert [r for r in read_manifest(target) if r["list"] == "books"] == []
    remaining = export_contents(target, "webdataset")
    assert remaining and not any(k.startswith("books-") for k in remaining)
    assert remaining == {k: v for k, v in export_contents(local, "webdataset").items() if not k.startswith("books-")}
    assert {stat.S_IMODE(p.stat().st_mode) for p in target.glob("*.tar")} == {0o600}


def test_a_re_export_replaces_the_export_and_its_entry(spark, extraction, tmp_path):
    target = tmp_path / "again"
    settings = extraction["settings"]
    run_export(spark, settings, extraction["output"], str(target), "tar", out=lambda line: None)
    run_export(spark, settings, extraction["output"], str(target), "tar", lists=["logos"], out=lambda line: None)
    assert sorted(p.name for p in target.iterdir()) == sorted([MANIFEST, "logos.tar"])
    registry = Path(settings["output.root"], "_registry")
    entries = [json.loads(p.read_text()) for p in registry.glob("*.json")]
    mine = [e for e in entries if e["path"] == f"file:{target}"]
    assert len(mine) == 1 and mine[0]["extra"]["lists"] == ["logos"] and mine[0]["state"] == "complete"
    assert {stat.S_IMODE(p.stat().st_mode) for p in registry.glob("*.json")} == {0o600}


def test_refuses_what_it_must_not_overwrite_or_cannot_find(spark, extraction, tmp_path):
    settings = extraction["settings"]
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(BadInput, match="not an earlier export"):
        run_export(spark, settings, extraction["output"], str(precious), "files", out=lambda line: None)
    assert (precious / "thesis.tex").read_text() == "years of work"
    with pytest.raises(BadInput, match="no list nope"):
        run_export(spark, settings, extraction["output"], str(tmp_path / "x"), "files", lists=["nope"])
    with pytest.raises(BadInput, match="not to files"):
        run_export(spark, settings, extraction["output"], str(tmp_path / "x"), "files", compress="gz")
    with pytest.raises(BadInput, match="overwrite the data set"):
        run_export(spark, settings, extraction["output"], extraction["output"] + "/items/x", "files")
    with pytest.raises(BadInput, match="not a complete data set"):
        run_export(spark, settings, str(tmp_path / "missing"), str(tmp_path / "x"), "files")
    assert not (tmp_path / "x").exists()


def test_the_job_entry_point_exports_and_reports_bad_arguments(spark, extraction, tmp_path, capsys):
    target = tmp_path / "cli"
    argv = [extraction["output"], "--to", str(target), "--format", "tar", "--compress", "bz2", "--lists", "logos",
            "--set", f"output.root={extraction['settings']['output.root']}"]
    assert cli.run(export_job.main, argv) == 0
    assert sorted(p.name for p in target.iterdir()) == sorted([MANIFEST, "logos.tar.bz2"])
    assert "exported" in capsys.readouterr().out
    assert cli.run(export_job.main, [extraction["output"], "--to", str(tmp_path / "y"), "--format", "zip"]) == 2
    assert "invalid choice" in capsys.readouterr().err


# --- awkward names, written as a data set of their own ------------------------------------------

AWKWARD = ["../../etc/passwd.jpg", NAME_255, "Foo_bar.jpg", "Foo_Bar.jpg", "FOO_BAR.JPG", ".htaccess", "Foo_bar.jpg"]


def small_data_set(spark, root: Path, rows_by_list: dict[str, list[tuple[str, str]]],
                   content_of=lambda list_name, line, name: f"{list_name}:{line}:{name}".encode() * 50) -> Path:
    """Write a data set whose lists hold (name, status) rows, in line order; ok rows get content."""
    rows = []
    for list_name, named in rows_by_list.items():
        for line, (name, status) in enumerate(named, start=1):
            values = {c: None for c in ITEMS_SCHEMA.fieldNames()}
            values.update(list=list_name, line=line, requested_name=name, name=name, status=status)
            if status == "ok":
                content = content_of(list_name, line, name)
                values.update(fa_id=line, sha1=sha1_base36(content), storage_key=f"key{line}.jpg",
                              size=len(content), content=content, uploaded_at=datetime(2020, 1, line))
            rows.append(tuple(values[c] for c in ITEMS_SCHEMA.fieldNames()))
    spark.createDataFrame(rows, ITEMS_SCHEMA).write.partitionBy("list").parquet(str(root / "items"))
    (root / "_metadata.json").write_text(json.dumps({"exports": []}))
    (root / "_SUCCESS").write_text("")
    return root


@pytest.fixture(scope="module")
def awkward(spark, tmp_path_factory):
    """A small data set whose names are as hostile as names get, over several partitions."""
    return small_data_set(spark, tmp_path_factory.mktemp("awkward") / "set",
                          {"awkward": [(name, "ok") for name in AWKWARD], "Awkward": [("a.png", "ok")]},
                          lambda list_name, line, name: (f"{list_name}:{line}:".encode() * 200)[:1000 + line])


def test_hostile_names_export_safely_in_line_order_across_partitions(spark, awkward, tmp_path):
    # the run's temporary directory is the root: the data set and the exports lie under it
    settings = load_settings(None, overrides={"output.root": str(tmp_path.parent)}, environ={})
    target = tmp_path / "files"
    run_export(spark, settings, str(awkward), str(target), "files", out=lambda line: None, partition_bytes=2500)
    expected = ["___.._etc_passwd.jpg", NAME_255, "Foo_bar.jpg", "Foo_Bar~2.jpg", "FOO_BAR~3.JPG", "_htaccess",
                "Foo_bar~4.jpg"]
    manifest = read_manifest(target)
    assert [r["file"] for r in manifest] == ["Awkward/a.png", *[f"awkward~2/{n}" for n in expected]]
    assert [int(r["line"]) for r in manifest] == [1, *range(1, 8)]
    resolved_root = target.resolve()
    for path in target.rglob("*"):
        assert resolved_root in path.resolve().parents
        assert len(path.name.encode()) <= 255
    assert not (tmp_path / "etc").exists()
    assert os.path.getmtime(target / "Awkward" / "a.png") == datetime(2020, 1, 1).timestamp()
    tar_target = tmp_path / "tar"
    run_export(spark, settings, str(awkward), str(tar_target), "tar", out=lambda line: None, partition_bytes=2500)
    with tarfile.open(tar_target / "awkward~2.tar") as tar:
        assert tar.getnames() == [f"awkward~2/{n}" for n in expected]
        tar.extractall(tmp_path / "unpacked", filter="data")
    assert sorted(p.name for p in (tmp_path / "unpacked" / "awkward~2").iterdir()) == sorted(expected)


# --- purge_export -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt, options", [("files", {}), ("tar", {"compress": "gz"}),
                                          ("webdataset", {"shard_size": 2})])
def test_purge_removes_matching_items_and_nothing_else_and_is_idempotent(spark, extraction, tmp_path, fmt, options):
    target = tmp_path / fmt
    entry = run_export(spark, extraction["settings"], extraction["output"], str(target), fmt,
                       out=lambda line: None, **options)
    before_manifest = read_manifest(target)
    before = export_contents(target, fmt)
    gone = {"Emma.jpg", "Foo_bar.jpg"}  # Foo_bar.jpg is in three lists

    def matches(row: dict) -> bool:
        assert set(row) == set(MANIFEST_COLUMNS) and all(isinstance(v, str) for v in row.values())
        return row["name"] in gone

    fs = HadoopFS(spark)
    expected = sum(1 for r in before_manifest if r["name"] in gone)
    assert expected == 4
    assert scan_export(fs, entry, matches) == expected
    assert read_manifest(target) == before_manifest, "a dry run removes nothing"
    assert purge_export(fs, entry, matches) == expected
    after_manifest = read_manifest(target)
    assert after_manifest == [r for r in before_manifest if r["name"] not in gone]
    after = export_contents(target, fmt)
    removed_files = {r["file"] for r in before_manifest if r["name"] in gone}
    if fmt == "webdataset":
        removed_files |= {f.rsplit(".", 1)[0] + ".json" for f in removed_files}
    assert after == {k: v for k, v in before.items() if k not in removed_files}
    assert purge_export(fs, entry, matches) == 0
    assert scan_export(fs, entry, matches) == 0
    assert read_manifest(target) == after_manifest
    for path in [target, *target.rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600)
    assert not list(target.rglob("*.purging"))


def test_purge_of_an_export_that_is_gone_removes_nothing(spark, tmp_path):
    entry = {"path": f"file:{tmp_path / 'never'}", "format": "tar", "what": "originals", "lists": []}
    assert purge_export(HadoopFS(spark), entry, lambda row: True) == 0


# --- what a spreadsheet or Windows makes of names -----------------------------------------------

FORMULA_NAMES = ["=HYPERLINK(1).jpg", "-2.jpg", "Back\\slash.jpg", "'Til.jpg"]


@pytest.mark.parametrize("fmt", ["files", "webdataset"])
def test_manifest_cells_are_formula_safe_names_windows_safe_and_empty_lists_said(spark, tmp_path, fmt):
    data_set = small_data_set(spark, tmp_path / "set", {
        "formulas": [(name, "ok") for name in FORMULA_NAMES],
        "one": [("Only.jpg", "ok")],
        "empty": [("Gone.jpg", "not_in_filearchive")]})
    settings = load_settings(None, overrides={"output.root": str(tmp_path)}, environ={})
    target = tmp_path / fmt
    lines: list[str] = []
    entry = run_export(spark, settings, str(data_set), str(target), fmt, out=lines.append)

    with open(target / MANIFEST, newline="", encoding="utf-8") as handle:
        written = {r["line"]: r["name"] for r in csv.DictReader(handle) if r["list"] == "formulas"}
    assert written == {"1": "'=HYPERLINK(1).jpg", "2": "'-2.jpg", "3": "Back\\slash.jpg", "4": "''Til.jpg"}
    with open(target / MANIFEST, "rb") as raw:
        assert [row["name"] for row, _ in manifest.read(raw) if row["list"] == "formulas"] == FORMULA_NAMES
    if fmt == "files":
        assert sorted(p.name for p in (target / "formulas").iterdir() if not p.name.startswith(".")) == \
            sorted(["=HYPERLINK(1).jpg", "-2.jpg", "Back_slash.jpg", "'Til.jpg"])
        assert "  empty: 0 files (no ok row with content): left empty" in lines
    else:
        assert "  empty: 0 files (no ok row with content): no shard written" in lines
    assert "  one: 1 file" in lines and "  formulas: 4 files" in lines and lines[-1].startswith("exported 5 files to")

    fs = HadoopFS(spark)
    assert purge_export(fs, entry, lambda row: row["name"] in {"-2.jpg", "'Til.jpg"}) == 2
    with open(target / MANIFEST, "rb") as raw:
        assert sorted(row["name"] for row, _ in manifest.read(raw)) == ["=HYPERLINK(1).jpg", "Back\\slash.jpg", "Only.jpg"]


def test_an_extract_swapping_items_while_an_export_reads_them_restarts_the_export(spark, tmp_path):
    # An extract of the same data set holds the root shared, as an export does: its finish may
    # swap items/ after the export planned its read and before the rows come. Found by the
    # torture run (seed 46: the export died on a vanished file). The export reads the new items.
    settings = load_settings(None, overrides={"output.root": str(tmp_path)}, environ={})
    root = small_data_set(spark, tmp_path / "set", {"covers": [("A.jpg", "ok"), ("B.jpg", "ok")]})
    fs = HadoopFS(spark)
    paths = Paths(str(root))
    newer = small_data_set(spark, tmp_path / "newer", {"covers": [("A.jpg", "ok"), ("B.jpg", "ok"), ("C.jpg", "ok")]})
    lines: list[str] = []
    # items/ listed, staging made, no row read yet: the extract finishes now
    faults.call_at("export.staging", lambda: dataset.replace_items(
        spark, fs, paths, dataset.read_items(spark, str(newer / "items")), "t46"))
    result = run_export(spark, settings, str(root), str(tmp_path / "out"), "files", out=lines.append)
    assert lines[0].startswith(f"export {root}: 3 ok rows")
    assert result["files"] == {"covers": 3}
    assert sorted(r["name"] for r in read_manifest(tmp_path / "out")) == ["A.jpg", "B.jpg", "C.jpg"]
    assert not [p for p in tmp_path.iterdir() if ".staging-" in p.name]
