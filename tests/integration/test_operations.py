"""Operations on the sandbox: deletion windows, sampling, the scheduled wrapper."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import datetime, timezone

import pytest
from pyspark.sql import functions as F

from jobs import scheduled
from mediaextract import cli, pipeline, statuses
from mediaextract.catalog import DeletionWindow
from mediaextract.errors import BadInput
from mediaextract.report import build_report
from mediaextract.sampling import SampleSpec

from ..conftest import free_ports, sandbox_settings

UTC = timezone.utc
Q1_2022 = DeletionWindow(datetime(2022, 1, 1, tzinfo=UTC), datetime(2022, 4, 1, tzinfo=UTC))


def names_deleted_in_q1_2022(sandbox) -> set[str]:
    with sandbox.connect_db() as db, db.cursor() as cursor:
        cursor.execute("SELECT DISTINCT fa_name FROM filearchive WHERE fa_deleted_timestamp >= %s "
                       "AND fa_deleted_timestamp < %s", ("20220101000000", "20220401000000"))
        return {row[0].decode() for row in cursor.fetchall()}


def test_a_deletion_window_is_a_list_of_its_own(spark, sandbox):
    expected = names_deleted_in_q1_2022(sandbox)
    assert expected, "the seed must hold deletions in 2022-Q1"
    frame = pipeline.planned(spark, sandbox_settings(sandbox), [], selection=pipeline.Selection(window=Q1_2022))
    assert {r["name"] for r in frame.collect()} == expected
    assert {r["list"] for r in frame.collect()} == {"deleted"}


def test_a_window_with_lists_keeps_only_names_deleted_in_it(spark, sandbox, list_paths):
    inside = names_deleted_in_q1_2022(sandbox)
    frame = pipeline.planned(spark, sandbox_settings(sandbox), list_paths, selection=pipeline.Selection(window=Q1_2022))
    outside = frame.where(F.col("reason").startswith("no deletion in the selected window")).collect()
    assert outside and all(r["name"] not in inside and r["status"] == statuses.NOT_IN_FILEARCHIVE for r in outside)
    in_play = frame.where(F.col("status") == statuses.PENDING).collect()
    assert in_play and all(r["name"] in inside for r in in_play)


def test_a_media_type_selects_among_named_lists_without_a_window(spark, sandbox, list_paths):
    with sandbox.connect_db() as db, db.cursor() as cursor:
        cursor.execute("SELECT DISTINCT fa_name FROM filearchive WHERE fa_media_type = 'OFFICE'")
        offices = {row[0].decode() for row in cursor.fetchall()}
    assert offices, "the seed must hold a deleted OFFICE file"
    args = cli.job_parser("plan", "").parse_args(["--media-type", "OFFICE", *list_paths])
    selection = cli.selection_from_args(args)
    frame = pipeline.planned(spark, sandbox_settings(sandbox), list_paths, selection=selection)
    in_play = frame.where(F.col("status") == statuses.PENDING).collect()
    assert in_play and {r["media_type"].upper() for r in in_play} == {"OFFICE"}
    left = frame.where(F.col("reason") == "no deletion in the selected window (media type OFFICE)").collect()
    assert left and all(r["status"] == statuses.NOT_IN_FILEARCHIVE and r["name"] not in offices for r in left)
    # Alone, with no list and no dates, a media type would select every deleted drawing: refused.
    with pytest.raises(BadInput, match="--media-type and --mime select among named lists"):
        cli.selection_from_args(cli.job_parser("plan", "").parse_args(["--media-type", "DRAWING"]))


def test_sampling_is_the_same_across_partition_counts_and_plan_counts_it(spark, sandbox, list_paths):
    selection = pipeline.Selection(samples=(SampleSpec("books", count=4), SampleSpec("logos", fraction=0.5)), seed=11)
    picks = []
    for partitions in (1, 3):
        spark.conf.set("spark.sql.shuffle.partitions", str(partitions + 1))
        frame = pipeline.planned(spark, sandbox_settings(sandbox, catalog__partitions=partitions), list_paths,
                                 selection=selection)
        picks.append(sorted((r["list"], r["line"]) for r in frame.where(F.col("status") != "sampled_out").collect()))
        counts = build_report(pipeline.count_rows(frame), "plan")["lists"]
    spark.conf.set("spark.sql.shuffle.partitions", "4")
    assert picks[0] == picks[1]
    books = counts["books"]
    assert books["requested"] - books["invalid_name"] - books["duplicate"] - books["sampled_out"] == 4
    assert counts["logos"]["sampled_out"] > 0 and counts["album_covers"]["sampled_out"] == 0


def run_scheduled(sandbox, root, *extra, **overrides):
    pairs = {**sandbox.settings(), "catalog.partitions": 2, **overrides}
    argv = ["--nominal-time", "2022-04-01T00:00Z", "--frequency", "quarterly", "--output-root", str(root),
            *[a for k, v in pairs.items() for a in ("--set", f"{k}={v}")], *extra]
    return cli.run(scheduled.main, argv)


def test_scheduler_runs_a_period_once_recovers_stale_locks_refuses_overlaps_and_flags_failures(
        spark, sandbox, tmp_path, capsys):
    root = tmp_path / "scheduled"
    locks = root / "_locks"
    locks.mkdir(parents=True)
    lock = locks / "snapshot=2022-Q1.lock"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": gone.pid,
                                "started": datetime.now(UTC).isoformat()}))

    assert run_scheduled(sandbox, root) == 0                       # a stale lock is recovered
    output = root / "snapshot=2022-Q1"
    assert (output / "_SUCCESS").exists() and not lock.exists()
    report = json.loads((output / "report.json").read_text())
    assert report["totals"]["requested"] == len(names_deleted_in_q1_2022(sandbox))

    stamp = (output / "report.json").stat().st_mtime_ns
    capsys.readouterr()
    assert run_scheduled(sandbox, root) == 0                       # a done period: no work
    assert "already done" in capsys.readouterr().out
    assert (output / "report.json").stat().st_mtime_ns == stamp

    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                                "started": datetime.now(UTC).isoformat()}))
    assert run_scheduled(sandbox, root, "--force") == 6           # another run holds the period
    assert "another run holds" in capsys.readouterr().err
    lock.unlink()

    dead = f"jdbc:mysql://127.0.0.1:{free_ports()}/commonswiki"
    assert run_scheduled(sandbox, root, "--force", **{"catalog.url": dead}) == 3
    assert (output / "_FAILED").read_text().startswith("catalog 127.0.0.1:")
    assert not lock.exists()
