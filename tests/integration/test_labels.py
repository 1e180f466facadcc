"""What a deletion model learns from: deletion reason and description (`comment`, hidden by
fa_deleted & 2) and live duplicates (`image` by sha1), equal to the ground truth for every seeded
row, read by the keys the planned rows need only, and counted per list in the reports."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from mediaextract import catalog, dataset, labels, report, statuses
from mediaextract.extract import run_extract

from ..conftest import sandbox_settings

LABELS = ("deleted_reason", "description", "live_duplicate_of")


def truth_rows(truth) -> list[dict]:
    return [{"list": name, **row} for name, part in truth["lists"].items() for row in part["rows"]]


class GeneralLog:
    """The statements the sandbox's MariaDB ran while open (its general log, as a table)."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.statements: list[str] = []

    def __enter__(self):
        self._run("TRUNCATE TABLE mysql.general_log", "SET GLOBAL log_output = 'TABLE'", "SET GLOBAL general_log = 1")
        return self

    def __exit__(self, *exc):
        self._run("SET GLOBAL general_log = 0")
        conn = self.sandbox.connect_db()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT argument FROM mysql.general_log WHERE command_type IN ('Query', 'Execute')")
                self.statements = [bytes(r[0]).decode("utf-8", "replace") if isinstance(r[0], (bytes, bytearray))
                                   else str(r[0]) for r in cur.fetchall()]
        finally:
            conn.close()
        self._run("TRUNCATE TABLE mysql.general_log")

    def _run(self, *statements: str) -> None:
        conn = self.sandbox.connect_db()
        try:
            with conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
        finally:
            conn.close()


@pytest.fixture(scope="module")
def labelled(spark, sandbox, list_paths, tmp_path_factory):
    output = str(tmp_path_factory.mktemp("labels") / "covers")
    with GeneralLog(sandbox) as log:
        built = run_extract(spark, sandbox_settings(sandbox, catalog__lookup_batch=4), list_paths, output,
                            out=lambda line: None)
    return {"output": output, "report": built, "statements": log.statements,
            "items": dataset.read_items(spark, output + "/items").cache()}


def test_every_row_carries_the_ground_truths_labels(spark, labelled, truth):
    got = labelled["items"].select("list", "line", *LABELS)
    expected = spark.createDataFrame([(r["list"], r["line"], *[r[c] for c in LABELS]) for r in truth_rows(truth)],
                                     got.schema)
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    # The seed has each kind: a reason, an empty one, a description with a newline, a live duplicate.
    values = {c: {r[c] for r in truth_rows(truth)} for c in LABELS}
    assert "" in values["deleted_reason"] and any(v and "\n" in v for v in values["description"])
    assert values["live_duplicate_of"] - {None}


def test_hidden_comments_stay_null_and_the_reason_says_so(labelled, truth):
    hidden = [r for r in labelled["items"].where(F.col("reason") == catalog.COMMENT_HIDDEN).collect()]
    assert hidden and all(r["status"] == statuses.OK for r in hidden)
    assert all(r["deleted_reason"] is None and r["description"] is None for r in hidden)
    # Every other found row of the truth has its reason text (an empty one included).
    shown = {(r["list"], r["line"]) for r in truth_rows(truth) if r["deleted_reason"] is not None}
    assert not shown & {(r["list"], r["line"]) for r in hidden}


def test_no_user_or_actor_column_ever(labelled):
    assert not [c for c in labelled["items"].columns if re.search(r"user|actor", c)]


def test_comment_and_image_are_read_by_the_keys_the_rows_need_only(labelled, sandbox):
    # Spark asks for the schema first (WHERE 1=0: no row); every other read names its keys.
    statements = [s for s in labelled["statements"] if "WHERE 1=0" not in s]
    on_comment = [s for s in statements if re.search(r"\bFROM\s+`?comment`?\b", s, re.I)]
    on_image = [s for s in statements if re.search(r"\bFROM\s+`?image`?\b", s, re.I) and "img_sha1 IN" in s]
    assert on_comment and on_image
    # One query per batch of at most catalog.lookup_batch (4) keys, each an IN (...) of literals.
    assert all(re.search(r"WHERE\s*\(?comment_id IN \(\d+(, \d+){0,3}\)", s) for s in on_comment), on_comment
    assert all(re.search(r"WHERE img_sha1 IN \('[0-9a-z]+'(, '[0-9a-z]+'){0,3}\)", s) for s in on_image), on_image
    conn = sandbox.connect_db()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM comment")
            in_table = cur.fetchone()[0]
    finally:
        conn.close()
    asked = [int(i) for s in on_comment for i in re.findall(r"\d+", s.split(" IN ", 1)[1])]
    # Each key asked once (distinct before the lookups, the lookups' result read once), and only
    # the keys some row needs: fewer than the table holds.
    assert len(asked) == len(set(asked)) and len(asked) < in_table
    sha1s = [k for s in on_image for k in re.findall(r"'([0-9a-z]+)'", s.split(" IN ", 1)[1])]
    assert len(sha1s) == len(set(sha1s))


def test_the_label_keys_never_reach_the_driver(spark, sandbox, list_paths, monkeypatch):
    """attach brings no row to the driver (its keys grow with the names): every way a frame or an
    RDD hands rows to the driver fails while it builds the labelled frame, which is then right."""
    from pyspark import RDD

    from mediaextract import pipeline

    settings = sandbox_settings(sandbox)
    unlabelled = pipeline.planned(spark, settings, list_paths[:1]).persist()
    expected = {r["line"]: r["deleted_reason"] for r in unlabelled.collect()}

    def to_the_driver(*args, **kwargs):
        raise AssertionError("labels.attach brought rows to the driver")

    with monkeypatch.context() as spy:
        # Spark 4's DataFrame is an interface: the methods are its classic implementation's.
        for kind, methods in ((type(unlabelled), ("collect", "first", "head", "take", "tail", "toLocalIterator",
                                           "toPandas", "count")),
                              (RDD, ("collect", "first", "take", "toLocalIterator", "count"))):
            for method in methods:
                spy.setattr(kind, method, to_the_driver)
        labelled = labels.attach(spark, settings, unlabelled)
    got = {r["line"]: r for r in labelled.collect()}
    assert set(got) == set(expected) and all(v is None for v in expected.values())
    assert any(r["deleted_reason"] for r in got.values()) and any(r["live_duplicate_of"] for r in got.values())
    unlabelled.unpersist()


def test_a_catalog_gone_when_the_labels_are_looked_up_is_one_line(spark, sandbox, list_paths, tmp_path):
    """The lookups' tasks reach the catalog themselves: one that cannot gives the driver the
    catalog's one-line error (exit 3), not a Spark failure that reads as a bug."""
    from mediaextract import catalog_client, pipeline
    from mediaextract.errors import EXIT_CATALOG_UNREACHABLE, CatalogUnreachable

    from ..conftest import free_ports

    unlabelled = pipeline.planned(spark, sandbox_settings(sandbox), list_paths[:1]).persist()
    database = catalog.parse_jdbc_url(sandbox_settings(sandbox)["catalog.url"]).database
    port = free_ports()  # nothing listens there
    gone = sandbox_settings(sandbox, catalog__url=f"jdbc:mysql://127.0.0.1:{port}/{database}")
    labelled = labels.attach(spark, gone, unlabelled)  # builds the plan only: nothing asked yet
    with pytest.raises(CatalogUnreachable) as caught:
        with catalog_client.tasks_reaching_the_catalog():
            labelled.write.parquet(str(tmp_path / "planned"))
    message = str(caught.value)
    assert caught.value.exit_code == EXIT_CATALOG_UNREACHABLE
    assert message.startswith(f"catalog 127.0.0.1:{port}/{database} unreachable: ") and "\n" not in message
    unlabelled.unpersist()


def test_reports_count_live_duplicates_and_deletion_reasons_per_list(labelled, truth):
    built = labelled["report"]
    for name in truth["lists"]:
        rows = [r for r in truth_rows(truth) if r["list"] == name]
        counts = built["lists"][name]
        live = sum(1 for r in rows if r["status"] == statuses.OK and r["live_duplicate_of"])
        assert counts[report.LIVE_DUPLICATES] == live
        found = [r for r in rows if r["fa_id"] is not None]
        expected: dict[str, int] = {}
        for r in found:
            key = r["deleted_reason"] or report.NO_REASON
            expected[key] = expected.get(key, 0) + 1
        assert counts[report.DELETED_REASONS] == expected, name
    on_disk = json.loads(Path(labelled["output"], "report.json").read_text())
    assert on_disk["lists"] == json.loads(json.dumps(built["lists"]))
    covers = built["lists"]["album_covers"]
    assert covers[report.LIVE_DUPLICATES] == 1
    assert "1 of them still live" in report.sentence("album_covers", covers, "extract", 1)
    html = Path(labelled["output"], "report.html").read_text()
    assert 'data-reasons="album_covers"' in html and 'data-live-duplicates="1"' in html
    assert "Duplicate of [[File:Live_photo.jpg]]" in html


def test_without_labels_the_columns_stay_null_and_nothing_is_asked(spark, sandbox, list_paths, tmp_path):
    output = str(tmp_path / "covers")
    with GeneralLog(sandbox) as log:
        run_extract(spark, sandbox_settings(sandbox, catalog__labels=False), list_paths[:1], output,
                    out=lambda line: None)
    items = dataset.read_items(spark, output + "/items")
    assert items.where(F.col("deleted_reason").isNotNull() | F.col("description").isNotNull()
                       | F.col("live_duplicate_of").isNotNull()).count() == 0
    assert not [s for s in log.statements if re.search(r"\bFROM\s+`?comment`?\b", s, re.I)]


def test_a_snapshot_source_gives_live_duplicates_and_no_comments(spark, sandbox, list_paths, truth, tmp_path):
    settings = sandbox_settings(sandbox)
    catalog.write_snapshot(spark, settings, str(tmp_path / "snap"))
    output = str(tmp_path / "covers")
    chosen = [p for p in list_paths if Path(p).stem == "album_covers"]
    run_extract(spark, sandbox_settings(sandbox, catalog__source="snapshot", catalog__snapshot=str(tmp_path / "snap")),
                chosen, output, out=lambda line: None)
    got = dataset.read_items(spark, output + "/items").select("list", "line", *LABELS)
    expected = spark.createDataFrame(
        [(r["list"], r["line"], None, None, r["live_duplicate_of"]) for r in truth_rows(truth)
         if r["list"] == "album_covers"], got.schema)
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    assert got.where(F.col("live_duplicate_of").isNotNull()).count() == 1
