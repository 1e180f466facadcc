"""scheduled selects deleted files by their deletion in a period: the control options are refused
with one line and exit 2, before any Spark work."""

import pytest

from jobs import scheduled
from mediaextract import cli
from mediaextract.errors import EXIT_BAD_INPUT

BASE = ["--nominal-time", "2026-10-01T00:00Z", "--frequency", "monthly", "--output-root", "/nonexistent/periods"]


@pytest.mark.parametrize("extra", [["--files", "live"], ["--uploaded-since", "2024-01-01"],
                                   ["--set", "catalog.files=old"]])
def test_scheduled_refuses_control_options_in_one_line(extra, capsys):
    code = cli.run(scheduled.main, [*BASE, *extra])
    captured = capsys.readouterr()
    assert code == EXIT_BAD_INPUT
    assert captured.out == ""
    assert captured.err == ("mediaextract: error: scheduled selects deleted files by their deletion in a period: "
                            "--files, --uploaded-since and --uploaded-until are for extract and plan\n")
