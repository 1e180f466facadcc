"""File names for exports: MediaWiki names made safe for any file system, unique per directory (no Spark).

A MediaWiki name may hold `/`, start with a dot, be 255 bytes long, or differ from another only in
case (`Foo_bar.jpg` and `Foo_Bar.jpg` are two files on Commons, one on macOS or Windows). Exported
names keep the MediaWiki name wherever it is safe and change as little as possible where it is not:
  - `/`, `\\` (a separator on Windows), NUL and other control characters become `_`; leading
    dots become `_` (no `..`, no hidden files);
  - a name is cut to 255 bytes of UTF-8 at a character boundary, keeping its extension;
  - within one directory, a name equal to an earlier one ignoring case (and Unicode normalisation)
    gets `~2`, `~3`, ... before its extension, in the order names are given (line order), so the
    same rows always get the same names.
The export's manifest maps every file back to its row.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable

MAX_BYTES = 255
REPLACEMENT = "_"
# Longest text after the last dot still taken for an extension (MediaWiki's are short).
MAX_EXTENSION_BYTES = 16
_EXTENSION_RE = re.compile(r"[0-9A-Za-z]+")
_LEADING_DOTS = re.compile(r"^\.+")
# The one mapping from `thumbnail_mime` to a file extension: the formats thumbs.py writes, each
# with the extensions it answers to, the first one the one to write (exports use it, README
# "Reading the output" shows it as a table, and a test keeps the two equal).
THUMBNAIL_EXTENSIONS = {
    "image/jpeg": ("jpg", "jpeg", "jpe"),
    "image/png": ("png",),
    "image/webp": ("webp",),
}


def _clean_char(ch: str) -> str:
    if ch in "/\\" or unicodedata.category(ch) == "Cc":  # Cc covers NUL and every control char
        return REPLACEMENT
    return ch


def split_extension(name: str) -> tuple[str, str]:
    """Return (stem, extension with its dot); the extension is '' when the name has no short one."""
    dot = name.rfind(".")
    if dot <= 0:
        return name, ""
    extension = name[dot + 1:]
    if len(extension.encode("utf-8")) > MAX_EXTENSION_BYTES or not _EXTENSION_RE.fullmatch(extension):
        return name, ""
    return name[:dot], name[dot:]


def _cut(text: str, max_bytes: int) -> str:
    """Return the longest prefix of text whose UTF-8 form fits max_bytes (never half a character)."""
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max(0, max_bytes)].decode("utf-8", errors="ignore")


def fit(stem: str, extension: str, suffix: str = "", max_bytes: int = MAX_BYTES) -> str:
    """Return stem + suffix + extension, the stem cut so that the whole fits max_bytes."""
    room = max_bytes - len(suffix.encode("utf-8")) - len(extension.encode("utf-8"))
    return _cut(stem, room) + suffix + extension


def safe_name(name: str, max_bytes: int = MAX_BYTES) -> str:
    """Return name as one safe path component: no `/`, NUL or control characters, no leading
    dot, at most max_bytes of UTF-8, its extension kept."""
    text = "".join(_clean_char(ch) for ch in unicodedata.normalize("NFC", name))
    text = _LEADING_DOTS.sub(lambda m: REPLACEMENT * len(m.group()), text)
    if not text:
        return REPLACEMENT
    stem, extension = split_extension(text)
    return fit(stem, extension, "", max_bytes)


def collision_key(name: str) -> str:
    """Return what two names share when a case-insensitive, normalising file system sees one file."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


class UniqueNames:
    """Hands out safe names unique within one directory, in the order they are asked for."""

    def __init__(self, reserved: Iterable[str] = (), max_bytes: int = MAX_BYTES,
                 keep_extension: bool = True):
        self._taken = {collision_key(name) for name in reserved}
        self._max_bytes = max_bytes
        self._keep_extension = keep_extension

    def add(self, name: str) -> str:
        """Return the safe, unused name for name, and take it."""
        base = safe_name(name, self._max_bytes)
        stem, extension = split_extension(base) if self._keep_extension else (base, "")
        number = 1
        while True:
            suffix = "" if number == 1 else f"~{number}"
            candidate = fit(stem, extension, suffix, self._max_bytes)
            key = collision_key(candidate)
            if key not in self._taken:
                self._taken.add(key)
                return candidate
            number += 1


def unique_names(names: Iterable[str], reserved: Iterable[str] = ()) -> list[str]:
    """Return the safe, unique names for names, in their order (see UniqueNames)."""
    allocator = UniqueNames(reserved)
    return [allocator.add(name) for name in names]


def thumbnail_extension(mime: str | None) -> str | None:
    """Return the extension (without the dot) to write a thumbnail of this MIME type with, None
    for a type thumbnails never have."""
    extensions = THUMBNAIL_EXTENSIONS.get((mime or "").lower())
    return extensions[0] if extensions else None


def thumbnail_name(name: str, mime: str | None) -> str:
    """Return name with an extension that says the thumbnail's format (kept when it already does)."""
    extensions = THUMBNAIL_EXTENSIONS.get((mime or "").lower())
    if not extensions:
        return name
    _, extension = split_extension(name)
    if extension[1:].lower() in extensions:
        return name
    return f"{name}.{extensions[0]}"


def extension_of(name: str, mime: str | None = None, default: str = "bin") -> str:
    """Return the lower-case extension (without the dot) of name, or the one its mime says."""
    extension = thumbnail_extension(mime)
    if extension:
        return extension
    _, extension = split_extension(name)
    return extension[1:].lower() or default


def sample_key(prefix: str, number: int) -> str:
    """Return a WebDataset sample key: no dot (the library splits key from extension at the
    first dot of a member's name), no `/`, unique per (prefix, number)."""
    clean = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in unicodedata.normalize("NFC", prefix))
    return f"{_cut(clean, 200) or REPLACEMENT}_{number:06d}"
