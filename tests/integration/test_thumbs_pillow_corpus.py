"""Every image of Pillow's own test suite through make_thumbnail: a thumbnail that obeys the size
rule, or a reason; never an exception, never a hang.

The corpus comes from Pillow's sdist on PyPI (fetched once into .cache/pillow-sdist/, see
tests/pillow_corpus.py). Without network to PyPI this test fails, on purpose: CI has PyPI.
"""

from __future__ import annotations

import io
import warnings
from fractions import Fraction
from pathlib import Path

import pytest
from PIL import Image

from mediaextract.thumbs import ThumbnailSettings, make_thumbnail
from tests import pillow_corpus

SETTINGS = {
    "width": ThumbnailSettings(),
    "box": ThumbnailSettings(box=500),
}
_FORMAT_OF_MIME = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
_REASON_WORDS = {"unsupported", "corrupt", "truncated", "too_many_pixels", "empty", "unsafe"}


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, Path]]:
    try:
        root = pillow_corpus.images()
    except pillow_corpus.CorpusUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    files = pillow_corpus.image_files(root)
    assert len(files) > 500, f"only {len(files)} files under {root}: extraction went wrong?"
    return [(str(p.relative_to(root)), p) for p in files]


def _expected_size(path: Path, settings: ThumbnailSettings) -> tuple[int, int]:
    """The size rule, computed independently of the thumbnailer from Pillow's view of the file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(path) as src:
            src.load()
            w, h = src.size
            orientation = src.getexif().get(0x0112, 1)
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    if settings.box is None:
        if w <= settings.width:
            return w, h
        return settings.width, max(1, round_half_up(Fraction(h * settings.width, w)))
    if max(w, h) <= settings.box:
        return w, h
    if w >= h:
        return settings.box, max(1, round_half_up(Fraction(h * settings.box, w)))
    return max(1, round_half_up(Fraction(w * settings.box, h))), settings.box


def _expected_page_size(path: Path, settings: ThumbnailSettings) -> tuple[int, int]:
    """A PDF's page 1 by its size in points, drawn at the target width (or box) whatever its size:
    MediaWiki's PdfHandler must render, so no "never upscale" (read with PDFium here)."""
    import pypdfium2

    document = pypdfium2.PdfDocument(path.read_bytes())
    try:
        page = document[0]
        w, h = page.get_size()
        page.close()
    finally:
        document.close()
    w, h = Fraction(w), Fraction(h)
    base = settings.box if settings.box is not None else settings.width
    if settings.box is None or w >= h:
        return base, max(1, round_half_up(h * base / w))
    return max(1, round_half_up(w * base / h)), base


def round_half_up(x: Fraction) -> int:
    return int(x + Fraction(1, 2)) if x >= 0 else -int(-x + Fraction(1, 2))


def _check(name: str, path: Path, settings: ThumbnailSettings) -> tuple[str, str | None]:
    """Gives (outcome word, problem or None) for one file."""
    try:
        result = make_thumbnail(path.read_bytes(), settings)
    except BaseException as exc:  # noqa: BLE001  (the point is that nothing escapes)
        return "exception", f"{name}: raised {type(exc).__name__}: {exc}"
    if result.reason is not None:
        word, sep, detail = result.reason.partition(": ")
        if word not in _REASON_WORDS or not sep or not detail or "\n" in result.reason:
            return "bad_reason", f"{name}: malformed reason {result.reason!r}"
        if result.data is not None:
            return "bad_reason", f"{name}: a reason and data at once"
        return word, None
    try:
        with Image.open(io.BytesIO(result.data)) as out:
            out.load()
            got_format, got_size = out.format, out.size
    except Exception as exc:  # noqa: BLE001
        return "bad_output", f"{name}: output does not decode: {type(exc).__name__}: {exc}"
    if got_format != _FORMAT_OF_MIME.get(result.mime):
        return "bad_output", f"{name}: mime {result.mime} but the data is {got_format}"
    if got_size != (result.width, result.height):
        return "bad_output", f"{name}: says {result.width}x{result.height}, decodes {got_size}"
    try:
        expected = (_expected_page_size if path.suffix.lower() == ".pdf" else _expected_size)(path, settings)
    except Exception as exc:  # noqa: BLE001
        return "bad_output", (f"{name}: thumbnail made but Pillow cannot load the source "
                              f"({type(exc).__name__}: {exc})")
    if got_size != expected:
        return "bad_output", f"{name}: thumbnail {got_size}, the size rule says {expected}"
    return "ok", None


@pytest.mark.timeout(900)  # includes the one-off sdist download (about a minute) in the fixture
@pytest.mark.parametrize("mode", sorted(SETTINGS))
def test_every_corpus_file_gives_a_right_sized_thumbnail_or_a_reason(corpus, mode):
    settings = SETTINGS[mode]
    outcomes: dict[str, str] = {}
    problems = []
    for name, path in corpus:
        outcome, problem = _check(name, path, settings)
        outcomes[name] = outcome
        if problem:
            problems.append(problem)
    assert problems == [], f"{len(problems)} of {len(corpus)} files:\n" + "\n".join(problems)

    # Known files pin the classification, so a thumbnailer that refused everything would fail.
    known = {
        "hopper.jpg": "ok",
        "hopper.png": "ok",
        "hopper.gif": "ok",
        "hopper.webp": "ok",
        "hopper.tif": "ok",
        "hopper.bmp": "ok",
        "hopper.ico": "ok",
        "decompression_bomb.gif": "too_many_pixels",
        "decompression_bomb.ico": "too_many_pixels",
        "truncated_jpeg.jpg": "truncated",
        "truncated_image.png": "truncated",
        "broken.png": "corrupt",
        "eps/1.eps": "unsupported",  # would need Ghostscript: never run
        "trailer_loop.pdf": "ok",  # PDFium draws page 1 of the PDFs Pillow's tests hold
        "hopper.psd": "unsupported",
    }
    got = {name: outcomes.get(name, "missing from corpus") for name in known}
    assert got == known
    assert sum(o == "ok" for o in outcomes.values()) > 400
