"""Test media made on the spot: videos encoded with PyAV (FFmpeg) from PIL frames.

The seed and the tests need small videos with known content (which frame is in the middle, how
it is turned); they are made here rather than kept as binary files. FFmpeg's bitexact flag keeps
the bytes the same from run to run, so a seeded file's sha1 does not change.
"""

from __future__ import annotations

import io
from fractions import Fraction
from typing import Iterable


def encode_video(frames: Iterable, fmt: str = "webm", codec: str = "libvpx", rate: int = 10,
                 pix_fmt: str = "yuv420p", options: dict | None = None, rotation: float | None = None,
                 aspect: Fraction | int | None = None) -> bytes:
    """Return the bytes of a video of `frames` (PIL images of one size) in container `fmt`.

    rotation: a display matrix turning the picture counterclockwise by that many degrees, as
    phones write it; aspect: the sample aspect ratio (anamorphic pixels).
    """
    import av

    frames = iter(frames)
    first = next(frames)
    buffer = io.BytesIO()
    out = av.open(buffer, mode="w", format=fmt, options={"fflags": "+bitexact"})
    stream = out.add_stream(codec, rate=rate, options=options or {})
    stream.width, stream.height, stream.pix_fmt = first.width, first.height, pix_fmt
    if aspect:
        stream.codec_context.sample_aspect_ratio = Fraction(aspect)
    if rotation is not None:
        stream.set_display_rotation(rotation)
    for frame in (first, *frames):
        for packet in stream.encode(av.VideoFrame.from_image(frame)):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return buffer.getvalue()


def thirds(size: tuple[int, int], count: int, colours: tuple) -> list:
    """Return `count` frames of one colour each third of the way: the middle frame has colours[1]."""
    from PIL import Image

    return [Image.new("RGB", size, colours[0] if i < count / 3 else colours[1] if i < 2 * count / 3 else colours[2])
            for i in range(count)]
