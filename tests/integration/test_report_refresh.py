"""refresh_reports: after a purge turned rows into `removed`, report.json, report.txt and report.html
are counted again from items, agree with each other and name none of the removed files."""

from __future__ import annotations

import io
import json
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from chispa import assert_df_equality
from PIL import Image
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType

from mediaextract import dataset, pipeline, report, report_html, statuses
from mediaextract.hadoopfs import HadoopFS

GONE = ("Secret_one.jpg", "Secret_two.jpg")
REMOVAL = {"at": "2026-11-21T22:00:40Z", "rows": 2, "reason": "legal request", "request": "T-12345",
           "run": "0fda96196758"}
REMOVED_REASON = "removed by a legal request"
FETCHED = datetime(2026, 11, 20, 12, 0, 0)


def items_schema() -> StructType:
    """Return ITEMS_SCHEMA with requested_name nullable, as a removed row needs it."""
    return StructType([StructField(f.name, f.dataType, True if f.name == "requested_name" else f.nullable)
                       for f in dataset.ITEMS_SCHEMA.fields])


def _thumbnail(colour) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (120, 90), colour).save(out, "JPEG")
    return out.getvalue()


def item(list_name: str, line: int, name: str | None, status: str, size: int | None = None) -> tuple:
    """Return one items row in ITEM_COLUMNS order; ok rows have content and a thumbnail."""
    values = dict.fromkeys(dataset.ITEM_COLUMNS)
    values.update({"list": list_name, "line": line, "requested_name": name, "name": name, "status": status})
    if status == statuses.REMOVED:
        values.update({"requested_name": None, "reason": REMOVED_REASON})
        return tuple(values[c] for c in dataset.ITEM_COLUMNS)
    if status in (statuses.OK, statuses.NOT_IN_STORAGE):
        values.update({"fa_id": line, "sha1": f"{line:040x}", "storage_key": f"key-{line}", "size": size,
                       "width": 400, "height": 300, "media_type": "BITMAP", "mime": "image/jpeg",
                       "fetched_at": FETCHED, "attempts": 1})
    if status == statuses.OK:
        values.update({"content": b"x" * size, "thumbnail": _thumbnail((line * 20 % 255, 80, 160)),
                       "thumbnail_mime": "image/jpeg", "thumbnail_width": 120, "thumbnail_height": 90})
    if status == statuses.NOT_IN_FILEARCHIVE:
        values["requested_name"], values["reason"] = name, "no deleted file has this name"
    return tuple(values[c] for c in dataset.ITEM_COLUMNS)


def before() -> list[tuple]:
    return [item("covers", 1, GONE[0], statuses.OK, 1000), item("covers", 2, "Kept_one.jpg", statuses.OK, 2000),
            item("covers", 3, GONE[1], statuses.OK, 3000), item("covers", 4, "Lost.jpg", statuses.NOT_IN_STORAGE, 50),
            item("covers", 5, "Nowhere.jpg", statuses.NOT_IN_FILEARCHIVE),
            item("logos", 1, "Logo.png", statuses.OK, 500)]


def after() -> list[tuple]:
    """Return the rows of before() as a purge of GONE leaves them: list and line, nothing else."""
    return [item(r[0], r[1], None, statuses.REMOVED) if r[2] in GONE else r for r in before()]


def write_items(spark, rows: list[tuple], path: str) -> None:
    spark.createDataFrame(rows, items_schema()).write.mode("overwrite").partitionBy("list").parquet(path)


class CountsTable(HTMLParser):
    """Reads #counts: {list or "*total*": {data-key: cell text}}."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.rows: dict[str, dict[str, str]] = {}
        self._row = self._cell = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "tr" and ("data-list" in attributes or "data-total" in attributes):
            self._row = attributes.get("data-list", "*total*")
            self.rows[self._row] = {}
        elif tag == "td" and self._row is not None:
            self._cell = attributes["data-key"]
            self.rows[self._row][self._cell] = ""

    def handle_endtag(self, tag):
        if tag == "td":
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self.rows[self._row][self._cell] += data


@pytest.fixture
def purged(spark, tmp_path) -> tuple[Path, dict]:
    """Return a data set whose reports describe before() while its items are after(), and the old report."""
    root = tmp_path / "covers_ds"
    fs = HadoopFS(spark)
    write_items(spark, before(), str(root / "items"))
    items = dataset.read_items(spark, str(root / "items"))
    old = report.build_report(pipeline.count_rows(items), "extract", connections=3,
                              extra={"created": "2026-11-20T12:00:00+00:00", "output": f"file:{root}",
                                     "settings": {"storage": {"secret_key": "***"}}})
    pipeline.write_report(fs, str(root), old, 0o640)
    pipeline.write_report_html(spark, fs, str(root), old, items, 0o600)
    assert all(name in (root / "report.html").read_text() for name in GONE)  # the page showed them
    write_items(spark, after(), str(root / "items"))
    return root, old


def test_refreshed_reports_agree_with_items_and_name_no_removed_file(spark, purged):
    root, old = purged
    fs = HadoopFS(spark)
    items = dataset.read_items(spark, str(root / "items"))
    removed = items.where(F.col("status") == statuses.REMOVED)
    expected = spark.createDataFrame([r for r in after() if r[4] == statuses.REMOVED], items_schema())
    assert_df_equality(removed, expected.select(*dataset.ITEM_COLUMNS), ignore_nullable=True,
                       ignore_row_order=True)

    built, problem = pipeline.refresh_reports(spark, fs, str(root), [REMOVAL])

    assert problem is None
    written = json.loads((root / "report.json").read_text())
    assert written == json.loads(json.dumps(built))
    recount = report.build_report(pipeline.count_rows(items), "extract", connections=3, removals=[REMOVAL],
                                  labels=pipeline.count_labels(items))
    assert (written["lists"], written["totals"]) == (recount["lists"], recount["totals"])
    covers, was = written["lists"]["covers"], old["lists"]["covers"]
    assert covers["requested"] == was["requested"] == 5
    assert (covers["ok"], covers["removed"]) == (was["ok"] - 2, was["removed"] + 2) == (1, 2)
    assert covers["found"] == was["found"] - 2 and covers["bytes_ok"] == 2000
    assert written["totals"]["requested"] == old["totals"]["requested"] == 6
    assert report.check_sums(written) == []
    assert {k: written[k] for k in ("kind", "connections", "created", "output", "settings")} == \
        {k: old[k] for k in ("kind", "connections", "created", "output", "settings")}
    assert written["removals"] == [{k: REMOVAL[k] for k in ("at", "rows", "reason", "request")}]

    text = (root / "report.txt").read_text()
    assert "2026-11-21T22:00:40Z: 2 rows removed (legal request, request T-12345)" in text.splitlines()
    assert "covers: of 5 requested, filearchive knew 2, 1 downloaded (2.0 kB); 2 removed by legal request." in text

    html = (root / "report.html").read_text()
    table = CountsTable(html).rows
    columns = report_html.status_columns(written["totals"])
    assert "removed" in columns and set(table) == {*written["lists"], "*total*"}
    for name, counts in [*written["lists"].items(), ("*total*", written["totals"])]:
        assert {k: int(table[name][k]) for k in columns} == {k: counts[k] for k in columns}, name
        assert table[name]["bytes_ok"] == report.human_bytes(counts["bytes_ok"]), name
    assert 'id="removals"' in html and "T-12345" in html

    for path in ("report.json", "report.txt", "report.html"):
        content = (root / path).read_text()
        assert not [name for name in GONE if name in content], path
        assert "Secret" not in content, path
    modes = {p: (root / p).stat().st_mode & 0o777 for p in ("report.json", "report.txt", "report.html")}
    assert modes == {"report.json": 0o640, "report.txt": 0o640, "report.html": 0o600}


def test_a_page_that_cannot_be_drawn_is_deleted_not_left_with_old_counts(spark, purged, monkeypatch):
    root, _ = purged

    def broken(*args, **kwargs):
        raise RuntimeError("no canvas")

    monkeypatch.setattr(report_html, "render", broken)
    built, problem = pipeline.refresh_reports(spark, HadoopFS(spark), str(root), [REMOVAL], file_mode=0o600)
    assert not (root / "report.html").exists()
    assert problem is not None and "report.html could not be drawn again (RuntimeError)" in problem
    assert json.loads((root / "report.json").read_text())["totals"]["removed"] == built["totals"]["removed"] == 2
    assert {(root / p).stat().st_mode & 0o777 for p in ("report.json", "report.txt")} == {0o600}
