"""report.html: the numbers of report.json, escaped names, inline charts, no outside resources."""

from __future__ import annotations

import base64
import io
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
             "run": "0fda96196758", "names": ["Secret_cover.jpg"]}]


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
    assert Removals(html).rows == [["2026-11-21T22:00:40Z", "2", "legal request", "T-<12345>"]]
    assert "T-<12345>" not in html and "0fda96196758" not in html and "Secret_cover" not in html
    assert [t for t, _ in page.tags if t == "script"] == []


def test_no_removed_column_nor_section_when_nothing_was_removed(html):
    assert "removed" not in report_html.status_columns(_report()["totals"])
    assert "removed" not in Page(html).rows["covers"]
    assert 'id="removals"' not in html and "Removals" not in html
