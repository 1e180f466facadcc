"""What a data set holds, as one dict and as text for people (no Spark, no I/O).

jobs/status.py reads the few things this needs (counts per list and status from `items`,
_metadata.json, the registry entries of its exports) and hands them here; `--json` prints the
dict, the default the text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Mapping

from . import report
from .governance import inventory as inv
from .governance import rules


def export_summary(copy: inv.Copy) -> dict:
    """Return what status says of one registered export: where, in which form, how whole."""
    return {"path": copy.path, "state": copy.state, "format": copy.extra.get("format"),
            "what": copy.extra.get("what"), "lists": list(copy.extra.get("lists") or []),
            "created": copy.created, "host": copy.host}


def exports_of(copies: Iterable[inv.Copy], data_set: str) -> list[dict]:
    """Return the exports among registry entries that were made from data_set (qualified), by path."""
    found = {c.path: export_summary(c) for c in copies if c.kind == inv.EXPORT and c.dataset == data_set}
    return [found[path] for path in sorted(found)]


def build_status(data_set: str, rows: Iterable[report.CountRow], metadata: Mapping,
                 exports: Iterable[dict], now: datetime, lines: Mapping[str, int] | None = None,
                 labels: Iterable[report.LabelRow] | None = None) -> dict:
    """Return the status of a data set: counts per list and status (every status, zeros too, as
    report.json has them), removals, dates and whether it has expired at `now`, its exports.
    lines: requested lines per list when the data set holds every version, labels: the found rows
    by deletion reason (both as report.build_report takes them)."""
    built = report.build_report(rows, "extract", removals=metadata.get("removals"), lines=lines, labels=labels,
                                extra={k: v for k, v in (metadata.get("catalog") or {}).items() if k in ("files", "table")})
    state, expires = rules.expiry_state(metadata, now)
    return {
        "dataset": data_set,
        "created": metadata.get("created"),
        "updated": metadata.get("updated"),
        "expires": expires.isoformat(timespec="seconds") if expires else None,
        # "unreadable": the metadata has no usable date; expire keeps such a data set and says so.
        "expiry": state,
        "lists": built["lists"],
        "totals": built["totals"],
        "removals": built["removals"],
        "exports": list(exports),
    }


def _expiry_text(status: Mapping, now: datetime) -> str:
    if status["expiry"] == "unreadable":
        return "no readable expiry date"
    expires = datetime.fromisoformat(status["expires"])
    days = (expires - now).total_seconds() / 86400
    if status["expiry"] == "expired":
        return f"expired {status['expires']} ({report.plural(int(-days), 'day')} ago; expire deletes it)"
    return f"expires {status['expires']} (in {report.plural(int(days), 'day')})"


def _export_line(export: Mapping) -> str:
    state = "" if export["state"] == inv.COMPLETE else f" [{export['state']}]"
    lists = ", ".join(export["lists"]) or "all lists"
    return f"  {export['path']}: {export['format']}, {export['what']}, {lists}; made {export['created']}{state}"


def format_status(status: Mapping, now: datetime) -> str:
    """Return the status as people read it: dates, the counts table with its sentences and
    removals (as report.txt has them), then one line per export."""
    lines = [f"{status['dataset']}: created {status['created']}, {_expiry_text(status, now)}", ""]
    table = report.format_table({"kind": "extract", "connections": 1, "lists": status["lists"],
                                 "totals": status["totals"], "removals": status["removals"]})
    lines += table.rstrip("\n").splitlines()
    if not status["removals"]:
        lines += ["", "Removals: none"]
    exports = status["exports"]
    lines += ["", f"Exports: {report.plural(len(exports), 'registered export')}" if exports else "Exports: none registered"]
    lines += [_export_line(e) for e in exports]
    return "\n".join(lines) + "\n"
