"""report.html: the report for people who judge a data set by looking at it (no Spark imported).

One self-contained page: the counts per list (the numbers of report.json), a stacked bar chart of
statuses per list, histograms of original sizes and thumbnail dimensions, a contact sheet per list
(a seeded sample of thumbnails), per list the names that did not make it (line, name as requested,
status, reason; the first NOT_MADE_PER_LIST and how many more), the removals by legal request
(when, how many rows, which request; never a name) and the settings, folded (secrets come masked
in report.json). Charts are drawn by matplotlib's Agg canvas; every image is an inline data: URI,
and a Content-Security-Policy forbids scripts and any load that is not inline, so the page opens
offline and cannot reach out. Names are written by people: every text is HTML-escaped.
The Spark side (pipeline.write_report_html, and `not_made` here, handed the items frame) aggregates
the bins, picks the sample and the capped lists of names; everything else works on those few values.
"""

from __future__ import annotations

import base64
import io
import json
import math
from dataclasses import dataclass
from html import escape
from typing import Iterable, Mapping, Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from . import statuses
from .report import (DELETED_REASONS, FOUND, LIVE_DUPLICATES, OTHER_REASONS, PLAN_STATUSES, REASONS_SHOWN, REMOVED,
                     NOT_ASKED, THUMBNAIL_LABELS, THUMBNAILS, catalog_table, human_bytes, sentence, shown_thumbnails)

# Original sizes: log-spaced bins, this many per power of ten (bin k covers 10^(k/4) .. 10^((k+1)/4)).
SIZE_BINS_PER_DECADE = 4
# Thumbnail widths and heights: bins this many pixels wide.
DIMENSION_BIN_PX = 25
# Contact sheets: at most this many thumbnails per list, drawn into a box this many pixels square.
SAMPLE_PER_LIST = 24
SAMPLE_BOX_PX = 160
# The sample is chosen by sha1(seed | list | line | name): the same data set always shows the same.
SAMPLE_SEED = "mediaextract-contact-sheet-1"

# Names that did not make it: at most this many rows per list on the page (the rest are counted);
# items has them all, and a page of thousands of rows is read by nobody.
NOT_MADE_PER_LIST = 200
# Lines that table leaves out: ok rows made it; sampled-out lines were left out on purpose (the
# counts table has their number); removed rows must show nothing at all, not even a line number.
_MADE_OR_HIDDEN = (statuses.OK, statuses.SAMPLED_OUT, statuses.REMOVED)

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

STATUS_COLOURS = {
    statuses.OK: "#2e7d32",
    statuses.INVALID_NAME: "#9e9e9e",
    statuses.DUPLICATE: "#cfd8dc",
    statuses.SAMPLED_OUT: "#e0e0e0",
    statuses.NOT_IN_FILEARCHIVE: "#ffb74d",
    statuses.SUPPRESSED: "#6a1b9a",
    statuses.NO_STORAGE_KEY: "#8d6e63",
    statuses.NOT_IN_STORAGE: "#e53935",
    statuses.CHECKSUM_MISMATCH: "#ad1457",
    statuses.TOO_LARGE: "#1565c0",
    statuses.FETCH_FAILED: "#000000",
    statuses.REMOVED: "#ffeb3b",
}


@dataclass(frozen=True)
class Sample:
    """One thumbnail of a contact sheet and the row it shows."""

    list: str
    line: int
    name: str
    mime: str | None
    data: bytes


@dataclass(frozen=True)
class Missed:
    """One requested line that did not make it: its line, the name as requested, status, reason."""

    line: int
    requested_name: str | None
    status: str
    reason: str | None


@dataclass(frozen=True)
class NotMade:
    """A list's lines that did not make it: the first ones (in line order) and how many in all."""

    rows: tuple[Missed, ...]
    total: int


def not_made(items, cap: int | None = None) -> dict[str, NotMade]:
    """Return, per list with any, its lines that did not make it (neither ok, sampled out nor
    removed): the first `cap` (NOT_MADE_PER_LIST) in line order, and their number.

    items is the data set's items DataFrame: this is the page's one Spark query (its driver
    side gets at most cap rows per list), so Spark is imported here only when it runs.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    cap = NOT_MADE_PER_LIST if cap is None else cap
    per_list = Window.partitionBy("list")
    in_order = per_list.orderBy("line", "status", "reason", "requested_name")
    rows = (items.where(~F.col("status").isin(*_MADE_OR_HIDDEN))
            .select("list", "line", "requested_name", "status", "reason",
                    F.count(F.lit(1)).over(per_list).alias("_total"),
                    F.row_number().over(in_order).alias("_rank"))
            .where(F.col("_rank") <= cap)
            .collect())
    grouped: dict[str, list] = {}
    for row in sorted(rows, key=lambda r: (r["list"], r["_rank"])):
        grouped.setdefault(row["list"], []).append(row)
    return {name: NotMade(tuple(Missed(int(r["line"]), r["requested_name"], r["status"], r["reason"])
                                for r in chosen), int(chosen[0]["_total"]))
            for name, chosen in grouped.items()}


def size_bin(size: int) -> int:
    """Return the log-spaced bin of a byte count (sizes below 1 byte share bin 0)."""
    return math.floor(math.log10(max(size, 1)) * SIZE_BINS_PER_DECADE)


def size_bin_edges(k: int) -> tuple[float, float]:
    """Return the (low, high) byte counts of size bin k."""
    return 10 ** (k / SIZE_BINS_PER_DECADE), 10 ** ((k + 1) / SIZE_BINS_PER_DECADE)


def dimension_bin(pixels: int) -> int:
    """Return the bin of a width or height in pixels."""
    return pixels // DIMENSION_BIN_PX


def status_columns(counts: Mapping) -> list[str]:
    """Return the count keys of a report's table, in the order report.txt shows them.

    counts are the report's totals: `removed` is a column only when some list has removed rows,
    as in report.txt, so the page of a data set nobody purged stays as it was.
    """
    keys = ["requested", *PLAN_STATUSES, *([REMOVED] if counts.get(REMOVED) else []), FOUND,
            *statuses.FETCH_STATUSES]
    return [k for k in keys if k in counts]


def _png_uri(fig: Figure) -> str:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig


def status_chart(report: Mapping) -> str | None:
    """Return a data: URI of the stacked bar chart of statuses per list (None without lists)."""
    names = list(report["lists"])
    if not names or not report["totals"].get("requested"):
        return None
    keys = [s for s in statuses.FINAL_STATUSES if s in report["totals"]]
    fig = _figure(9, 1.4 + 0.45 * len(names))
    ax = fig.add_subplot()
    positions = range(len(names))
    left = [0] * len(names)
    for status in keys:
        values = [report["lists"][n][status] for n in names]
        if not any(values):
            continue
        ax.barh(positions, values, left=left, color=STATUS_COLOURS.get(status, "#607d8b"),
                label=status, edgecolor="white", linewidth=0.5)
        left = [a + b for a, b in zip(left, values)]
    ax.set_yticks(list(positions), labels=names)
    ax.invert_yaxis()
    ax.set_xlabel("rows (requested names)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return _png_uri(fig)


def size_chart(size_bins: Mapping[int, int]) -> str | None:
    """Return a data: URI of the histogram of original sizes (ok rows), None when empty."""
    bins = {k: v for k, v in size_bins.items() if v}
    if not bins:
        return None
    low, high = min(bins), max(bins)
    edges = [size_bin_edges(k)[0] for k in range(low, high + 2)]
    centres = [math.sqrt(edges[i] * edges[i + 1]) for i in range(len(edges) - 1)]
    weights = [bins.get(k, 0) for k in range(low, high + 1)]
    fig = _figure(5.5, 3.2)
    ax = fig.add_subplot()
    ax.hist(centres, bins=edges, weights=weights, color="#1565c0", edgecolor="white")
    ax.set_xscale("log")
    ticks = [10 ** e for e in range(math.floor(math.log10(edges[0])), math.ceil(math.log10(edges[-1])) + 1)]
    ax.set_xticks(ticks, labels=[human_bytes(t) for t in ticks])
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel("original size")
    ax.set_ylabel("files")
    ax.set_title("Original sizes (ok rows)")
    return _png_uri(fig)


def dimension_chart(width_bins: Mapping[int, int], height_bins: Mapping[int, int]) -> str | None:
    """Return a data: URI of the histograms of thumbnail widths and heights, None when empty."""
    if not any(width_bins.values()) and not any(height_bins.values()):
        return None
    keys = [k for k, v in [*width_bins.items(), *height_bins.items()] if v]
    low, high = min(keys), max(keys)
    edges = [k * DIMENSION_BIN_PX for k in range(low, high + 2)]
    centres = [e + DIMENSION_BIN_PX / 2 for e in edges[:-1]]
    fig = _figure(5.5, 3.2)
    ax = fig.add_subplot()
    for label, bins, colour in (("width", width_bins, "#2e7d32"), ("height", height_bins, "#ef6c00")):
        ax.hist(centres, bins=edges, weights=[bins.get(k, 0) for k in range(low, high + 1)],
                histtype="step", linewidth=2, color=colour, label=label)
    ax.set_xlabel("pixels")
    ax.set_ylabel("thumbnails")
    ax.set_title("Thumbnail dimensions")
    ax.legend(frameon=False)
    return _png_uri(fig)


def sample_image_uri(sample: Sample) -> str | None:
    """Return a small data: URI of a sample thumbnail (None when it cannot be decoded)."""
    try:
        with Image.open(io.BytesIO(sample.data)) as image:
            image.thumbnail((SAMPLE_BOX_PX, SAMPLE_BOX_PX))
            has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            out = io.BytesIO()
            if has_alpha:
                image.convert("RGBA").save(out, "PNG", optimize=True)
                mime = "image/png"
            else:
                image.convert("RGB").save(out, "JPEG", quality=80)
                mime = "image/jpeg"
    except Exception:  # a thumbnail we cannot read is shown as such, not a broken page
        return None
    return f"data:{mime};base64," + base64.b64encode(out.getvalue()).decode("ascii")


def _flatten(tree: Mapping, prefix: str = "") -> list[tuple[str, object]]:
    flat = []
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat += _flatten(value, dotted + ".")
        else:
            flat.append((dotted, value))
    return flat


def _counts_table(report: Mapping) -> str:
    columns = status_columns(report["totals"])
    bytes_key = "bytes_ok" if "bytes_ok" in report["totals"] else "bytes_found"
    head = "".join(f"<th scope=\"col\">{escape(c.replace('_', ' '))}</th>" for c in columns)
    out = ['<table id="counts"><thead><tr><th scope="col">list</th>', head,
           f'<th scope="col">{escape(bytes_key.replace("_", " "))}</th></tr></thead><tbody>']

    def row(label: str, counts: Mapping, attribute: str) -> str:
        cells = "".join(f'<td data-key="{escape(c)}">{int(counts[c])}</td>' for c in columns)
        value = int(counts[bytes_key])
        cells += (f'<td data-key="{escape(bytes_key)}" data-bytes="{value}" '
                  f'title="{value} bytes">{escape(human_bytes(value))}</td>')
        return f'<tr {attribute}><th scope="row">{escape(label)}</th>{cells}</tr>'

    for name, counts in report["lists"].items():
        out.append(row(name, counts, f'data-list="{escape(name)}"'))
    out.append("</tbody><tfoot>")
    out.append(row("total", report["totals"], 'data-total="1"'))
    out.append("</tfoot></table>")
    return "".join(out)


def _chart(uri: str | None, alt: str) -> str:
    if uri is None:
        return f'<p class="empty">{escape(alt)}: no data.</p>'
    return f'<img class="chart" src="{uri}" alt="{escape(alt)}">'


def _contact_sheets(report: Mapping, samples: Mapping[str, Sequence[Sample]]) -> str:
    out = []
    for name in report["lists"]:
        chosen = list(samples.get(name, ()))
        ok = report["lists"][name].get(statuses.OK, 0)
        out.append(f'<section class="sheet" data-list="{escape(name)}"><h3>{escape(name)} '
                   f'<small>{len(chosen)} of {ok} ok</small></h3>')
        if not chosen:
            out.append('<p class="empty">No thumbnails in this list.</p></section>')
            continue
        out.append('<div class="grid">')
        for sample in chosen:
            uri = sample_image_uri(sample)
            caption = f"{escape(sample.name)} <span class=\"line\">line {int(sample.line)}</span>"
            picture = (f'<img src="{uri}" alt="{escape(sample.name)}">' if uri
                       else '<div class="unreadable">unreadable</div>')
            out.append(f'<figure title="{escape(sample.name)}">{picture}<figcaption>{caption}'
                       "</figcaption></figure>")
        out.append("</div></section>")
    return "".join(out)


def _removals_table(removals: Sequence[Mapping]) -> str:
    # Only the fields a removal is recorded with in report.json: it holds no name to show.
    head = "".join(f'<th scope="col">{label}</th>' for label in
                   ("time", "rows", "label texts cleared", "reason", "request"))
    rows = "".join(
        f'<tr data-request="{escape(str(r.get("request")))}"><td>{escape(str(r.get("at")))}</td>'
        f'<td data-key="rows">{int(r.get("rows") or 0)}</td><td data-key="labels">{int(r.get("labels") or 0)}</td>'
        f'<td>{escape(str(r.get("reason")))}</td><td>{escape(str(r.get("request")))}</td></tr>' for r in removals)
    return f'<table id="removals"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _not_made_tables(report: Mapping, not_made: Mapping[str, NotMade]) -> str:
    # Each list's table is folded: the summary says how many, the table who (first ones only).
    out = []
    for name in report["lists"]:
        missed = not_made.get(name)
        if missed is None or missed.total == 0:
            counts = report["lists"][name]
            kinds = ["ok", *(["sampled out"] if counts.get(statuses.SAMPLED_OUT) else []),
                     *(["removed by a legal request"] if counts.get(statuses.REMOVED) else [])]
            said = kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " or " + kinds[-1]
            out.append(f'<p class="empty" data-not-made="{escape(name)}">{escape(name)}: every line is '
                       f"{escape(said)}.</p>")
            continue
        shown = [r for r in missed.rows if r.status not in _MADE_OR_HIDDEN]
        more = missed.total - len(shown)
        out.append(f'<details class="not-made" data-not-made="{escape(name)}" '
                   f'data-not-made-total="{int(missed.total)}"><summary>{escape(name)} '
                   f"<small>{int(missed.total)} {'name' if missed.total == 1 else 'names'} did not make it"
                   "</small></summary>")
        out.append('<table><thead><tr><th scope="col">line</th><th scope="col">name as requested</th>'
                   '<th scope="col">status</th><th scope="col">reason</th></tr></thead><tbody>')
        for r in shown:
            requested = "" if r.requested_name is None else r.requested_name
            out.append(f'<tr data-line="{int(r.line)}"><td>{int(r.line)}</td>'
                       f"<td><code>{escape(requested)}</code></td><td>{escape(r.status)}</td>"
                       f"<td>{escape(r.reason or '')}</td></tr>")
        out.append("</tbody></table>")
        if more > 0:
            out.append(f'<p class="more" data-more="{more}">and {more} more (the data set\'s items hold '
                       "every one)</p>")
        out.append("</details>")
    return "".join(out)


def _reasons_tables(report: Mapping) -> str:
    """Per list, how many found rows each deletion reason has, and how many ok rows live on."""
    out = []
    for name, counts in report["lists"].items():
        reasons = counts.get(DELETED_REASONS) or {}
        live = int(counts.get(LIVE_DUPLICATES) or 0)
        out.append(f'<section class="reasons" data-reasons="{escape(name)}"><h3>{escape(name)} '
                   f'<small data-live-duplicates="{live}">{live} ok {"row" if live == 1 else "rows"} '
                   "still live (the same content in a live file)</small></h3>")
        if not reasons:
            out.append('<p class="empty">no found rows</p></section>')
            continue
        out.append('<table><thead><tr><th scope="col">deletion reason</th><th scope="col">rows</th>'
                   "</tr></thead><tbody>")
        # report.json keeps its keys sorted: the order (most first, ties by text) is made here.
        ordered = sorted(reasons.items(), key=lambda item: (item[0] == OTHER_REASONS, -int(item[1]), item[0]))
        out += [f'<tr><td>{escape(reason)}</td><td data-key="rows">{int(n)}</td></tr>' for reason, n in ordered]
        out.append("</tbody></table></section>")
    return "".join(out)


def _thumbnails_tables(report: Mapping) -> str:
    """Per list, the ok rows of each media type with a thumbnail, without one (failed), and with
    nothing to see."""
    statuses_shown = [status for status, _ in THUMBNAIL_LABELS] + [NOT_ASKED]
    out = []
    for name, counts in report["lists"].items():
        by_media = counts.get(THUMBNAILS) or {}
        out.append(f'<section class="thumbnails" data-thumbnails="{escape(name)}"><h3>{escape(name)}</h3>')
        if not by_media:
            out.append('<p class="empty">no ok rows</p></section>')
            continue
        head = "".join(f'<th scope="col">{escape(s.replace("_", " "))}</th>' for s in statuses_shown)
        out.append(f'<table><thead><tr><th scope="col">media type</th>{head}</tr></thead><tbody>')
        for media, by_status in by_media.items():
            cells = "".join(f'<td data-key="{s}">{int(by_status.get(s, 0))}</td>' for s in statuses_shown)
            out.append(f"<tr><td>{escape(media)}</td>{cells}</tr>")
        out.append("</tbody></table></section>")
    return "".join(out)


def _settings_table(settings: Mapping) -> str:
    flat = _flatten(settings)
    rows = "".join(f"<tr><th scope=\"row\">{escape(key)}</th><td><code>{escape(json.dumps(value, default=str))}"
                   "</code></td></tr>" for key, value in flat)
    # Folded: the settings are for whoever checks how the data set was made, not every reader.
    return (f'<details id="settings-section"><summary>{len(flat)} setting{"" if len(flat) == 1 else "s"} '
            '<small>(secrets masked)</small>'
            f'</summary><table id="settings"><tbody>{rows}</tbody></table></details>')


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:1.5em auto;
max-width:1200px;padding:0 1em;color:#212121;background:#fff}
h1{font-size:1.5em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
.meta{color:#555;margin:.2em 0}
table{border-collapse:collapse;font-size:.85em}
#counts th,#counts td{border:1px solid #ddd;padding:.25em .45em}
#counts td{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
#counts thead th{background:#f5f5f5;vertical-align:bottom;max-width:6em}
#counts tbody th{text-align:left}#counts tfoot{font-weight:bold;background:#fafafa}
#settings th{text-align:left;padding:.1em 1em .1em 0;font-weight:normal;color:#555}
#removals th,#removals td{border:1px solid #ddd;padding:.25em .45em;text-align:left}
.reasons th,.reasons td{border:1px solid #ddd;padding:.2em .45em;text-align:left}
.reasons td[data-key]{text-align:right;font-variant-numeric:tabular-nums}.reasons h3{font-size:1em}
.not-made{margin:.4em 0}.not-made table{margin:.3em 0}
.not-made th,.not-made td{border:1px solid #ddd;padding:.2em .45em;text-align:left;vertical-align:top}
.not-made td code{word-break:break-all}summary{cursor:pointer}
#removals td[data-key]{text-align:right;font-variant-numeric:tabular-nums}
.chart{max-width:100%;height:auto}.charts{display:flex;flex-wrap:wrap;gap:1em}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:.6em}
figure{margin:0;padding:.3em;border:1px solid #e0e0e0;background:#fafafa;text-align:center}
figure img{max-width:160px;max-height:160px}
figcaption{font-size:.75em;word-break:break-all;margin-top:.2em}
.line{color:#777}.empty{color:#777;font-style:italic}
.unreadable{width:160px;height:100px;margin:auto;background:#eee;color:#777;line-height:100px}
small{color:#777;font-weight:normal}
"""


def render(report: Mapping, size_bins: Mapping[int, int] | None = None,
           width_bins: Mapping[int, int] | None = None, height_bins: Mapping[int, int] | None = None,
           samples: Mapping[str, Sequence[Sample]] | None = None,
           not_made: Mapping[str, NotMade] | None = None) -> str:
    """Return report.html for a report dict, the histogram bins, the contact-sheet samples and
    the names that did not make it (`not_made` above; None leaves that section out)."""
    kind = report.get("kind", "extract")
    title = f"mediaextract {kind} report"
    where = report.get("output")
    table = catalog_table(report)
    lines = [sentence(n, c, kind, report.get("connections", 1), table) for n, c in report["lists"].items()]
    lines.append(sentence("all lists", report["totals"], kind, report.get("connections", 1), table))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}{': ' + escape(str(where)) if where else ''}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
    ]
    if where:
        parts.append(f'<p class="meta">data set <code>{escape(str(where))}</code></p>')
    if report.get("created"):
        parts.append(f'<p class="meta">created {escape(str(report["created"]))}</p>')
    parts.append("<h2>Counts per list</h2>")
    parts.append(_counts_table(report))
    parts.append('<ul class="sentences">' + "".join(f"<li>{escape(s)}</li>" for s in lines) + "</ul>")
    parts.append("<h2>Statuses per list</h2>")
    parts.append(_chart(status_chart(report), "Statuses per list"))
    parts.append('<h2>Sizes</h2><div class="charts">')
    parts.append(_chart(size_chart(size_bins or {}), "Original sizes"))
    parts.append(_chart(dimension_chart(width_bins or {}, height_bins or {}), "Thumbnail dimensions"))
    parts.append("</div>")
    parts.append(f"<h2>Contact sheets <small>a seeded sample of up to {SAMPLE_PER_LIST} thumbnails "
                 "per list</small></h2>")
    parts.append(_contact_sheets(report, samples or {}))
    if not_made is not None:
        parts.append(f"<h2>Names that did not make it <small>per list, in line order, the first "
                     f"{NOT_MADE_PER_LIST} at most (sampled-out lines not listed)</small></h2>")
        parts.append(_not_made_tables(report, not_made))
    # Live files and old versions (report "files") were never deleted: no reasons to show.
    if report.get("files", "deleted") == "deleted" and any(DELETED_REASONS in counts for counts in report["lists"].values()):
        parts.append(f"<h2>Why they were deleted <small>found rows per deletion reason, the "
                     f"{REASONS_SHOWN} most frequent per list</small></h2>")
        parts.append(_reasons_tables(report))
    if shown_thumbnails(report):
        parts.append("<h2>Thumbnails <small>ok rows per media type: with a thumbnail, without (failed: the "
                     "reason says why), nothing to see (sound, text), not asked for</small></h2>")
        parts.append(_thumbnails_tables(report))
    if report.get("removals"):
        parts.append("<h2>Removals <small>rows removed by legal request</small></h2>")
        parts.append(_removals_table(report["removals"]))
    parts.append("<h2>Settings</h2>")
    parts.append(_settings_table(report.get("settings") or {}))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def group_samples(samples: Iterable[Sample]) -> dict[str, list[Sample]]:
    """Return samples grouped by list, each list's in the order given."""
    grouped: dict[str, list[Sample]] = {}
    for sample in samples:
        grouped.setdefault(sample.list, []).append(sample)
    return grouped


def sample_order_key(list_name: str, line: int, name: str) -> str:
    """Return the seeded hash that orders a list's rows for its contact sheet (lowest first)."""
    import hashlib

    return hashlib.sha1(f"{SAMPLE_SEED}|{list_name}|{line}|{name}".encode("utf-8")).hexdigest()
