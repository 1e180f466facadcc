"""Page 1 of a DjVu file: its size read from the file's structure, then drawn by djvu-rs (no Spark).

A DjVu file is an IFF85 tree: "AT&T", then FORM (u32 big-endian length) of kind DJVU (one page)
or DJVM (a bundled document: a DIRM chunk, then one FORM per component). Chunks are a 4-byte id,
a u32 big-endian length and the payload, padded to an even length. A page's INFO chunk holds its
width and height (u16 big-endian), versions, dpi (u16 little-endian), gamma and flags, whose low
3 bits are the rotation (1: none, 6: 90 degrees counterclockwise, 2: 180, 5: 90 clockwise).

`first_page_info` walks that structure without decoding anything, so a page too large is refused
before djvu-rs allocates, and the display size (after rotation, which djvu-rs applies but does not
report) is known. `first_page` then renders page 1 near a target width.

djvu-rs 0.43 draws a page geometrically right only when the page size is a whole multiple of the
output size, and darkens text layers when it reduces them 3x or more. So it is asked for the page
divided by a whole factor (at most 2 on pages with a text layer, 8 otherwise), and the caller's
Lanczos resize makes the exact size. See the README's dependency table for why djvu-rs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_ROTATION_QUARTER_TURNS = frozenset({5, 6})
_TEXT_LAYERS = (b"Sjbz", b"Smmr")
_MAX_REDUCTION = 8
_MAX_REDUCTION_WITH_TEXT = 2


class DjvuError(ValueError):
    """The file is no DjVu djvu-rs can draw: malformed, indirect, or with no page."""


@dataclass(frozen=True)
class PageInfo:
    width: int       # stored (before rotation), pixels
    height: int
    rotation: int    # INFO flags & 7
    has_text: bool   # a bilevel (JB2 or MMR) layer: text or line art

    @property
    def display_size(self) -> tuple[int, int]:
        if self.rotation in _ROTATION_QUARTER_TURNS:
            return self.height, self.width
        return self.width, self.height


def _chunks(data: bytes, start: int, end: int):
    """Yield (id, payload offset, payload length) of the chunks in data[start:end]."""
    at = start
    while at + 8 <= end:
        chunk_id = data[at:at + 4]
        (length,) = struct.unpack_from(">I", data, at + 4)
        if at + 8 + length > end:
            raise DjvuError(f"chunk {chunk_id.decode('latin-1')!r} is cut short")
        yield chunk_id, at + 8, length
        at += 8 + length + (length & 1)


def _page(data: bytes, form: int) -> PageInfo:
    (length,) = struct.unpack_from(">I", data, form + 4)
    end = form + 8 + length
    if end > len(data):
        raise DjvuError("page 1 is cut short")
    info, ids = None, []
    for chunk_id, at, size in _chunks(data, form + 12, end):
        ids.append(chunk_id)
        if chunk_id == b"INFO" and info is None:
            if size < 4:
                raise DjvuError("page 1's INFO chunk is too short")
            width, height = struct.unpack_from(">HH", data, at)
            info = (width, height, data[at + 9] & 7 if size >= 10 else 0)
    if info is None:
        raise DjvuError("page 1 has no INFO chunk")
    return PageInfo(*info, has_text=any(layer in ids for layer in _TEXT_LAYERS))


def first_page_info(data: bytes) -> PageInfo:
    """Return page 1's size, rotation and layers, from the IFF structure alone."""
    if len(data) < 16 or data[:8] != b"AT&TFORM":
        raise DjvuError("not a DjVu file (no AT&T FORM header)")
    (length,) = struct.unpack_from(">I", data, 8)
    if 12 + length > len(data):
        raise DjvuError("the file is cut short")
    kind = data[12:16]
    if kind == b"DJVU":
        return _page(data, 4)
    if kind != b"DJVM":
        raise DjvuError(f"DjVu form {kind.decode('latin-1')!r} is not a page or a document")
    directory = False
    for chunk_id, at, size in _chunks(data, 16, 12 + length):
        if chunk_id == b"DIRM":
            if size < 3 or not data[at] & 0x80:
                raise DjvuError("an indirect DjVu document (pages in other files) is not drawn")
            directory = True
        elif chunk_id == b"FORM" and size >= 4 and data[at:at + 4] == b"DJVU":
            if not directory:
                raise DjvuError("a DjVu document without its directory")
            return _page(data, at - 8)  # bundled components are stored in directory order
    raise DjvuError("the document has no page")


def first_page(data: bytes, info: PageInfo, target_width: int):
    """Return page 1 as an RGB PIL image at least `target_width` wide when the page is (a whole
    reduction of its display size); the caller resizes it to the exact size."""
    import djvu_rs  # pure Rust, MIT, a self-contained wheel

    width, height = info.display_size
    ceiling = _MAX_REDUCTION_WITH_TEXT if info.has_text else _MAX_REDUCTION
    factor = max(1, min(ceiling, width // max(1, target_width)))
    try:
        page = djvu_rs.Document.from_bytes(data).page(0)
        if (page.width, page.height) != (info.width, info.height):
            raise DjvuError("djvu-rs reads another page 1 than the file's structure says")
        return page.render(size=(width // factor, height // factor)).to_pil().convert("RGB")
    except (djvu_rs.Error, djvu_rs.PageIndexError) as error:
        raise DjvuError(f"{type(error).__name__}: {error}") from None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # a panic in the Rust code (pyo3's PanicException) is the file's doing
        raise DjvuError(f"{type(error).__name__}: {error}") from None
