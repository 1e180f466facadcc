"""Plain PNGs decoded and resampled by libvips (no Spark, no I/O).

Measured with bench/thumbs.py (one core): libvips (with the libpng and zlib-ng of its wheel)
inflates and unfilters a PNG about 1.5x faster than Pillow, streams it (an 8000x6000 PNG peaks at
about 50 MB instead of 190), and its Lanczos3 resampling is as good (PSNR within 0.1 dB of the
Pillow path's). `thumbs` uses it only where it gives what the Pillow path would: the same size,
the same modes, the same encoding (Pillow's, from the pixels returned here). On JPEG it is slower
than Pillow's DCT scaling (draft) + reduce, so JPEGs stay with Pillow.
"""

from __future__ import annotations

import struct

# Chunks that change neither the pixels nor what the Pillow path does with them. Any other chunk
# (PLTE, tRNS, iCCP, eXIf, acTL, private ones...) sends the file the Pillow way.
PLAIN_CHUNKS = frozenset({b"IHDR", b"IDAT", b"IEND", b"pHYs", b"tIME", b"tEXt", b"zTXt", b"iTXt",
                          b"sRGB", b"gAMA", b"cHRM", b"sBIT", b"bKGD"})
# PNG colour type (8-bit samples) -> Pillow's mode: grey, RGB, grey + alpha, RGBA.
_MODES = {0: "L", 2: "RGB", 4: "LA", 6: "RGBA"}
# Text keys Pillow reads an orientation from (Image.getexif): such a PNG goes the Pillow way.
ORIENTATION_KEYS = ("exif", "Raw profile type exif", "XML:com.adobe.xmp", "xmp")
# Box-shrink (vips' shrink) only while the result keeps at least this many times the target, then
# Lanczos3. Unlike Pillow's, vips' Lanczos reduce costs less than its box shrink up to about 10x:
# resampling a 2000 px wide photo to 500 takes 7 ms instead of 13 with 2.0 (vips' default), a
# 4000 px one 20 ms instead of 34; past about 12x the shrink pays again. PSNR stays within 0.2 dB
# of the Pillow path's from 4x to 16x reductions.
_REDUCING_GAP = 4.0
_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_pyvips = None  # the pyvips module once set up; False when it cannot be imported or is too old


def vips():
    """Return pyvips set up for thumbnails (one thread, no operation cache, untrusted loaders
    blocked), or None without it. Imported on first use: only a process that draws PNGs loads
    libvips."""
    global _pyvips
    if _pyvips is None:
        try:
            import pyvips  # libvips in a self-contained wheel (pyvips-binary): no system library

            if not pyvips.at_least_libvips(8, 13):  # resize's `gap`, untrusted-operation blocking
                raise ImportError(f"libvips {pyvips.version(0)}.{pyvips.version(1)} is too old")
            pyvips.concurrency_set(1)  # executors run one task per core
            pyvips.cache_set_max(0)  # every file is new: caching operations only keeps memory
            pyvips.block_untrusted_set(True)
            _pyvips = pyvips
        except Exception:  # not installed, no libvips it can load, too old: Pillow does it all
            _pyvips = False
    return _pyvips or None


def plain_mode(data: bytes) -> str | None:
    """Return the Pillow mode of a PNG the libvips path may take, else None: 8-bit grey or RGB
    with or without alpha, not interlaced, only PLAIN_CHUNKS, nothing but tIME between the
    image data and IEND, and well-formed chunk by chunk to an IEND that ends the file. Reads the
    chunk headers only (CRCs and pixels are the decoders')."""
    if not data.startswith(_SIGNATURE):
        return None
    pos, end_of_data, mode, in_idat, after_idat = len(_SIGNATURE), len(data), None, False, False
    while pos + 12 <= end_of_data:
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if end > end_of_data:
            return None
        if mode is None:  # the first chunk: IHDR
            if kind != b"IHDR" or length != 13:
                return None
            _, _, depth, colour, compression, filtering, interlace = struct.unpack_from(">IIBBBBB", data, pos + 8)
            if depth != 8 or colour not in _MODES or compression or filtering or interlace:
                return None
            mode = _MODES[colour]
        elif kind == b"IEND":
            return mode if (in_idat or after_idat) and end == end_of_data else None
        elif kind == b"IDAT":
            if after_idat:  # IDAT chunks must follow each other
                return None
            in_idat = True
        elif kind not in PLAIN_CHUNKS or kind == b"IHDR":
            return None
        elif in_idat or after_idat:
            # After the image data Pillow reads chunks only when it decodes (its text limits
            # apply there): only tIME, which changes nothing, is let through.
            if kind != b"tIME":
                return None
            in_idat, after_idat = False, True
        pos = end
    return None


def resampled(data: bytes, mode: str, size: tuple[int, int], target: tuple[int, int]) -> bytes | None:
    """Return the raw pixels (`mode`, `target` size) of a plain PNG of `size`, decoded and
    resampled by libvips on one thread; None when pyvips is missing or libvips fails or warns in
    any way (a truncated or corrupt file), so that the Pillow path gives its thumbnail or reason."""
    pyvips = vips()
    if pyvips is None:
        return None
    w, h = size
    try:
        # pngload_source, never a loader picked by sniffing: only the PNG decoder sees these
        # bytes, read in place (pngload_buffer would copy them first). fail_on="warning": a file
        # libvips has to guess at (truncated, a bad CRC) goes to Pillow.
        source = pyvips.Source.new_from_memory(data)
        image = pyvips.Image.pngload_source(source, access="sequential", fail_on="warning")
        if (image.width, image.height, image.bands, image.format) != (w, h, len(mode), "uchar"):
            return None
        if target != (w, h):
            alpha = mode in ("LA", "RGBA")
            if alpha:  # as Pillow does: resample premultiplied, so hidden colours do not bleed
                image = image.premultiply()
            image = image.resize(target[0] / w, vscale=target[1] / h, kernel="lanczos3", gap=_REDUCING_GAP)
            if alpha:
                image = image.unpremultiply().rint().cast("uchar")
            if (image.width, image.height) != target:
                return None
        return image.write_to_memory()
    except Exception:  # pyvips.Error, and whatever else libvips raises: Pillow's turn
        return None
