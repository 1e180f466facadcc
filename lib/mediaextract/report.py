"""Counts per list that explain every requested name: a dict for report.json, a table for people.

No Spark here: the jobs aggregate (list, status, media_type) -> (rows, bytes) with Spark and hand
the few resulting tuples to `build_report`.

requested = PLAN_STATUSES + found + removed: a `removed` row (a legal request removed its file) is
counted apart, since only its list and line are left to say what it was. With
`catalog.versions: all` a line has a row per deleted version: `requested` then counts lines,
`rows` counts rows, and the statuses add up to `rows`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Iterable, Mapping, NamedTuple

from . import statuses

# Before fetching, these statuses are known; everything else is "found" (to fetch).
PLAN_STATUSES = (statuses.INVALID_NAME, statuses.DUPLICATE, statuses.SAMPLED_OUT,
                 statuses.NOT_IN_FILEARCHIVE, statuses.SUPPRESSED, statuses.NO_STORAGE_KEY)
FOUND = "found"
REMOVED = statuses.REMOVED
# With several rows per requested line (catalog.versions: all): the rows, versions included.
ROWS = "rows"
# What report.json keeps of a removal (_metadata.json "removals"): never a name.
REMOVAL_KEYS = ("at", "rows", "reason", "request")


def plural(count: int, one: str, many: str | None = None) -> str:
    """Return "1 file", "2 files" (many: the plural when it is not one + "s")."""
    return f"{count} {one if count == 1 else (many or one + 's')}"


@dataclass(frozen=True)
class CountRow:
    """Rows of one list with one status, media type (and thumbnail_status), and the sum of their fa_size."""

    list: str
    status: str
    media_type: str | None
    rows: int
    bytes: int
    thumbnail_status: str | None = None


# An extract's ok rows by media type and thumbnail_status (made, not_visual, failed; NOT_ASKED:
# none was asked for, or the row was fetched before the column existed).
THUMBNAILS = "ok_thumbnails"
NOT_ASKED = "not_asked"
THUMBNAIL_LABELS = (("made", "ok with thumbnail"), ("failed", "ok, thumbnail failed"),
                    ("not_visual", "ok, nothing to see"))


def _empty_counts(kind: str) -> dict:
    counts = {"requested": 0, **{s: 0 for s in PLAN_STATUSES}, FOUND: 0, REMOVED: 0}
    if kind == "extract":
        counts.update({s: 0 for s in statuses.FETCH_STATUSES})
    counts.update({"bytes_found": 0, "bytes_by_media_type": {}})
    if kind == "extract":
        counts["bytes_ok"] = 0
        counts[THUMBNAILS] = {}
    return counts


def _add(counts: dict, row: CountRow, kind: str) -> None:
    counts["requested"] += row.rows
    if row.status in PLAN_STATUSES or row.status == REMOVED:
        counts[row.status] += row.rows
        return
    counts[FOUND] += row.rows
    counts["bytes_found"] += row.bytes
    media = row.media_type or "unknown"
    counts["bytes_by_media_type"][media] = counts["bytes_by_media_type"].get(media, 0) + row.bytes
    if kind == "extract":
        counts[row.status] += row.rows
        if row.status == statuses.OK:
            counts["bytes_ok"] += row.bytes
            by_status = counts[THUMBNAILS].setdefault(media, {})
            key = row.thumbnail_status or NOT_ASKED
            by_status[key] = by_status.get(key, 0) + row.rows


def estimate_fetch_seconds(found: int, bytes_found: int, connections: int,
                           request_s: float, bytes_per_s: float) -> float:
    """Return the time to fetch `found` objects totalling bytes_found over `connections`."""
    if found == 0:
        return 0.0
    return (found * request_s + bytes_found / bytes_per_s) / max(1, connections)


def removal_entries(removals: Iterable[Mapping] | None) -> list[dict]:
    """Return the removals as report.json holds them: at, rows, reason and request, and labels
    (rows whose label texts named a removed file, cleared) when there were any."""
    # _metadata.json may hold more per removal (the purge's run id); a report shows only these.
    return [{key: removal.get(key) for key in REMOVAL_KEYS}
            | ({"labels": int(removal["labels"])} if removal.get("labels") else {}) for removal in removals or ()]


def build_report(rows: Iterable[CountRow], kind: str, list_names: Iterable[str] = (),
                 connections: int = 1, request_s: float = 0.05, bytes_per_s: float = 2e7,
                 extra: dict | None = None, removals: Iterable[Mapping] | None = None,
                 lines: Mapping[str, int] | None = None, labels: Iterable[LabelRow] | None = None) -> dict:
    """Return the report dict: counts per list and in total (every status present, zeros too).

    removals: _metadata.json's "removals" ({at, rows, reason, request}), kept as "removals".
    lines: requested lines per list, given when a line may have several rows (all versions).
    labels: the found rows by deletion reason (an extract's items): each list gains
    LIVE_DUPLICATES and DELETED_REASONS (the REASONS_SHOWN most frequent, then "other reasons").
    """
    per_list: dict[str, dict] = defaultdict(lambda: _empty_counts(kind))
    for name in list_names:
        per_list[name]
    totals = _empty_counts(kind)
    for row in rows:
        _add(per_list[row.list], row, kind)
        _add(totals, row, kind)
    if lines is not None:
        for name, counts in per_list.items():
            counts[ROWS], counts["requested"] = counts["requested"], int(lines.get(name, 0))
        totals[ROWS], totals["requested"] = totals["requested"], sum(c["requested"] for c in per_list.values())
    if labels is not None:
        _add_labels(per_list, totals, labels)
    for counts in [*per_list.values(), totals]:
        counts["bytes_by_media_type"] = dict(sorted(counts["bytes_by_media_type"].items()))
        if THUMBNAILS in counts:
            counts[THUMBNAILS] = {m: dict(sorted(s.items())) for m, s in sorted(counts[THUMBNAILS].items())}
        if kind == "plan":
            counts["estimated_fetch_s"] = round(estimate_fetch_seconds(
                counts[FOUND], counts["bytes_found"], connections, request_s, bytes_per_s), 1)
    report = {"kind": kind, "connections": connections,
              "lists": {name: per_list[name] for name in sorted(per_list)}, "totals": totals,
              "removals": removal_entries(removals)}
    report.update(extra or {})
    return report


class LabelRow(NamedTuple):
    """Found rows of a list with one deletion reason; how many of its ok rows live on elsewhere."""

    list: str
    deleted_reason: str | None
    rows: int
    ok_live: int


LIVE_DUPLICATES = "ok_live_duplicates"   # ok rows whose content a live file still has
DELETED_REASONS = "deleted_reasons"      # deletion reason -> found rows
REASONS_SHOWN = 20
NO_REASON = "(none: hidden or not recorded)"
OTHER_REASONS = "(other reasons)"


def _add_labels(per_list: dict, totals: dict, labels: Iterable[LabelRow]) -> None:
    by_list: dict[str, Counter] = defaultdict(Counter)
    for counts in [*per_list.values(), totals]:
        counts[LIVE_DUPLICATES] = 0
    for row in labels:
        reason = row.deleted_reason if row.deleted_reason else NO_REASON
        by_list[row.list][reason] += row.rows
        by_list["\0totals"][reason] += row.rows
        per_list[row.list][LIVE_DUPLICATES] += row.ok_live
        totals[LIVE_DUPLICATES] += row.ok_live
    for name, counts in [*per_list.items(), ("\0totals", totals)]:
        # Most frequent first, ties in text order: the same items give the same report.
        reasons = sorted(by_list.get(name, Counter()).items(), key=lambda item: (-item[1], item[0]))
        shown = dict(reasons[:REASONS_SHOWN])
        if len(reasons) > REASONS_SHOWN:
            shown[OTHER_REASONS] = sum(n for _, n in reasons[REASONS_SHOWN:])
        counts[DELETED_REASONS] = shown


def check_sums(report: dict) -> list[str]:
    """Return the lists whose counts do not add up to `requested` (empty when all do)."""
    broken = []
    for name, counts in [*report["lists"].items(), ("totals", report["totals"])]:
        # .get: a report.json written before `removed` existed has no such key (and none removed).
        parts = sum(counts[s] for s in PLAN_STATUSES) + counts[FOUND] + counts.get(REMOVED, 0)
        fetched = sum(counts.get(s, 0) for s in statuses.FETCH_STATUSES)
        if parts != counts.get(ROWS, counts["requested"]) or (report["kind"] == "extract" and fetched != counts[FOUND]):
            broken.append(name)
    return broken


def human_bytes(value: float) -> str:
    """Return 1.2 GB-style text for a byte count."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value} B"


def human_duration(seconds: float) -> str:
    """Return 45 s / 12 min / 3.5 h-style text."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


DEFAULT_TABLE = "filearchive"


def catalog_table(report: Mapping) -> str:
    """Return the table a report's rows were looked up in (its "table"; reports from before
    catalog.files looked in filearchive)."""
    return report.get("table") or DEFAULT_TABLE


def sentence(name: str, counts: dict, kind: str, connections: int, table: str = DEFAULT_TABLE) -> str:
    """Return one line in the words people used for a list's outcome."""
    knew = counts[FOUND] + counts[statuses.SUPPRESSED] + counts[statuses.NO_STORAGE_KEY]
    sampled_out = counts.get(statuses.SAMPLED_OUT, 0)
    text = f"{name}: of {counts['requested']} requested"
    if ROWS in counts and counts[ROWS] != counts["requested"]:
        text += f" ({counts[ROWS]} rows: one per deleted version)"
    text += ", "
    if sampled_out:  # never looked up: "filearchive knew 0" would read as a finding
        text += f"{sampled_out} sampled out; of the other {counts['requested'] - sampled_out}, "
    text += f"{table} knew {knew}"
    if kind == "plan":
        text = (f"{text}, {counts[FOUND]} can be fetched ({human_bytes(counts['bytes_found'])}, "
                f"about {human_duration(counts['estimated_fetch_s'])} at {connections} connections)")
    else:
        text = f"{text}, {counts[statuses.OK]} downloaded ({human_bytes(counts['bytes_ok'])})"
        if counts.get(LIVE_DUPLICATES):
            text += f", {counts[LIVE_DUPLICATES]} of them still live (the same content in a live file)"
    if counts.get(REMOVED):
        text += f"; {counts[REMOVED]} removed by legal request"
    return text + "."


def has_removed(report: Mapping) -> bool:
    """Return whether any list of the report has removed rows."""
    return bool(report["totals"].get(REMOVED))


def removal_line(removal: Mapping) -> str:
    """Return the line report.txt shows for one removal (when, how many rows, why, which request)."""
    rows = removal.get("rows")
    noun = "row" if rows == 1 else "rows"
    labels = removal.get("labels")
    cleared = f"; label texts naming a removed file cleared in {plural(labels, 'row')}" if labels else ""
    return (f"{removal.get('at')}: {rows} {noun} removed ({removal.get('reason')}, "
            f"request {removal.get('request')}){cleared}")


def thumbnails_with(counts: Mapping, status: str) -> int:
    """Return a list's (or the totals') ok rows with this thumbnail_status, all media types."""
    return sum(int(s.get(status, 0)) for s in (counts.get(THUMBNAILS) or {}).values())


def shown_thumbnails(report: Mapping) -> list[tuple[str, str]]:
    """Return the (thumbnail_status, label) rows report.txt shows: none for a report without any
    (no thumbnails asked for, or older data sets), else the three."""
    if not any(thumbnails_with(report["totals"], status) for status, _ in THUMBNAIL_LABELS):
        return []
    asked = list(THUMBNAIL_LABELS)
    # Rows from before thumbnail_status, or of a run that asked for none: the rows add up to ok.
    return asked + ([(NOT_ASKED, "ok, no thumbnail asked")] if thumbnails_with(report["totals"], NOT_ASKED) else [])


def format_table(report: dict) -> str:
    """Return the report as a text table (statuses down, lists across) and one sentence a list."""
    kind = report["kind"]
    names = list(report["lists"])
    columns = [*names, "total"]
    data = [*report["lists"].values(), report["totals"]]
    labels = ["requested", *([ROWS] if ROWS in report["totals"] else []), *PLAN_STATUSES, FOUND]
    # `removed` only when there is some: the table of a data set nobody purged stays as it was.
    # It goes before `found`, whose parts (the fetch statuses) follow it.
    if has_removed(report):
        labels.insert(labels.index(FOUND), REMOVED)
    if kind == "extract":
        labels += [s for s in statuses.FETCH_STATUSES]
    rows = [[label, *[str(c[label]) for c in data]] for label in labels]
    rows.append(["bytes found", *[human_bytes(c["bytes_found"]) for c in data]])
    if kind == "extract":
        rows.append(["bytes ok", *[human_bytes(c["bytes_ok"]) for c in data]])
        rows += [[label, *[str(thumbnails_with(c, status)) for c in data]] for status, label in shown_thumbnails(report)]
    else:
        media = sorted({m for c in data for m in c["bytes_by_media_type"]})
        rows += [[f"  {m}", *[human_bytes(c["bytes_by_media_type"].get(m, 0)) for c in data]] for m in media]
        rows.append(["est. fetch time", *[human_duration(c["estimated_fetch_s"]) for c in data]])
    header = ["", *columns]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells):
        return "  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(cells))

    out = [line(header), line(["-" * w for w in widths]), *[line(r) for r in rows], ""]
    table = catalog_table(report)
    out += [sentence(n, report["lists"][n], kind, report["connections"], table) for n in names]
    out.append(sentence("all lists", report["totals"], kind, report["connections"], table))
    if report.get("originals_in_blobs"):
        count = report["originals_in_blobs"]
        out.append(f"{plural(count, 'original')} over output.blob_bytes {'is' if count == 1 else 'are'} kept in "
                   "blobs/, in chunks by sha1 (their rows' content_in says blobs; README, Large originals).")
    removals = report.get("removals") or []
    if removals:
        out += ["", "Removals:", *[removal_line(r) for r in removals]]
    return "\n".join(out) + "\n"
