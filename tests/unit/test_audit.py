"""The audit log: salted hashes that name no file, append-only lines, journals of killed runs."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

from mediaextract import audit


class MemoryFS:
    """The small-file operations AuditLog uses, in memory, remembering each file's mode."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.modes: dict[str, int] = {}
        self.dirs: set[str] = set()
        self.appends = 0

    def exists(self, path):
        return path in self.files or path in self.dirs

    def mkdirs(self, path, mode=0o700):
        self.dirs.add(path)
        self.modes[path] = mode

    def read_bytes(self, path):
        return self.files[path]

    def read_text(self, path):
        return self.files[path].decode()

    def write_bytes(self, path, data, mode=0o600):
        self.files[path], self.modes[path] = bytes(data), mode

    def create_exclusive(self, path, data, mode=0o600):
        if path in self.files:
            return False
        self.write_bytes(path, data, mode)
        return True

    def append_bytes(self, path, data, mode=0o600):
        self.appends += 1
        self.files[path] = self.files.get(path, b"") + bytes(data)
        self.modes[path] = mode

    def delete(self, path, recursive=True):
        return self.files.pop(path, None) is not None

    def list(self, path):
        class Entry:
            def __init__(self, p):
                self.path, self.is_dir = p, False
        return [Entry(p) for p in self.files if p.rsplit("/", 1)[0] == path]


NAMES = ["Foo_bar.jpg", "Caf\u00e9_del_Mar.jpg"]


def test_salted_hashes_are_stable_per_salt_and_differ_between_salts_and_kinds():
    one, two = b"a" * 64, b"b" * 64
    assert audit.salted_hash(one, "name", "Foo_bar.jpg") == audit.salted_hash(one, "name", "Foo_bar.jpg")
    assert audit.salted_hash(one, "name", "Foo_bar.jpg") != audit.salted_hash(two, "name", "Foo_bar.jpg")
    assert audit.salted_hash(one, "name", "x") != audit.salted_hash(one, "sha1", "x")
    assert re.fullmatch(r"[0-9a-f]{64}", audit.salted_hash(one, "name", "Foo_bar.jpg"))


def test_hash_identifiers_keeps_kinds_drops_empty_ones_and_sorts():
    hashed = audit.hash_identifiers(b"s", {"name": NAMES, "sha1": [], "storage_key": ["k.jpg"]})
    assert set(hashed) == {"name", "storage_key"}
    assert hashed["name"] == sorted(audit.salted_hash(b"s", "name", n) for n in NAMES)


def test_a_record_line_is_one_ascii_json_line():
    line = audit.encode_line({"request": "T1", "user": "caf\u00e9"})
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {"request": "T1", "user": "caf\u00e9"}
    line.decode("ascii")


def test_utc_text_is_utc_with_a_z():
    moment = datetime(2025, 3, 1, 12, 30, 5, 999, tzinfo=timezone.utc)
    assert audit.utc_text(moment) == "2025-03-01T12:30:05Z"
    assert audit.utc_text(datetime(2025, 3, 1, 12, 30, 5)) == "2025-03-01T12:30:05Z"


def test_the_salt_is_made_once_per_root_private_and_reused():
    fs = MemoryFS()
    first = audit.AuditLog(fs, "/r").salt()
    again = audit.AuditLog(fs, "/r").salt()
    assert first == again and len(first) == 64
    assert fs.modes["/r/_audit/salt"] == 0o600 and fs.modes["/r/_audit"] == 0o700
    assert audit.AuditLog(MemoryFS(), "/r").salt() != first


def test_lines_are_appended_0600_and_name_no_identifier_in_clear():
    fs = MemoryFS()
    log = audit.AuditLog(fs, "/r")
    log.append({"request": "T1", "identifiers": log.hashes({"name": NAMES})})
    log.append({"request": "T2"})
    assert fs.appends == 2 and fs.modes["/r/_audit/purge.jsonl"] == 0o600
    text = fs.files["/r/_audit/purge.jsonl"].decode()
    assert [r["request"] for r in log.records()] == ["T1", "T2"]
    assert all(name not in text and name.encode("unicode_escape").decode() not in text for name in NAMES)
    assert "Foo" not in text and "Caf" not in text


def test_a_finished_run_writes_one_line_with_rows_per_data_set_and_drops_its_journal():
    fs = MemoryFS()
    log = audit.AuditLog(fs, "/r")
    log.begin("run1", {"action": "purge", "request": "T1", "run": "run1"})
    log.note("run1", "/r/a", 3)
    log.note("run1", "/r/b", 2)
    log.note("run1", "/r/a", 1)  # a second table of the same data set adds up
    line = log.finish("run1", remaining=0)
    assert line["datasets"] == {"/r/a": 4, "/r/b": 2} and line["rows_removed"] == 6 and line["remaining"] == 0
    assert log.read_journal("run1") is None
    assert [r["run"] for r in log.records()] == ["run1"]


def test_a_killed_run_is_logged_as_interrupted_once():
    fs = MemoryFS()
    log = audit.AuditLog(fs, "/r")
    log.begin("dead", {"action": "purge", "request": "T9", "run": "dead"})
    log.note("dead", "/r/a", 4)
    lines = log.flush_interrupted(datetime(2025, 1, 1, tzinfo=timezone.utc))
    assert len(lines) == 1 and lines[0]["interrupted"] is True and lines[0]["rows_removed"] == 4
    assert log.flush_interrupted() == [] and len(log.records()) == 1


def test_a_killed_runs_pending_rewrite_counts_only_when_it_was_swapped_in():
    fs = MemoryFS()
    log = audit.AuditLog(fs, "/r")
    log.begin("dead", {"action": "purge", "request": "T9", "run": "dead"})
    log.stage("dead", "/r/a/items.staging-dead", "/r/a", 2)
    log.note("dead", "/r/a", 2, "/r/a/items.staging-dead")          # swapped in and counted
    log.stage("dead", "/r/a/_work/x.staging-dead", "/r/a", 5)        # swapped in, killed before its note
    log.stage("dead", "/r/b/items.staging-dead", "/r/b", 7)          # killed before its swap
    still_there = {"/r/b/items.staging-dead"}
    [line] = log.flush_interrupted(swapped_in=lambda staging: staging not in still_there)
    assert line["datasets"] == {"/r/a": 7} and line["rows_removed"] == 7 and line["interrupted"] is True


def test_a_killed_runs_pending_rewrite_does_not_count_without_a_way_to_tell():
    fs = MemoryFS()
    log = audit.AuditLog(fs, "/r")
    log.begin("dead", {"action": "purge", "run": "dead"})
    log.stage("dead", "/r/a/items.staging-dead", "/r/a", 2)
    [line] = log.flush_interrupted()
    assert line["datasets"] == {} and line["rows_removed"] == 0


def test_a_run_killed_after_its_line_was_written_is_not_logged_twice():
    fs = MemoryFS()
    log = audit.AuditLog(fs, "/r")
    log.begin("run1", {"action": "purge", "run": "run1"})
    log.append({"action": "purge", "run": "run1", "rows_removed": 0})  # the line went out, the journal stayed
    assert log.flush_interrupted() == []
    assert len(log.records()) == 1 and log.read_journal("run1") is None


def test_a_line_cut_short_by_a_crash_does_not_hide_the_others():
    records = audit.parse_lines(b'{"run":"a"}\n{"run":"b"\n{"run":"c"}\n')
    assert [r["run"] for r in records] == ["a", "c"]


def test_names_test_knows_removed_names_and_names_found_for_keys_under_each_roots_salt():
    from mediaextract.governance import rules

    a, b = b"salt-of-root-a", b"salt-of-root-b"
    blocked = [(a, {"name": frozenset({audit.salted_hash(a, "name", "Foo.jpg")})}),
               (b, {audit.NAMED: frozenset({audit.salted_hash(b, "name", "Bar.jpg")}),
                    "sha1": frozenset({audit.salted_hash(b, "sha1", "x")})})]
    removed = audit.names_test(blocked)
    assert removed("Foo.jpg") and removed("Bar.jpg")
    assert not removed("Baz.jpg") and not removed("x")
    assert not audit.names_test([(a, {"name": frozenset({audit.salted_hash(b, "name", "Foo.jpg")})})])("Foo.jpg")
    assert rules.names_a_removed_file("Duplicate of [[File:bar.jpg]]", removed)  # as extract tests a text
    assert not rules.names_a_removed_file("Duplicate of [[File:Baz.jpg]]", removed)
    assert audit.NAMED in audit.removed_hashes([{"action": "purge", "identifiers": {audit.NAMED: ["h"]}}])
