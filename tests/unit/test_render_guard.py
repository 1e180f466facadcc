"""The drawing child (render_guard) with real child processes: the same thumbnails as drawing in
process, a stuck drawer killed at its wall-time limit, a crashed one replaced, an allocation over
the memory limit refused, a video read through a passed descriptor, no child outliving its worker,
and a fuzz run in which no input crashes or stalls a decoder."""

from __future__ import annotations

import dataclasses
import io
import os
import random
import select
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from PIL import Image

from mediaextract import faults, render_guard
from mediaextract.thumbs import ThumbnailSettings, make_thumbnail
from mediaextract_sandbox.media import encode_video

LIB = str(Path(__file__).resolve().parents[2] / "lib")


def _jpeg(size=(2000, 1500), colour=(200, 10, 10)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG", quality=90)
    return out.getvalue()


def _webm() -> bytes:
    """Two seconds, red then blue: the frame at the middle is blue."""
    return encode_video([Image.new("RGB", (320, 240), (255, 0, 0) if i < 10 else (0, 0, 255)) for i in range(20)])


@pytest.fixture
def drawer():
    d = render_guard.Drawer()
    yield d
    d.close()


def test_a_drawing_is_the_one_made_in_process(drawer):
    data = _jpeg()
    assert drawer.draw(ThumbnailSettings(), data, "image/jpeg") == make_thumbnail(data, mime="image/jpeg")
    assert drawer.draw(ThumbnailSettings(), b"not an image", "image/png") == make_thumbnail(b"not an image",
                                                                                          mime="image/png")


def test_a_stuck_drawing_is_stopped_at_its_time_limit_and_the_next_file_gets_a_new_child(drawer, monkeypatch):
    monkeypatch.setenv("MEDIAEXTRACT_HANG_ON", "render.draw")  # the child blocks for ever on its file
    stuck = drawer.draw(ThumbnailSettings(max_seconds=1), _jpeg(), "image/jpeg")
    assert stuck.reason == "timeout: drawing took over 1 s: stopped"
    assert stuck.data is None
    monkeypatch.delenv("MEDIAEXTRACT_HANG_ON")
    # The default limit: a new child (Python, Pillow) can take over a second to start on a machine
    # that runs the suite's two workers.
    assert drawer.draw(ThumbnailSettings(), _jpeg(), "image/jpeg").width == 500


def test_a_crashed_drawing_gets_a_reason_and_the_next_file_gets_a_new_child(drawer, monkeypatch):
    monkeypatch.setenv("MEDIAEXTRACT_CRASH_ON", "render.draw")  # SIGKILL, as a decoder's crash would end it
    crashed = drawer.draw(ThumbnailSettings(), _jpeg(), "image/jpeg")
    assert crashed.reason == "crashed: the drawing process died (signal SIGKILL)"
    monkeypatch.delenv("MEDIAEXTRACT_CRASH_ON")
    assert drawer.draw(ThumbnailSettings(), _jpeg(), "image/jpeg").width == 500


def test_an_allocation_over_the_memory_limit_is_refused_there_not_here(drawer):
    big = io.BytesIO()
    # 81 Mpx, under max_pixels; a TIFF is decoded whole (243 MB), not streamed nor reduced on load.
    Image.new("RGB", (9000, 9000), (1, 2, 3)).save(big, "TIFF", compression="tiff_lzw")
    tight = drawer.draw(ThumbnailSettings(max_memory_bytes=256 * 2**20), big.getvalue(), "image/tiff")
    assert tight.reason == "too_many_pixels: out of memory while decoding"
    roomy = drawer.draw(ThumbnailSettings(), big.getvalue(), "image/tiff")
    assert (roomy.reason, roomy.width, roomy.height) == (None, 500, 500)


def test_a_file_larger_than_the_child_can_hold_is_refused_and_the_next_one_drawn(drawer):
    tight = ThumbnailSettings(max_memory_bytes=256 * 2**20)
    huge = drawer.draw(tight, bytes(270_000_000), "image/png")  # more than the child's whole address space
    assert huge.reason == "too_many_pixels: out of memory while receiving the file"
    child = drawer._child.pid
    assert drawer.draw(tight, _jpeg(), "image/jpeg").width == 500
    assert drawer._child.pid == child  # the same child, still in step with its socket


def test_a_video_is_read_through_its_descriptor(drawer):
    with tempfile.SpooledTemporaryFile(max_size=16) as spool:  # on disk, as a large body is
        spool.write(_webm())
        spool.seek(0)
        made = drawer.draw(ThumbnailSettings(), None, "video/webm", video_file=spool)
    assert (made.reason, made.mime, made.width, made.height) == (None, "image/jpeg", 320, 240)
    middle = Image.open(io.BytesIO(made.data)).convert("RGB").getpixel((160, 120))
    assert middle[2] > 200 and middle[0] < 60  # the blue second half: the frame at the middle


def test_no_drawing_child_outlives_its_worker(tmp_path):
    worker = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, io\n"
         "from PIL import Image\n"
         "from mediaextract import render_guard\n"
         "from mediaextract.thumbs import ThumbnailSettings\n"
         "out = io.BytesIO(); Image.new('RGB', (50, 50)).save(out, 'PNG')\n"
         "d = render_guard.drawer(); assert d.draw(ThumbnailSettings(), out.getvalue(), 'image/png').ok\n"
         "print(d._child.pid, flush=True); sys.stdin.read()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": LIB}, text=True)
    child = int(worker.stdout.readline())
    watch = os.pidfd_open(child)
    try:
        worker.send_signal(signal.SIGKILL)  # an executor killed: nobody closes anything
        worker.wait()
        ended, _, _ = select.select([watch], [], [], 60)  # readable once the child has exited
        assert ended == [watch]
    finally:
        os.close(watch)


def test_a_child_stuck_holding_the_gil_ends_itself_when_nobody_kills_it(drawer, monkeypatch):
    """The parent is gone (its deadline with it) and the lifeline thread cannot run without the
    GIL: faulthandler's timer ends the child past max_seconds."""
    monkeypatch.setenv("MEDIAEXTRACT_HANG_ON", "render.draw")
    settings = ThumbnailSettings(max_seconds=1)
    drawer._start(settings.max_memory_bytes)
    child = drawer._child
    render_guard._send(drawer._sock, {"settings": dataclasses.asdict(settings), "mime": "image/jpeg",
                                      "video": False}, _jpeg())
    assert child.wait(timeout=60) == 1  # faulthandler's exit code; the lifeline is still open


def test_the_child_gets_no_secret_of_the_worker(drawer, monkeypatch):
    monkeypatch.setenv("MEDIAEXTRACT_STORAGE_SECRET_KEY", "s3cr3t-for-the-test")
    monkeypatch.setenv("PYTHON_WORKER_FACTORY_SECRET", "w0rker-secret")
    assert drawer.draw(ThumbnailSettings(), _jpeg(), "image/jpeg").ok
    environ = Path(f"/proc/{drawer._child.pid}/environ").read_bytes()
    assert b"s3cr3t-for-the-test" not in environ and b"w0rker-secret" not in environ
    assert b"MALLOC_ARENA_MAX=2" in environ.split(b"\0")


def test_arming_for_the_worker_is_not_spent_by_its_drawing_child():
    env = {"PATH": "/bin", "MEDIAEXTRACT_CRASH_AT": "3", "MEDIAEXTRACT_CHECKPOINT_LOG": "/tmp/x",
           "MEDIAEXTRACT_CRASH_ON": "lock.break.rename", "MEDIAEXTRACT_HANG_ON": "render.draw"}
    assert faults.child_environment(env, "render.") == {"PATH": "/bin", "MEDIAEXTRACT_HANG_ON": "render.draw"}


def _pdf() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 400), (30, 60, 200)).save(out, "PDF")
    return out.getvalue()


SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 100"><defs><linearGradient id="g">'
       b'<stop offset="0" stop-color="red"/><stop offset="1" stop-color="blue"/></linearGradient></defs>'
       b'<rect width="200" height="100" fill="url(#g)"/><circle cx="100" cy="50" r="30" fill="#fff"/></svg>')


def _mangled(data: bytes, rng: random.Random) -> list[bytes]:
    """Truncations, flipped bytes and spliced random runs of one valid file."""
    out = [data[:rng.randrange(1, len(data))] for _ in range(6)]
    for _ in range(8):
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 12)):
            flipped[rng.randrange(len(flipped))] = rng.getrandbits(8)
        out.append(bytes(flipped))
    at = rng.randrange(len(data))
    out.append(data[:at] + rng.randbytes(rng.randint(1, 400)) + data[at:])
    out.append(rng.randbytes(rng.randint(1, 2000)))
    return out


@pytest.mark.parametrize("mime, make", [("image/svg+xml", lambda: SVG), ("application/pdf", _pdf),
                                         ("video/webm", _webm), ("image/jpeg", lambda: _jpeg((640, 480)))])
def test_fuzzed_files_never_crash_or_stall_a_decoder(drawer, mime, make):
    rng = random.Random(f"render-guard {mime}")
    words = set()
    for data in _mangled(make(), rng):
        settings = ThumbnailSettings(max_seconds=30)
        if mime.startswith("video/"):
            with tempfile.TemporaryFile() as spool:
                spool.write(data)
                spool.seek(0)
                result = drawer.draw(settings, None, mime, video_file=spool)
        else:
            result = drawer.draw(settings, data, mime)
        assert (result.data is None) != (result.reason is None)
        words.add(result.reason.split(":")[0] if result.reason else "made")
    assert not words & {"crashed", "timeout"}, words
