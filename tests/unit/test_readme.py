"""The README's settings table is the declaration's (key, default, meaning); the quick start is two commands."""

from pathlib import Path

from mediaextract.config import SETTINGS, yaml_value

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def settings_table_rows() -> list[tuple[str, str, str]]:
    """Return (key, default, meaning) of each row of the table under "## Settings", backticks dropped."""
    section = README.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    assert lines[:2] == ["| key | default | meaning |", "|---|---|---|"]
    rows = []
    for line in lines[2:]:
        key, default, meaning = (cell.strip() for cell in line.strip("|").split("|"))
        rows.append((key.strip("`"), default.removeprefix("`").removesuffix("`"), meaning))
    return rows


def test_the_settings_table_is_the_declaration():
    # Regenerate with: .venv/bin/python -m mediaextract.config table
    assert settings_table_rows() == [(s.key, yaml_value(s.default), s.doc) for s in SETTINGS]


def test_quick_start_is_exactly_the_two_commands():
    quick = README.split("## Quick start", 1)[1].split("```", 2)[1]
    assert [line for line in quick.splitlines() if line.strip()] == ["make test", "make demo"]
