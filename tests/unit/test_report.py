from mediaextract.report import CountRow, build_report, check_sums, format_table


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
