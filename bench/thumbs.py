"""Thumbnailer speed and quality on one core: mediaextract.thumbs vs naive Pillow vs OpenCV.

Prints its figures and writes them to bench/results/thumbs.txt and thumbs.json. Never asserts:
the targets (>= 2x naive Pillow, no slower than OpenCV, PSNR within 1 dB of OpenCV) are reported
as met or missed.

Run: PYTHONPATH=lib .venv/bin/python bench/thumbs.py [--repeat 3] [--out bench/results/thumbs.txt]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
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
from PIL import Image, ImageFilter

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "lib"), str(REPO)]

from mediaextract.thumbs import ThumbnailSettings, make_thumbnail, thumbnail_size  # noqa: E402

WIDTH = 500
QUALITY = 85
SETTINGS = ThumbnailSettings(width=WIDTH, quality=QUALITY)


@dataclass
class Sample:
    name: str
    kind: str  # "jpeg-baseline", "jpeg-progressive" or "png"
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


# --- the three thumbnailers --------------------------------------------------------------------

def thumb_mediaextract(data: bytes) -> bytes:
    result = make_thumbnail(data, SETTINGS)
    if result.reason:
        raise RuntimeError(result.reason)
    return result.data


def thumb_naive_pillow(data: bytes) -> bytes:
    im = Image.open(io.BytesIO(data))
    im.load()  # as most code does; from here on draft() can no longer help
    im.thumbnail((WIDTH, im.height))  # bounded by width; Pillow's own rounding (may give 499)
    if im.mode not in ("RGB", "L"):
        im = im.convert("RGB")
    out = io.BytesIO()
    im.save(out, "JPEG", quality=QUALITY)
    return out.getvalue()


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
    "mediaextract": thumb_mediaextract,
    "naive_pillow": thumb_naive_pillow,
    "opencv_area": thumb_opencv,
}
DESCRIPTIONS = {
    "mediaextract": "mediaextract.thumbs.make_thumbnail (draft + reduce + Lanczos), JPEG q85",
    "naive_pillow": "Pillow open -> load -> thumbnail((500, h)) -> JPEG q85",
    "opencv_area": "cv2.imdecode -> resize(INTER_AREA) -> imencode JPEG q85 (img2dataset)",
}


# --- quality -----------------------------------------------------------------------------------

class Reference:
    """Careful reference thumbnails: full-resolution decode, float Lanczos to the exact size."""

    def __init__(self, data: bytes) -> None:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            self.bands = [b.convert("F") for b in im.convert("RGB").split()]
        self.cache: dict[tuple[int, int], np.ndarray] = {}

    def at(self, size: tuple[int, int]) -> np.ndarray:
        if size not in self.cache:
            planes = [np.asarray(b.resize(size, Image.Resampling.LANCZOS), dtype=np.float64)
                      for b in self.bands]
            self.cache[size] = np.clip(np.stack(planes, axis=-1), 0, 255)
        return self.cache[size]


def psnr(thumb: bytes, reference: Reference) -> tuple[float, tuple[int, int]]:
    with Image.open(io.BytesIO(thumb)) as im:
        got = np.asarray(im.convert("RGB"), dtype=np.float64)
        size = im.size
    mse = float(np.mean((got - reference.at(size)) ** 2))
    return (99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)), size


# --- run ---------------------------------------------------------------------------------------

def pin_one_core() -> str:
    cv2.setNumThreads(1)
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        return f"pinned to CPU {sorted(os.sched_getaffinity(0))[0]}; cv2.setNumThreads(1)"
    except (AttributeError, OSError) as exc:
        return f"could not pin to one core ({exc}); cv2.setNumThreads(1)"


def run(repeat: int) -> tuple[dict, list[str]]:
    """Gives the figures (a JSON-able dict) and the report lines."""
    pinning = pin_one_core()
    warnings.simplefilter("ignore")
    samples, how = build_corpus()
    megapixels = sum(s.size[0] * s.size[1] for s in samples) / 1e6

    # CPU time of this (single-threaded, pinned) process is the measure: on a shared machine
    # other processes inflate wall time at random. Wall time is kept in the JSON beside it.
    cpu: dict[str, list[float]] = {m: [] for m in METHODS}
    wall: dict[str, list[float]] = {m: [] for m in METHODS}
    # Per sample, the best of the passes: one figure per (method, sample) that noise only raises.
    best_by_sample: dict[str, list[float]] = {m: [float("inf")] * len(samples) for m in METHODS}
    outputs: dict[str, list[bytes]] = {}
    for method, fn in METHODS.items():
        outputs[method] = [fn(s.data) for s in samples]  # warm-up, and the outputs to score
    for _ in range(repeat):
        for method, fn in METHODS.items():  # interleaved: drifts in clock speed hit all alike
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            for i, s in enumerate(samples):
                t0 = time.process_time()
                fn(s.data)
                spent = time.process_time() - t0
                best_by_sample[method][i] = min(best_by_sample[method][i], spent)
            cpu[method].append(time.process_time() - cpu_start)
            wall[method].append(time.perf_counter() - wall_start)

    scores: dict[str, list[float]] = {m: [] for m in METHODS}
    sizes: dict[str, list[tuple[int, int]]] = {m: [] for m in METHODS}
    for i, s in enumerate(samples):
        ref = Reference(s.data)
        for method in METHODS:
            value, size = psnr(outputs[method][i], ref)
            scores[method].append(value)
            sizes[method].append(size)

    n = len(samples)
    kinds = sorted({s.kind for s in samples})
    figures = {
        "python": platform.python_version(),
        "pillow": PIL.__version__,
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
            "images_per_s_best": round(n / min(cpu[method]), 2),
            "images_per_s_median": round(n / statistics.median(cpu[method]), 2),
            "images_per_s_wall_best": round(n / min(wall[method]), 2),
            "ms_per_image_by_kind": {
                k: round(1000 * statistics.fmean(
                    t for t, s in zip(best_by_sample[method], samples) if s.kind == k), 1)
                for k in kinds},
            "ms_by_sample": [round(1000 * t, 1) for t in best_by_sample[method]],
            "psnr_db_mean": round(statistics.fmean(scores[method]), 2),
            "psnr_db_min": round(min(scores[method]), 2),
            "output_bytes_mean": round(statistics.fmean(len(o) for o in outputs[method])),
            "widths_not_500": sum(w != WIDTH for w, _ in sizes[method]),
            "psnr_db_by_sample": [round(v, 2) for v in scores[method]],
        }
    m = figures["methods"]
    ours, naive, cv = m["mediaextract"], m["naive_pillow"], m["opencv_area"]
    figures["targets"] = {
        "speed_vs_naive_pillow": round(ours["images_per_s_best"] / naive["images_per_s_best"], 2),
        "speed_vs_opencv": round(ours["images_per_s_best"] / cv["images_per_s_best"], 2),
        "psnr_minus_opencv_db": round(ours["psnr_db_mean"] - cv["psnr_db_mean"], 2),
        "speed_vs_naive_pillow_by_kind": {
            k: round(naive["ms_per_image_by_kind"][k] / ours["ms_per_image_by_kind"][k], 2)
            for k in kinds},
        "speed_vs_opencv_by_kind": {
            k: round(cv["ms_per_image_by_kind"][k] / ours["ms_per_image_by_kind"][k], 2)
            for k in kinds},
    }
    return figures, report(figures, how)


def report(f: dict, how: list[str]) -> list[str]:
    c = f["corpus"]
    lines = [
        f"thumbs bench: {WIDTH}px JPEG q{QUALITY}, best of {f['repeat']} passes, one core "
        f"({f['pinning']})",
        f"Python {f['python']}, Pillow {f['pillow']}, OpenCV {f['opencv']}, "
        f"numpy {f['numpy']}, {f['cpu']}",
        *how,
        f"{c['images']} images, {c['megapixels']} Mpx in all: "
        + ", ".join(f"{v} {k}" for k, v in c["kinds"].items()),
        "PSNR: each output decoded, against a full-resolution decode resized with float Lanczos",
        "to the same size (so it favours Lanczos-like filters over box-like INTER_AREA a little).",
        "",
        "img/s: images per CPU second (best pass; median pass beside it; wall-clock best in",
        "the JSON). ms by kind: mean over the kind's images of each image's best CPU time.",
        "",
        f"{'method':<14}{'img/s':>7}{'median':>8}{'PSNR dB':>9}{'min':>7}{'KB out':>8}"
        f"{'!=500w':>7}  ms/image by kind",
    ]
    for name, m in f["methods"].items():
        by_kind = ", ".join(f"{k} {v}" for k, v in m["ms_per_image_by_kind"].items())
        lines.append(
            f"{name:<14}{m['images_per_s_best']:>7.2f}{m['images_per_s_median']:>8.2f}"
            f"{m['psnr_db_mean']:>9.2f}{m['psnr_db_min']:>7.2f}"
            f"{m['output_bytes_mean'] / 1024:>8.1f}{m['widths_not_500']:>7}  {by_kind}")
    t = f["targets"]
    lines += [
        "",
        "speed-up by kind vs naive Pillow: " + ", ".join(
            f"{k} {v:.2f}x" for k, v in t["speed_vs_naive_pillow_by_kind"].items()),
        "speed-up by kind vs OpenCV:       " + ", ".join(
            f"{k} {v:.2f}x" for k, v in t["speed_vs_opencv_by_kind"].items()),
        f"speed vs naive Pillow: {t['speed_vs_naive_pillow']:.2f}x (target >= 2x: "
        f"{'met' if t['speed_vs_naive_pillow'] >= 2 else 'MISSED'})",
        f"speed vs OpenCV:       {t['speed_vs_opencv']:.2f}x (target >= 1x: "
        f"{'met' if t['speed_vs_opencv'] >= 1 else 'MISSED'})",
        f"PSNR vs OpenCV:        {t['psnr_minus_opencv_db']:+.2f} dB (target >= -1 dB: "
        f"{'met' if t['psnr_minus_opencv_db'] >= -1 else 'MISSED'})",
    ]
    slow = [k for k, v in t["speed_vs_naive_pillow_by_kind"].items() if v < 2]
    if t["speed_vs_naive_pillow"] < 2 and slow:
        lines += [
            f"Why the 2x is missed: on {', '.join(slow)} the work that cannot be scaled down",
            "dominates. DCT scaling saves the IDCT, colour conversion and resampling of a JPEG,",
            "not its entropy decoding, which a progressive JPEG does in several slow passes over",
            "a full-size coefficient buffer; a PNG has to be inflated and unfiltered in full",
            "whatever the target size. Those costs are the same for all three methods.",
        ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "thumbs.txt",
                        help="text report; the JSON figures go beside it (.json)")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes per method")
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
