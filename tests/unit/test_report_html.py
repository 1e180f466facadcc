"""report.html: the numbers of report.json, escaped names, inline charts, no outside resources."""

from __future__ import annotations

import base64
import io
import re
from html import escape as html_escape
from html.parser import HTMLParser

import pytest
from PIL import Image

from mediaextract import report_html, statuses
from mediaextract.report import CountRow, build_report

NASTY = "<script>alert('x')</script> \"&amp;"
NASTY_NAME = "O'Reilly_\"Camel\"_<b>&_book.jpg"


class Page(HTMLParser):
    """Collects tags, attributes, the counts table and text, as a browser's DOM would hold them."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.rows: dict[str, dict[str, str]] = {}
        self.row_heads: dict[str, str] = {}
        self.captions: list[str] = []
        self._row = None
        self._cell = None
        self._text = None
        self._in_caption = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "tr" and ("data-list" in attributes or "data-total" in attributes):
            self._row = attributes.get("data-list", "*total*")
            self.rows[self._row] = {}
        elif tag == "td" and self._row is not None:
            self._cell, self._text = attributes["data-key"], ""
        elif tag == "th" and self._row is not None:
            self._cell, self._text = "*head*", ""
        elif tag == "figcaption":
            self._in_caption, self._text = True, ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            if self._cell == "*head*":
                self.row_heads[self._row] = self._text
            else:
                self.rows[self._row][self._cell] = self._text
            self._cell = None
        elif tag == "tr":
            self._row = None
        elif tag == "figcaption":
            self.captions.append(self._text)
            self._in_caption = False

    def handle_data(self, data):
        if self._cell is not None or self._in_caption:
            self._text += data


def _report():
    rows = [
        CountRow("covers", statuses.OK, "BITMAP", 5, 5_000_000),
        CountRow("covers", statuses.DUPLICATE, None, 2, 0),
        CountRow("covers", statuses.NOT_IN_STORAGE, "BITMAP", 1, 7000),
        CountRow(NASTY, statuses.OK, "BITMAP", 3, 1234),
        CountRow(NASTY, statuses.INVALID_NAME, None, 4, 0),
        CountRow(NASTY, statuses.SUPPRESSED, None, 1, 0),
    ]
    settings = {"catalog": {"url": "jdbc:mysql://127.0.0.1:3306/x", "password": "***"},
                "storage": {"secret_key": "***", "endpoint": "http://127.0.0.1:18080"}}
    return build_report(rows, "extract", extra={"created": "2026-11-21T00:00:00+00:00",
                                                "output": "file:/tmp/<covers>", "settings": settings})


def _image(size=(400, 300), colour=(200, 30, 30), fmt="JPEG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt)
    return out.getvalue()


def _samples():
    return {"covers": [report_html.Sample("covers", 1, "Foo_bar.jpg", "image/jpeg", _image()),
                       report_html.Sample("covers", 4, NASTY_NAME, "image/png", _image(fmt="PNG"))],
            NASTY: [report_html.Sample(NASTY, 2, "Broken.jpg", "image/jpeg", b"not an image")]}


@pytest.fixture(scope="module")
def html() -> str:
    # Drawing three charts takes a while: render once for the tests that only read the page.
    return report_html.render(_report(), {20: 3, 26: 5}, {20: 8}, {12: 5, 15: 3}, _samples())


def _decode(uri: str) -> Image.Image:
    header, payload = uri.split(",", 1)
    assert header.startswith("data:image/") and header.endswith(";base64")
    image = Image.open(io.BytesIO(base64.b64decode(payload)))
    image.load()
    return image


def test_every_number_in_the_table_is_the_reports(html):
    built = _report()
    page = Page(html)
    assert set(page.rows) == {*built["lists"], "*total*"}
    for name, counts in [*built["lists"].items(), ("*total*", built["totals"])]:
        cells = page.rows[name]
        for key in report_html.status_columns(built["totals"]):
            assert int(cells[key]) == counts[key], (name, key)
        assert cells["bytes_ok"] == report_html.human_bytes(counts["bytes_ok"])
    assert page.rows["covers"]["ok"] == "5" and page.rows["*total*"]["requested"] == "16"


def test_names_come_back_exactly_and_inject_nothing(html):
    page = Page(html)
    assert page.row_heads[NASTY] == NASTY
    assert any(NASTY_NAME in caption for caption in page.captions)
    assert [t for t, _ in page.tags if t == "script"] == []
    assert "<script>" not in html and "<b>&" not in html
    assert page.tags.count(("b", {})) == 0


def test_the_page_loads_nothing_from_outside_and_runs_no_script(html):
    page = Page(html)
    sources = [a.get("src") or a.get("href") for _, a in page.tags if a.get("src") or a.get("href")]
    assert sources and all(s.startswith("data:image/") for s in sources)
    csp = [a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp == [report_html.CSP] and "script-src" not in csp[0] and "default-src 'none'" in csp[0]
    assert not [t for t, a in page.tags if t in ("link", "iframe", "object", "embed")]


def test_charts_and_thumbnails_are_decodable_images_with_content(html):
    page = Page(html)
    charts = [a["src"] for t, a in page.tags if t == "img" and a.get("class") == "chart"]
    assert len(charts) == 3
    for uri in charts:
        image = _decode(uri).convert("RGB")
        assert image.width > 300 and image.height > 150
        assert len(image.getcolors(1 << 20)) > 10  # drawn, not blank
    thumbs = [a for t, a in page.tags if t == "img" and a.get("class") != "chart"]
    assert [a["alt"] for a in thumbs] == ["Foo_bar.jpg", NASTY_NAME]
    assert all(max(_decode(a["src"]).size) <= report_html.SAMPLE_BOX_PX for a in thumbs)
    assert '<div class="unreadable">' in html


def test_settings_are_listed_with_their_masks(html):
    assert "catalog.password" in html and "storage.secret_key" in html
    assert html.count("&quot;***&quot;") == 2


def test_empty_data_gives_a_note_instead_of_a_chart():
    built = build_report([], "extract", list_names=["empty"])
    html = report_html.render(built)
    page = Page(html)
    assert [a for t, a in page.tags if t == "img"] == []
    assert "Original sizes: no data." in html and "No thumbnails in this list." in html
    assert page.rows["empty"]["requested"] == "0"


def test_bins_and_sample_order_are_the_ones_spark_computes():
    assert report_html.size_bin(999) == 11 and report_html.size_bin(1000) == 12 and report_html.size_bin(0) == 0
    low, high = report_html.size_bin_edges(12)
    assert round(low) == 1000 and low <= 1500 < high
    assert report_html.dimension_bin(499) == 19 and report_html.dimension_bin(500) == 20
    key = report_html.sample_order_key("covers", 3, "Foo_bar.jpg")
    assert key == report_html.sample_order_key("covers", 3, "Foo_bar.jpg") != report_html.sample_order_key("covers", 4, "Foo_bar.jpg")
    assert len(key) == 40


class Removals(HTMLParser):
    """Collects the cells of the #removals table, row by row."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._inside = self._cell = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "table" and dict(attrs).get("id") == "removals":
            self._inside = True
        elif self._inside and tag == "tr":
            self._row: list[str] = []
        elif self._inside and tag == "td":
            self._cell = True
            self._row.append("")

    def handle_endtag(self, tag):
        if tag == "table":
            self._inside = False
        elif tag == "td":
            self._cell = False
        elif self._inside and tag == "tr" and self._row:  # the header row has no td
            self.rows.append(self._row)

    def handle_data(self, data):
        if self._cell:
            self._row[-1] += data


REMOVALS = [{"at": "2026-11-21T22:00:40Z", "rows": 2, "reason": "legal request", "request": "T-<12345>",
             "run": "0fda96196758", "names": ["Secret_cover.jpg"], "labels": 3}]


def _removed_report():
    rows = [CountRow("covers", statuses.OK, "BITMAP", 3, 3000), CountRow("covers", statuses.REMOVED, None, 2, 0),
            CountRow("logos", statuses.OK, "BITMAP", 1, 10)]
    return build_report(rows, "extract", removals=REMOVALS)


def test_removed_rows_are_a_column_and_the_removals_a_section():
    built = _removed_report()
    html = report_html.render(built, samples={"covers": [report_html.Sample("covers", 1, "Kept.jpg", "image/jpeg",
                                                                             _image())]})
    page = Page(html)
    columns = report_html.status_columns(built["totals"])
    assert columns.index("removed") == columns.index("found") - 1
    assert [page.rows[n]["removed"] for n in ("covers", "logos", "*total*")] == ["2", "0", "2"]
    assert page.rows["covers"]["requested"] == "5" and page.rows["covers"]["ok"] == "3"
    assert "; 2 removed by legal request." in html
    assert Removals(html).rows == [["2026-11-21T22:00:40Z", "2", "3", "legal request", "T-<12345>"]]
    assert "T-<12345>" not in html and "0fda96196758" not in html and "Secret_cover" not in html
    assert [t for t, _ in page.tags if t == "script"] == []


def test_no_removed_column_nor_section_when_nothing_was_removed(html):
    assert "removed" not in report_html.status_columns(_report()["totals"])
    assert "removed" not in Page(html).rows["covers"]
    assert 'id="removals"' not in html and "Removals" not in html


# --- names that did not make it, settings folded -------------------------------------------------


class NotMadeTables(HTMLParser):
    """Collects, per list, the cells of its not-made table, its summary and its "more" line; and
    what sits inside each <details> (by the id or data-not-made of the details)."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.rows: dict[str, list[list[str]]] = {}
        self.summaries: dict[str, str] = {}
        self.more: dict[str, int] = {}
        self.empty: dict[str, str] = {}
        self.folded: dict[str, list[str]] = {}
        self._list = self._row = self._text = None
        self._details: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "details":
            self._details.append(a.get("id") or a.get("data-not-made"))
            self._list = a.get("data-not-made")
            if self._list is not None:
                self.rows[self._list] = []
        elif self._details:
            self.folded.setdefault(self._details[-1], []).append(a.get("id") or tag)
        if tag == "p" and "data-not-made" in a:
            self._list, self._text = a["data-not-made"], ""
            self.empty[self._list] = ""
        elif tag == "summary" or (tag == "p" and "data-more" in a):
            self._text = ""
            if "data-more" in a:
                self.more[self._list] = int(a["data-more"])
        elif tag == "tr" and self._list is not None:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._row.append("")

    def handle_endtag(self, tag):
        if tag == "details":
            self._details.pop()
            self._list = None
        elif tag == "summary" and self._list is not None:
            self.summaries[self._list], self._text = self._text, None
        elif tag == "p" and self._list in self.empty and not self._details:
            self.empty[self._list], self._text, self._list = self._text, None, None
        elif tag == "tr" and self._row is not None:
            if self._row:  # the header row has no td
                self.rows[self._list].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._row:
            self._row[-1] += data
        elif self._text is not None:
            self._text += data


def _not_made():
    many = tuple(report_html.Missed(line, f"Missing {line}.jpg", statuses.NOT_IN_FILEARCHIVE,
                                    "no filearchive row has this name") for line in range(1, 4))
    return {"covers": report_html.NotMade(many, report_html.NOT_MADE_PER_LIST + 3),
            NASTY: report_html.NotMade((
                report_html.Missed(2, NASTY_NAME, statuses.INVALID_NAME, "<title> has <b>brackets</b>"),
                # Never shown even if handed over: a removed row says nothing, not even its line.
                report_html.Missed(7, None, statuses.REMOVED, "removed by a legal request"),
                report_html.Missed(9, "File:Suppressed.jpg", statuses.SUPPRESSED, None)), 2)}


@pytest.fixture(scope="module")
def not_made_html() -> str:
    return report_html.render(_report(), samples=_samples(), not_made=_not_made())


def test_each_list_shows_the_names_that_did_not_make_it_escaped(not_made_html):
    tables = NotMadeTables(not_made_html)
    assert tables.rows[NASTY] == [["2", NASTY_NAME, "invalid_name", "<title> has <b>brackets</b>"],
                                  ["9", "File:Suppressed.jpg", "suppressed", ""]]
    assert tables.summaries[NASTY] == f"{NASTY} 2 names did not make it"
    assert NASTY not in tables.more
    assert "<b>brackets" not in not_made_html and "<title> has" not in not_made_html
    assert [t for t, _ in Page(not_made_html).tags if t == "script"] == []
    assert 'data-line="7"' not in not_made_html and "removed by a legal request" not in not_made_html


def test_a_long_list_is_capped_with_a_count_of_the_rest(not_made_html):
    tables = NotMadeTables(not_made_html)
    assert [row[:3] for row in tables.rows["covers"]] == [
        [str(n), f"Missing {n}.jpg", "not_in_filearchive"] for n in (1, 2, 3)]
    assert tables.more["covers"] == report_html.NOT_MADE_PER_LIST
    assert f"and {report_html.NOT_MADE_PER_LIST} more" in not_made_html
    assert tables.summaries["covers"] == f"covers {report_html.NOT_MADE_PER_LIST + 3} names did not make it"


def test_a_list_with_nothing_missing_says_so():
    built = _removed_report()
    html = report_html.render(built, not_made={})
    tables = NotMadeTables(html)
    assert tables.empty == {"covers": "covers: every line is ok or removed by a legal request.",
                            "logos": "logos: every line is ok."}
    assert tables.rows == {}


def test_the_settings_are_folded(html, not_made_html):
    for page in (html, not_made_html):
        tables = NotMadeTables(page)
        assert "settings" in tables.folded["settings-section"]  # the settings table sits in the fold
        assert f"{len(report_html._flatten(_report()['settings']))} settings" in page
    assert "Names that did not make it" not in html  # left out when not given


def test_ok_rows_by_media_type_and_thumbnail_status_are_a_section(html):
    rows = [CountRow("covers", statuses.OK, "bitmap", 5, 500, "made"), CountRow("covers", statuses.OK, "bitmap", 1, 9, "failed"),
            CountRow("covers", statuses.OK, "audio", 2, 20, "not_visual"), CountRow(NASTY, statuses.OK, "drawing", 1, 1, "made")]
    page = report_html.render(build_report(rows, "extract"), {}, {}, {}, {})
    section = re.search(r'<section class="thumbnails" data-thumbnails="covers">(.*?)</section>', page, re.S).group(1)
    cells = re.findall(r'<tr><td>([^<]*)</td>(.*?)</tr>', section)
    counts = {media: dict(re.findall(r'data-key="(\w+)">(\d+)<', rest)) for media, rest in cells}
    assert counts == {"audio": {"made": "0", "failed": "0", "not_visual": "2", "not_asked": "0"},
                      "bitmap": {"made": "5", "failed": "1", "not_visual": "0", "not_asked": "0"}}
    assert f'data-thumbnails="{html_escape(NASTY)}"' in page
    assert 'class="thumbnails"' not in html  # no thumbnail statuses: no section
