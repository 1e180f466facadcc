"""The one mapping from thumbnail_mime to a file extension: what thumbs.py writes, what exports
use, and what README "Reading the output" shows (its table and its snippet)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from mediaextract import thumbs
from mediaextract.safe_names import THUMBNAIL_EXTENSIONS, extension_of, thumbnail_extension, thumbnail_name

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
WRITTEN = {mime: extensions[0] for mime, extensions in THUMBNAIL_EXTENSIONS.items()}


def reading_section() -> str:
    return README.split("\n## Reading the output\n", 1)[1].split("\n## ", 1)[0]


def readme_table() -> dict[str, str]:
    """Return thumbnail_mime -> extension from the table under "Reading the output"."""
    lines = [line for line in reading_section().splitlines() if line.startswith("|")]
    assert lines[:2] == ["| `thumbnail_mime` | extension |", "|---|---|"]
    rows = [[cell.strip().strip("`") for cell in line.strip("|").split("|")] for line in lines[2:]]
    return {mime: extension for mime, extension in rows}


def test_the_readme_table_is_the_declaration():
    assert readme_table() == WRITTEN


def test_the_readme_snippet_writes_with_the_declared_extensions():
    literal = re.search(r"^EXTENSIONS = (\{.*?\})", reading_section(), re.M)
    assert literal and ast.literal_eval(literal.group(1)) == WRITTEN


def test_every_format_thumbs_writes_has_an_extension_and_nothing_else_does():
    assert set(THUMBNAIL_EXTENSIONS) == {thumbs.MIME_JPEG, thumbs.MIME_PNG, thumbs.MIME_WEBP}


def test_thumbnail_extension_and_the_export_names_agree():
    assert thumbnail_extension("image/jpeg") == "jpg" and thumbnail_extension("IMAGE/PNG") == "png"
    assert thumbnail_extension(None) is None and thumbnail_extension("image/svg+xml") is None
    for mime, extension in WRITTEN.items():
        assert extension_of("Foo.tif", mime) == extension
        assert thumbnail_name("Foo.tif", mime) == f"Foo.tif.{extension}"
