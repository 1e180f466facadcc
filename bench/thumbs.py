"""Thumbnailer speed and quality on one core, per kind of file.

Rasters (baseline and progressive JPEG, PNG) go through mediaextract.thumbs.make_thumbnail as it is
(libvips for plain PNGs, Pillow otherwise), through its Pillow path alone (today's figure, libvips
switched off), and through reference points measured in the same run: a truly naive path (full
decode + one Lanczos resize), Pillow's `Image.thumbnail`, libvips' own `thumbnail_buffer` (one
thread) and OpenCV (img2dataset's path). Each is timed on every image, the paths alternating
image by image, and scored by PSNR against a full-resolution float Lanczos reference. SVG, PDF
and video files (made here) go through make_thumbnail / make_video_thumbnail, scored against a
4x render (SVG, PDF) or the full-size frame (video).

Prints its figures and writes them to bench/results/thumbs.txt and thumbs.json. Never asserts:
issue 14's targets (>= 2.4x the truly naive path on the raster mix; PNG >= 1.5x today's Pillow
path) are reported as met or missed, and per kind the fastest path at equal quality (PSNR within
0.5 dB of the Pillow path's) is named.

Run: PYTHONPATH=lib .venv/bin/python bench/thumbs.py [--repeat 3] [--out bench/results/thumbs.txt]
"""

from __future__ import annotations

import argparse
import ctypes
import io
import json
import math
import os
import platform
import random
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import PIL
import pyvips
from PIL import Image, ImageFilter, ImageOps

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "lib"), str(REPO)]

import frame  # noqa: E402  (bench/frame.py: the machine's facts)
from mediaextract import png_vips, thumbs  # noqa: E402
from mediaextract.thumbs import (  # noqa: E402
    ThumbnailSettings,
    make_thumbnail,
    make_video_thumbnail,
    thumbnail_size,
)

WIDTH = 500
QUALITY = 85
DJVU_FIXTURE = REPO / "tests" / "fixtures" / "djvu" / "red_blue_2p_bundled.djvu"
SETTINGS = ThumbnailSettings(width=WIDTH, quality=QUALITY)


@dataclass
class Sample:
    name: str
    kind: str  # "jpeg-baseline", "jpeg-progressive", "png"; "svg", "pdf", "video", "djvu"
    data: bytes
    size: tuple[int, int]


# --- corpus ------------------------------------------------------------------------------------

def _photo_sources() -> tuple[list[tuple[str, Image.Image]], list[str]]:
    """Gives real photos shipped by installed packages (name, RGB image) and notes on them."""
    notes = []
    sources = []
    mpl = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    sources.append(("grace_hopper.jpg", Image.open(mpl).convert("RGB")))
    notes.append(f"matplotlib {matplotlib.__version__} sample_data/grace_hopper.jpg (512x600)")
    try:
        from tests import pillow_corpus

        root = pillow_corpus.images()
    except Exception as exc:  # no cached sdist and no PyPI: matplotlib's photo alone
        notes.append(f"Pillow's test images unavailable ({type(exc).__name__}): fewer sources")
        return sources, notes
    for name in ("fujifilm.mpo", "xmp_test.jpg", "junk_jpeg_header.jpg", "frozenpond.mpo",
                 "exif_gps_typeerror.jpg", "sugarshack.mpo"):
        path = root / name
        if path.exists():
            with Image.open(path) as im:
                sources.append((name, im.convert("RGB")))
            notes.append(f"Pillow {PIL.__version__} sdist Tests/images/{name} "
                         f"({sources[-1][1].width}x{sources[-1][1].height})")
    return sources, notes


def _photo_like(im: Image.Image, width: int, seed: int) -> Image.Image:
    """Gives `im` at `width` wide with photo-like fine detail (upscaled photos are too smooth)."""
    height = round(im.height * width / im.width)
    if im.width < width:
        im = im.resize((width, height), Image.Resampling.LANCZOS)
        im = im.filter(ImageFilter.UnsharpMask(radius=2, percent=60, threshold=0))
        sigma = 4.0
    else:
        im = im.resize((width, height), Image.Resampling.LANCZOS) if im.width != width else im
        sigma = 1.0  # a real full-size photo: it has its own grain
    rng = np.random.default_rng(seed)
    arr = np.asarray(im, dtype=np.float32)
    # Sensor-like grain: mostly luminance, a little chroma.
    grain = rng.normal(0.0, sigma, arr.shape[:2])[..., None] + rng.normal(0.0, sigma / 3, arr.shape)
    return Image.fromarray(np.clip(arr + grain, 0, 255).astype(np.uint8), "RGB")


# (source index, width, kind): widths 2000-4000 as cameras and scans give them.
_PLAN = [
    (1, 3648, "jpeg-baseline"), (1, 3648, "jpeg-progressive"), (2, 2000, "jpeg-baseline"),
    (0, 2400, "jpeg-baseline"), (0, 3000, "jpeg-progressive"), (0, 4000, "jpeg-baseline"),
    (3, 3264, "jpeg-baseline"), (3, 2048, "jpeg-progressive"), (4, 4000, "jpeg-baseline"),
    (4, 2560, "jpeg-progressive"), (5, 3000, "jpeg-baseline"), (6, 2200, "jpeg-baseline"),
    (0, 2000, "png"), (2, 2000, "png"), (5, 2400, "png"),
]


def build_corpus() -> tuple[list[Sample], list[str]]:
    """Gives the benchmark images and a description of how they were made."""
    sources, notes = _photo_sources()
    samples = []
    for i, (src, width, kind) in enumerate(_PLAN):
        name, im = sources[src % len(sources)]
        photo = _photo_like(im, width, seed=i)
        buf = io.BytesIO()
        if kind == "png":
            photo.save(buf, "PNG", compress_level=6)
        else:
            photo.save(buf, "JPEG", quality=90, progressive=kind == "jpeg-progressive")
        samples.append(Sample(f"{Path(name).stem}@{width}", kind, buf.getvalue(), photo.size))
    how = [
        "Corpus: real photos shipped by installed packages, " + "; ".join(notes) + ".",
        "Each resized with Lanczos to 2000-4000 px wide; sources smaller than that are upscaled,",
        "then given an unsharp mask and Gaussian grain (sigma 4 luma, 4/3 chroma) so that their",
        "JPEG entropy is photo-like; full-size camera photos get sigma 1 grain only.",
        "Saved as baseline and progressive JPEG at quality 90, and PNG (compress_level 6).",
    ]
    return samples, how


# --- raster thumbnailers -----------------------------------------------------------------------

def _jpeg(im: Image.Image) -> bytes:
    if im.mode not in ("RGB", "L"):
        im = im.convert("RGB")
    out = io.BytesIO()
    im.save(out, "JPEG", quality=QUALITY)
    return out.getvalue()


def thumb_mediaextract(data: bytes) -> bytes:
    result = make_thumbnail(data, SETTINGS)
    if result.reason:
        raise RuntimeError(result.reason)
    return result.data


def thumb_mediaextract_pillow(data: bytes) -> bytes:
    """Return make_thumbnail's JPEG with libvips switched off: today's path, Pillow for all."""
    saved = png_vips._pyvips
    png_vips._pyvips = False
    try:
        return thumb_mediaextract(data)
    finally:
        png_vips._pyvips = saved


def thumb_naive_full(data: bytes) -> bytes:
    # What code that knows nothing about thumbnails does: decode everything, resize once.
    im = Image.open(io.BytesIO(data))
    im.load()
    return _jpeg(im.resize(thumbnail_size(im.width, im.height, SETTINGS), Image.Resampling.LANCZOS))


def thumb_pil_thumbnail(data: bytes) -> bytes:
    # Pillow's documented way: thumbnail() drafts a JPEG (DCT scaling to >= 2x the target), then
    # reduces by an integer box filter (reducing_gap 2.0) and resamples with Lanczos.
    im = Image.open(io.BytesIO(data))
    im.thumbnail((WIDTH, im.height))  # bounded by width; Pillow's own rounding (may give 499)
    return _jpeg(im)


def thumb_vips(data: bytes) -> bytes:
    # libvips' own thumbnailer: shrink-on-load for JPEG, Lanczos3, JPEG Q85 by libvips (a PNG
    # photo gives a JPEG, as make_thumbnail gives for an opaque PNG), metadata dropped.
    header = pyvips.Image.new_from_buffer(data, "")
    tw, th = thumbnail_size(header.width, header.height, SETTINGS)
    small = pyvips.Image.thumbnail_buffer(data, tw, height=th, size="force")
    if small.hasalpha():
        return small.pngsave_buffer(keep="none")
    return small.jpegsave_buffer(Q=QUALITY, keep="none")


def thumb_opencv(data: bytes) -> bytes:
    # img2dataset's path: imdecode(IMREAD_UNCHANGED) + resize(INTER_AREA) + imencode.
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    h, w = arr.shape[:2]
    size = thumbnail_size(w, h, SETTINGS)
    small = cv2.resize(arr, size, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
    if not ok:
        raise RuntimeError("imencode failed")
    return buf.tobytes()


METHODS = {
    "naive_full": thumb_naive_full,
    "pil_thumbnail": thumb_pil_thumbnail,
    "opencv_area": thumb_opencv,
    "vips_thumbnail": thumb_vips,
    "mediaextract_pillow": thumb_mediaextract_pillow,
    "mediaextract": thumb_mediaextract,
}
DESCRIPTIONS = {
    "naive_full": "truly naive: Image.open -> load() -> one resize(LANCZOS) to the size rule -> JPEG q85",
    "pil_thumbnail": "Pillow's Image.thumbnail((500, h)) (draft + reducing_gap 2.0) -> JPEG q85",
    "opencv_area": "cv2.imdecode -> resize(INTER_AREA) -> imencode JPEG q85 (img2dataset)",
    "vips_thumbnail": "pyvips thumbnail_buffer (shrink-on-load, Lanczos3, 1 thread) -> jpegsave Q85",
    "mediaextract_pillow": "today's make_thumbnail, libvips off: draft + reduce + Lanczos, JPEG q85",
    "mediaextract": "make_thumbnail: libvips decode + Lanczos3 for plain PNGs, else Pillow; JPEG q85",
}
# Not thumbnailers: how much of a PNG's time is its decoding (inflate + unfilter), which no
# thumbnailer can scale down. Timed on the PNGs, in the same alternation.
def decode_pillow(data: bytes) -> None:
    Image.open(io.BytesIO(data)).load()


def decode_vips(data: bytes) -> None:
    pyvips.Image.pngload_buffer(data, access="sequential").write_to_memory()


DIAGNOSTICS = {"png_decode_pillow": decode_pillow, "png_decode_vips": decode_vips}
# The paths between which the fastest at equal quality is chosen, per kind: Pillow's and
# libvips' own; on PNGs also mediaextract's libvips path (libvips decodes and resamples, Pillow
# encodes). On JPEGs mediaextract is the Pillow path itself.
ENGINES = {"mediaextract_pillow": "Pillow", "vips_thumbnail": "libvips", "mediaextract": "libvips+Pillow"}


def engines_for(kind: str) -> list[str]:
    """Return the paths the fastest at equal quality is chosen from for this kind."""
    return list(ENGINES) if kind == "png" else ["mediaextract_pillow", "vips_thumbnail"]
EQUAL_QUALITY_DB = 0.5


# --- SVG, PDF and video inputs -------------------------------------------------------------------

def _svg(seed: int, width: int, height: int, shapes: int) -> bytes:
    """Return an SVG drawing: gradients, circles, rotated rectangles, polygons, stroked curves."""
    rng = random.Random(seed)

    def colour() -> str:
        return f"hsl({rng.randrange(360)},{rng.randrange(40, 90)}%,{rng.randrange(30, 70)}%)"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><defs>'
        '<linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#1e3c72"/>'
        '<stop offset="1" stop-color="#a8c0ff"/></linearGradient>'
        '<radialGradient id="glow" cx="0.5" cy="0.5" r="0.5"><stop offset="0" stop-color="#fff7ae"/>'
        '<stop offset="0.6" stop-color="#ffb347"/><stop offset="1" stop-color="#ff7e5f" stop-opacity="0"/>'
        '</radialGradient></defs>',
        f'<rect width="{width}" height="{height}" fill="url(#sky)"/>',
    ]
    for i in range(shapes):
        x, y, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0.01, 0.08) * width
        opacity = f'fill-opacity="{rng.uniform(0.3, 0.95):.2f}"'
        if i % 4 == 0:
            fill = "url(#glow)" if i % 8 == 0 else colour()
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{fill}" {opacity}/>')
        elif i % 4 == 1:
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{r * 2:.1f}" height="{r:.1f}" rx="{r / 5:.1f}" '
                         f'transform="rotate({rng.randrange(90)} {x:.1f} {y:.1f})" fill="{colour()}" {opacity}/>')
        elif i % 4 == 2:
            points = " ".join(f"{x + rng.uniform(-r, r) * 2:.1f},{y + rng.uniform(-r, r) * 2:.1f}"
                              for _ in range(rng.randrange(3, 8)))
            parts.append(f'<polygon points="{points}" fill="{colour()}" {opacity} stroke="#222" '
                         'stroke-width="1"/>')
        else:
            d = f"M{x:.1f},{y:.1f} " + " ".join(
                f"C{x + rng.uniform(-3, 3) * r:.1f},{y + rng.uniform(-3, 3) * r:.1f} "
                f"{x + rng.uniform(-3, 3) * r:.1f},{y + rng.uniform(-3, 3) * r:.1f} "
                f"{x + rng.uniform(-3, 3) * r:.1f},{y + rng.uniform(-3, 3) * r:.1f}" for _ in range(3))
            parts.append(f'<path d="{d}" fill="none" stroke="{colour()}" stroke-width="{r / 8:.1f}" '
                         'stroke-linecap="round"/>')
    parts.append("</svg>")
    return "".join(parts).encode()


def _scanned_pdf(pages: list[Image.Image]) -> bytes:
    """Return a scan-like PDF made by Pillow: each page a JPEG-compressed photo at 150 dpi (A4)."""
    out = io.BytesIO()
    pages[0].save(out, "PDF", save_all=True, append_images=pages[1:], resolution=150.0, quality=85)
    return out.getvalue()


def _vector_pdf(pages: int, seed: int) -> bytes:
    """Return a vector PDF made with PDFium (pypdfium2): per letter-size page 300 filled and stroked
    rectangles and Bezier shapes, and 30 lines of Helvetica text."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as c

    rng = random.Random(seed)
    pdf = pdfium.PdfDocument.new()
    for number in range(pages):
        page = pdf.new_page(612, 792)
        for i in range(300):
            x, y = rng.uniform(30, 560), rng.uniform(30, 740)
            if i % 3 == 0:
                obj = c.FPDFPageObj_CreateNewRect(x, y, rng.uniform(5, 80), rng.uniform(5, 60))
            else:
                obj = c.FPDFPageObj_CreateNewPath(x, y)
                for _ in range(3):
                    c.FPDFPath_BezierTo(obj, *(v for _ in range(3)
                                               for v in (x + rng.uniform(-60, 60), y + rng.uniform(-60, 60))))
                c.FPDFPath_Close(obj)
            c.FPDFPageObj_SetFillColor(obj, rng.randrange(256), rng.randrange(256), rng.randrange(256),
                                       rng.randrange(80, 256))
            c.FPDFPageObj_SetStrokeColor(obj, 20, 20, 20, 255)
            c.FPDFPageObj_SetStrokeWidth(obj, 0.8)
            c.FPDFPath_SetDrawMode(obj, c.FPDF_FILLMODE_ALTERNATE, i % 2 == 0)
            c.FPDFPage_InsertObject(page.raw, obj)
        for line in range(30):
            text = c.FPDFPageObj_NewTextObj(pdf.raw, b"Helvetica", 11.0)
            words = f"Page {number + 1}, line {line + 1}: the quick brown fox jumps over the lazy dog"
            c.FPDFText_SetText(text, (ctypes.c_ushort * (len(words) + 1))(*map(ord, words), 0))
            c.FPDFPageObj_Transform(text, 1, 0, 0, 1, 40, 760 - 24 * line)
            c.FPDFPage_InsertObject(page.raw, text)
        page.gen_content()
        page.close()
    out = io.BytesIO()
    pdf.save(out)
    pdf.close()
    return out.getvalue()


def _webm(codec: str, size: tuple[int, int], frames: int, seed: int) -> bytes:
    """Return a WebM made with PyAV: a drifting gradient with moving discs and grain, 10 frames/s."""
    import av

    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out_buffer = io.BytesIO()
    out = av.open(out_buffer, mode="w", format="webm")
    stream = out.add_stream(codec, rate=10)
    stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
    stream.options = {"deadline": "realtime", "cpu-used": "8"}
    for i in range(frames):
        arr = np.stack([(xx / w * 255 + 8 * i) % 256, yy / h * 200 + 20, 255 - (xx + yy) / (w + h) * 255], -1)
        for k in range(6):
            cx, cy = (0.15 + 0.14 * k + 0.01 * i) * w, (0.5 + 0.3 * math.sin(i / 4 + k)) * h
            arr[(xx - cx) ** 2 + (yy - cy) ** 2 < (0.06 * w) ** 2] = (40 * k, 255 - 40 * k, 128)
        arr = np.clip(arr + rng.normal(0, 6, arr.shape), 0, 255).astype(np.uint8)
        for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return out_buffer.getvalue()


def build_other_kinds(photos: list[Image.Image]) -> tuple[list[Sample], list[str]]:
    """Return the SVG, PDF, video and DjVu samples and how they were made."""
    a4 = (1240, 1754)  # A4 at 150 dpi
    pages = [ImageOps.fit(p, a4, Image.Resampling.LANCZOS) for p in photos[:3]]
    samples = [
        Sample("poster.svg", "svg", _svg(1, 1200, 800, 80), (1200, 800)),
        Sample("map.svg", "svg", _svg(2, 2000, 1500, 3000), (2000, 1500)),
        Sample("icon.svg", "svg", _svg(3, 64, 64, 12), (64, 64)),
        Sample("scan-3-pages.pdf", "pdf", _scanned_pdf(pages), (595, 842)),
        Sample("vector-4-pages.pdf", "pdf", _vector_pdf(4, 4), (612, 792)),
        Sample("vp8-960x540.webm", "video", _webm("libvpx", (960, 540), 20, 5), (960, 540)),
        Sample("vp9-1280x720.webm", "video", _webm("libvpx-vp9", (1280, 720), 20, 6), (1280, 720)),
        Sample("book-2-pages.djvu", "djvu", DJVU_FIXTURE.read_bytes(), (1000, 1500)),
    ]
    how = [
        "SVG: three drawings made here (gradients, discs, rotated rectangles, polygons, stroked",
        "Bezier curves): 1200x800 with 80 shapes, 2000x1500 with 3000, a 64x64 icon with 12",
        "(drawn at 500 px wide, as vectors are). PDF: a 3-page scan made by Pillow (A4 photo pages",
        "at 150 dpi, JPEG-compressed) and a 4-page vector document made with PDFium (300 shapes",
        "and 30 lines of Helvetica per page); page 1 is drawn. Video: WebM made with PyAV,",
        "2 s at 10 frames/s of moving discs on a gradient with grain, VP8 960x540 and VP9",
        "1280x720; the frame at the middle is drawn. DjVu: the test fixture (a bundled 2-page",
        "document, page 1 a 1000x1500 IW44 colour page made by DjVuLibre's c44); page 1 is drawn.",
    ]
    return samples, how


def thumb_other(sample: Sample) -> bytes:
    """Return the thumbnail of an SVG, PDF (make_thumbnail) or video (make_video_thumbnail) sample."""
    if sample.kind == "video":
        result = make_video_thumbnail(io.BytesIO(sample.data), SETTINGS, "video/webm")
    else:
        mime = {"svg": "image/svg+xml", "pdf": "application/pdf", "djvu": "image/vnd.djvu"}[sample.kind]
        result = make_thumbnail(sample.data, SETTINGS, mime)
    if result.reason:
        raise RuntimeError(f"{sample.name}: {result.reason}")
    return result.data


# --- quality -----------------------------------------------------------------------------------

class Reference:
    """Careful reference thumbnails: a large image (a full-resolution decode, or a render at 4x
    the target) resized with float Lanczos to the exact size of the thumbnail scored."""

    def __init__(self, im: Image.Image) -> None:
        self.bands = [b.convert("F") for b in _on_white(im).split()]
        self.cache: dict[tuple[int, int], np.ndarray] = {}

    @classmethod
    def of(cls, data: bytes) -> Reference:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return cls(im)

    def at(self, size: tuple[int, int]) -> np.ndarray:
        if size not in self.cache:
            planes = [np.asarray(b.resize(size, Image.Resampling.LANCZOS), dtype=np.float64)
                      for b in self.bands]
            self.cache[size] = np.clip(np.stack(planes, axis=-1), 0, 255)
        return self.cache[size]


def _on_white(im: Image.Image) -> Image.Image:
    """Return the image in RGB as a viewer shows it: transparency over white."""
    if im.mode in ("RGBA", "LA", "PA", "P", "La", "RGBa"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def psnr(thumb: bytes, reference: Reference) -> tuple[float, tuple[int, int]]:
    with Image.open(io.BytesIO(thumb)) as im:
        got = np.asarray(_on_white(im), dtype=np.float64)
        size = im.size
    mse = float(np.mean((got - reference.at(size)) ** 2))
    return (99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)), size


def reference_of_other(sample: Sample, thumb: bytes) -> Reference:
    """Return the reference of an SVG, PDF or video thumbnail: 4x its size, or the full-size frame."""
    with Image.open(io.BytesIO(thumb)) as im:
        tw, th = im.size
    if sample.kind == "svg":
        import resvg_py

        text, _ = thumbs.checked_svg(sample.data)
        png = bytes(resvg_py.svg_to_bytes(svg_string=text, width=4 * tw, height=4 * th, dpi=96.0))
        return Reference.of(png)
    if sample.kind == "pdf":
        import pypdfium2 as pdfium

        document = pdfium.PdfDocument(sample.data)
        try:
            page = document[0]
            bitmap = page.render(scale=4 * tw / page.get_width())
            im = bitmap.to_pil().convert("RGB")
            bitmap.close()
            page.close()
        finally:
            document.close()
        return Reference(im)
    if sample.kind == "djvu":
        import djvu_rs

        page = djvu_rs.Document.from_bytes(sample.data).page(0)
        return Reference(page.render(size=(page.width, page.height)).to_pil().convert("RGB"))
    import av

    with av.open(io.BytesIO(sample.data), format="matroska") as container:
        stream = container.streams.video[0]
        return Reference(thumbs._frame_at_middle(container, stream).to_image())


# --- run ---------------------------------------------------------------------------------------

def pin_one_core() -> str:
    cv2.setNumThreads(1)
    # libvips as mediaextract sets it up: one thread, no operation cache.
    pyvips.concurrency_set(1)
    pyvips.cache_set_max(0)
    threads = f"cv2.setNumThreads(1); libvips concurrency {pyvips.concurrency_get()}"
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        return f"pinned to CPU {sorted(os.sched_getaffinity(0))[0]}; {threads}"
    except (AttributeError, OSError) as exc:
        return f"could not pin to one core ({exc}); {threads}"


def _timed(fn, arg, best: list[float], i: int) -> float:
    """Return the CPU seconds fn(arg) took, and keep the least per sample in best[i]."""
    t0 = time.process_time()
    fn(arg)
    spent = time.process_time() - t0
    best[i] = min(best[i], spent)
    return spent


def drawing_child_overhead(samples: list[Sample], repeat: int) -> dict:
    """Return what drawing in the drawing child (render_guard, as an extract does) adds to the
    raster mix: wall milliseconds per image in process and through the child (best pass of each,
    alternating; the child's CPU is not this process's, so wall time is the measure here), and
    how long the child takes to start."""
    from mediaextract import render_guard

    drawer = render_guard.Drawer()
    try:
        started = time.perf_counter()
        drawer.draw(SETTINGS, samples[0].data, None)
        start_s = time.perf_counter() - started
        best = {"in_process": math.inf, "child": math.inf}
        for _ in range(repeat):
            for way in best:
                t0 = time.perf_counter()
                for sample in samples:
                    result = (make_thumbnail(sample.data, SETTINGS) if way == "in_process"
                              else drawer.draw(SETTINGS, sample.data, None))
                    if result.reason:
                        raise RuntimeError(f"{sample.name}: {result.reason}")
                best[way] = min(best[way], time.perf_counter() - t0)
    finally:
        drawer.close()
    per_image = {way: round(1000 * t / len(samples), 1) for way, t in best.items()}
    return {"child_start_s": round(start_s, 2), "in_process_ms_per_image": per_image["in_process"],
            "child_ms_per_image": per_image["child"],
            "overhead_ms_per_image": round(per_image["child"] - per_image["in_process"], 1)}


def run(repeat: int) -> tuple[dict, list[str]]:
    """Gives the figures (a JSON-able dict) and the report lines."""
    machine = frame.machine_facts()
    pinning = pin_one_core()
    warnings.simplefilter("ignore")
    samples, how = build_corpus()
    photos = [Image.open(io.BytesIO(s.data)).convert("RGB") for s in samples[:3]]
    others, how_others = build_other_kinds(photos)
    del photos
    megapixels = sum(s.size[0] * s.size[1] for s in samples) / 1e6
    pngs = [i for i, s in enumerate(samples) if s.kind == "png"]

    # CPU time of this process (pinned to one core; every thread of it counts) is the measure:
    # on a shared machine other processes inflate wall time at random. Wall time is in the JSON.
    n = len(samples)
    per_pass_cpu: dict[str, list[float]] = {m: [] for m in METHODS}
    per_pass_wall: dict[str, list[float]] = {m: [] for m in METHODS}
    # Per sample, the best of the passes: one figure per (path, sample) that noise only raises.
    best = {m: [math.inf] * n for m in METHODS}
    best_diag = {m: [math.inf] * n for m in DIAGNOSTICS}
    best_other = [math.inf] * len(others)
    outputs = {m: [fn(s.data) for s in samples] for m, fn in METHODS.items()}  # warm-up, scored
    other_outputs = [thumb_other(s) for s in others]
    names = list(METHODS)
    for rep in range(repeat):
        cpu = dict.fromkeys(METHODS, 0.0)
        wall = dict.fromkeys(METHODS, 0.0)
        for i, s in enumerate(samples):
            # Image by image, every path in turn, the order rotated each pass: drifts in clock
            # speed and load hit all paths alike.
            shift = (rep + i) % len(names)
            for method in names[shift:] + names[:shift]:
                w0 = time.perf_counter()
                cpu[method] += _timed(METHODS[method], s.data, best[method], i)
                wall[method] += time.perf_counter() - w0
            if i in pngs:
                for diag, fn in DIAGNOSTICS.items():
                    _timed(fn, s.data, best_diag[diag], i)
        for j, s in enumerate(others):
            _timed(thumb_other, s, best_other, j)
        for method in METHODS:
            per_pass_cpu[method].append(cpu[method])
            per_pass_wall[method].append(wall[method])

    scores: dict[str, list[float]] = {m: [] for m in METHODS}
    sizes: dict[str, list[tuple[int, int]]] = {m: [] for m in METHODS}
    for i, s in enumerate(samples):
        ref = Reference.of(s.data)
        for method in METHODS:
            value, size = psnr(outputs[method][i], ref)
            scores[method].append(value)
            sizes[method].append(size)
    other_scores = [psnr(out, reference_of_other(s, out))[0] for s, out in zip(others, other_outputs)]

    kinds = list(dict.fromkeys(s.kind for s in samples))

    def mean_of_kind(values: list[float], kind: str) -> float:
        return statistics.fmean(v for v, s in zip(values, samples) if s.kind == kind)

    figures = {
        "machine": machine,
        "python": platform.python_version(),
        "pillow": PIL.__version__,
        "pyvips": pyvips.__version__,
        "libvips": ".".join(str(pyvips.version(k)) for k in range(3)),
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "cpu": platform.processor() or platform.machine(),
        "pinning": pinning,
        "repeat": repeat,
        "corpus": {
            "images": n,
            "megapixels": round(megapixels, 1),
            "kinds": {k: sum(s.kind == k for s in samples) for k in kinds},
            "how": " ".join(how),
            "samples": [{"name": s.name, "kind": s.kind, "size": list(s.size),
                         "bytes": len(s.data)} for s in samples],
        },
        "methods": {},
    }
    for method in METHODS:
        figures["methods"][method] = {
            "description": DESCRIPTIONS[method],
            "images_per_s_best": round(n / min(per_pass_cpu[method]), 2),
            "images_per_s_median": round(n / statistics.median(per_pass_cpu[method]), 2),
            "images_per_s_wall_best": round(n / min(per_pass_wall[method]), 2),
            "ms_per_image_by_kind": {k: round(1000 * mean_of_kind(best[method], k), 1) for k in kinds},
            "psnr_db_by_kind": {k: round(mean_of_kind(scores[method], k), 2) for k in kinds},
            "ms_by_sample": [round(1000 * t, 1) for t in best[method]],
            "psnr_db_mean": round(statistics.fmean(scores[method]), 2),
            "psnr_db_min": round(min(scores[method]), 2),
            "output_bytes_mean": round(statistics.fmean(len(o) for o in outputs[method])),
            "widths_not_500": sum(w != WIDTH for w, _ in sizes[method]),
            "psnr_db_by_sample": [round(v, 2) for v in scores[method]],
        }
    m = figures["methods"]
    figures["png_decode_ms"] = {
        d: round(1000 * statistics.fmean(best_diag[d][i] for i in pngs), 1) for d in DIAGNOSTICS}

    # Per kind, the fastest engine at equal quality: PSNR within 0.5 dB of the Pillow path's.
    choice = {}
    for k in kinds:
        floor = m["mediaextract_pillow"]["psnr_db_by_kind"][k] - EQUAL_QUALITY_DB
        fair = [e for e in engines_for(k) if m[e]["psnr_db_by_kind"][k] >= floor]
        fastest = min(fair, key=lambda e: m[e]["ms_per_image_by_kind"][k])
        choice[k] = {"fastest_at_equal_quality": fastest,
                     "candidates": {e: {"ms": m[e]["ms_per_image_by_kind"][k],
                                        "psnr_db": m[e]["psnr_db_by_kind"][k]} for e in engines_for(k)}}
    figures["choice_by_kind"] = choice

    figures["other_kinds"] = {
        "how": how_others,
        "samples": [{"name": s.name, "kind": s.kind, "nominal_size": list(s.size), "bytes": len(s.data),
                     "ms_best": round(1000 * t, 1), "psnr_db": round(v, 2),
                     "output": "x".join(map(str, Image.open(io.BytesIO(o)).size))
                     + " " + Image.open(io.BytesIO(o)).format}
                    for s, t, v, o in zip(others, best_other, other_scores, other_outputs)],
    }

    figures["drawing_child"] = drawing_child_overhead(samples, repeat)

    ours, today, naive = m["mediaextract"], m["mediaextract_pillow"], m["naive_full"]
    figures["targets"] = {
        "raster_mix_vs_naive_full": round(ours["images_per_s_best"] / naive["images_per_s_best"], 2),
        "png_vs_today": round(today["ms_per_image_by_kind"]["png"] / ours["ms_per_image_by_kind"]["png"], 2),
        "raster_mix_vs_pil_thumbnail": round(
            ours["images_per_s_best"] / m["pil_thumbnail"]["images_per_s_best"], 2),
        "raster_mix_vs_today": round(ours["images_per_s_best"] / today["images_per_s_best"], 2),
        "raster_mix_vs_opencv": round(ours["images_per_s_best"] / m["opencv_area"]["images_per_s_best"], 2),
        "psnr_minus_today_db": round(ours["psnr_db_mean"] - today["psnr_db_mean"], 2),
        "speed_vs_naive_full_by_kind": {
            k: round(naive["ms_per_image_by_kind"][k] / ours["ms_per_image_by_kind"][k], 2) for k in kinds},
        "speed_vs_pil_thumbnail_by_kind": {
            k: round(m["pil_thumbnail"]["ms_per_image_by_kind"][k] / ours["ms_per_image_by_kind"][k], 2)
            for k in kinds},
    }
    machine["loadavg_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return figures, report(figures, how)


def report(f: dict, how: list[str]) -> list[str]:
    c, m, t = f["corpus"], f["methods"], f["targets"]
    kinds = list(c["kinds"])
    lines = [
        f"thumbs bench: {WIDTH}px JPEG q{QUALITY}, best of {f['repeat']} passes, one core "
        f"({f['pinning']})",
        f"Python {f['python']}, Pillow {f['pillow']}, pyvips {f['pyvips']} (libvips {f['libvips']}), "
        f"OpenCV {f['opencv']}, numpy {f['numpy']}, {f['cpu']}; {f['machine']['cpus']} CPUs, load "
        f"{f['machine']['loadavg_before']} before, {f['machine']['loadavg_after']} after",
        *how,
        f"{c['images']} images, {c['megapixels']} Mpx in all: "
        + ", ".join(f"{v} {k}" for k, v in c["kinds"].items()),
        "PSNR: each output decoded, against a full-resolution decode resized with float Lanczos",
        "to the same size (so it favours Lanczos-like filters over box-like INTER_AREA a little).",
        "img/s: images per CPU second of the whole mix (best pass; median pass beside it; wall",
        "clock in the JSON). ms by kind: mean over the kind's images of each image's best CPU time.",
        "",
        f"{'path':<20}{'img/s':>7}{'median':>8}{'PSNR dB':>9}{'min':>7}{'KB out':>8}{'!=500w':>7}",
    ]
    for name, r in m.items():
        lines.append(
            f"{name:<20}{r['images_per_s_best']:>7.2f}{r['images_per_s_median']:>8.2f}"
            f"{r['psnr_db_mean']:>9.2f}{r['psnr_db_min']:>7.2f}"
            f"{r['output_bytes_mean'] / 1024:>8.1f}{r['widths_not_500']:>7}")
    lines += ["", "ms/image (PSNR dB) by kind:",
              f"{'path':<20}" + "".join(f"{k:>19}" for k in kinds)]
    for name, r in m.items():
        lines.append(f"{name:<20}" + "".join(
            f"{r['ms_per_image_by_kind'][k]:>11.1f} ({r['psnr_db_by_kind'][k]:5.2f})" for k in kinds))
    for name, r in m.items():
        lines.append(f"  {name}: {r['description']}")
    d = f["png_decode_ms"]
    lines += [
        f"PNG decoding alone (inflate + unfilter, no thumbnailer can scale it down): Pillow "
        f"{d['png_decode_pillow']} ms, libvips {d['png_decode_vips']} ms per PNG.",
        "",
        f"Fastest at equal quality (PSNR within {EQUAL_QUALITY_DB} dB of the Pillow path's), per kind:",
    ]
    agrees = True
    for k, ch in f["choice_by_kind"].items():
        chosen = ENGINES[ch["fastest_at_equal_quality"]]
        agrees = agrees and chosen.startswith("libvips" if k == "png" else "Pillow")
        cands = ", ".join(f"{ENGINES[e]} {v['ms']} ms ({v['psnr_db']} dB)" for e, v in ch["candidates"].items())
        lines.append(f"  {k:<17} {chosen:<15} ({cands})")
    lines += [
        "  mediaextract takes libvips for plain PNGs and Pillow for JPEGs: "
        + ("what this run chose." if agrees else "NOT what this run chose."),
        "",
        "SVG, PDF, video and DjVu through mediaextract (make_thumbnail / make_video_thumbnail):",
    ]
    lines += ["  " + line for line in f["other_kinds"]["how"]]
    lines.append("  PSNR against a render at 4x the thumbnail's size (SVG, PDF; transparency over white)")
    lines.append("  or the full-size frame (video), resized with float Lanczos.")
    for s in f["other_kinds"]["samples"]:
        lines.append(f"  {s['kind']:<6}{s['name']:<22}{s['bytes'] / 1024:>8.0f} KB  -> {s['output']:<13}"
                     f"{s['ms_best']:>8.1f} ms  PSNR {s['psnr_db']:.2f} dB")
    by_kind: dict[str, list[float]] = {}
    for s in f["other_kinds"]["samples"]:
        by_kind.setdefault(s["kind"], []).append(s["ms_best"])
    lines.append("  ms per file by kind: " + ", ".join(
        f"{k} {statistics.fmean(v):.1f}" for k, v in by_kind.items()))
    c = f["drawing_child"]
    lines += ["", f"drawing child (render_guard, as an extract draws; wall time, best pass): raster mix "
                  f"{c['in_process_ms_per_image']} ms/image in process, {c['child_ms_per_image']} ms through the "
                  f"child ({c['overhead_ms_per_image']:+.1f} ms); the child starts in {c['child_start_s']} s, once per worker"]
    lines += [
        "",
        "speed-up by kind vs truly naive:  " + ", ".join(
            f"{k} {v:.2f}x" for k, v in t["speed_vs_naive_full_by_kind"].items()),
        "speed-up by kind vs Image.thumbnail: " + ", ".join(
            f"{k} {v:.2f}x" for k, v in t["speed_vs_pil_thumbnail_by_kind"].items()),
        f"raster mix vs Image.thumbnail: {t['raster_mix_vs_pil_thumbnail']:.2f}x; vs OpenCV: "
        f"{t['raster_mix_vs_opencv']:.2f}x; vs today's Pillow path: {t['raster_mix_vs_today']:.2f}x "
        f"(PSNR {t['psnr_minus_today_db']:+.2f} dB)",
        f"raster mix vs truly naive: {t['raster_mix_vs_naive_full']:.2f}x (target >= 2.4x: "
        f"{'met' if t['raster_mix_vs_naive_full'] >= 2.4 else 'MISSED'})",
        f"PNG vs today's Pillow path: {t['png_vs_today']:.2f}x (target >= 1.5x: "
        f"{'met' if t['png_vs_today'] >= 1.5 else 'MISSED'})",
    ]
    if t["png_vs_today"] < 1.5:
        ceiling = m["mediaextract_pillow"]["ms_per_image_by_kind"]["png"] / d["png_decode_vips"]
        lines += [
            "Why the PNG target is missed: a PNG has to be inflated and unfiltered in full whatever",
            f"the target size; libvips' decoding alone takes {d['png_decode_vips']} ms of this path's "
            f"{m['mediaextract']['ms_per_image_by_kind']['png']} ms,",
            f"so even a free resize and encode would give at most {ceiling:.2f}x today's figure.",
        ]
    if t["raster_mix_vs_naive_full"] < 2.4:
        lines += [
            "Why the raster-mix target is missed: DCT scaling saves a JPEG's IDCT, colour conversion",
            "and resampling, not its entropy decoding (several passes over a full-size coefficient",
            "buffer in a progressive JPEG); a PNG's decoding cannot be scaled down at all.",
        ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "thumbs.txt",
                        help="text report; the JSON figures go beside it (.json)")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes over every file")
    args = parser.parse_args(argv)
    figures, lines = run(max(1, args.repeat))
    text = "\n".join(lines) + "\n"
    print(text, end="")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written: {args.out} and {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
