"""Governance's pure rules: identifier files, what matches, reconcile's reasons, expiry, access,
what a purge does with a killed run's staging (no Spark session)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mediaextract import statuses
from mediaextract.governance import inventory
from mediaextract.governance import rules as g
from mediaextract.digest import sha1_base36
from mediaextract.errors import BadInput

SHA1 = sha1_base36(b"grace")
HEX = "da39a3ee5e6b4b0d3255bfef95601890afd80709"  # sha1 of b""


def test_names_are_normalised_as_lists_are():
    data = "\ufeffFile:Foo bar.jpg\n# a comment\n\n* [[Image:caf\u00e9 del Mar.jpg]]\n  foo_bar.jpg \n".encode()
    assert g.parse_names(data) == {"Foo_bar.jpg", "Caf\u00e9_del_Mar.jpg"}
    assert g.parse_names(b"foo.jpg", capitalize_first=False) == {"foo.jpg"}


# --- label texts naming a removed file ----------------------------------------------------------

MENTIONED = g.Selector(names=frozenset({"Live_photo.jpg", "Caf\u00e9_del_Mar.jpg", "Don't.jpg"}))


@pytest.mark.parametrize("text", [
    "Duplicate of [[File:Live_photo.jpg]]",           # as the catalog holds it
    "dup of [[File:live photo.jpg|this]]",            # first letter small, a space
    "see Live  _photo.jpg",                           # runs of spaces and underscores
    "https://commons.wikimedia.org/wiki/File:Caf%C3%A9_del_Mar.jpg",  # a URL
    "Caf%C3%A9%20del%20Mar.jpg",
    "Other.jpg|Live_photo.jpg",                       # live duplicates' names
    b"Live photo.jpg",                                # read as bytes
    "per [[Commons:Deletion requests/Don&#39;t.jpg]]",  # an HTML character reference
])
def test_a_label_text_naming_a_removed_file_in_any_written_form_mentions_it(text):
    assert MENTIONED.mentions(text)


@pytest.mark.parametrize("text", [None, "", "Livephoto.jpg", "Live_photo.png", "LIVE photo.jpg", "Out of scope",
                                  "xLive photo.jpg", "Live photo.jpgx"])  # another name: not at a word's edge
def test_other_texts_do_not_mention_it(text):
    assert not MENTIONED.mentions(text)


def test_only_names_are_searched_for_in_label_texts():
    by_sha1 = g.Selector(sha1s=frozenset({SHA1}))
    assert not by_sha1.mentions(f"Duplicate of {SHA1}") and not by_sha1.mentions(f"{SHA1}.jpg")
    candidates = g.name_candidates("Duplicate of [[File:live photo.jpg|x]] (Foo.png)")
    assert {"Live_photo.jpg", "Photo.jpg", "Foo.png", "Of_[[File:live_photo.jpg"} <= candidates
    assert not {"Ive_photo.jpg", "Live_photo.jp", "Live_photo"} & candidates  # from word starts to extension ends
    assert max(len(c.encode()) for c in g.name_candidates("a " * 400 + "b.jpg")) <= 255


def test_without_mentions_clears_only_the_label_texts_that_name_a_removed_file():
    record = {"name": "Pure.jpg", "deleted_reason": "Duplicate of [[File:Live_photo.jpg]]",
              "description": "Photo taken with my phone", "live_duplicate_of": "Live_photo.jpg", "line": 3}
    assert g.without_mentions(record, MENTIONED.names.__contains__) == {**record, "deleted_reason": None, "live_duplicate_of": None}
    assert g.without_mentions({**record, "deleted_reason": "Out of scope", "live_duplicate_of": None},
                              MENTIONED.names.__contains__) is None
    assert g.without_mentions({"name": "Live_photo.jpg"}, MENTIONED.names.__contains__) is None  # names are matched, not cleared


def test_a_names_file_with_an_unusable_line_is_refused_by_line_number_without_the_name():
    with pytest.raises(BadInput) as error:
        g.parse_names(b"Good.jpg\nCategory:Secret stuff\n")
    assert "line 2" in str(error.value) and "Secret" not in str(error.value)
    with pytest.raises(BadInput):
        g.parse_names(b"# only a comment\n")


def test_sha1s_in_base36_or_hex_become_base36():
    assert g.parse_sha1s(f"{SHA1.upper()}\n{HEX}\n".encode()) == {SHA1, sha1_base36(b"")}
    assert g.parse_sha1s(b"abc\n") == {"abc".zfill(31)}  # MediaWiki zero-pads to 31
    for bad in (b"not a sha1!\n", b"\n", b"g" * 32 + b"\n"):
        with pytest.raises(BadInput):
            g.parse_sha1s(bad)


def test_storage_keys_are_taken_as_written_and_paths_refused():
    assert g.parse_storage_keys(f"{SHA1}.jpg\n # c\n{SHA1}\n".encode()) == {f"{SHA1}.jpg", SHA1}
    with pytest.raises(BadInput):
        g.parse_storage_keys(b"a/b/c/key.jpg\n")


ROW = {"list": "covers", "name": "Foo_bar.jpg", "sha1": SHA1, "storage_key": f"{SHA1}.jpg", "fa_id": 2}


@pytest.mark.parametrize("selector", [
    g.Selector(names=frozenset({"Foo_bar.jpg"})),
    g.Selector(sha1s=frozenset({SHA1})),
    g.Selector(storage_keys=frozenset({f"{SHA1}.jpg"})),
    g.Selector(fa_ids=frozenset({2})),
    g.Selector(versions=frozenset({("Foo_bar.jpg", SHA1)})),
])
def test_a_row_matches_by_any_of_its_identifiers(selector):
    assert selector.matches(ROW)
    assert not selector.matches({"name": "Other.jpg", "sha1": "x", "storage_key": "y", "fa_id": 3})


def test_catalog_rows_match_on_their_bytes_and_nulls_or_empty_keys_never_match():
    selector = g.Selector(names=frozenset({"Caf\u00e9.jpg"}), storage_keys=frozenset({""}))
    assert selector.matches({"name_bytes": "Caf\u00e9.jpg".encode(), "sha1": b" x "})
    assert not selector.matches({"name": None, "sha1": None, "storage_key": "", "fa_id": None})
    assert not g.Selector(versions=frozenset({("Foo_bar.jpg", SHA1)})).matches({"name": "Foo_bar.jpg", "sha1": "z"})


def test_a_name_matches_exactly_not_by_case_or_prefix():
    selector = g.Selector(names=frozenset({"Foo_bar.jpg"}))
    assert not selector.matches({"name": "Foo_Bar.jpg"}) and not selector.matches({"name": "Foo_bar.jpg.png"})


def test_identifiers_and_their_description_never_show_a_name():
    selector = g.Selector(names=frozenset({"Foo_bar.jpg", "B.jpg"}), fa_ids=frozenset({7}))
    assert selector.describe() == "2 names, 1 fa_id"
    assert selector.identifiers()["name"] == ["B.jpg", "Foo_bar.jpg"] and selector.identifiers()["fa_id"] == ["7"]
    assert g.Selector().is_empty() and not selector.is_empty()


@pytest.mark.parametrize("facts, reason", [
    (dict(visibility=15, live_same_sha1=True, key_held=False, has_key=True), g.SUPPRESSED),
    (dict(visibility=8, live_same_sha1=False, key_held=True, has_key=True), g.SUPPRESSED),
    (dict(visibility=None, live_same_sha1=True, key_held=False, has_key=True), g.UNDELETED),
    (dict(visibility=None, live_same_sha1=False, key_held=False, has_key=True), g.HARD_DELETED),
    (dict(visibility=1, live_same_sha1=False, key_held=True, has_key=True), None),
    (dict(visibility=0, live_same_sha1=False, key_held=True, has_key=True), None),
    (dict(visibility=0, live_same_sha1=False, key_held=False, has_key=False), None),
])
def test_reconcile_reasons_in_their_order(facts, reason):
    assert g.reconcile_reason(suppress_bits=8, **facts) == reason


def test_hidden_content_counts_as_suppressed_when_configured():
    assert g.reconcile_reason(visibility=1, suppress_bits=9, live_same_sha1=False, key_held=True,
                              has_key=True) == g.SUPPRESSED


@pytest.mark.parametrize("visibility, held, reason", [
    (None, True, None),               # still a live file (image has no bits), or deleted since: may stay
    (0, True, None),                  # an old version, visible
    (1, True, None),                  # its file hidden, not suppressed by default
    (8, True, g.SUPPRESSED),          # suppressed since
    (8, False, g.SUPPRESSED),         # suppressed says the most
    (None, False, g.HARD_DELETED),    # no file of the wiki has the content any more
])
def test_control_reconcile_reasons(visibility, held, reason):
    assert g.control_reconcile_reason(visibility=visibility, suppress_bits=8, sha1_held=held) == reason


NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("metadata, warn, state", [
    ({"expires": "2025-05-31T00:00:00+00:00"}, None, "expired"),
    ({"expires": "2025-06-01T00:00:00+00:00"}, None, "expired"),
    ({"expires": "2025-06-05T00:00:00+00:00"}, None, "current"),
    ({"expires": "2025-06-05T00:00:00Z"}, 7, "soon"),
    ({"expires": "2025-06-20T00:00:00"}, 7, "current"),
    ({"created": "2025-01-01"}, None, "unreadable"),
    ({"expires": "soon"}, None, "unreadable"),
    (None, 7, "unreadable"),
])
def test_expiry_state(metadata, warn, state):
    assert g.expiry_state(metadata, NOW, warn)[0] == state


def test_expiry_is_judged_by_the_injected_clock():
    metadata = {"expires": (NOW + timedelta(days=1)).isoformat()}
    assert g.expiry_state(metadata, NOW)[0] == "current"
    assert g.expiry_state(metadata, NOW + timedelta(days=2))[0] == "expired"


@pytest.mark.parametrize("mode, group_readable, problem", [
    (0o600, False, None), (0o700, False, None),
    (0o640, False, "group: r--"), (0o750, False, "group: r-x"),
    (0o640, True, None), (0o750, True, None), (0o660, True, "group: rw-"),
    (0o644, True, "others: r--"), (0o701, False, "others: --x"),
])
def test_access_problems(mode, group_readable, problem):
    assert g.access_problem(mode, group_readable) == problem


def test_an_acl_is_always_reported():
    assert "ACL" in g.access_problem(0o600, False, acl=True)


@pytest.mark.parametrize("name, is_dir, committed, kind", [
    ("_temporary", True, False, g.SPARK_TEMPORARY),
    ("items.staging-20261129T101010-abc123", True, False, g.SWAP_STAGING),
    (".covers-tar.exporting-1a2b3c4d", True, False, g.EXPORT_STAGING),
    ("covers-tar.replaced-1a2b3c4d", True, False, g.EXPORT_REPLACED),
    ("batch-00003", True, False, g.UNCOMMITTED_BATCH),
    ("batch-00003", True, True, None),
    ("report.json._writing", False, False, g.HALF_WRITTEN),
    ("covers.expiring", True, False, g.EXPIRING),
    ("list=my.staging-list", True, False, None),   # a partition is data, whatever its list is called
    ("items", True, False, None),
    ("part-00000.parquet", False, False, None),
])
def test_what_a_dead_run_left_is_told_by_its_name(name, is_dir, committed, kind):
    assert g.leftover_kind(name, is_dir, committed) == kind


def test_a_half_done_swap_rolls_back_unless_the_new_copy_is_in_place():
    assert g.swap_repair(target_exists=False) == g.ROLL_BACK
    assert g.swap_repair(target_exists=True) == g.DROP_OLD
    assert g.swapped_aside("items.old", True) and not g.swapped_aside("list=a.old", True)


def test_only_tables_of_requested_lines_keep_a_removed_row():
    assert g.keeps_rows(["list", "line", "status", "name"]) and not g.keeps_rows(["fa_id", "name_bytes"])
    row = g.removed_row({"list": "covers", "line": 3, "name": "Foo.jpg", "sha1": "x", "status": "ok", "reason": None})
    assert row == {"list": "covers", "line": 3, "name": None, "sha1": None, "status": statuses.REMOVED,
                   "reason": g.REMOVED_REASON}


def test_a_data_set_is_told_by_its_metadata_file_or_items_directory():
    assert inventory.is_dataset({"_metadata.json": False}) and inventory.is_dataset({"items": True})
    assert not inventory.is_dataset({"items": False, "_metadata.json": True, "report.json": False})


def test_table_roots_strip_partition_directories_down_to_the_root_only():
    assert g.table_root("file:/r/ds/items/list=a", "file:/r") == ("file:/r/ds/items", ("list",))
    assert g.table_root("file:/r/snap/filearchive", "file:/r") == ("file:/r/snap/filearchive", ())
    assert g.table_root("file:/r/t/y=2024/m=1", "file:/r") == ("file:/r/t", ("y", "m"))
    assert g.table_root("file:/r/k=v", "file:/r/k=v") == ("file:/r/k=v", ())


def test_the_report_line_says_how_many_rows_went_when_and_why_but_not_which():
    line = g.removal_line("2025-06-01T00:00:00Z", 1, "legal request", "T-1")
    assert line.startswith("2025-06-01T00:00:00Z: 1 row removed (legal request, request T-1)")
    assert g.table_id("file:/a") != g.table_id("file:/b") and "/" not in g.table_id("file:/a")
