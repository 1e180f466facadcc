"""sha1 written the way MediaWiki stores it: lower-case base 36, zero-padded to 31 characters,
and back to the 40 hex digits other tools expect."""

from __future__ import annotations

import hashlib
import re

SHA1_BASE36_LEN = 31
SHA1_HEX_LEN = 40
SHA1_BITS = 160
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_HEX40_RE = re.compile(r"[0-9a-fA-F]{40}")
# MediaWiki pads to 31 digits; a shorter form is the same number (purge's --sha1 takes it too).
BASE36_SHA1_RE = re.compile(r"[0-9a-z]{1,31}")
_EXT_RE = re.compile(r"[0-9a-z]+")
# File::normalizeExtension
EXTENSION_SQUISH = {"htm": "html", "jpeg": "jpg", "mpeg": "mpg", "tiff": "tif", "ogv": "ogg"}


def hex_to_base36(hexdigest: str) -> str:
    """Return the 31-character base-36 form of a 40-digit hex sha1."""
    if not isinstance(hexdigest, str) or not _HEX40_RE.fullmatch(hexdigest):
        raise ValueError(f"not a hex sha1 (40 hex digits): {hexdigest!r}")
    n = int(hexdigest, 16)
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(_DIGITS[r])
    return "".join(reversed(out)).rjust(SHA1_BASE36_LEN, "0")


def base36_to_hex(sha1: str | None) -> str | None:
    """Return the 40 lower-case hex digits of a base-36 sha1, None when it is not one.

    Not one: None, "" (what MediaWiki writes for a lost file), anything but [0-9a-z]{1,31}, or a
    number wider than 160 bits. catalog.sha1_hex_column runs this very function in the executors.
    """
    if not isinstance(sha1, str) or not BASE36_SHA1_RE.fullmatch(sha1):
        return None
    number = int(sha1, 36)
    if number >> SHA1_BITS:
        return None
    return format(number, f"0{SHA1_HEX_LEN}x")


def sha1_base36(data: bytes) -> str:
    """Return the sha1 of data in MediaWiki's base-36 form (fa_sha1, img_sha1)."""
    return hex_to_base36(hashlib.sha1(data).hexdigest())


class Sha1Base36:
    """Streaming sha1: feed chunks with update(), read base36() or hexdigest() at any time."""

    def __init__(self, data: bytes = b"") -> None:
        self._h = hashlib.sha1(data)

    def update(self, chunk: bytes) -> None:
        self._h.update(chunk)

    def hexdigest(self) -> str:
        return self._h.hexdigest()

    def base36(self) -> str:
        return hex_to_base36(self._h.hexdigest())


def normalize_extension(extension: str) -> str:
    """Return MediaWiki's normalised form of an extension, '' when it is not [0-9a-z]+."""
    # PHP's strtolower is ASCII-only: str.lower() would turn e.g. the Kelvin sign into 'k'.
    if not extension.isascii():
        return ""
    lower = extension.lower()
    if lower in EXTENSION_SQUISH:
        return EXTENSION_SQUISH[lower]
    return lower if _EXT_RE.fullmatch(lower) else ""


def extension_of(name: str) -> str:
    """Return the normalised extension of a file name, '' when it has none (File::getExtension)."""
    dot = name.rfind(".")
    # As in MediaWiki, a dot at position 0 (".htaccess") does not start an extension.
    return normalize_extension(name[dot + 1:]) if dot > 0 else ""


def storage_key_for(data: bytes, name: str) -> str:
    """Return the deleted-zone storage key MediaWiki would give this content under this name.

    For the sandbox seed and tests only: the job reads fa_storage_key from the row and never
    rebuilds it from a name.
    """
    ext = extension_of(name)
    key = sha1_base36(data)
    return f"{key}.{ext}" if ext else key
