"""One lock protocol for any Hadoop file system: exclusive (purge) and shared (writers) locks.

Nothing here imports Spark: every file operation goes through the `fs` object passed in (the
driver's `HadoopFS`, or anything with the same methods), so the rules are testable alone.

Protocol, and why
-----------------
Files. A lock lives in a directory D (for an output root: `<root>/_locks`, mode 0700, because
lock files name hosts, pids and jobs). The exclusive holder owns `D/exclusive`; each shared
holder owns its own `D/shared-<token>`. One file per shared holder, not a counter, because a
file system has no atomic read-modify-write, but it does have an atomic create: a holder's file
is made with `create_exclusive` (mode 0600) and only its owner deletes it, so no update is ever
lost. Each file holds JSON: host, pid, proc_start (field 22 of /proc/<pid>/stat: a pid can be
reused after its process died, the pair pid + start time cannot), started (UTC ISO), token
(uuid hex, new for every acquisition) and job ("purge", "extract", ...).

Heartbeat. A daemon thread touches the holder's file every `heartbeat_s`; the file's
modification time IS the heartbeat. Nothing else is rewritten, so a reader never sees a
half-updated record. If the thread finds its file gone or holding another token, somebody
judged the holder dead and broke the lock: it sets `lost`, and `check()` raises `LockLost`,
so the holder stops before doing further work it no longer has the right to do.

Stale (`is_stale`). A holder on this host whose process (pid + proc_start) is dead is stale at
once, whatever its heartbeat: a killed run is taken over without waiting. Any holder whose
heartbeat is older than `stale_after_s` is stale: another host's process cannot be asked, so
its silence is the only evidence. A file that cannot be parsed (being written this very moment,
or cut short by a crash) is stale only once its heartbeat is old: a create that is still
writing must not be broken. Clocks of the hosts must agree to well within `stale_after_s`.

Breaking a stale lock (rename-and-verify). Deleting it outright could delete a newcomer's file
that replaced it between our read and our delete. Instead it is renamed to
`<file>.broken-<our token>` (a rename moves exactly one file, atomically), re-read, and deleted
only if it is the holder we judged stale; otherwise it is renamed back, unless a newcomer has
already taken the name (then the displaced holder has lost its lock and its heartbeat says so).

Exclusive acquire (a purge): loop until `timeout_s`: create `exclusive`; if it exists and is
stale, break it and retry; if it is live, wait. Once created, wait until every `shared-*`
file is gone or stale (stale ones are deleted). The exclusive file is created BEFORE waiting
for readers and shared holders back off while it exists, so a stream of writers cannot starve
a purge: it never backs off, they do. On timeout the purge deletes its own file (so writers
proceed) and raises `errors.LockTimeout` (exit 8) naming the directory, holders and timeout.

Shared acquire (a writer): loop until `timeout_s`: create `shared-<token>`, then look for a
live `exclusive`; if there is one, delete our file and wait, then retry; a stale exclusive is
broken. Both sides announce first (create) and look second, so whichever way two of them
interleave, at least one sees the other: never an exclusive and a shared holder at once.

Waiting polls with a short sleep that grows (jittered, capped), because a file system has no
notification; the jitter keeps contenders from polling in lockstep.

Several roots (`exclusive_all`) are locked in one sorted order, so two purges over overlapping
roots never each hold one root while waiting for the other's.

Atomicity is the file system's: HDFS creates and renames atomically and its rename never
replaces an existing file. Hadoop's local file system (file://) checks existence and then
creates, and its rename replaces: there two processes can in a narrow window both create the
same file. The protocol is only as strong as `create_exclusive`.

`faults.checkpoint("lock.<step>")` sits between the create/verify/delete steps, so kill tests
can stop a process at each of them. The heartbeat thread has none: a thread's timing would make
the N-th checkpoint a different step on every run.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterable, Iterator

from . import faults
from .config import DEFAULTS
from .errors import EXIT_BUG, LockTimeout, MediaextractError

log = logging.getLogger("mediaextract")

EXCLUSIVE = "exclusive"
SHARED_PREFIX = "shared-"
BROKEN_INFIX = ".broken-"
DEFAULT_STALE_AFTER_S = DEFAULTS["governance.lock_stale_s"]   # the declared setting's default
MAX_WAIT_STEP_S = 2.0           # waiting never sleeps longer than this between looks


class LockLost(MediaextractError):
    """The lock was broken by another run that judged this holder dead: stop working."""

    exit_code = EXIT_BUG


# --- processes -------------------------------------------------------------------------------

def _proc_stat(pid: int) -> tuple[str, int] | None:
    """Return (state, start time in clock ticks) of a process from /proc, or None if unreadable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read().decode("ascii", "replace")
    except OSError:
        return None
    # Field 2 (the command) is in parentheses and may hold spaces or ')': split after the last.
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[19])  # fields 3 (state) and 22 (starttime)


def process_start(pid: int) -> int | None:
    """Return a process's start time (/proc/<pid>/stat field 22), or None where there is no /proc."""
    stat = _proc_stat(pid)
    return stat[1] if stat else None


def process_alive(pid: int, proc_start: int | None) -> bool:
    """Return True when process pid runs on this host and, if proc_start is given, is that process."""
    if pid <= 0:
        return False  # 0 and negatives address process groups, never one holder
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, it belongs to another user
    stat = _proc_stat(pid)
    if stat is None:
        # No /proc at all: the pid is all there is to go by. /proc but no entry: it just died.
        return not os.path.exists("/proc/self/stat")
    state, started = stat
    if state in ("Z", "X"):
        return False  # killed, not yet reaped by its parent: it will never release anything
    return proc_start is None or started == proc_start


# --- records and staleness -------------------------------------------------------------------

def _readable(holder) -> bool:
    """Return True when a parsed lock record names a host and a pid (enough to judge it)."""
    return (isinstance(holder, dict) and isinstance(holder.get("host"), str)
            and isinstance(holder.get("pid"), int) and holder["pid"] > 0)


def is_stale(holder: dict | None, heartbeat_ms: int, now_ms: int, stale_after_s: float, this_host: str,
             alive: Callable[[int, int | None], bool]) -> bool:
    """Return True when a lock's holder is gone: dead on this host, or silent for stale_after_s."""
    silent_too_long = now_ms - heartbeat_ms > stale_after_s * 1000
    if not _readable(holder):
        return silent_too_long  # being written right now, or cut short: only age tells
    proc_start = holder.get("proc_start")
    if holder["host"] == this_host and not alive(holder["pid"], proc_start if isinstance(proc_start, int) else None):
        return True
    return silent_too_long


def _parse_record(raw: bytes) -> dict | None:
    """Return the JSON object in raw, or None when it is not one (half-written, garbled)."""
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def new_record(job: str, token: str, host: str) -> dict:
    """Return the record a holder writes into its lock file."""
    pid = os.getpid()
    return {"host": host, "pid": pid, "proc_start": process_start(pid),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "token": token, "job": job}


@dataclass(frozen=True)
class Holder:
    """What one lock file says, and when it last beat."""

    path: str
    raw: bytes
    record: dict | None      # None: unreadable (half-written or garbled)
    heartbeat_ms: int

    @property
    def token(self) -> str | None:
        return self.record.get("token") if self.record else None


def read_holder(fs, path: str, attempts: int = 5) -> Holder | None:
    """Return the holder in path, or None when the file is gone."""
    for _ in range(attempts):
        # Content first, time second: if the file is replaced in between, the time is the newer
        # file's, so an old holder can look live (we wait) but a new one never looks stale.
        try:
            raw = fs.read_bytes(path)
        except Exception:
            if not fs.exists(path):
                return None
            raw = b""  # there but unreadable (still being created): judged by age alone
        try:
            heartbeat_ms = fs.info(path).modified_ms
        except Exception:
            if not fs.exists(path):
                return None
            continue  # deleted and created again (a writer backing off and retrying): read afresh
        return Holder(path, raw, _parse_record(raw), heartbeat_ms)
    raise OSError(f"{path} kept changing while being read ({attempts} attempts)")


def _same_holder(a: Holder, b: Holder) -> bool:
    """Return True when two reads are of the same holder (token, or bytes when there is none)."""
    if a.token and b.token:
        return a.token == b.token
    return a.raw == b.raw


def _one_line(value) -> str:
    """Return str(value) with every run of whitespace made one space (records are untrusted)."""
    return " ".join(str(value).split())


def describe(holder: Holder) -> str:
    """Return 'job on host H pid P since S' for a holder (or 'an unreadable lock file')."""
    record = holder.record
    if not _readable(record):
        return f"an unreadable lock file {_one_line(holder.path.rsplit('/', 1)[-1])}"
    return (f"{_one_line(record.get('job') or 'a run')} on host {_one_line(record['host'])} pid {record['pid']}"
            f" since {_one_line(record.get('started', '?'))}")


def break_stale(fs, judged: Holder, breaker_token: str) -> bool:
    """Remove the lock file judged stale; return True if it was that holder's and is now gone."""
    aside = f"{judged.path}{BROKEN_INFIX}{breaker_token}"
    faults.checkpoint("lock.break.rename")
    if not fs.rename(judged.path, aside):
        return False  # gone already: released, or broken by someone else
    faults.checkpoint("lock.break.verify")
    moved = read_holder(fs, aside)
    if moved is None:
        return False  # swept by another breaker as leftover litter
    if not _same_holder(moved, judged):
        # A newcomer replaced the stale file after we judged it: give its file back. If yet
        # another run took the name meanwhile, the newcomer has lost the lock (its heartbeat
        # will say so); never overwrite the name.
        faults.checkpoint("lock.break.restore")
        if fs.exists(judged.path) or not fs.rename(aside, judged.path):
            fs.delete(aside, False)
        return False
    faults.checkpoint("lock.break.delete")
    fs.delete(aside, False)
    log.warning("broke a stale lock: %s (%s)", describe(judged), judged.path)
    return True


# --- heartbeat -------------------------------------------------------------------------------

class Heartbeat:
    """A daemon thread that touches a lock file every interval_s while its token is in it."""

    def __init__(self, fs, path: str, token: str, interval_s: float):
        self.fs, self.path, self.token, self.interval_s = fs, path, token, interval_s
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lock-heartbeat {path}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                holder = read_holder(self.fs, self.path)
                if holder is None or holder.token != self.token:
                    self.lost = True
                    log.error("lost the lock %s: another run broke it", self.path)
                    return
                self.fs.touch(self.path)
            except Exception as error:  # a file system hiccup: beat again next time
                log.warning("lock heartbeat on %s failed: %s", self.path, error)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()


def _release_file(fs, path: str, token: str) -> bool:
    """Delete path if it still holds token; return True if deleted."""
    holder = read_holder(fs, path)
    if holder is None or holder.token != token:
        return False  # broken and perhaps taken by another run: not ours to delete
    faults.checkpoint("lock.release.delete")
    return bool(fs.delete(path, False))


class _Waiting:
    """Sleeps a short, growing, jittered step between looks, never past a deadline."""

    def __init__(self, first_step_s: float, timeout_s: float):
        self.step_s = max(first_step_s, 0.001)
        self.deadline = time.monotonic() + timeout_s

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline

    def sleep(self) -> None:
        left = self.deadline - time.monotonic()
        time.sleep(max(0.0, min(self.step_s * random.uniform(0.5, 1.0), left)))
        self.step_s = min(self.step_s * 1.5, max(MAX_WAIT_STEP_S, self.step_s))


# --- the lock --------------------------------------------------------------------------------

def _wall_clock_ms() -> int:
    return int(time.time() * 1000)


def _lock_files(fs, directory: str, attempts: int = 5) -> list[str]:
    """Return the names of the files directly in directory."""
    for attempt in range(attempts):
        try:
            entries = fs.list(directory)
        except Exception:
            # Hadoop's local file system reads an entry's permissions after listing it: a lock
            # file deleted in between fails the whole listing. Look again.
            if attempt == attempts - 1:
                raise
            continue
        return [entry.path.rstrip("/").rsplit("/", 1)[-1] for entry in entries if not entry.is_dir]
    return []


class Lock:
    """An exclusive or shared lock on one directory of any Hadoop file system (one kind at a time)."""

    def __init__(self, fs, directory: str, job: str, *, timeout_s: float, stale_after_s: float,
                 heartbeat_s: float, wait_step_s: float = 0.05, host: str | None = None,
                 now_ms: Callable[[], int] | None = None):
        self.fs, self.directory, self.job = fs, directory.rstrip("/"), job
        self.timeout_s, self.stale_after_s, self.heartbeat_s = timeout_s, stale_after_s, heartbeat_s
        self.wait_step_s = wait_step_s
        self.host = host or socket.gethostname()
        self.now_ms = now_ms or _wall_clock_ms
        self.token: str | None = None
        self.kind: str | None = None          # "exclusive" / "shared" while held
        self.path: str | None = None          # our lock file while held
        self.recovered: list[dict] = []       # records of stale holders this acquisition broke
        self._heartbeat: Heartbeat | None = None
        self._alive = process_alive

    @classmethod
    def for_root(cls, fs, root: str, job: str, settings) -> "Lock":
        """Return the lock of an output root (<root>/_locks), timed by the governance.* settings."""
        return cls(fs, f"{root.rstrip('/')}/_locks", job, **options(settings))

    # -- state --

    @property
    def lost(self) -> bool:
        """Return True when, while held, another run broke this lock."""
        return bool(self._heartbeat and self._heartbeat.lost)

    def check(self) -> None:
        """Raise LockLost when another run broke this lock (call it between units of work)."""
        if self.lost:
            raise LockLost(f"lost the {self.kind} lock {self.directory} ({self.job}): another run judged "
                           f"this one dead and broke it; stopping")

    def _stale(self, holder: Holder) -> bool:
        return is_stale(holder.record, holder.heartbeat_ms, self.now_ms(), self.stale_after_s, self.host, self._alive)

    def _prepare(self) -> tuple[str, bytes]:
        """Return a fresh token and our record's bytes; make the lock directory if missing."""
        if self.kind is not None:
            raise RuntimeError(f"{self.directory}: this Lock already holds the {self.kind} lock")
        if not self.fs.exists(self.directory):
            self.fs.mkdirs(self.directory, 0o700)
        token = uuid.uuid4().hex
        self.recovered = []
        return token, json.dumps(new_record(self.job, token, self.host)).encode()

    def _held(self, kind: str, path: str, token: str) -> None:
        self.kind, self.path, self.token = kind, path, token
        self._heartbeat = Heartbeat(self.fs, path, token, self.heartbeat_s)

    def _break(self, holder: Holder, token: str) -> bool:
        """Break a stale holder's file; return True if it is gone (and note it in recovered)."""
        if not break_stale(self.fs, holder, token):
            return False
        self.recovered.append(holder.record or {"path": holder.path})
        return True

    def _timeout(self, kind: str, blocking: list[Holder]) -> LockTimeout:
        held = "; ".join(describe(h) for h in blocking) or "holders that have since left"
        return LockTimeout(f"gave up waiting {self.timeout_s:g}s for the {kind} lock {self.directory} "
                           f"for {_one_line(self.job)}: held by {held}")

    # -- exclusive --

    def acquire_exclusive(self) -> "Lock":
        """Take the exclusive lock (waiting for writers to leave); return self. Raise LockTimeout."""
        token, data = self._prepare()
        path = f"{self.directory}/{EXCLUSIVE}"
        waiting = _Waiting(self.wait_step_s, self.timeout_s)
        while True:
            faults.checkpoint("lock.exclusive.create")
            if self.fs.create_exclusive(path, data, 0o600):
                break
            holder = read_holder(self.fs, path)
            if holder is None:
                continue  # released between our create and our read: try again now
            if self._stale(holder) and self._break(holder, token):
                continue
            if waiting.expired():
                raise self._timeout(EXCLUSIVE, [holder])
            waiting.sleep()
        faults.checkpoint("lock.exclusive.created")
        # Beat from now on: draining the writers may take longer than stale_after_s.
        self._held(EXCLUSIVE, path, token)
        try:
            while True:
                readers = self._live_shared_holders()
                if not readers:
                    return self
                if waiting.expired():
                    raise self._timeout(EXCLUSIVE, readers)
                waiting.sleep()
        except BaseException:
            self.release()  # writers must not wait behind a purge that gave up
            raise

    def _live_shared_holders(self) -> list[Holder]:
        """Return the live shared holders; delete stale ones and leftover broken files."""
        live = []
        for name in _lock_files(self.fs, self.directory):
            path = f"{self.directory}/{name}"
            if name.startswith(SHARED_PREFIX):
                holder = read_holder(self.fs, path)
                if holder is None:
                    continue
                if not self._stale(holder):
                    live.append(holder)
                    continue
                # One file per holder, named by its token: nobody else can have replaced it.
                faults.checkpoint("lock.exclusive.delete_stale_shared")
                self.fs.delete(path, False)
                self.recovered.append(holder.record or {"path": path})
                log.warning("removed a stale shared lock: %s (%s)", describe(holder), path)
            elif name.startswith(EXCLUSIVE + BROKEN_INFIX):
                # Left by a breaker that died mid-break. Its time is the broken holder's last
                # beat; a live breaker's file (or a displaced newcomer's) is younger than that.
                holder = read_holder(self.fs, path)
                if holder is not None and self.now_ms() - holder.heartbeat_ms > self.stale_after_s * 1000:
                    self.fs.delete(path, False)
        return live

    # -- shared --

    def acquire_shared(self) -> "Lock":
        """Take a shared lock (backing off while an exclusive one is held); return self. Raise LockTimeout."""
        token, data = self._prepare()
        path = f"{self.directory}/{SHARED_PREFIX}{token}"
        exclusive_path = f"{self.directory}/{EXCLUSIVE}"
        waiting = _Waiting(self.wait_step_s, self.timeout_s)
        while True:
            faults.checkpoint("lock.shared.create")
            if not self.fs.create_exclusive(path, data, 0o600):
                raise RuntimeError(f"{path} exists: a lock token was reused")
            faults.checkpoint("lock.shared.created")
            try:
                # Announced first, looking second: an exclusive created from now on sees our file.
                holder = self._live_exclusive_holder(exclusive_path, token)
            except BaseException:
                self.fs.delete(path, False)  # not held, so not heartbeating: never leave it behind
                raise
            if holder is None:
                self._held("shared", path, token)
                return self
            faults.checkpoint("lock.shared.back_off")
            self.fs.delete(path, False)
            if waiting.expired():
                raise self._timeout("shared", [holder])
            waiting.sleep()

    def _live_exclusive_holder(self, path: str, token: str) -> Holder | None:
        """Return the exclusive holder that blocks us (breaking stale ones), or None if there is none."""
        while True:
            holder = read_holder(self.fs, path)
            if holder is None or not self._stale(holder):
                return holder
            if not self._break(holder, token):
                return holder  # someone else is breaking or replacing it: look again later

    # -- release and context managers --

    def release(self) -> None:
        """Stop the heartbeat and delete our lock file if it is still ours."""
        if self.kind is None:
            return
        if self._heartbeat:
            self._heartbeat.stop()
        faults.checkpoint("lock.release")
        try:
            _release_file(self.fs, self.path, self.token)
        finally:
            self.kind = self.path = None

    @contextmanager
    def exclusive(self) -> Iterator["Lock"]:
        """Hold the exclusive lock for the with-block."""
        self.acquire_exclusive()
        try:
            yield self
        finally:
            self.release()

    @contextmanager
    def shared(self) -> Iterator["Lock"]:
        """Hold a shared lock for the with-block."""
        self.acquire_shared()
        try:
            yield self
        finally:
            self.release()


def _canonical(fs, directory: str) -> str:
    """Return directory as the file system spells it, so every run sorts roots alike."""
    qualify = getattr(fs, "qualify", None)
    return qualify(directory) if qualify else directory.rstrip("/")


@contextmanager
def _hold_all(fs, directories: Iterable[str], job: str, exclusive: bool, **lock_options) -> Iterator[list[Lock]]:
    # Sorted, so that two runs holding several roots always take them in the same order.
    held: list[Lock] = []
    try:
        for directory in sorted({_canonical(fs, d) for d in directories}):
            lock = Lock(fs, directory, job, **lock_options)
            held.append(lock.acquire_exclusive() if exclusive else lock.acquire_shared())
        yield held
    finally:
        for lock in reversed(held):
            lock.release()


def exclusive_all(fs, directories: Iterable[str], job: str, **lock_options):
    """Return a context holding the exclusive locks of all directories (taken in sorted order)."""
    return _hold_all(fs, directories, job, True, **lock_options)


def shared_all(fs, directories: Iterable[str], job: str, **lock_options):
    """Return a context holding the shared locks of all directories (taken in sorted order)."""
    return _hold_all(fs, directories, job, False, **lock_options)


def holders(fs, directory: str, *, stale_after_s: float = DEFAULT_STALE_AFTER_S, host: str | None = None,
            now_ms: Callable[[], int] | None = None) -> list[dict]:
    """Return who holds the lock in directory: records with kind, stale, path and heartbeat_ms."""
    this_host, now = host or socket.gethostname(), (now_ms or _wall_clock_ms)()
    found = []
    for name in sorted(_lock_files(fs, directory)):
        if name == EXCLUSIVE:
            kind = "exclusive"
        elif name.startswith(SHARED_PREFIX) and BROKEN_INFIX not in name:
            kind = "shared"
        else:
            continue
        holder = read_holder(fs, f"{directory.rstrip('/')}/{name}")
        if holder is None:
            continue
        record = holder.record if _readable(holder.record) else {"host": None, "pid": None, "job": None}
        stale = is_stale(holder.record, holder.heartbeat_ms, now, stale_after_s, this_host, process_alive)
        found.append({**record, "kind": kind, "stale": stale, "path": holder.path,
                      "heartbeat_ms": holder.heartbeat_ms})
    return sorted(found, key=lambda h: h["kind"] != "exclusive")


def options(settings) -> dict:
    """Return the lock options the settings give (timeout, staleness, heartbeat)."""
    return {"timeout_s": float(settings["governance.lock_timeout_s"]),
            "stale_after_s": float(settings["governance.lock_stale_s"]),
            "heartbeat_s": float(settings["governance.lock_heartbeat_s"])}
