"""Thumbnails drawn in a child process, under a wall-time and a memory limit (no Spark).

The decoders are native code (Pillow's codecs, resvg, PDFium, FFmpeg) that Python cannot
interrupt: a hostile file could stall a task for ever, or make it allocate until the executor
dies. So a worker never draws in its own process. `Drawer.draw` hands the file to a child process
(`python -m mediaextract.render_guard`, started on first use and kept for later files), waits at
most `max_seconds`, and when the child overruns, the child is killed and the row gets the reason
"timeout: ..."; when the child dies (a decoder's crash, or an allocation the kernel refused past
`max_memory_bytes` of address space, set with RLIMIT_AS in the child), "crashed: ...". Either way
the next file gets a fresh child. Allocations that fail cleanly inside the limit are the
thumbnailer's own "too_many_pixels: out of memory" reason.

The protocol is one request and one answer at a time over a Unix socket pair: lengths, a JSON
header (settings, MIME type; the answer's size and reason) and the raw bytes, so neither side
unpickles what the other sends. A video is not sent: its spool file's descriptor is passed with
SCM_RIGHTS and the child reads it as it needs. The child gets a minimal environment (no
credentials), exits when the socket closes, and ends itself when the parent dies (a watchdog
thread sees its lifeline pipe reach EOF) or, should a decoder hold the GIL past the time limit,
by faulthandler's timer, which needs no GIL. It stays in the worker's process group, so killing
a YARN container's group kills it too.
"""

from __future__ import annotations

import dataclasses
import faulthandler
import json
import os
import resource
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

from . import faults, thumbs
from .thumbs import ThumbnailResult, ThumbnailSettings

_LENGTHS = struct.Struct("!II Q")  # header length, descriptors passed (0 or 1), body length
# What the child's environment keeps of the worker's: enough to run Python and find the package;
# never the job's secrets (storage and catalog credentials, Spark's worker secret).
_ENVIRONMENT = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TMPDIR", "LD_LIBRARY_PATH", "TZ")
# Seconds past max_seconds after which a child ends itself: the parent's own deadline is gone
# when the parent was killed, and a decoder holding the GIL keeps the lifeline thread waiting.
_OWN_DEADLINE_MARGIN_S = 5


class _ChildGone(Exception):
    """The other end closed the socket: the child died (or, in the child, the parent)."""


def _send(sock: socket.socket, header: dict, body: bytes = b"", fd: int | None = None) -> None:
    """Send one message: a JSON header and raw bytes (a descriptor alongside, for a video)."""
    head = json.dumps(header).encode()
    lengths = _LENGTHS.pack(len(head), 0 if fd is None else 1, len(body))
    if fd is None:
        sock.sendall(lengths)
    else:
        socket.send_fds(sock, [lengths], [fd])
    sock.sendall(head)
    if body:
        sock.sendall(body)


def _receive_exactly(sock: socket.socket, size: int) -> bytes:
    buffer = bytearray(size)
    view, got = memoryview(buffer), 0
    while got < size:
        count = sock.recv_into(view[got:], min(size - got, 1 << 20))
        if not count:
            raise _ChildGone
        got += count
    return bytes(buffer)


def _receive(sock: socket.socket, with_fd: bool) -> tuple[dict, bytes, int | None]:
    """Receive one message; only the child accepts a descriptor."""
    if with_fd:
        lengths, fds, _flags, _address = socket.recv_fds(sock, _LENGTHS.size, 1)
    else:
        lengths, fds = sock.recv(_LENGTHS.size), []
    if not lengths:
        raise _ChildGone
    if len(lengths) < _LENGTHS.size:
        lengths += _receive_exactly(sock, _LENGTHS.size - len(lengths))
    head_size, _, body_size = _LENGTHS.unpack(lengths)
    header = json.loads(_receive_exactly(sock, head_size))
    body = _receive_exactly(sock, body_size) if body_size else b""
    return header, body, (fds[0] if fds else None)


class Drawer:
    """Draws thumbnails in a child process of its own; one file at a time (callers take turns)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._child: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self._lifeline: int | None = None  # the write end the child's watchdog waits on
        self._memory: int | None = None    # the child's address-space limit

    def draw(self, settings: ThumbnailSettings, data: bytes | None, mime: str | None,
             video_file=None) -> ThumbnailResult:
        """Return the thumbnail of `data` (or of `video_file`, a seekable file with a descriptor),
        or the reason there is none; never raises for what the file does."""
        with self._lock:
            try:
                return self._draw(settings, data, mime, video_file)
            except (TimeoutError, socket.timeout):
                self._stop()
                return thumbs.refusal(thumbs.TIMEOUT, f"drawing took over {settings.max_seconds} s: stopped")
            except (_ChildGone, BrokenPipeError, ConnectionResetError):
                code = self._stop()
                return thumbs.refusal(thumbs.CRASHED, f"the drawing process died ({_death(code)})")
            except (OSError, MemoryError) as error:  # no process, no memory, no room to spool
                self._stop()
                return thumbs.refusal(thumbs.CRASHED, f"no drawing process: {type(error).__name__}: {error}")
            except BaseException:
                self._stop()  # an answer may be on its way: never read it as the next file's
                raise

    def _draw(self, settings: ThumbnailSettings, data: bytes | None, mime: str | None, video_file) -> ThumbnailResult:
        self._start(settings.max_memory_bytes)
        header = {"settings": dataclasses.asdict(settings), "mime": mime, "video": video_file is not None}
        deadline = time.monotonic() + settings.max_seconds
        self._sock.settimeout(settings.max_seconds)
        if video_file is not None:
            _send(self._sock, header, fd=video_file.fileno())
        else:
            _send(self._sock, header, data or b"")
        self._sock.settimeout(max(deadline - time.monotonic(), 0.001))
        answer, body, _ = _receive(self._sock, with_fd=False)
        return ThumbnailResult(body if answer["made"] else None, answer["mime"], answer["width"],
                               answer["height"], answer["reason"])

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _start(self, memory: int) -> None:
        if self._child is not None and self._child.poll() is None and self._memory == memory:
            return
        self._stop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        watch_read, watch_write = os.pipe()
        env = {k: v for k, v in faults.child_environment(os.environ, "render.").items()
               if k in _ENVIRONMENT or k.startswith(("LC_", "MEDIAEXTRACT_CRASH", "MEDIAEXTRACT_HANG"))}
        # The child imports this package from wherever the worker did (a zip on executors); few
        # malloc arenas, since each reserves address space that counts against the limit.
        env.update(PYTHONPATH=os.pathsep.join(p for p in sys.path if p), MALLOC_ARENA_MAX="2")
        try:
            # -P: the executor's working directory is not put on the child's path.
            child = subprocess.Popen(
                [sys.executable, "-P", "-m", "mediaextract.render_guard", str(theirs.fileno()), str(watch_read),
                 str(memory)],
                pass_fds=(theirs.fileno(), watch_read), env=env, stdin=subprocess.DEVNULL)
        except BaseException:
            ours.close()
            os.close(watch_write)
            raise
        finally:
            theirs.close()
            os.close(watch_read)
        self._child, self._sock, self._lifeline, self._memory = child, ours, watch_write, memory

    def _stop(self) -> int | None:
        """Kill the child if it runs; return its exit code (negative: the signal that ended it)."""
        child, self._child = self._child, None
        if self._sock is not None:
            self._sock.close()
        if self._lifeline is not None:
            os.close(self._lifeline)
        self._sock = self._lifeline = self._memory = None
        if child is None:
            return None
        if child.poll() is None:
            child.kill()
        return child.wait()


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


_drawer: Drawer | None = None
_drawer_lock = threading.Lock()


def drawer() -> Drawer:
    """Return this process's drawer (one child per worker process, reused across tasks)."""
    global _drawer
    with _drawer_lock:
        if _drawer is None:
            _drawer = Drawer()
        return _drawer


# --- the child ---------------------------------------------------------------------------------

def _limit_memory(max_bytes: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        max_bytes = min(max_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (max_bytes, hard))


def _watch_parent(lifeline: int) -> None:
    """End this process when the parent dies: its end of the lifeline closes and read gives EOF."""
    def watch() -> None:
        while os.read(lifeline, 1):
            pass
        os._exit(0)
    threading.Thread(target=watch, name="lifeline", daemon=True).start()


def _draw(header: dict, body: bytes, fd: int | None) -> ThumbnailResult:
    settings = ThumbnailSettings(**header["settings"])
    faults.checkpoint("render.draw")
    if header["video"]:
        with os.fdopen(fd, "rb") as video:
            return thumbs.make_video_thumbnail(video, settings, mime=header["mime"])
    return thumbs.make_thumbnail(body, settings, mime=header["mime"])


def serve(sock: socket.socket) -> None:
    """Answer requests until the parent closes the socket."""
    quiet = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    while True:
        try:
            header, body, fd = _receive(sock, with_fd=True)
        except _ChildGone:
            return
        except MemoryError:  # a file too large to hold under the limit
            result = thumbs.refusal(thumbs.TOO_MANY_PIXELS, "out of memory while receiving the file")
        else:
            # A C thread that needs no GIL: ends this process when a decoder runs past the
            # wall-time limit even if the parent is no longer there to kill it.
            faulthandler.dump_traceback_later(header["settings"]["max_seconds"] + _OWN_DEADLINE_MARGIN_S,
                                              exit=True, file=quiet)
            try:
                result = _draw(header, body, fd)
            except MemoryError:
                result = thumbs.refusal(thumbs.TOO_MANY_PIXELS, "out of memory while drawing")
            finally:
                faulthandler.cancel_dump_traceback_later()
            del body
        made = result.data is not None
        _send(sock, {"made": made, "mime": result.mime, "width": result.width, "height": result.height,
                     "reason": result.reason}, result.data if made else b"")


def main(argv: list[str]) -> int:
    sock = socket.socket(fileno=int(argv[0]))
    _watch_parent(int(argv[1]))
    _limit_memory(int(argv[2]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when this process ends
    serve(sock)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
