"""make_thumbnail on synthetic images made in memory: size rule, orientation, modes, refusals."""

from __future__ import annotations

import io
import math
import random
from pathlib import Path
import struct
import sys
import zlib

import pytest
from PIL import Image, ImageChops, ImageCms, ImageFile, JpegImagePlugin

from mediaextract import png_vips, thumbs
from mediaextract.errors import BadInput
from mediaextract_sandbox.media import encode_video, thirds
from mediaextract.thumbs import (
    FAILED,
    MADE,
    NOT_VISUAL,
    ThumbnailResult,
    ThumbnailSettings,
    has_visual_content,
    make_thumbnail,
    svg_size,
    thumbnail_size,
    thumbnail_status,
)

RED = (255, 0, 0)
BLUE = (0, 0, 255)
GREEN = (0, 160, 0)
WHITE = (255, 255, 255)


def encode(im: Image.Image, fmt: str, **params) -> bytes:
    if fmt == "PNG":
        params.setdefault("compress_level", 1)  # fast: these tests are about decoding
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def decode(result: ThumbnailResult) -> Image.Image:
    assert result.reason is None, result.reason
    im = Image.open(io.BytesIO(result.data))
    im.load()
    assert im.size == (result.width, result.height)
    mimes = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
    assert mimes[im.format] == result.mime
    return im


def close(colour, expected, tolerance=40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected))


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))


def raw_png(width: int, height: int, bit_depth: int, colour_type: int, rows: bytes) -> bytes:
    """A PNG built by hand: for headers Pillow cannot write (16-bit RGB, bombs)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b""))


def exif_with_orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def marked(size, mark=RED, ground=WHITE, corner=40) -> Image.Image:
    """An image with a coloured square in its stored top-left corner."""
    im = Image.new("RGB", size, ground)
    im.paste(mark, (0, 0, corner, corner))
    return im


# --- the size rule ---------------------------------------------------------------------------

@pytest.mark.parametrize("size, expected", [
    ((4000, 3000), (500, 375)),
    ((300, 200), (300, 200)),  # narrower than 500: kept, never upscaled
    ((500, 123), (500, 123)),
    ((501, 1001), (500, 999)),  # 999.003...
    ((10000, 3), (500, 1)),  # 0.15 rounds to 0: at least 1
    ((3, 10000), (3, 10000)),
    ((1000, 3), (500, 2)),  # 1.5: halves round up, as PHP's round() does in MediaWiki
    ((1000, 5), (500, 3)),  # 2.5 -> 3 (Python's round() would give 2)
    ((2000, 1), (500, 1)),
])
def test_size_rule_bounds_the_width(size, expected):
    assert thumbnail_size(*size, ThumbnailSettings()) == expected


@pytest.mark.parametrize("size, expected", [
    ((4000, 3000), (500, 375)),
    ((3000, 4000), (375, 500)),
    ((10000, 3), (500, 1)),
    ((3, 10000), (1, 500)),
    ((400, 300), (400, 300)),
    ((500, 500), (500, 500)),
    ((1000, 1000), (500, 500)),
])
def test_size_rule_in_box_mode_bounds_the_longer_side(size, expected):
    assert thumbnail_size(*size, ThumbnailSettings(box=500)) == expected


def test_size_rule_follows_the_configured_width():
    assert thumbnail_size(4000, 3000, ThumbnailSettings(width=250)) == (250, 188)  # 187.5


SIZE_CASES = [
    ((300, 200), (300, 200)),
    ((500, 400), (500, 400)),
    ((10000, 3), (500, 1)),
    ((3, 10000), (3, 10000)),
    ((1600, 8), (500, 3)),  # 2.5 -> 3
    ((2000, 1500), (500, 375)),
]


@pytest.mark.parametrize("fmt, size, expected", [
    *[("JPEG", *case) for case in SIZE_CASES],
    ("JPEG", (4000, 3000), (500, 375)),  # DCT scale 1/8
    ("JPEG", (4003, 3001), (500, 375)),  # not a multiple of the 8x8 DCT block
    ("JPEG", (1500, 1000), (500, 333)),  # DCT scale 1/2, then Lanczos
    *[("PNG", *case) for case in SIZE_CASES],
])
def test_thumbnail_has_the_size_of_the_rule(fmt, size, expected):
    result = make_thumbnail(encode(Image.new("RGB", size, GREEN), fmt))
    im = decode(result)
    assert im.size == expected
    assert close(im.getpixel((im.width // 2, im.height // 2)), GREEN)


@pytest.mark.parametrize("size, expected", [
    ((4000, 3000), (500, 375)),
    ((3000, 4000), (375, 500)),
    ((3, 10000), (1, 500)),
    ((200, 100), (200, 100)),
])
def test_box_mode_thumbnail(size, expected):
    data = encode(Image.new("RGB", size, GREEN), "JPEG")
    result = make_thumbnail(data, ThumbnailSettings(box=500))
    assert decode(result).size == expected


def test_a_500px_wide_source_keeps_its_size_and_content():
    source = Image.linear_gradient("L").resize((500, 300)).convert("RGB")
    im = decode(make_thumbnail(encode(source, "PNG")))
    assert im.size == (500, 300)
    assert close(im.getpixel((250, 10)), source.getpixel((250, 10)), 8)
    assert close(im.getpixel((250, 290)), source.getpixel((250, 290)), 8)


def test_geometry_survives_dct_scaling_and_reduction():
    # Left half black, right half white, odd size: a wrong crop box would shift the edge.
    source = Image.new("RGB", (4003, 3001), WHITE)
    source.paste((0, 0, 0), (0, 0, 2001, 3001))
    source.paste(RED, (3995, 0, 4003, 3001))  # a thin red band on the right edge
    im = decode(make_thumbnail(encode(source, "JPEG", quality=95)))
    assert im.size == (500, 375)
    assert im.getpixel((240, 180))[0] < 40
    assert im.getpixel((260, 180))[0] > 215
    right = im.getpixel((499, 180))
    assert right[0] > right[1] + 60  # the band is still there, not cut off nor shifted in


@pytest.mark.parametrize("stored, orientation, requested, decoded", [
    ((4000, 3000), 1, (500, 375), (500, 375)),  # 1/8
    ((3000, 2000), 1, (500, 333), (750, 500)),  # 6x: 1/4, then Lanczos
    ((1200, 900), 1, (500, 375), (600, 450)),  # 2.4x: 1/2
    ((4000, 2000), 6, (1000, 500), (1000, 500)),  # upright 2000x4000 -> 500x1000, stored axes
])
def test_jpeg_is_decoded_at_the_smallest_dct_scale_covering_the_target(
    monkeypatch, stored, orientation, requested, decoded
):
    calls = []
    original_draft = JpegImagePlugin.JpegImageFile.draft
    original_load = JpegImagePlugin.JpegImageFile.load

    def draft(self, mode, size):
        calls.append(("draft", size))
        return original_draft(self, mode, size)

    def load(self):
        result = original_load(self)
        calls.append(("decoded", self.size))
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", draft)
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", load)
    data = encode(Image.new("RGB", stored, GREEN), "JPEG",
                  exif=exif_with_orientation(orientation))
    assert make_thumbnail(data).reason is None
    assert calls[0] == ("draft", requested)
    assert ("decoded", decoded) in calls


# --- EXIF orientation ------------------------------------------------------------------------

@pytest.mark.parametrize("orientation, marker_at", [
    (6, "top_right"),  # "rotate 90 clockwise to display": stored top-left shows top-right
    (8, "bottom_left"),  # "rotate 90 counter-clockwise": stored top-left shows bottom-left
    (3, "bottom_right"),
    (1, "top_left"),
])
@pytest.mark.parametrize("stored_size", [(1200, 600), (4000, 2000), (400, 200)])
def test_exif_orientation_is_applied_to_jpeg(orientation, marker_at, stored_size):
    corner = stored_size[0] // 10
    source = marked(stored_size, corner=corner)
    data = encode(source, "JPEG", quality=95, exif=exif_with_orientation(orientation))
    im = decode(make_thumbnail(data))

    w, h = stored_size
    upright = (h, w) if orientation in (6, 8) else (w, h)
    assert im.size == thumbnail_size(*upright, ThumbnailSettings())
    probes = {
        "top_left": (3, 3),
        "top_right": (im.width - 4, 3),
        "bottom_left": (3, im.height - 4),
        "bottom_right": (im.width - 4, im.height - 4),
    }
    for name, xy in probes.items():
        expected = RED if name == marker_at else WHITE
        assert close(im.getpixel(xy), expected), (name, im.getpixel(xy))


def test_exif_orientation_is_applied_to_png():
    data = encode(marked((1200, 600), corner=120), "PNG", exif=exif_with_orientation(6))
    im = decode(make_thumbnail(data))
    assert im.size == (500, 1000)
    assert close(im.getpixel((im.width - 4, 3)), RED)
    assert close(im.getpixel((3, 3)), WHITE)


def test_broken_exif_does_not_cost_the_thumbnail():
    data = encode(Image.new("RGB", (800, 600), GREEN), "JPEG", exif=b"Exif\x00\x00garbage-here")
    assert decode(make_thumbnail(data)).size == (500, 375)


# --- modes and formats -----------------------------------------------------------------------

def test_alpha_gives_png_with_alpha():
    source = Image.new("RGBA", (1000, 800), (0, 0, 255, 0))
    source.paste((255, 0, 0, 255), (0, 0, 500, 800))
    im = decode(make_thumbnail(encode(source, "PNG")))
    assert (im.format, im.mode, im.size) == ("PNG", "RGBA", (500, 400))
    assert im.getpixel((100, 200)) == (255, 0, 0, 255)
    assert im.getpixel((400, 200))[3] == 0


def test_alpha_gives_webp_when_configured():
    source = Image.new("RGBA", (1000, 800), (0, 0, 255, 0))
    source.paste((255, 0, 0, 255), (0, 0, 500, 800))
    result = make_thumbnail(encode(source, "PNG"), ThumbnailSettings(alpha_format="webp"))
    im = decode(result)
    assert (result.mime, im.size) == ("image/webp", (500, 400))
    assert im.convert("RGBA").getpixel((400, 200))[3] < 10


def test_alpha_that_hides_nothing_gives_jpeg():
    im = decode(make_thumbnail(encode(Image.new("RGBA", (800, 600), (0, 160, 0, 255)), "PNG")))
    assert (im.format, im.mode) == ("JPEG", "RGB")


def test_la_gives_png_with_alpha():
    source = Image.new("LA", (900, 300), (200, 0))
    source.paste((50, 255), (0, 0, 450, 300))
    im = decode(make_thumbnail(encode(source, "PNG")))
    assert (im.format, im.mode, im.size) == ("PNG", "LA", (500, 167))
    assert im.getpixel((100, 80)) == (50, 255)
    assert im.getpixel((400, 80))[1] == 0


def test_opaque_image_gives_jpeg_at_the_configured_quality():
    source = Image.effect_noise((600, 600), 60).convert("RGB")
    low = make_thumbnail(encode(source, "PNG"), ThumbnailSettings(quality=30))
    high = make_thumbnail(encode(source, "PNG"), ThumbnailSettings(quality=95))
    assert decode(low).format == decode(high).format == "JPEG"
    assert len(high.data) > len(low.data) * 1.5


def test_cmyk_jpeg_gives_rgb_jpeg():
    source = Image.new("CMYK", (1000, 500), (0, 255, 255, 0))  # red
    source.paste((255, 255, 0, 0), (500, 0, 1000, 500))  # blue
    im = decode(make_thumbnail(encode(source, "JPEG", quality=95)))
    assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (500, 250))
    assert close(im.getpixel((100, 100)), RED)
    assert close(im.getpixel((400, 100)), BLUE)


def test_grey_jpeg_stays_grey():
    im = decode(make_thumbnail(encode(Image.new("L", (1000, 500), 90), "JPEG")))
    assert (im.mode, im.size) == ("L", (500, 250))
    assert abs(im.getpixel((250, 125)) - 90) <= 3


def test_16bit_grey_png_is_scaled_not_clipped():
    # Built from raw samples: paste() of an int into I;16 does not store what it is given.
    row = struct.pack("<500H", *[16000] * 500) + struct.pack("<500H", *[60000] * 500)
    source = Image.frombytes("I;16", (1000, 400), row * 400)
    im = decode(make_thumbnail(encode(source, "PNG")))
    assert (im.mode, im.size) == ("L", (500, 200))
    assert abs(im.getpixel((100, 100)) - 16000 // 256) <= 3
    assert abs(im.getpixel((400, 100)) - 60000 // 256) <= 3


def test_16bit_rgb_png():
    width, height = 800, 100
    row = b"\x00" + struct.pack(">HHH", 65535, 32768, 0) * width
    data = raw_png(width, height, 16, 2, row * height)
    im = decode(make_thumbnail(data))
    assert (im.mode, im.size) == ("RGB", (500, 63))  # 62.5 rounds up
    assert close(im.getpixel((250, 30)), (255, 128, 0), 6)  # high bytes kept


def test_16bit_rgba_png_keeps_alpha():
    width, height = 600, 60
    row = b"\x00" + (struct.pack(">HHHH", 0, 0, 65535, 65535) * (width // 2)
                     + struct.pack(">HHHH", 0, 0, 0, 0) * (width // 2))
    im = decode(make_thumbnail(raw_png(width, height, 16, 6, row * height)))
    assert (im.format, im.mode, im.size) == ("PNG", "RGBA", (500, 50))
    assert im.getpixel((50, 25)) == (0, 0, 255, 255)
    assert im.getpixel((450, 25))[3] == 0


def test_palette_with_transparency_gives_png_with_alpha():
    source = Image.new("P", (1000, 400), 0)
    source.putpalette([0, 0, 0, 255, 0, 0] + [0] * (256 * 3 - 6))
    source.paste(1, (0, 0, 500, 400))
    im = decode(make_thumbnail(encode(source, "PNG", transparency=0)))
    assert (im.format, im.mode, im.size) == ("PNG", "RGBA", (500, 200))
    assert im.getpixel((100, 100)) == (255, 0, 0, 255)
    assert im.getpixel((400, 100))[3] == 0


def test_palette_without_transparency_gives_jpeg():
    source = Image.new("RGB", (900, 300), BLUE).convert("P")
    im = decode(make_thumbnail(encode(source, "GIF")))
    assert (im.format, im.size) == ("JPEG", (500, 167))
    assert close(im.getpixel((250, 80)), BLUE)


# --- plain PNGs through libvips ------------------------------------------------------------------

def photo_like(size, mode="RGB") -> Image.Image:
    """Return a photo-like image: smooth gradients, a fractal's fine detail and grain, so that
    resampling errors show in the PSNR."""
    bands = (Image.linear_gradient("L").resize(size), Image.radial_gradient("L").resize(size),
             Image.effect_mandelbrot(size, (-2.0, -1.2, 0.8, 1.2), 60))
    grain = Image.frombytes("L", size, random.Random(size[0] * size[1]).randbytes(size[0] * size[1]))
    im = Image.blend(Image.merge("RGB", bands), grain.convert("RGB"), 0.2)
    if mode in ("RGBA", "LA"):  # alpha from transparent on the left to opaque on the right
        alpha = Image.linear_gradient("L").rotate(90).resize(size)
        im = im.convert(mode[:-1])
        im.putalpha(alpha)
        return im
    return im.convert(mode)


def psnr_to_reference(thumbnail: Image.Image, source: Image.Image) -> float:
    """Return the PSNR of a thumbnail's bands against the source's resized with float Lanczos."""
    bands = source.convert(thumbnail.mode).split()
    total, count = 0.0, 0
    for got, band in zip(thumbnail.split(), bands):
        ideal = band.convert("F").resize(thumbnail.size, Image.Resampling.LANCZOS)
        for a, b in zip(got.getdata(), ideal.getdata()):
            total += (a - min(255.0, max(0.0, b))) ** 2
            count += 1
    return 10 * math.log10(255 ** 2 / (total / count))


@pytest.fixture
def vips_calls(monkeypatch):
    """Return the list of the libvips path's results, in order (None: it left the file to Pillow)."""
    calls = []
    real = thumbs._vips_png_thumbnail

    def spy(*args):
        calls.append(real(*args))
        return calls[-1]

    monkeypatch.setattr(thumbs, "_vips_png_thumbnail", spy)
    return calls


def pillow_only(data: bytes, settings=ThumbnailSettings()) -> ThumbnailResult:
    """Return make_thumbnail's result with libvips switched off: the Pillow path's."""
    saved = png_vips._pyvips
    png_vips._pyvips = False
    try:
        return make_thumbnail(data, settings)
    finally:
        png_vips._pyvips = saved


@pytest.mark.parametrize("mode, size, expected, fmt", [
    ("RGB", (1600, 1200), (500, 375), "JPEG"),
    ("L", (2000, 1001), (500, 250), "JPEG"),
    ("RGBA", (1200, 900), (500, 375), "PNG"),
    ("LA", (1000, 5), (500, 3), "PNG"),
    ("RGB", (10000, 3), (500, 1), "JPEG"),
    ("RGB", (400, 300), (400, 300), "JPEG"),  # narrower than the target: decoded, not resized
])
def test_plain_png_through_libvips_matches_the_pillow_path(vips_calls, mode, size, expected, fmt):
    source = photo_like(size, mode)
    data = encode(source, "PNG")
    result = make_thumbnail(data)
    assert vips_calls and vips_calls[-1] is result  # libvips made it
    pillow = pillow_only(data)
    got, reference = decode(result), decode(pillow)
    assert (result.mime, result.width, result.height) == (pillow.mime, pillow.width, pillow.height)
    assert (got.format, got.mode, got.size) == (reference.format, reference.mode, reference.size)
    assert (got.format, got.size) == (fmt, expected) == (fmt, thumbnail_size(*size, ThumbnailSettings()))
    if mode in ("RGB", "L") and min(expected) > 1:
        assert psnr_to_reference(got, source) >= psnr_to_reference(reference, source) - 0.5
    if mode in ("RGBA", "LA"):  # transparency kept where it was: clear left, opaque right
        alpha = got.getchannel("A")
        assert alpha.getpixel((0, 0)) < 5 and alpha.getpixel((got.width - 1, 0)) > 250
        assert ImageChops.difference(alpha, reference.getchannel("A")).getextrema()[1] <= 2


def test_opaque_alpha_through_libvips_still_gives_jpeg(vips_calls):
    result = make_thumbnail(encode(photo_like((1000, 600)).convert("RGBA"), "PNG"))
    assert vips_calls[-1] is result
    assert (decode(result).format, decode(result).mode) == ("JPEG", "RGB")


def _png_with(chunk: bytes, before_idat: bool = True, data: bytes | None = None) -> bytes:
    data = data or encode(photo_like((800, 600)), "PNG")
    at = data.index(b"IDAT") - 4 if before_idat else data.index(b"IEND") - 4
    return data[:at] + chunk + data[at:]


def _interlaced_png(width: int, height: int) -> bytes:
    """Return an Adam7-interlaced 8-bit RGB PNG of one colour (Pillow writes none)."""
    passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
    rows = b""
    for x0, y0, dx, dy in passes:
        columns, lines = max(0, -(-(width - x0) // dx)), max(0, -(-(height - y0) // dy))
        if columns and lines:
            rows += (b"\x00" + b"\x20\x90\xd0" * columns) * lines
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 1)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(rows))
            + png_chunk(b"IEND", b""))


@pytest.mark.parametrize("make", [
    pytest.param(lambda: encode(photo_like((800, 600)).convert("P"), "PNG"), id="palette"),
    pytest.param(lambda: encode(photo_like((800, 600)), "PNG", transparency=(0, 0, 0)), id="transparency-key"),
    pytest.param(lambda: encode(photo_like((800, 600)), "PNG", icc_profile=ImageCms.ImageCmsProfile(
        ImageCms.createProfile("sRGB")).tobytes()), id="icc"),
    pytest.param(lambda: encode(photo_like((800, 600)), "PNG", exif=exif_with_orientation(1)), id="exif"),
    pytest.param(lambda: _interlaced_png(801, 203), id="interlaced"),
    pytest.param(lambda: raw_png(800, 100, 16, 2, (b"\x00" + b"\x12\x34" * 2400) * 100), id="16-bit"),
    pytest.param(lambda: _png_with(png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00"
                                                      b'<x tiff:Orientation="1"/>')), id="xmp"),
    pytest.param(lambda: _png_with(png_chunk(b"tEXt", b"Comment\x00after the pixels"), before_idat=False),
                 id="text-after-pixels"),
    pytest.param(lambda: _png_with(png_chunk(b"prIv", b"private")), id="unknown-chunk"),
    pytest.param(lambda: encode(photo_like((800, 600)), "PNG") + b"trailing bytes", id="bytes-after-IEND"),
])
def test_png_that_is_not_plain_goes_the_pillow_way(vips_calls, make):
    data = make()
    result = make_thumbnail(data)
    assert vips_calls == [None]
    assert result == pillow_only(data)


def test_chunks_that_change_nothing_keep_a_png_plain(vips_calls):
    data = _png_with(png_chunk(b"gAMA", struct.pack(">I", 45455)) + png_chunk(b"tEXt", b"Title\x00x"))
    data = _png_with(png_chunk(b"tIME", struct.pack(">HBBBBB", 2024, 5, 6, 7, 8, 9)), False, data)
    result = make_thumbnail(data)
    assert vips_calls == [result] and result.ok
    assert result == make_thumbnail(encode(photo_like((800, 600)), "PNG"))  # same pixels, same bytes


def test_without_pyvips_png_goes_the_pillow_way(monkeypatch):
    data = encode(photo_like((900, 600)), "PNG")
    expected = pillow_only(data)
    monkeypatch.setitem(sys.modules, "pyvips", None)  # the import fails even where installed
    monkeypatch.setattr(png_vips, "_pyvips", None)
    assert make_thumbnail(data) == expected
    assert png_vips._pyvips is False


@pytest.mark.parametrize("damage", ["truncated", "idat-bit-flipped", "no-iend"])
def test_broken_plain_png_gets_what_the_pillow_path_gives(damage):
    data = bytearray(encode(photo_like((900, 700)), "PNG"))
    if damage == "truncated":
        data = data[: len(data) * 2 // 3]
    elif damage == "idat-bit-flipped":
        data[len(data) // 2] ^= 0xFF
    else:
        data = data[:-12]
    result, pillow = make_thumbnail(bytes(data)), pillow_only(bytes(data))
    assert (result.mime, result.width, result.height, result.reason) == (
        pillow.mime, pillow.width, pillow.height, pillow.reason)


def test_png_bomb_never_reaches_libvips(monkeypatch):
    monkeypatch.setattr(png_vips, "vips", lambda: pytest.fail("libvips asked to decode a bomb"))
    result = make_thumbnail(raw_png(50000, 50000, 8, 2, b"\x00" * 10))
    assert result.reason == "too_many_pixels: 50000x50000 over the limit of 100000000"


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (800, 400), colour) for colour in (RED, BLUE, GREEN)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    im = decode(make_thumbnail(data, mime="image/gif"))
    assert im.size == (500, 250)
    assert close(im.getpixel((250, 125)), RED)


def test_animated_webp_gives_its_first_frame():
    frames = [Image.new("RGB", (800, 400), colour) for colour in (RED, BLUE)]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    im = decode(make_thumbnail(data, mime="image/webp"))
    assert im.size == (500, 250)
    assert close(im.getpixel((250, 125)), RED)


def test_multipage_tiff_gives_its_first_page():
    pages = [Image.new("RGB", (1000, 600), RED), Image.new("RGB", (3000, 3000), BLUE)]
    data = encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    im = decode(make_thumbnail(data, mime="image/tiff"))
    assert im.size == (500, 300)
    assert close(im.getpixel((250, 150)), RED)


@pytest.mark.parametrize("fmt, mode", [
    ("BMP", "RGB"), ("WEBP", "RGB"), ("TIFF", "CMYK"), ("TIFF", "1"), ("PNG", "1"),
    ("TIFF", "F"), ("TIFF", "I;16"), ("BMP", "P"), ("TIFF", "LAB"),
])
def test_other_formats_and_modes(fmt, mode):
    # 4x: exercises the integer reduction in each mode before the final resample.
    source = Image.new("RGB", (2000, 1200), GREEN).convert(mode)
    im = decode(make_thumbnail(encode(source, fmt)))
    assert im.size == (500, 300)
    assert im.mode in ("L", "RGB")
    if mode not in ("1", "F", "I;16"):
        assert close(im.convert("RGB").getpixel((250, 150)), GREEN, 60)


def test_thumbnail_taller_than_jpeg_allows_goes_to_png():
    source = Image.new("L", (11, 80000), 128)
    result = make_thumbnail(encode(source, "PNG"), ThumbnailSettings(width=10))
    assert (result.mime, result.width, result.height) == ("image/png", 10, 72727)
    assert decode(result).getpixel((5, 40000)) == 128


def test_ico_gives_its_largest_entry():
    source = Image.new("RGB", (256, 256), RED)
    im = decode(make_thumbnail(encode(source, "ICO", sizes=[(16, 16), (256, 256)])))
    assert im.size == (256, 256)
    assert close(im.getpixel((128, 128)), RED)


def test_rgb_icc_profile_is_kept():
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    source = Image.new("RGB", (1000, 600), GREEN)
    im = decode(make_thumbnail(encode(source, "JPEG", icc_profile=icc)))
    assert im.info.get("icc_profile") == icc


def test_grey_profile_is_not_put_on_a_colour_thumbnail():
    # A made-up GRAY profile header is enough: only the colour space signature is read.
    fake_gray = bytes(16) + b"GRAY" + bytes(108)
    source = Image.new("RGB", (1000, 600), GREEN)
    im = decode(make_thumbnail(encode(source, "JPEG", icc_profile=fake_gray)))
    assert "icc_profile" not in im.info


# --- refusals --------------------------------------------------------------------------------

@pytest.mark.parametrize("mime", [
    "audio/ogg", "video/webm", "text/plain", "application/msword",
    "application/ogg", "AUDIO/X-WAV; codecs=1",
])
def test_non_image_mime_is_refused_without_decoding(mime):
    # Even a perfectly good JPEG: the catalog says it is not an image, so it is not decoded.
    data = encode(Image.new("RGB", (800, 600), GREEN), "JPEG")
    result = make_thumbnail(data, mime=mime)
    assert result == ThumbnailResult(None, None, None, None, result.reason)
    assert result.reason.startswith("unsupported: ")
    assert mime.split(";")[0].lower() in result.reason


@pytest.mark.parametrize("data, word", [
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "corrupt"),  # a PDF goes to PDFium, which cannot read this
    (b"OggS\x00\x02" + bytes(100), "unsupported"),
    (b"just some text, not an image at all", "unsupported"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "corrupt"),
    (b"\xff\xd8\xff\xe0" + b"\x13" * 200, "corrupt"),
    (b"GIF89a\xff", "corrupt"),
])
def test_sniffed_bytes_give_a_reason(data, word):
    result = make_thumbnail(data)
    assert result.data is None
    assert result.reason.startswith(word + ": ")


@pytest.mark.parametrize("data, mime", [
    (b"gimp xcf v011\x00" + bytes(64), "image/x-xcf"),
])
def test_image_mime_that_no_allowed_decoder_reads_is_unsupported(data, mime):
    assert make_thumbnail(data, mime=mime).reason == (
        f"unsupported: not an image format this thumbnailer decodes ({mime})")


def test_eps_is_never_handed_to_ghostscript():
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\n"
    for mime in ("application/postscript", "image/x-eps", None):
        assert make_thumbnail(eps, mime=mime).reason.startswith("unsupported: ")


def test_empty_bytes_give_a_reason():
    assert make_thumbnail(b"").reason.startswith("empty: ")
    assert make_thumbnail(b"", mime="image/jpeg").reason.startswith("empty: ")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP"])
def test_truncated_file_gives_a_reason_not_a_grey_thumbnail(fmt):
    source = Image.effect_noise((700, 500), 50).convert("RGB" if fmt != "GIF" else "L")
    data = encode(source, fmt)
    result = make_thumbnail(data[: len(data) * 2 // 3])
    assert result.data is None
    assert result.reason.split(": ")[0] in ("truncated", "corrupt"), result.reason
    if fmt in ("JPEG", "PNG"):
        assert result.reason.startswith("truncated: ")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize("marker, offset, value", [
    (b"\xff\xc4", 1, 0xC8),  # the Huffman table's marker turned into a reserved one
    (b"\xff\xda", 5, 0x77),  # the scan names a component that does not exist
    (b"\xff\xdb", 1, 0xDD),  # the quantisation table's marker turned into a restart interval
])
def test_corrupt_jpeg_gives_a_reason(marker, offset, value):
    data = bytearray(encode(Image.effect_noise((800, 600), 50).convert("RGB"), "JPEG"))
    data[data.index(marker) + offset] = value
    result = make_thumbnail(bytes(data))
    assert result.data is None
    assert result.reason.startswith("corrupt: ")


@pytest.mark.timeout(10)
def test_bomb_is_refused_from_its_header():
    # 50000 x 50000 claimed, a few bytes of data: refused before any decoding.
    data = raw_png(50000, 50000, 8, 2, b"\x00" * 10)
    before = Image.MAX_IMAGE_PIXELS
    result = make_thumbnail(data)
    assert result.data is None
    assert result.reason == "too_many_pixels: 50000x50000 over the limit of 100000000"
    assert Image.MAX_IMAGE_PIXELS == before


@pytest.mark.timeout(10)
def test_bomb_limit_is_a_setting():
    data = encode(Image.new("RGB", (1000, 1000), GREEN), "JPEG")
    refused = make_thumbnail(data, ThumbnailSettings(max_pixels=999_999))
    assert refused.reason == "too_many_pixels: 1000x1000 over the limit of 999999"
    assert make_thumbnail(data, ThumbnailSettings(max_pixels=1_000_000)).reason is None


@pytest.mark.timeout(10)
def test_bomb_jpeg_is_refused_from_its_header():
    data = bytearray(encode(Image.new("RGB", (64, 64), GREEN), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", 60000, 60000)  # height, width
    assert make_thumbnail(bytes(data)).reason == (
        "too_many_pixels: 60000x60000 over the limit of 100000000")


def test_reasons_are_one_short_line():
    garbage = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    reason = make_thumbnail(garbage).reason
    assert "\n" not in reason and len(reason) < 260


# --- SVG ---------------------------------------------------------------------------------------

SVG = b"""<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 100"><rect width="200" height="100"/></svg>
"""


def test_svg_without_renderer_is_unsupported(monkeypatch):
    monkeypatch.setitem(sys.modules, "resvg_py", None)  # import fails even where installed
    for mime in ("image/svg+xml", None):
        assert make_thumbnail(SVG, mime=mime).reason == "unsupported: no SVG renderer installed"


HALF_RED = b"""<svg xmlns="http://www.w3.org/2000/svg" width="10mm" height="5mm" viewBox="0 0 200 100">
<rect width="100" height="100" fill="red"/><rect x="100" width="100" height="100" fill="blue"/></svg>"""


def test_svg_is_rendered_to_png_at_the_target_width_even_when_smaller():
    result = make_thumbnail(HALF_RED, mime="image/svg+xml")
    im = decode(result)
    # A vector is drawn at 500 wide from its 10x5 mm (38x19 px) nominal size (MediaWiki upscales
    # vectors), to PNG.
    assert (result.mime, im.size) == ("image/png", (500, 250))
    rgb = im.convert("RGB")
    assert close(rgb.getpixel((100, 125)), RED) and close(rgb.getpixel((400, 125)), BLUE)
    assert make_thumbnail(HALF_RED).mime == "image/png"  # sniffed without a MIME type too


@pytest.mark.parametrize("svg, word", [
    (b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><image href="/etc/hostname" width="9" height="9"/></svg>',
     "unsafe: SVG references an external resource (/etc/hostname)"),
    (b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="9" height="9">'
     b'<image xlink:href="http://example.org/a.png" width="9" height="9"/></svg>', "unsafe: SVG references"),
    (b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><rect style="fill: url( file:///x )"/></svg>',
     "unsafe: SVG references an external resource (file:///x)"),
    (b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><style>@import "b.css";</style></svg>',
     "unsafe: SVG references an external resource (b.css)"),
    (b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]>'
     b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><text>&b;</text></svg>', "unsafe: SVG declares"),
    (b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><rect', "corrupt: SVG is not well-formed XML"),
    # What a regex over the bytes missed (a review found each one reading a file of the disk):
    (b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:s="http://www.w3.org/2000/svg" width="9" height="9">'
     b'<s:image href="/abs.png" width="9" height="9"/></svg>', "unsafe: SVG references an external resource (/abs.png)"),
    (b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><image title="a>b" href="rel.png"/></svg>',
     "unsafe: SVG references an external resource (rel.png)"),
    (b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="9" height="9">'
     b'<image xlink:href="#a" href="/abs.png"/></svg>', "unsafe: SVG references an external resource (/abs.png)"),
    (b'<?xml version="1.0" encoding="utf-7"?><svg xmlns="http://www.w3.org/2000/svg" width="9" height="9">'
     b'+ADw-image href=+ACI-/abs.png+ACI-/+AD4-</svg>', "unsafe: SVG declares the encoding utf-7"),
    (b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><feImage href="&#47;dev/zero"/></svg>',
     "unsafe: SVG references an external resource (/dev/zero)"),
    (b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><image href="file:///etc/x"/><rect', "unsafe: SVG references"),
    (b'<svg width="9" height="9">\xff\xfe</svg>', "corrupt: SVG text is not utf-8"),
])
def test_svg_that_would_load_something_or_is_broken_gets_a_reason(svg, word):
    result = make_thumbnail(svg, mime="image/svg+xml")
    assert result.data is None and result.reason.startswith(word), result.reason


def _use_levels(depth: int) -> bytes:
    """An SVG whose <defs> hold levels that each copy the one below ten times, the top one used."""
    levels = [b'<g id="l0"><rect width="1" height="1"/></g>']
    for level in range(1, depth + 1):
        levels.append(f'<g id="l{level}">'.encode() + b"".join(f'<use href="#l{level - 1}"/>'.encode() for _ in range(10))
                      + b"</g>")
    return (b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><defs>' + b"".join(levels)
            + f'</defs><use href="#l{depth}"/></svg>'.encode())


def test_svg_use_copies_that_multiply_are_refused_before_drawing():
    # 10**6 elements from a file of 1 kB: refused by counting, never drawn.
    assert make_thumbnail(_use_levels(6), mime="image/svg+xml").reason.startswith("unsafe: SVG expands to more than")
    loop = b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><g id="a"><use href="#a"/></g></svg>'
    assert make_thumbnail(loop, mime="image/svg+xml").reason.startswith("unsafe: SVG <use> references loop")
    assert make_thumbnail(_use_levels(3), mime="image/svg+xml").reason is None  # 1000 copies: drawn


def test_svg_is_png_even_when_transparent_and_webp_is_asked_for():
    transparent = b'<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><circle cx="5" cy="5" r="4"/></svg>'
    assert make_thumbnail(transparent, ThumbnailSettings(alpha_format="webp"), "image/svg+xml").mime == "image/png"


def test_svg_links_and_own_references_render():
    svg = (b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 20 10">'
           b'<defs><linearGradient id="g"><stop offset="0" stop-color="red"/></linearGradient></defs>'
           b'<a xlink:href="https://example.org/"><rect width="20" height="10" fill="url(#g)"/></a>'
           b'<use href="#g"/><image href="data:image/png;base64,iVBORw0KGgo=" width="1" height="1"/></svg>')
    assert decode(make_thumbnail(svg, mime="image/svg+xml")).size == (500, 250)


def test_svg_fuzz_truncated_and_random_always_a_result():
    rng = __import__("random").Random(14)
    inputs = [HALF_RED[:n] for n in range(0, len(HALF_RED), 7)]
    inputs += [b"<svg " + bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300))) for _ in range(60)]
    inputs += [HALF_RED.replace(b"200 100", b"0 0"), HALF_RED.replace(b'width="10mm"', b'width="-5"')]
    for data in inputs:
        result = make_thumbnail(data, mime="image/svg+xml")
        assert (result.data is None) != (result.reason is None)
        assert result.reason is None or ("\n" not in result.reason and result.reason.split(":")[0] in
                                          ("unsupported", "corrupt", "unsafe", "empty", "too_many_pixels"))


def test_svg_in_box_mode_fits_the_longer_side():
    boxed = decode(make_thumbnail(SVG.replace(b"200 100", b"100 300"), ThumbnailSettings(box=300)))
    assert boxed.size == (100, 300)


@pytest.mark.parametrize("root, expected", [
    (b'<svg width="300" height="150">', (300, 150)),
    (b'<svg width="2in" height="1in" viewBox="0 0 10 10">', (192, 96)),
    (b"<svg viewBox='0 0 40 20'>", (40, 20)),
    (b'<svg width="100%" height="100%" viewBox="0,0,30,60">', (30, 60)),
    (b'<svg width="100" viewBox="0 0 30 60">', (100, 200)),
    (b'<svg stroke-width="2" width="1000" height="500">', (1000, 500)),  # an attribute ending in "width"
    (b"<svg>", (512, 512)),
])
def test_svg_size(root, expected):
    assert svg_size(b'<?xml version="1.0"?>\n' + root + b"</svg>") == pytest.approx(expected)


# --- settings ----------------------------------------------------------------------------------

def test_settings_from_mapping():
    assert ThumbnailSettings.from_mapping({}) == ThumbnailSettings()
    assert ThumbnailSettings.from_mapping(None) == ThumbnailSettings()
    assert ThumbnailSettings.from_mapping(
        {"width": 320, "box": 640, "quality": 90, "alpha_format": "webp", "max_pixels": 50}
    ) == ThumbnailSettings(320, 640, 90, "webp", 50)


@pytest.mark.parametrize("mapping", [
    {"widht": 500},
    {"width": 0},
    {"width": "500"},
    {"width": True},
    {"box": -1},
    {"quality": 101},
    {"alpha_format": "gif"},
    {"max_pixels": 0},
])
def test_bad_settings_are_refused(mapping):
    with pytest.raises(BadInput):
        ThumbnailSettings.from_mapping(mapping)


def test_globals_of_pillow_are_left_alone():
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    make_thumbnail(raw_png(50000, 50000, 8, 2, b""))
    make_thumbnail(encode(Image.new("RGB", (900, 900)), "JPEG")[:500])
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == before


@pytest.mark.parametrize("mime, media_type, visual", [
    ("image/jpeg", "BITMAP", True), ("image/svg+xml", "drawing", True), ("application/pdf", "OFFICE", True),
    ("video/webm", "VIDEO", True), ("application/ogg", "AUDIO", False), ("audio/mpeg", None, False),
    ("application/ogg", "video", True), ("text/plain", "TEXT", False), (None, None, True),
    ("application/zip", "ARCHIVE", False),
])
def test_what_has_visual_content_by_media_type_then_mime(mime, media_type, visual):
    assert has_visual_content(mime, media_type) is visual


def test_thumbnail_status_of_an_ok_row():
    made = make_thumbnail(encode(Image.new("RGB", (8, 8), RED), "PNG"))
    broken = make_thumbnail(b"\x89PNG\r\n\x1a\n broken")
    assert (made.ok, broken.ok) == (True, False)
    assert thumbnail_status(made, True) == MADE
    assert thumbnail_status(broken, True) == FAILED
    assert thumbnail_status(None, False) == NOT_VISUAL


# --- PDF ---------------------------------------------------------------------------------------

def _pdf(size=(200, 300), colour=RED, pages=1) -> bytes:
    frames = [Image.new("RGB", size, colour) for _ in range(pages)]
    return encode(frames[0], "PDF", save_all=True, append_images=frames[1:])


def test_pdf_page_one_is_drawn_at_the_target_width_to_jpeg():
    for mime in ("application/pdf", None):  # by MIME type, and sniffed
        result = make_thumbnail(_pdf(), mime=mime)
        im = decode(result)
        # Pillow writes 72 dpi: a 200x300 image is a 200x300 pt page, drawn at 500 wide (must render).
        assert (result.mime, im.size) == ("image/jpeg", (500, 750))
        assert close(im.getpixel((250, 375)), RED)
    assert decode(make_thumbnail(_pdf((900, 300), BLUE, pages=3))).size == (500, 167)


def test_pdf_that_cannot_be_read_gets_a_reason_never_an_exception():
    whole = _pdf()
    rng = __import__("random").Random(15)
    inputs = [whole[:n] for n in range(5, len(whole), max(1, len(whole) // 25))]
    inputs += [b"%PDF-1.7\n" + bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 400))) for _ in range(40)]
    for data in inputs:
        result = make_thumbnail(data, mime="application/pdf")
        assert (result.data is None) != (result.reason is None)
        assert result.reason is None or result.reason.split(":")[0] in ("corrupt", "empty", "too_many_pixels")
    assert make_thumbnail(b"%PDF-1.4 junk", mime="application/pdf").reason.startswith("corrupt: PDF not readable")


@pytest.mark.parametrize("mime, drawn", [("image/jpeg", True), ("application/pdf", True), (None, True),
                                         ("application/octet-stream", True), ("video/webm", False),
                                         ("application/ogg", False), ("audio/mpeg", False)])
def test_what_a_thumbnailer_here_may_draw(mime, drawn):
    from mediaextract.thumbs import may_draw
    assert may_draw(mime) is drawn


# --- video -------------------------------------------------------------------------------------

def _video(fmt="webm", codec="libvpx", size=(320, 240), seconds=3, rate=10, pix_fmt="yuv420p") -> bytes:
    """A video whose thirds are red, green and blue: the middle frame is green."""
    return encode_video(thirds(size, seconds * rate, (RED, GREEN, BLUE)), fmt, codec, rate, pix_fmt)


@pytest.mark.parametrize("fmt, codec, mime, size, rate, expected", [
    ("webm", "libvpx", "video/webm", (320, 240), 10, (320, 240)),      # narrower than 500: kept
    ("webm", "libvpx-vp9", "video/webm", (640, 360), 10, (500, 281)),  # wider: 500 wide
    ("mpeg", "mpeg1video", "video/mpeg", (352, 240), 25, (352, 240)),  # MPEG-1 takes standard rates only
])
def test_a_video_gives_its_middle_frame_at_the_size_rule(fmt, codec, mime, size, rate, expected):
    from mediaextract.thumbs import make_video_thumbnail

    result = make_video_thumbnail(io.BytesIO(_video(fmt, codec, size, rate=rate)), mime=mime)
    im = decode(result)
    assert (result.mime, im.size) == ("image/jpeg", expected)
    assert close(im.getpixel((im.width // 2, im.height // 2)), GREEN, tolerance=60)  # TimedMediaHandler's midpoint


def _turned_video(rotation=None, aspect=None) -> bytes:
    """An MP4 whose stored 320x240 frames are red on the left half, blue on the right, with a
    display rotation (counterclockwise degrees) or a sample aspect ratio."""
    frame = Image.new("RGB", (320, 240), BLUE)
    frame.paste(RED, (0, 0, 160, 240))
    return encode_video([frame] * 10, "mp4", "mpeg4", rotation=rotation, aspect=aspect)


@pytest.mark.parametrize("rotation, aspect, size, top_left, bottom_right", [
    (-90, None, (240, 320), RED, BLUE),    # a phone's "rotate 90 clockwise": the left half on top
    (90, None, (240, 320), BLUE, RED),     # counterclockwise: the right half on top
    (180, None, (320, 240), BLUE, RED),
    (None, 2, (500, 188), RED, BLUE),      # anamorphic: 320 pixels twice as wide show 640 wide
])
def test_a_video_is_drawn_in_its_display_shape(rotation, aspect, size, top_left, bottom_right):
    from mediaextract.thumbs import make_video_thumbnail

    im = decode(make_video_thumbnail(io.BytesIO(_turned_video(rotation, aspect)), mime="video/mp4"))
    assert im.size == size
    assert close(im.getpixel((5, 5)), top_left) and close(im.getpixel((size[0] - 6, size[1] - 6)), bottom_right)


def test_a_video_is_refused_or_read_never_an_exception():
    from mediaextract.thumbs import make_video_thumbnail

    whole = _video()
    rng = __import__("random").Random(16)
    inputs = [whole[:n] for n in (0, 10, 100, len(whole) // 3, len(whole) // 2, len(whole) - 5)]
    inputs += [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 2000))) for _ in range(20)]
    inputs += [b"\x1a\x45\xdf\xa3" + bytes(rng.getrandbits(8) for _ in range(500)) for _ in range(20)]
    for data in inputs:
        result = make_video_thumbnail(io.BytesIO(data), mime="video/webm")
        assert (result.data is None) != (result.reason is None)
        assert result.reason is None or result.reason.split(":")[0] in ("corrupt", "too_many_pixels")
    small = ThumbnailSettings(max_pixels=1000)
    assert make_video_thumbnail(io.BytesIO(whole), small, "video/webm").reason.startswith("too_many_pixels: 320x240")
    assert make_video_thumbnail(io.BytesIO(whole), mime="video/x-flv").reason.startswith("unsupported: ")


@pytest.mark.parametrize("mime, media_type, video", [
    ("video/webm", "VIDEO", True), ("application/ogg", "VIDEO", True), ("application/ogg", "AUDIO", False),
    ("video/mpeg", None, True), ("image/gif", "BITMAP", False), ("video/x-flv", "VIDEO", False),
])
def test_which_files_are_drawn_as_videos(mime, media_type, video):
    from mediaextract.thumbs import is_video
    assert is_video(mime, media_type) is video


# --- DjVu (fixtures made by tests/fixtures/djvu/make_fixtures.sh: page 1 is 1000x1500, red above blue)

DJVU = Path(__file__).resolve().parents[1] / "fixtures" / "djvu"


@pytest.mark.parametrize("fixture", ["red_blue_1p.djvu", "red_blue_2p_bundled.djvu"])
@pytest.mark.parametrize("mime", ["image/vnd.djvu", None])
def test_a_djvu_gives_its_first_page_at_the_size_rule(fixture, mime):
    result = make_thumbnail((DJVU / fixture).read_bytes(), mime=mime)
    im = decode(result)
    assert (result.mime, im.size) == ("image/jpeg", (500, 750))
    assert close(im.getpixel((250, 100)), RED) and close(im.getpixel((250, 650)), BLUE)


def test_a_rotated_djvu_page_is_drawn_as_shown():
    im = decode(make_thumbnail((DJVU / "red_blue_rot90.djvu").read_bytes(), mime="image/vnd.djvu"))
    assert im.size == (500, 333)  # 90 degrees counterclockwise: 1500 wide, red on the left
    assert close(im.getpixel((60, 166)), RED) and close(im.getpixel((440, 166)), BLUE)


def test_a_djvu_page_too_large_is_refused_before_decoding():
    page = bytearray((DJVU / "red_blue_1p.djvu").read_bytes())
    assert page[16:20] == b"INFO"
    page[24:28] = struct.pack(">HH", 60000, 60000)
    assert make_thumbnail(bytes(page), mime="image/vnd.djvu").reason == \
        "too_many_pixels: 60000x60000 = 3600000000 pixels over the limit of 100000000"


def test_a_djvu_that_cannot_be_read_gets_a_reason_never_an_exception():
    rng = __import__("random").Random(17)
    whole = (DJVU / "red_blue_2p_bundled.djvu").read_bytes()
    inputs = [whole[:n] for n in range(0, len(whole), max(1, len(whole) // 30))]
    for _ in range(40):
        flipped = bytearray(whole)
        for _ in range(rng.randint(1, 8)):
            flipped[rng.randrange(len(flipped))] = rng.getrandbits(8)
        inputs.append(bytes(flipped))
    inputs += [b"AT&TFORM" + rng.randbytes(rng.randint(0, 300)) for _ in range(30)]
    words = set()
    for data in inputs:
        result = make_thumbnail(data, mime="image/vnd.djvu")
        assert (result.data is None) != (result.reason is None)
        words.add(result.reason.split(":")[0] if result.reason else "made")
    assert words <= {"made", "corrupt", "empty", "too_many_pixels"} and "corrupt" in words
    indirect = b"AT&TFORM" + struct.pack(">I", 16) + b"DJVM" + b"DIRM" + struct.pack(">I", 3) + b"\x01\x00\x01\x00"
    assert make_thumbnail(indirect, mime="image/vnd.djvu").reason == \
        "corrupt: DjVu: an indirect DjVu document (pages in other files) is not drawn"


def test_a_codec_commons_does_not_take_is_never_decoded():
    from mediaextract.thumbs import make_video_thumbnail

    mjpeg_in_matroska = _video("matroska", "mjpeg", pix_fmt="yuvj420p")
    assert make_video_thumbnail(io.BytesIO(mjpeg_in_matroska), mime="video/webm").reason == \
        "unsupported: video codec mjpeg is not one drawn here"
