import re

from mediaextract.report import (DELETED_REASONS, LIVE_DUPLICATES, NO_REASON, NOT_ASKED, OTHER_REASONS, REASONS_SHOWN,
                                THUMBNAILS, CountRow, LabelRow, build_report, check_sums, format_table, sentence)


ROWS = [
    CountRow("books", "invalid_name", None, 2, 0),
    CountRow("books", "duplicate", None, 1, 0),
    CountRow("books", "not_in_filearchive", None, 3, 0),
    CountRow("books", "suppressed", None, 1, 0),
    CountRow("books", "pending", "bitmap", 4, 4_000_000),
    CountRow("books", "pending", "drawing", 1, 500),
    CountRow("logos", "pending", "bitmap", 2, 10),
]


def test_plan_counts_add_up_and_found_is_everything_to_fetch():
    built = build_report(ROWS, "plan", list_names=["empty"], connections=4, request_s=1.0, bytes_per_s=1e6)
    books = built["lists"]["books"]
    assert books["requested"] == 12
    assert books["found"] == 5
    assert books["bytes_found"] == 4_000_500
    assert books["bytes_by_media_type"] == {"bitmap": 4_000_000, "drawing": 500}
    assert books["estimated_fetch_s"] == round((5 * 1.0 + 4_000_500 / 1e6) / 4, 1)
    assert built["lists"]["empty"]["requested"] == 0
    assert built["totals"]["requested"] == 14
    assert check_sums(built) == []


def test_extract_counts_split_found_into_fetch_statuses():
    rows = [CountRow("a", "ok", "bitmap", 3, 300), CountRow("a", "not_in_storage", "bitmap", 1, 10),
            CountRow("a", "not_in_filearchive", None, 2, 0)]
    built = build_report(rows, "extract")
    counts = built["lists"]["a"]
    assert (counts["found"], counts["ok"], counts["not_in_storage"], counts["bytes_ok"]) == (4, 3, 1, 300)
    assert check_sums(built) == []
    built["lists"]["a"]["ok"] = 2
    assert check_sums(built) == ["a"]


def test_table_has_a_sentence_per_list_in_peoples_words():
    rows = [CountRow("covers", "ok", "bitmap", 2441, 10), CountRow("covers", "not_in_storage", "bitmap", 12, 0),
            CountRow("covers", "not_in_filearchive", None, 74, 0)]
    text = format_table(build_report(rows, "extract"))
    assert "covers: of 2527 requested, filearchive knew 2453, 2441 downloaded" in text
    header = text.splitlines()[0].split()
    assert header == ["covers", "total"]


REMOVED_ROWS = [CountRow("covers", "ok", "bitmap", 5, 500), CountRow("covers", "not_in_storage", "bitmap", 1, 10),
                CountRow("covers", "duplicate", None, 1, 0), CountRow("covers", "removed", None, 2, 0),
                CountRow("logos", "ok", "bitmap", 3, 30)]
REMOVALS = [{"at": "2026-11-21T22:00:40Z", "rows": 2, "reason": "legal request", "request": "T-12345",
             "run": "0fda96196758", "names": ["Secret_cover.jpg"]},
            {"at": "2026-11-22T08:00:00Z", "rows": 1, "reason": "legal request", "request": "T-7"},
            {"at": "2026-11-23T09:00:00Z", "rows": 0, "reason": "legal request", "request": "T-8", "labels": 2}]


def test_removed_rows_are_requested_but_not_found():
    built = build_report(REMOVED_ROWS, "extract", removals=REMOVALS)
    covers = built["lists"]["covers"]
    assert (covers["requested"], covers["removed"], covers["found"], covers["ok"]) == (9, 2, 6, 5)
    assert covers["bytes_found"] == 510 and covers["bytes_by_media_type"] == {"bitmap": 510}
    assert built["lists"]["logos"]["removed"] == 0
    assert (built["totals"]["requested"], built["totals"]["removed"]) == (12, 2)
    assert check_sums(built) == []
    built["lists"]["covers"]["removed"] = 1
    assert check_sums(built) == ["covers"]


def test_every_report_has_a_removed_count_and_removals():
    plan = build_report([CountRow("a", "pending", "bitmap", 1, 5)], "plan")
    assert plan["totals"]["removed"] == 0 and plan["removals"] == []
    assert build_report([], "extract")["removals"] == []


def test_removals_keep_when_how_many_why_and_which_request_only():
    built = build_report(REMOVED_ROWS, "extract", removals=REMOVALS)
    assert built["removals"] == [
        {"at": "2026-11-21T22:00:40Z", "rows": 2, "reason": "legal request", "request": "T-12345"},
        {"at": "2026-11-22T08:00:00Z", "rows": 1, "reason": "legal request", "request": "T-7"},
        {"at": "2026-11-23T09:00:00Z", "rows": 0, "reason": "legal request", "request": "T-8", "labels": 2}]


def test_sums_of_a_report_written_before_removed_existed_still_hold():
    built = build_report([CountRow("a", "ok", "bitmap", 3, 300)], "extract")
    for counts in [*built["lists"].values(), built["totals"]]:
        del counts["removed"]
    del built["removals"]
    assert check_sums(built) == []
    assert "removed" not in format_table(built)


def test_table_shows_removed_and_the_removals():
    text = format_table(build_report(REMOVED_ROWS, "extract", removals=REMOVALS))
    lines = text.splitlines()
    labels = [line.split()[0] for line in lines[2:lines.index("")]]
    assert labels.index("removed") == labels.index("found") - 1
    assert [line.split() for line in lines if line.startswith("removed ")] == [["removed", "2", "0", "2"]]
    assert ("covers: of 9 requested, filearchive knew 6, 5 downloaded (500 B); 2 removed by legal request."
            in lines)
    assert "logos: of 3 requested, filearchive knew 3, 3 downloaded (30 B)." in lines
    assert "all lists: of 12 requested, filearchive knew 9, 8 downloaded (530 B); 2 removed by legal request." in lines
    assert lines[-4:] == ["Removals:",
                          "2026-11-21T22:00:40Z: 2 rows removed (legal request, request T-12345)",
                          "2026-11-22T08:00:00Z: 1 row removed (legal request, request T-7)",
                          "2026-11-23T09:00:00Z: 0 rows removed (legal request, request T-8); "
                          "label texts naming a removed file cleared in 2 rows"]
    assert "Secret_cover" not in text


def test_table_without_removed_rows_is_as_before():
    rows = [CountRow("covers", "ok", "bitmap", 2, 10), CountRow("covers", "not_in_filearchive", None, 1, 0)]
    text = format_table(build_report(rows, "extract"))
    assert "removed" not in text and "Removals" not in text
    assert text.splitlines()[-1] == "all lists: of 3 requested, filearchive knew 2, 2 downloaded (10 B)."


def test_a_list_whose_names_were_sampled_out_says_so_instead_of_filearchive_knew_nothing():
    rows = [CountRow("covers", "sampled_out", None, 9, 0), CountRow("covers", "ok", "bitmap", 1, 10)]
    text = format_table(build_report(rows, "extract"))
    assert "covers: of 10 requested, 9 sampled out; of the other 1, filearchive knew 1, 1 downloaded (10 B)." in text


def test_with_every_version_requested_counts_lines_and_rows_counts_versions():
    # 79 lines, two of which have a second deleted version: 81 rows.
    rows = [CountRow("covers", "ok", "BITMAP", 75, 7500), CountRow("covers", "not_in_filearchive", None, 4, 0),
            CountRow("covers", "suppressed", None, 2, 0)]
    built = build_report(rows, "extract", lines={"covers": 79})
    covers = built["lists"]["covers"]
    assert (covers["requested"], covers["rows"]) == (79, 81)
    assert (built["totals"]["requested"], built["totals"]["rows"]) == (79, 81)
    assert check_sums(built) == []
    table = format_table(built)
    assert "covers: of 79 requested (81 rows: one per deleted version), filearchive knew 77" in table
    assert any(line.split()[:1] == ["rows"] and line.split()[-1] == "81" for line in table.splitlines())


def test_with_one_row_per_line_no_rows_count_is_shown():
    built = build_report([CountRow("covers", "ok", "BITMAP", 3, 30)], "extract")
    assert "rows" not in built["lists"]["covers"] and "rows:" not in format_table(built)


# --- labels: deletion reasons and live duplicates per list ----------------------------------------

def test_labels_count_live_duplicates_and_the_most_frequent_reasons_per_list():
    rows = [CountRow("covers", "ok", "bitmap", 5, 500), CountRow("logos", "ok", "bitmap", 30, 3000)]
    found = [LabelRow("covers", "Copyright violation", 3, 1), LabelRow("covers", None, 1, 0),
             LabelRow("covers", "", 1, 1)]
    found += [LabelRow("logos", f"reason {i:02d}", 1 + (i == 7), 0) for i in range(REASONS_SHOWN + 3)]
    built = build_report(rows, "extract", labels=found)
    covers, logos = built["lists"]["covers"], built["lists"]["logos"]
    assert covers[LIVE_DUPLICATES] == 2 and logos[LIVE_DUPLICATES] == 0 and built["totals"][LIVE_DUPLICATES] == 2
    # hidden (null) and empty texts count together as "no reason"; ties in text order
    assert covers[DELETED_REASONS] == {"Copyright violation": 3, NO_REASON: 2}
    assert list(logos[DELETED_REASONS])[:3] == ["reason 07", "reason 00", "reason 01"]
    assert len(logos[DELETED_REASONS]) == REASONS_SHOWN + 1 and logos[DELETED_REASONS][OTHER_REASONS] == 3
    assert built["totals"][DELETED_REASONS]["Copyright violation"] == 3
    assert "2 of them still live (the same content in a live file)" in sentence("covers", covers, "extract", 1)
    assert "still live" not in sentence("logos", logos, "extract", 1)


def test_a_report_without_labels_has_no_label_keys():
    built = build_report([CountRow("covers", "ok", "bitmap", 5, 500)], "extract")
    assert LIVE_DUPLICATES not in built["lists"]["covers"] and DELETED_REASONS not in built["totals"]


def test_ok_rows_are_counted_by_media_type_and_thumbnail_status():
    rows = [CountRow("a", "ok", "bitmap", 3, 300, "made"), CountRow("a", "ok", "bitmap", 1, 10, "failed"),
            CountRow("a", "ok", "audio", 2, 20, "not_visual"), CountRow("b", "ok", "drawing", 1, 5, None),
            CountRow("a", "not_in_storage", "bitmap", 4, 40, None)]
    built = build_report(rows, "extract")
    assert built["lists"]["a"][THUMBNAILS] == {"audio": {"not_visual": 2}, "bitmap": {"failed": 1, "made": 3}}
    assert built["lists"]["b"][THUMBNAILS] == {"drawing": {NOT_ASKED: 1}}
    assert built["totals"][THUMBNAILS]["bitmap"] == {"failed": 1, "made": 3}
    assert check_sums(built) == []
    table = format_table(built)
    assert re.search(r"^ok with thumbnail +3 +0 +3$", table, re.M)
    assert re.search(r"^ok, thumbnail failed +1 +0 +1$", table, re.M)
    assert re.search(r"^ok, nothing to see +2 +0 +2$", table, re.M)


def test_no_thumbnail_rows_in_the_table_when_none_were_asked_for():
    built = build_report([CountRow("a", "ok", "bitmap", 3, 300)], "extract")
    assert built["lists"]["a"][THUMBNAILS] == {"bitmap": {NOT_ASKED: 3}}
    assert "thumbnail" not in format_table(built)
