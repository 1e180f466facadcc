"""status: the dict a data set's status is, and the text people read (no Spark)."""

from __future__ import annotations

from datetime import datetime, timezone

from mediaextract import report, statuses
from mediaextract.governance import inventory as inv
from mediaextract.status import build_status, exports_of, format_status

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
DATA_SET = "file:/srv/out/demo"
ROWS = [report.CountRow("books", statuses.OK, "BITMAP", 3, 3000),
        report.CountRow("books", statuses.INVALID_NAME, None, 2, 0),
        report.CountRow("books", statuses.REMOVED, None, 1, 0),
        report.CountRow("logos", statuses.NOT_IN_STORAGE, "DRAWING", 1, 500)]
METADATA = {"created": "2026-06-01T00:00:00+00:00", "updated": "2026-06-02T00:00:00+00:00",
            "expires": "2026-11-28T00:00:00+00:00",
            "removals": [{"at": "2026-07-01T00:00:00Z", "rows": 1, "reason": "legal request",
                          "request": "T-1", "run": "abc"}]}


def export_copy(path, data_set=DATA_SET, kind=inv.EXPORT, state=inv.COMPLETE):
    return inv.Copy(kind=kind, path=path, state=state, dataset=data_set, created="2026-07-02T00:00:00+00:00",
                    extra={"format": "tar", "what": "originals", "lists": ["books"], "staging": "x"})


def test_counts_per_list_and_status_add_up_with_every_status_present():
    status = build_status(DATA_SET, ROWS, METADATA, [], NOW)
    books = status["lists"]["books"]
    assert (books["requested"], books[statuses.OK], books[statuses.INVALID_NAME], books[statuses.REMOVED]) == (6, 3, 2, 1)
    assert books[statuses.FETCH_FAILED] == 0 and books["bytes_ok"] == 3000
    assert status["totals"]["requested"] == 7 and status["totals"][statuses.NOT_IN_STORAGE] == 1
    assert report.check_sums({"kind": "extract", **status}) == []


def test_removals_keep_no_run_id_and_dates_come_from_the_metadata():
    status = build_status(DATA_SET, ROWS, METADATA, [], NOW)
    assert status["removals"] == [{"at": "2026-07-01T00:00:00Z", "rows": 1, "reason": "legal request", "request": "T-1"}]
    assert (status["created"], status["expires"], status["expiry"]) == (
        "2026-06-01T00:00:00+00:00", "2026-11-28T00:00:00+00:00", "current")
    assert build_status(DATA_SET, ROWS, METADATA, [], datetime(2027, 1, 1, tzinfo=timezone.utc))["expiry"] == "expired"
    assert build_status(DATA_SET, ROWS, {}, [], NOW)["expiry"] == "unreadable"


def test_only_exports_of_this_data_set_are_listed_by_path():
    copies = [export_copy("file:/srv/out/z"), export_copy("file:/srv/out/a", state=inv.WRITING),
              export_copy("file:/srv/out/other", data_set="file:/srv/out/else"),
              export_copy("file:/srv/out/demo/_work/run-1/batch-00000", kind=inv.BATCH)]
    found = exports_of(copies, DATA_SET)
    assert [e["path"] for e in found] == ["file:/srv/out/a", "file:/srv/out/z"]
    assert found[0] == {"path": "file:/srv/out/a", "state": inv.WRITING, "format": "tar", "what": "originals",
                        "lists": ["books"], "created": "2026-07-02T00:00:00+00:00", "host": None}


def test_the_text_says_dates_counts_removals_and_exports():
    status = build_status(DATA_SET, ROWS, METADATA, exports_of([export_copy("file:/srv/out/a", state=inv.WRITING)],
                                                               DATA_SET), NOW)
    text = format_status(status, NOW)
    assert text.splitlines()[0] == (f"{DATA_SET}: created 2026-06-01T00:00:00+00:00, "
                                    "expires 2026-11-28T00:00:00+00:00 (in 6 days)")
    assert "books: of 6 requested, filearchive knew 3, 3 downloaded (3.0 kB); 1 removed by legal request." in text
    assert "2026-07-01T00:00:00Z: 1 row removed (legal request, request T-1)" in text
    assert "Exports: 1 registered export" in text
    assert "  file:/srv/out/a: tar, originals, books; made 2026-07-02T00:00:00+00:00 [writing]" in text


def test_the_text_of_an_expired_data_set_without_exports_or_removals():
    later = datetime(2026, 12, 1, tzinfo=timezone.utc)
    text = format_status(build_status(DATA_SET, ROWS, {**METADATA, "removals": []}, [], later), later)
    assert "expired 2026-11-28T00:00:00+00:00 (3 days ago; expire deletes it)" in text.splitlines()[0]
    assert "Removals: none" in text and text.rstrip().endswith("Exports: none registered")
