"""report.html in a real browser: Debian's Chromium, headless, opens the page extract wrote for the
sandbox; it renders (a screenshot with content), logs nothing to the console, and its table holds
the numbers of report.json."""

from __future__ import annotations

import json
import re
import shutil
import stat
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image
from pyspark.sql import functions as F

from jobs import report as report_job
from mediaextract import cli, dataset, report_html, statuses
from mediaextract.extract import run_extract

from ..conftest import sandbox_settings

# How python.md says Chromium runs here: no sandbox as root, nothing reaching out at start.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--enable-logging=stderr", "--v=0")
# Console messages (errors, CSP refusals, uncaught exceptions) as Chromium logs them on stderr:
# [pid:tid:time:INFO:CONSOLE:1] "Uncaught ReferenceError: ...", source: file:///... (1)
CONSOLE = re.compile(r":CONSOLE[(:]")


def chromium(*args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    """Run Debian's Chromium headless with a new empty profile; fail (not skip) when it is missing."""
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("chromium is not installed: run `make install` (scripts/bootstrap.sh installs "
                    "Debian's chromium package) and run the tests again")
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        return subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout)


def console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if CONSOLE.search(line)]


class CountsTable(HTMLParser):
    """Reads #counts (rows by data-list / data-total, cells by data-key) and the page's images."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.rows: dict[str, dict[str, dict]] = {}
        self.images: list[dict] = []
        self.sheets: dict[str, list[str]] = {}
        self._row = self._cell = self._sheet = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and ("data-list" in a or "data-total" in a):
            self._row = a.get("data-list", "*total*")
            self.rows[self._row] = {}
        elif tag == "td" and self._row is not None:
            self._cell = {"text": "", **a}
            self.rows[self._row][a["data-key"]] = self._cell
        elif tag == "section" and "data-list" in a:
            self._sheet = a["data-list"]
            self.sheets[self._sheet] = []
        elif tag == "img":
            self.images.append(a)
            if self._sheet is not None:
                self.sheets[self._sheet].append(a["alt"])

    def handle_endtag(self, tag):
        if tag == "td":
            self._cell = None
        elif tag == "tr":
            self._row = None
        elif tag == "section":
            self._sheet = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data


@pytest.fixture(scope="module")
def extraction(spark, sandbox, list_paths, tmp_path_factory):
    output = Path(tmp_path_factory.mktemp("report-source") / "covers")
    run_extract(spark, sandbox_settings(sandbox), list_paths, str(output), out=lambda line: None)
    return {"output": output, "report": json.loads((output / "report.json").read_text()),
            "items": dataset.read_items(spark, str(output / "items"))}


@pytest.fixture(scope="module")
def rendered(extraction, tmp_path_factory):
    """The page as Chromium saw it: a screenshot, the DOM after loading, and what it logged."""
    page = (extraction["output"] / "report.html").as_uri()
    shots = tmp_path_factory.mktemp("screenshots")
    screenshot = shots / "report.png"
    shot = chromium(f"--screenshot={screenshot}", "--window-size=1280,3600", page)
    dom = chromium("--dump-dom", page)
    return {"screenshot": screenshot, "shot": shot, "dom": dom}


def test_chromium_is_installed():
    assert shutil.which("chromium"), ("chromium is not installed: run `make install` (scripts/bootstrap.sh "
                                      "installs Debian's chromium package) and run the tests again")


def test_without_chromium_the_tests_fail_and_do_not_skip(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match="chromium is not installed: run `make install`"):
        chromium("--version")


def test_the_browser_renders_the_page(rendered):
    assert rendered["shot"].returncode == 0, rendered["shot"].stderr[-2000:]
    image = Image.open(rendered["screenshot"]).convert("RGB")
    assert image.size == (1280, 3600)
    colours = image.getcolors(1 << 24)
    white = sum(n for n, rgb in colours if min(rgb) >= 250)
    # Charts and thumbnails make thousands of colours; a blank or error page has a handful.
    assert len(colours) > 1000, len(colours)
    assert 0.05 < 1 - white / (image.width * image.height) < 0.95
    # The counts table sits at the top: dark text on the left of the first screen.
    top = image.crop((0, 0, 1280, 400)).convert("L")
    assert sum(1 for v in top.getdata() if v < 100) > 2000


def test_the_page_logs_nothing_to_the_console(rendered):
    for run in (rendered["shot"], rendered["dom"]):
        assert run.returncode == 0
        assert console_messages(run.stderr) == []


def test_console_errors_would_be_seen(tmp_path):
    # The check above is only worth something if a broken page fails it.
    broken = tmp_path / "broken.html"
    broken.write_text('<!DOCTYPE html><meta http-equiv="Content-Security-Policy" content="img-src data:">'
                      "<p>x</p><img src=\"http://127.0.0.1:9/x.png\"><script>not_defined()</script>")
    messages = console_messages(chromium("--dump-dom", broken.as_uri()).stderr)
    assert any("Uncaught ReferenceError" in m for m in messages)
    assert any("Content Security Policy" in m for m in messages)


def test_every_number_in_the_table_equals_report_json(rendered, extraction):
    report = extraction["report"]
    table = CountsTable(rendered["dom"].stdout)
    assert set(table.rows) == {*report["lists"], "*total*"}
    keys = report_html.status_columns(report["totals"])
    assert len(keys) == 13
    for name, counts in [*report["lists"].items(), ("*total*", report["totals"])]:
        cells = table.rows[name]
        for key in keys:
            assert int(cells[key]["text"]) == counts[key], (name, key)
        assert int(cells["bytes_ok"]["data-bytes"]) == counts["bytes_ok"]
        assert cells["bytes_ok"]["text"] == report_html.human_bytes(counts["bytes_ok"])


def test_images_are_inline_and_the_contact_sheets_are_the_seeded_sample(rendered, extraction):
    table = CountsTable(rendered["dom"].stdout)
    assert table.images and all(img["src"].startswith("data:image/") for img in table.images)
    assert sum(1 for img in table.images if img.get("class") == "chart") == 3
    rows = (extraction["items"].where((F.col("status") == statuses.OK) & F.col("thumbnail").isNotNull())
            .select("list", "line", "name").collect())
    for name in extraction["report"]["lists"]:
        mine = [r for r in rows if r["list"] == name]
        chosen = sorted(mine, key=lambda r: report_html.sample_order_key(r["list"], r["line"], r["name"]))
        expected = [r["name"] for r in sorted(chosen[:report_html.SAMPLE_PER_LIST], key=lambda r: r["line"])]
        assert table.sheets[name] == expected


def test_the_report_job_writes_the_same_page_again_with_the_data_sets_modes(extraction):
    page = extraction["output"] / "report.html"
    written = page.read_bytes()
    assert stat.S_IMODE(page.stat().st_mode) == 0o600
    page.unlink()
    assert cli.run(report_job.main, [str(extraction["output"])]) == 0
    assert page.read_bytes() == written
    assert stat.S_IMODE(page.stat().st_mode) == 0o600


def test_a_smaller_sample_is_chosen_by_the_seeded_hash(spark, extraction, tmp_path, monkeypatch):
    from mediaextract import pipeline
    from mediaextract.hadoopfs import HadoopFS

    monkeypatch.setattr(report_html, "SAMPLE_PER_LIST", 3)
    path = pipeline.write_report_html(spark, HadoopFS(spark), str(tmp_path), extraction["report"],
                                      extraction["items"])
    sheets = CountsTable(Path(path).read_text()).sheets
    rows = (extraction["items"].where((F.col("status") == statuses.OK) & F.col("thumbnail").isNotNull())
            .select("list", "line", "name").collect())
    assert len([r for r in rows if r["list"] == "books"]) > 3
    for name in extraction["report"]["lists"]:
        ranked = sorted((r for r in rows if r["list"] == name),
                        key=lambda r: report_html.sample_order_key(r["list"], r["line"], r["name"]))
        assert sheets[name] == [r["name"] for r in sorted(ranked[:3], key=lambda r: r["line"])]


# --- names that did not make it -------------------------------------------------------------------


def _missed_in_truth(truth) -> dict[str, list[tuple[int, str, str]]]:
    """Return per list the (line, requested name, status) of the truth's lines that are not ok."""
    return {name: sorted((r["line"], r["requested_name"], r["status"]) for r in part["rows"]
                         if r["status"] != statuses.OK)
            for name, part in truth["lists"].items()}


def test_not_made_gives_each_lists_missed_lines_in_order_capped_and_counted(extraction, truth):
    expected = _missed_in_truth(truth)
    missed = report_html.not_made(extraction["items"])
    assert {n: [(r.line, r.requested_name, r.status) for r in m.rows] for n, m in missed.items()} == \
        {n: rows for n, rows in expected.items() if rows}
    assert {n: m.total for n, m in missed.items()} == {n: len(rows) for n, rows in expected.items() if rows}
    assert all(r.reason for m in missed.values() for r in m.rows)  # every one says why
    capped = report_html.not_made(extraction["items"], cap=2)
    assert {n: [r.line for r in m.rows] for n, m in capped.items()} == \
        {n: [line for line, _, _ in rows[:2]] for n, rows in expected.items() if rows}
    assert {n: m.total for n, m in capped.items()} == {n: len(rows) for n, rows in expected.items() if rows}


def test_not_made_never_shows_a_removed_row(extraction, truth):
    first = _missed_in_truth(truth)["books"][0][0]
    hit = (F.col("list") == "books") & (F.col("line") == first)
    # As a purge leaves a row: status removed, the name gone.
    removed = (extraction["items"]
               .withColumn("requested_name", F.when(hit, F.lit(None)).otherwise(F.col("requested_name")))
               .withColumn("status", F.when(hit, F.lit(statuses.REMOVED)).otherwise(F.col("status"))))
    missed = report_html.not_made(removed)
    assert first not in [r.line for r in missed["books"].rows]
    assert missed["books"].total == len(_missed_in_truth(truth)["books"]) - 1


def test_the_browser_shows_the_folded_not_made_tables(extraction, truth, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(report_html.render(extraction["report"], not_made=report_html.not_made(extraction["items"])))
    dom = chromium("--dump-dom", page.as_uri())
    assert dom.returncode == 0 and console_messages(dom.stderr) == []
    for name, rows in _missed_in_truth(truth).items():
        if rows:
            assert f'data-not-made="{name}" data-not-made-total="{len(rows)}"' in dom.stdout
    assert '<details id="settings-section">' in dom.stdout and 'id="settings"' in dom.stdout


def test_the_extracted_page_lists_the_names_that_did_not_make_it(rendered, truth):
    for name, rows in _missed_in_truth(truth).items():
        if rows:
            assert f'data-not-made="{name}" data-not-made-total="{len(rows)}"' in rendered["dom"].stdout
