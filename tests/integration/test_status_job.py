"""The status job on a data set made by extract: counts from items, removals, expiry, exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from jobs import status as status_job
from mediaextract import cli, dataset, export
from mediaextract.extract import run_extract
from mediaextract.hadoopfs import HadoopFS

from ..conftest import sandbox_settings

LIST = "album_covers"
REMOVAL = {"at": "2026-07-01T00:00:00Z", "rows": 1, "reason": "legal request", "request": "T-77", "run": "r1"}


@pytest.fixture(scope="module")
def made(spark, sandbox, list_paths, tmp_path_factory):
    """A data set of one list, one export of it, and a removal in its metadata."""
    root = tmp_path_factory.mktemp("status") / "root"
    settings = sandbox_settings(sandbox, output__root=str(root))
    run_extract(spark, settings, [p for p in list_paths if Path(p).stem == LIST], str(root / "covers"),
                out=lambda line: None)
    export.run_export(spark, settings, str(root / "covers"), str(root / "covers-files"), "files",
                      out=lambda line: None)
    dataset.add_removal(HadoopFS(spark), dataset.Paths(str(root / "covers")), REMOVAL)
    return root


def run_status(root: Path, capsys, *extra) -> tuple[int, str, str]:
    code = cli.run(status_job.main, [str(root / "covers"), "--set", f"output.root={root}", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_is_one_object_with_counts_from_items_removals_expiry_and_exports(spark, made, capsys):
    code, out, _ = run_status(made, capsys, "--json")
    assert code == 0
    assert out.count("\n") == 1
    found = json.loads(out)
    assert (found["exit_code"], found["meaning"]) == (0, "done")
    assert found["dataset"] == f"file:{made / 'covers'}"
    # Every nonzero count of the dict is a (list, status) group of items, and nothing else is.
    counted = spark.createDataFrame(
        [(name, status, counts[status]) for name, counts in found["lists"].items()
         for status in ("ok", "invalid_name", "duplicate", "sampled_out", "not_in_filearchive", "suppressed",
                        "no_storage_key", "not_in_storage", "checksum_mismatch", "too_large", "fetch_failed",
                        "removed") if counts[status]],
        "list string, status string, count long")
    items = dataset.read_items(spark, str(made / "covers" / "items")).groupBy("list", "status").count()
    assert_df_equality(counted, items, ignore_row_order=True, ignore_nullable=True)
    assert found["totals"]["requested"] == items.agg(F.sum("count")).first()[0]
    assert found["removals"] == [{k: REMOVAL[k] for k in ("at", "rows", "reason", "request")}]
    metadata = json.loads((made / "covers" / "_metadata.json").read_text())
    assert (found["expires"], found["expiry"], found["created"]) == (
        metadata["expires"].replace("Z", "+00:00"), "current", metadata["created"])
    assert [(e["path"], e["format"], e["what"], e["state"]) for e in found["exports"]] == [
        (f"file:{made / 'covers-files'}", "files", "originals", "complete")]


def test_the_text_has_the_table_the_removal_the_expiry_and_the_export(made, capsys):
    code, out, _ = run_status(made, capsys)
    assert code == 0
    lines = out.splitlines()
    metadata = json.loads((made / "covers" / "_metadata.json").read_text())
    assert lines[0].startswith(f"file:{made / 'covers'}: created {metadata['created']}, expires ")
    assert any(line.startswith(f"{LIST}: of ") for line in lines)
    assert "2026-07-01T00:00:00Z: 1 row removed (legal request, request T-77)" in lines
    assert lines[-2:] == ["Exports: 1 registered export", lines[-1]]
    assert lines[-1].startswith(f"  file:{made / 'covers-files'}: files, originals, {LIST}; made ")


@pytest.mark.parametrize("broken", ["empty directory", "no _SUCCESS"])
def test_a_directory_that_is_not_a_complete_data_set_is_exit_2_in_one_line(made, tmp_path, capsys, broken):
    target = tmp_path / "covers"
    target.mkdir()
    if broken == "no _SUCCESS":
        (target / "_metadata.json").write_text((made / "covers" / "_metadata.json").read_text())
    code = cli.run(status_job.main, [str(target), "--set", f"output.root={tmp_path}"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.splitlines() == [
        line for line in captured.err.splitlines() if line.startswith("mediaextract: error: ")]
    assert len(captured.err.splitlines()) == 1 and "is not a complete data set" in captured.err

    code = cli.run(status_job.main, [str(target), "--json", "--set", f"output.root={tmp_path}"])
    failure = json.loads(capsys.readouterr().out)
    assert code == 2 and failure["exit_code"] == 2 and "is not a complete data set" in failure["error"]
