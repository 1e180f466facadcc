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
by faulthandler's timer, which needs no GIL. It stays in its worker's process group (PySpark's
daemon's), which the daemon signals when it shuts down.
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


# What the parent accepts from the child: a header of a few fields and a thumbnail (far smaller
# than this); a child that claims more is broken, and the worker must not allocate for it.
_MAX_ANSWER_HEADER = 1 << 16
_MAX_ANSWER_BODY = 1 << 28


class _ChildGone(Exception):
    """The other end closed the socket: the child died (or, in the child, the parent)."""


class _TooLarge(Exception):
    """A message longer than the receiver takes (or can hold): its bytes were read and dropped."""


def _before(sock: socket.socket, deadline: float | None) -> None:
    """Give the next socket operation what is left of the deadline (None: block)."""
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)


def _send(sock: socket.socket, header: dict, body: bytes = b"", fd: int | None = None,
          deadline: float | None = None) -> None:
    """Send one message: a JSON header and raw bytes (a descriptor alongside, for a video)."""
    head = json.dumps(header).encode()
    lengths = _LENGTHS.pack(len(head), 0 if fd is None else 1, len(body))
    _before(sock, deadline)
    if fd is None:
        sock.sendall(lengths)
    else:
        socket.send_fds(sock, [lengths], [fd])
    for part in (head, body):
        if part:
            _before(sock, deadline)
            sock.sendall(part)


def _receive_exactly(sock: socket.socket, size: int, deadline: float | None = None) -> bytes:
    """Return the next `size` bytes, received into one bytes object (no second copy)."""
    _before(sock, deadline)
    data = sock.recv(size, socket.MSG_WAITALL)
    while len(data) < size:  # a signal or a timeout cut the wait short
        _before(sock, deadline)
        more = sock.recv(size - len(data), socket.MSG_WAITALL)
        if not more:
            raise _ChildGone
        data += more
    return data


def _drop(sock: socket.socket, size: int) -> None:
    """Read and forget `size` bytes, so that the next message starts where it should."""
    while size > 0:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            raise _ChildGone
        size -= len(chunk)


def _receive(sock: socket.socket, with_fd: bool, max_header: int, max_body: int,
             deadline: float | None = None) -> tuple[dict, bytes, int | None]:
    """Receive one message; only the child accepts a descriptor. A message over the maxima (or
    that cannot be held in memory) is read to its end and dropped: _TooLarge."""
    _before(sock, deadline)
    if with_fd:
        lengths, fds, _flags, _address = socket.recv_fds(sock, _LENGTHS.size, 1)
    else:
        lengths, fds = sock.recv(_LENGTHS.size), []
    if not lengths:
        raise _ChildGone
    fd = fds[0] if fds else None
    try:
        if len(lengths) < _LENGTHS.size:
            lengths += _receive_exactly(sock, _LENGTHS.size - len(lengths), deadline)
        head_size, _, body_size = _LENGTHS.unpack(lengths)
        if head_size > max_header or body_size > max_body:
            _drop(sock, head_size + body_size)
            raise _TooLarge
        header = json.loads(_receive_exactly(sock, head_size, deadline))
        try:
            body = _receive_exactly(sock, body_size, deadline) if body_size else b""
        except MemoryError:
            _drop(sock, body_size)  # the buffer could not be made: none of the body was read
            raise _TooLarge from None
    except BaseException:
        if fd is not None:
            os.close(fd)
        raise
    return header, body, fd


class Drawer:
    """Draws thumbnails in a child process of its own; one file at a time (callers take turns)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._child: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self._lifeline: int | None = None  # the write end the child's watchdog waits on
        self._memory: int | None = None    # the child's address-space limit

    def draw(self, settings: ThumbnailSettings, data: bytes | None, mime: str | None,
             video_file=None, whole_file=None) -> ThumbnailResult:
        """Return the thumbnail of `data`, or of `video_file` (a seekable file with a descriptor,
        read as needed), or of `whole_file` (a file with a descriptor holding the whole body, read
        by the child: an original too large for the worker to hold), or the reason there is
        none; never raises for what the file does."""
        with self._lock:
            try:
                return self._draw(settings, data, mime, video_file, whole_file)
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

    def _draw(self, settings: ThumbnailSettings, data: bytes | None, mime: str | None, video_file,
              whole_file=None) -> ThumbnailResult:
        self._start(settings.max_memory_bytes)
        header = {"settings": dataclasses.asdict(settings), "mime": mime, "video": video_file is not None,
                  "whole": whole_file is not None}
        deadline = time.monotonic() + settings.max_seconds  # for the whole exchange, every step
        if video_file is not None or whole_file is not None:
            _send(self._sock, header, fd=(video_file or whole_file).fileno(), deadline=deadline)
        else:
            _send(self._sock, header, data or b"", deadline=deadline)
        try:
            answer, body, _ = _receive(self._sock, False, _MAX_ANSWER_HEADER, _MAX_ANSWER_BODY, deadline)
        except _TooLarge:
            raise _ChildGone from None  # a child that answers that is not one to keep
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
               if k in _ENVIRONMENT or k.startswith(("LC_", "MEDIAEXTRACT_CRASH", "MEDIAEXTRACT_HANG", "MEDIAEXTRACT_RAISE"))}
        # The child imports this package from wherever the worker did (a zip on executors); few
        # malloc arenas, since each reserves address space that counts against the limit.
        # The working directory (which `python -m pyspark.daemon` puts on sys.path) is left out.
        here = os.getcwd()
        env.update(PYTHONPATH=os.pathsep.join(p for p in sys.path if p and p != here), MALLOC_ARENA_MAX="2")
        try:
            # -P: nor the child's own working directory.
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

def _limit_memory(max_bytes: int) -> int:
    """Set this process's address-space limit; return it (a hard limit already set, e.g. by
    spark.executor.pyspark.memory, is the ceiling)."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        max_bytes = min(max_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (max_bytes, hard))
    return max_bytes


_QUIET = None  # where faulthandler writes (nowhere): set by main


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
    if header.get("whole"):
        try:
            body = _read_whole(fd)
        except MemoryError:
            return thumbs.refusal(thumbs.TOO_MANY_PIXELS, "out of memory while reading the file")
    return thumbs.make_thumbnail(body, settings, mime=header["mime"])


def _read_whole(fd: int) -> bytes:
    """Return every byte of the file behind fd, closing fd. pread: the file's position, which
    the worker shares, is left where it is."""
    try:
        size = os.fstat(fd).st_size
        buffer = bytearray(size)
        view, done = memoryview(buffer), 0
        while done < size:
            got = os.preadv(fd, [view[done:]], done)
            if not got:
                break
            done += got
        del view
        return bytes(buffer[:done]) if done < size else bytes(buffer)
    finally:
        os.close(fd)


def _answer(header: dict, body: bytes, fd: int | None) -> ThumbnailResult:
    """Return the result of one request; the descriptor, if any, is closed either way."""
    # A video or a whole file comes as a descriptor, nothing else does.
    if bool(header.get("video") or header.get("whole")) != (fd is not None):
        if fd is not None:
            os.close(fd)
        return thumbs.refusal(thumbs.CRASHED, "the drawing request was malformed")
    try:
        # A C thread that needs no GIL: ends this process when a decoder runs past the wall-time
        # limit even if the parent is no longer there to kill it.
        faulthandler.dump_traceback_later(header["settings"]["max_seconds"] + _OWN_DEADLINE_MARGIN_S,
                                          exit=True, file=_QUIET)
    except RuntimeError:  # no thread to be had this close to the limit: the parent's deadline still holds
        pass
    try:
        return _draw(header, body, fd)
    except MemoryError:
        return thumbs.refusal(thumbs.TOO_MANY_PIXELS, "out of memory while drawing")
    finally:
        faulthandler.cancel_dump_traceback_later()


def serve(sock: socket.socket, memory: int) -> None:
    """Answer requests until the parent closes the socket."""
    while True:
        try:
            header, body, fd = _receive(sock, True, _MAX_ANSWER_HEADER, memory)
        except _ChildGone:
            return
        except _TooLarge:  # a file too large to hold under the limit: read and dropped
            result = thumbs.refusal(thumbs.TOO_MANY_PIXELS, "out of memory while receiving the file")
        else:
            result = _answer(header, body, fd)
            del body
        made = result.data is not None
        _send(sock, {"made": made, "mime": result.mime, "width": result.width, "height": result.height,
                     "reason": result.reason}, result.data if made else b"")


def main(argv: list[str]) -> int:
    global _QUIET
    sock = socket.socket(fileno=int(argv[0]))
    _watch_parent(int(argv[1]))
    memory = _limit_memory(int(argv[2]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when this process ends
    _QUIET = open(os.devnull, "w")  # noqa: SIM115 - faulthandler's output, for the life of the process
    serve(sock, memory)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
