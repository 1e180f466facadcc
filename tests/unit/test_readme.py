"""The README documents every setting (a key added to defaults.yaml must be explained)."""

from pathlib import Path

from mediaextract.config import DEFAULT_KEYS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_default_key_is_documented_in_the_readme():
    missing = [key for key in DEFAULT_KEYS if f"`{key}`" not in README]
    assert missing == []


def test_quick_start_is_exactly_the_two_commands():
    quick = README.split("## Quick start", 1)[1].split("```", 2)[1]
    assert [line for line in quick.splitlines() if line.strip()] == ["make test", "make demo"]
