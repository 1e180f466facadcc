"""--json: one object on stdout, the same keys whether the job succeeded or failed (no Spark)."""

from __future__ import annotations

import argparse
import io
import json

import pytest

from mediaextract import json_output
from mediaextract.errors import BadInput, StorageDown


def test_an_object_is_one_line_with_sorted_keys_and_text_kept():
    stream = io.StringIO()
    json_output.emit({"b": 1, "a": "Café\nx", **json_output.outcome()}, stream)
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert json.loads(text) == {"a": "Café\nx", "b": 1, "exit_code": 0, "meaning": "done"}
    assert text.index('"a"') < text.index('"b"')


def test_a_documented_failure_is_printed_as_the_object_and_raised_on():
    stream = io.StringIO()
    with pytest.raises(StorageDown):
        with json_output.failures_as_json(True, stream):
            raise StorageDown("storage looks down")
    assert json.loads(stream.getvalue()) == {
        "exit_code": 5, "meaning": "storage looks down: stopped cleanly, resumable", "error": "storage looks down"}


def test_without_json_a_failure_prints_nothing_and_a_bug_is_never_an_object():
    stream = io.StringIO()
    with pytest.raises(BadInput):
        with json_output.failures_as_json(False, stream):
            raise BadInput("no")
    with pytest.raises(ZeroDivisionError):
        with json_output.failures_as_json(True, stream):
            1 / 0
    assert stream.getvalue() == ""


def test_json_quietens_the_log_unless_verbose():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--verbose", action="store_true")
    json_output.add_option(parser)
    assert json_output.quiet(parser.parse_args(["--json"]))
    assert not json_output.quiet(parser.parse_args(["--json", "--verbose"]))
    assert not json_output.quiet(parser.parse_args([]))
    assert json_output.quiet(parser.parse_args(["--quiet"]))
