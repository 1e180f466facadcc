"""Host-wide caps on storage requests: slots in flight and request starts per second.

PySpark runs one Python worker *process* per concurrent task, so an in-process semaphore would
cap one task, not the executor. These limits live in files under a per-run directory and are
enforced with `fcntl.flock`, which every process and thread on the host sees:

- a lock belongs to an open file description, so each acquisition opens the file afresh and two
  threads of one process conflict exactly like two processes;
- the kernel drops a dead process's locks, so a killed worker (OOM, SIGKILL, lost executor)
  never leaks a slot.

A request takes its turn through `request_turn`: a slot first, then its rate-limited start.

Not shared across hosts: the job-wide cap (`fetch.max_connections`) is enforced by giving each
executor `connections_per_executor` slots and bounding how many executors fetch at once.
A process that forks while holding a slot shares that slot with its child (the open file
description is inherited): hold slots only around a request, never across a fork.
Linux/POSIX only (fcntl); no Spark.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import os
import re
import stat
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

_SLOT_FILE = "slot-{index}.lock"
_RATE_FILE = "rate.state"
# A run token names one directory: no separators, no "..", nothing a shell would mangle.
_RUN_TOKEN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# A reservation further ahead than this many intervals cannot come from real waiters (there are
# never this many threads on one host): it is a stale state file (e.g. the clock stepped back).
_MAX_QUEUED_STARTS = 10_000


def _open_lock_file(path: Path) -> int:
    # O_NOFOLLOW: the directory is private (0700), but never follow a planted symlink anyway.
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)


def _ensure_private_dir(directory: Path) -> Path:
    """Create `directory` (and parents) with mode 0700 if missing; return it."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return directory


class HostSlots:
    """At most `slots` holders at once across every process and thread on this host using `directory`."""

    def __init__(self, directory: str | Path, slots: int):
        if int(slots) < 1:
            raise ValueError(f"slots must be >= 1, got {slots}")
        self.directory = _ensure_private_dir(Path(directory))
        self.slots = int(slots)
        self._paths = [self.directory / _SLOT_FILE.format(index=i) for i in range(self.slots)]
        # Where the next acquisition starts looking, so holders spread over the slot files
        # instead of all queueing on slot 0. next() on itertools.count is atomic under the GIL.
        self._turn = itertools.count(os.getpid())

    @contextmanager
    def hold(self) -> Iterator[int]:
        """Yield the index of a slot held until the block exits; blocks while all are taken.

        Tries every slot without blocking (starting at a rotating index), then sleeps in the
        kernel on one of them (LOCK_EX): no busy spin. Released on exit, or by the kernel if the
        process dies.
        """
        start = next(self._turn) % self.slots
        fd, index = self._acquire(start)
        try:
            yield index
        finally:
            # Closing the descriptor releases the lock; no explicit LOCK_UN needed.
            os.close(fd)

    def _acquire(self, start: int) -> tuple[int, int]:
        for offset in range(self.slots):
            index = (start + offset) % self.slots
            fd = _open_lock_file(self._paths[index])
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                os.close(fd)
                if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                continue
            return fd, index
        fd = _open_lock_file(self._paths[start])
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        return fd, start

    def held(self) -> int:
        """Return how many slots are held right now (a snapshot, for diagnostics and tests)."""
        busy = 0
        for path in self._paths:
            fd = _open_lock_file(path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                busy += 1
            finally:
                os.close(fd)
        return busy


class RateLimiter:
    """At most `per_second` request starts per second across processes on this host (None = unlimited).

    The state file holds the earliest time the next request may start. wait() reserves a start
    under an exclusive flock (a few microseconds), then sleeps outside the lock until it, so
    waiters queue in reservation order and nobody sleeps while holding the lock.

    `clock` must read the same in every process of the host: the default, wall-clock time.time,
    does, and unlike time.monotonic it stays meaningful if a state file outlives a reboot.
    `clock` and `sleep` are injectable so tests need no real waiting.
    """

    def __init__(self, directory: str | Path | None, per_second: float | None, *,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep):
        if per_second is not None and not per_second > 0:
            raise ValueError(f"per_second must be > 0 or None, got {per_second}")
        self.per_second = per_second
        self._clock = clock
        self._sleep = sleep
        self._path: Path | None = None
        if per_second is not None:
            if directory is None:
                raise ValueError("a rate limit needs a directory shared by the processes")
            self._path = _ensure_private_dir(Path(directory)) / _RATE_FILE
            self.interval_s = 1.0 / per_second

    def wait(self) -> None:
        """Return once this caller may start a request (at once when unlimited)."""
        if self._path is None:
            return
        start = self.reserve()
        delay = start - self._clock()
        if delay > 0:
            self._sleep(delay)

    def reserve(self) -> float:
        """Return the start time reserved for one request (clock units); the caller waits until it."""
        if self._path is None:
            return self._clock()
        fd = _open_lock_file(self._path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            now = self._clock()
            next_allowed = self._read_state(fd)
            if next_allowed is None or next_allowed > now + _MAX_QUEUED_STARTS * self.interval_s:
                next_allowed = now
            start = max(now, next_allowed)
            payload = repr(start + self.interval_s).encode("ascii")
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, payload)
            return start
        finally:
            os.close(fd)

    @staticmethod
    def _read_state(fd: int) -> float | None:
        os.lseek(fd, 0, os.SEEK_SET)
        raw = os.read(fd, 64)
        try:
            value = float(raw.decode("ascii").strip())
        except (UnicodeDecodeError, ValueError):
            return None  # empty (first use) or garbled: start afresh
        return value if value == value and value not in (float("inf"), float("-inf")) else None


@contextmanager
def request_turn(slots: HostSlots, rate: RateLimiter) -> Iterator[int]:
    """Yield the index of a slot held until the block exits, once this request's start has come.

    The slot first, then the start: a start reserved before queueing for a slot is long past
    when the slot comes, so starts that queued behind busy slots would all go out at once when
    the slots free up. Reserved while the slot is held, starts stay spaced however long the wait.
    """
    with slots.hold() as index:
        rate.wait()
        yield index


def slots_directory(run_token: str) -> Path:
    """Return tempdir/mediaextract-slots-<uid>/<run_token>, created with mode 0700.

    One directory per run, shared by every worker process of that run on this host. The uid in
    the name keeps users of a shared host (an analytics client, a YARN node) from colliding in
    /tmp; the directory is refused if it is a symlink, another user's, or open to others.
    """
    if not isinstance(run_token, str) or not _RUN_TOKEN_RE.fullmatch(run_token):
        raise ValueError(f"run token must match {_RUN_TOKEN_RE.pattern}: {run_token!r}")
    base = Path(tempfile.gettempdir()) / f"mediaextract-slots-{os.getuid()}"
    directory = base / run_token
    for path in (base, directory):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            pass
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() \
                or info.st_mode & 0o077:
            raise PermissionError(
                f"{path} must be a directory owned by uid {os.getuid()} with mode 0700")
    return directory
