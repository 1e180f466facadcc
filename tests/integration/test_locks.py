"""The lock protocol on a real file system (file:// through Spark's Hadoop FS) and real processes.

The test process always uses the real `HadoopFS`. Child processes (the interleave and kill
tests, the dead holder) are plain Python with `LocalDiskFS`, a local-disk adapter with the same
method names, because starting a JVM per child costs about 10 s; a child that used HadoopFS
would exercise the same locks.py code over a slower transport. The adapter mimics HDFS rather
than Hadoop's local file system: its create is atomic (O_EXCL) and its rename never replaces
an existing file (renameat2 RENAME_NOREPLACE), which is what the protocol relies on.
"""

from __future__ import annotations

import ctypes
import inspect
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from mediaextract.config import load_settings
from mediaextract.errors import LockTimeout
from mediaextract.hadoopfs import FileInfo, HadoopFS
from mediaextract.locks import Lock, LockLost, break_stale, exclusive_all, holders, read_holder, shared_all

REPO = Path(__file__).resolve().parents[2]
# Never stale by age within a test: only a dead pid (or an explicitly aged file) makes a lock stale.
LONG = dict(timeout_s=30.0, stale_after_s=3600.0, heartbeat_s=0.2, wait_step_s=0.005)


# --- a local-disk file system for child processes ---------------------------------------------

class LocalDiskFS:
    """The HadoopFS methods locks.py uses, on local disk, with HDFS's atomicity (children only)."""

    @staticmethod
    def _local(path: str) -> str:
        return unquote(urlsplit(path).path) if path.startswith("file:") else path

    @staticmethod
    def _checksum(local: str) -> str:
        # Hadoop's local file system keeps ".<name>.crc" beside each file it writes; a file this
        # adapter replaces must not keep the old one's checksum, or Hadoop would refuse to read it.
        head, name = os.path.split(local)
        return os.path.join(head, f".{name}.crc")

    def exists(self, path: str) -> bool:
        return os.path.exists(self._local(path))

    def mkdirs(self, path: str, mode: int = 0o700) -> None:
        os.makedirs(self._local(path), mode, exist_ok=True)

    def create_exclusive(self, path: str, data: bytes, mode: int = 0o600) -> bool:
        try:
            fd = os.open(self._local(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            return False
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        return True

    def read_bytes(self, path: str) -> bytes:
        with open(self._local(path), "rb") as stream:
            return stream.read()

    def delete(self, path: str, recursive: bool = True) -> bool:
        local = self._local(path)
        try:
            os.unlink(local)
        except FileNotFoundError:
            return False
        if os.path.exists(self._checksum(local)):
            os.unlink(self._checksum(local))
        return True

    def rename(self, source: str, target: str) -> bool:
        source, target = self._local(source), self._local(target)
        if _rename_noreplace(source, target) != 0:
            return False
        if os.path.exists(self._checksum(source)):
            os.rename(self._checksum(source), self._checksum(target))
        return True

    def info(self, path: str) -> FileInfo:
        local = self._local(path)
        st = os.stat(local)
        return FileInfo(local, os.path.isdir(local), st.st_size, st.st_mtime_ns // 1_000_000, st.st_mode & 0o7777)

    def list(self, path: str) -> list[FileInfo]:
        local = self._local(path)
        if not os.path.isdir(local):
            return []
        found = []
        for name in os.listdir(local):
            if name.startswith(".") and name.endswith(".crc"):
                continue  # hidden, as Hadoop's local file system hides them
            try:
                found.append(self.info(os.path.join(local, name)))
            except FileNotFoundError:
                continue  # deleted since listed: HDFS lists a consistent snapshot
        return found

    def touch(self, path: str) -> None:
        os.utime(self._local(path))


def _rename_noreplace(source: str, target: str) -> int:
    """Rename source to target unless target exists (as HDFS does); return 0 on success."""
    libc = ctypes.CDLL(None, use_errno=True)
    at_fdcwd, rename_noreplace = -100, 1
    return libc.renameat2(at_fdcwd, source.encode(), at_fdcwd, target.encode(), rename_noreplace)


# --- child processes -------------------------------------------------------------------------

def append_line(path: str, line: str) -> None:
    """Append one line with a single O_APPEND write: lines of concurrent processes never mix."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def child_main(argv: list[str]) -> None:
    """A child: 'hold' a lock until killed, or 'loop' taking seeded locks and logging intervals."""
    spec = json.loads(argv[0])
    fs, options = LocalDiskFS(), spec["options"]
    if spec["mode"] == "hold":
        lock = Lock(fs, spec["directory"], "held-by-child", **options)
        lock.acquire_exclusive() if spec["kind"] == "exclusive" else lock.acquire_shared()
        print("held", lock.token, flush=True)
        sys.stdin.read()  # until SIGKILL
        return
    rng, pid = random.Random(spec["seed"]), os.getpid()
    for _ in range(spec["rounds"]):
        kind = "exclusive" if rng.random() < 0.4 else "shared"
        lock = Lock(fs, spec["directory"], f"loop-{kind}", **options)
        with lock.exclusive() if kind == "exclusive" else lock.shared():
            append_line(spec["log"], f"enter {kind} {pid}\n")
            time.sleep(rng.uniform(0, 0.003))  # the work done under the lock (widens overlaps)
            append_line(spec["log"], f"exit {kind} {pid}\n")


# A child runs just the code above, not this module: importing pytest would cost each child
# about half a second, and these tests start dozens of children.
CHILD_SOURCE = "\n\n".join([
    "from __future__ import annotations",
    "import ctypes, json, os, random, sys, time",
    "from urllib.parse import unquote, urlsplit",
    f"sys.path[:0] = {[str(REPO / 'lib')]!r}",
    "from mediaextract.hadoopfs import FileInfo",
    "from mediaextract.locks import Lock",
    *(inspect.getsource(part) for part in (LocalDiskFS, _rename_noreplace, append_line, child_main)),
    "child_main(sys.argv[1:])",
])


def start_child(spec: dict, crash_at: int = 0, checkpoint_log: str | None = None, **popen) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAEXTRACT_")}
    if crash_at:
        env["MEDIAEXTRACT_CRASH_AT"] = str(crash_at)
    if checkpoint_log:
        env["MEDIAEXTRACT_CHECKPOINT_LOG"] = checkpoint_log
    return subprocess.Popen([sys.executable, "-c", CHILD_SOURCE, json.dumps(spec)], cwd=REPO, env=env, **popen)


def finish(children: list[subprocess.Popen]) -> list[int]:
    """Return the children's exit codes (failing if one hangs); kill any still running."""
    try:
        return [child.wait(timeout=60) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


def overlaps(lines: list[str]) -> list[str]:
    """Return the log lines at which an exclusive interval overlapped any other interval."""
    inside: dict[str, str] = {}  # pid -> kind of its open interval
    bad = []
    for number, line in enumerate(lines, 1):
        event, kind, pid = line.split()
        if event == "enter":
            if (kind == "exclusive" and inside) or "exclusive" in inside.values():
                bad.append(f"line {number}: {line} while {inside} are inside")
            inside[pid] = kind
        elif inside.pop(pid, None) != kind:
            bad.append(f"line {number}: {line} without its enter")
    return bad + [f"never left: {inside}"] * bool(inside)


def test_the_overlap_check_finds_overlaps():
    assert overlaps(["enter shared 1", "enter shared 2", "exit shared 1", "exit shared 2"]) == []
    assert overlaps(["enter shared 1", "enter exclusive 2", "exit exclusive 2", "exit shared 1"])
    assert overlaps(["enter exclusive 1", "enter shared 2", "exit shared 2", "exit exclusive 1"])
    assert overlaps(["enter exclusive 1"])


# --- helpers for the test process -------------------------------------------------------------

@pytest.fixture(scope="module")
def fs(spark) -> HadoopFS:
    return HadoopFS(spark)


@pytest.fixture
def directory(tmp_path) -> str:
    return f"file://{tmp_path}/locks"


def local(uri: str) -> Path:
    return Path(unquote(urlsplit(uri).path))


def wait_until(condition, what: str, timeout_s: float = 30.0) -> None:
    """Poll condition() until true; fail after timeout_s (a guard against hanging, not a timing)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(0.01)


class ObservedFS:
    """The real HadoopFS, with a record of which methods were called on which paths."""

    def __init__(self, real):
        self._real, self._guard, self.calls = real, threading.Lock(), []

    def __getattr__(self, name):
        method = getattr(self._real, name)

        def observed(path, *args, **kwargs):
            with self._guard:
                self.calls.append((name, str(path)))
            return method(path, *args, **kwargs)
        return observed

    def count(self, name: str, part: str = "") -> int:
        with self._guard:
            return sum(1 for called, path in self.calls if called == name and part in path)


def in_thread(acquire) -> tuple[threading.Thread, dict]:
    """Run acquire() in a thread; return the thread and a dict that gets 'lock' or 'error'."""
    outcome: dict = {}

    def run():
        try:
            outcome["lock"] = acquire()
        except BaseException as error:  # noqa: BLE001 - handed to the test
            outcome["error"] = error
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def kinds(fs, directory) -> list[str]:
    return sorted(h["kind"] for h in holders(fs, directory))


# --- single-process protocol -----------------------------------------------------------------

def test_exclusive_excludes_exclusive_and_files_are_private(fs, directory):
    first = Lock(fs, directory, "purge", **LONG)
    with first.exclusive():
        with pytest.raises(LockTimeout):
            Lock(fs, directory, "purge-2", **{**LONG, "timeout_s": 0}).acquire_exclusive()
        [held] = holders(fs, directory)
        assert (held["kind"], held["job"], held["pid"], held["token"]) == ("exclusive", "purge", os.getpid(), first.token)
        assert held["stale"] is False
        assert fs.info(directory).mode == 0o700 and fs.info(f"{directory}/exclusive").mode == 0o600
    assert holders(fs, directory) == []
    with Lock(fs, directory, "purge-2", **{**LONG, "timeout_s": 0}).exclusive() as second:
        assert second.kind == "exclusive"


def test_shared_holders_coexist(fs, directory):
    with Lock(fs, directory, "extract-a", **{**LONG, "timeout_s": 0}).shared() as a, \
            Lock(fs, directory, "extract-b", **{**LONG, "timeout_s": 0}).shared() as b:
        assert a.token != b.token
        assert kinds(fs, directory) == ["shared", "shared"]
        with pytest.raises(LockTimeout):
            Lock(fs, directory, "purge", **{**LONG, "timeout_s": 0}).acquire_exclusive()
        assert kinds(fs, directory) == ["shared", "shared"], "a purge that gave up removes its file"
    assert holders(fs, directory) == []


def test_exclusive_waits_for_shared_blocks_new_writers_and_gets_the_lock_after_release(fs, directory):
    reader = Lock(fs, directory, "extract", **LONG).acquire_shared()
    observed = ObservedFS(fs)
    purge, outcome = in_thread(Lock(observed, directory, "purge", **LONG).acquire_exclusive)
    # Two looks at the directory with the writer in it: the purge has seen it and is waiting.
    wait_until(lambda: observed.count("list", "locks") >= 2, "the purge looking at the writers")
    assert outcome == {} and kinds(fs, directory) == ["exclusive", "shared"]
    with pytest.raises(LockTimeout):  # a waiting purge already keeps new writers out: no starvation
        Lock(fs, directory, "extract-late", **{**LONG, "timeout_s": 0}).acquire_shared()
    reader.release()
    purge.join(timeout=30)
    assert outcome["lock"].kind == "exclusive" and kinds(fs, directory) == ["exclusive"]
    outcome["lock"].release()


def test_shared_backs_off_while_exclusive_is_held(fs, directory):
    purge = Lock(fs, directory, "purge", **LONG).acquire_exclusive()
    observed = ObservedFS(fs)
    writer, outcome = in_thread(Lock(observed, directory, "extract", **LONG).acquire_shared)
    wait_until(lambda: observed.count("delete", "shared-") >= 1, "the writer backing off")
    assert outcome == {} and kinds(fs, directory) in (["exclusive"], ["exclusive", "shared"])
    purge.release()
    writer.join(timeout=30)
    assert outcome["lock"].kind == "shared" and kinds(fs, directory) == ["shared"]
    assert observed.count("create_exclusive", "shared-") >= 2, "it announced itself again after backing off"
    outcome["lock"].release()
    assert holders(fs, directory) == []


def test_timeout_raises_lock_timeout_exit_8_in_one_line(fs, directory):
    holder = Lock(fs, directory, "extract\nnightly", **LONG).acquire_shared()
    try:
        with pytest.raises(LockTimeout) as raised:
            Lock(fs, directory, "purge", **{**LONG, "timeout_s": 0.3}).acquire_exclusive()
    finally:
        holder.release()
    message = str(raised.value)
    assert raised.value.exit_code == 8 and "\n" not in message
    for part in (directory, "0.3s", "extract nightly", f"pid {os.getpid()}", holder.host, "purge"):
        assert part in message
    assert holders(fs, directory) == []


def test_a_live_holder_on_another_host_is_waited_for_and_its_heartbeat_keeps_it_live(fs, directory):
    far = Lock(fs, directory, "purge", **{**LONG, "heartbeat_s": 0.02}, host="far-away").acquire_exclusive()
    try:
        lock_file = local(directory) / "exclusive"
        an_hour_ago = time.time() - 3600
        os.utime(lock_file, (an_hour_ago, an_hour_ago))
        wait_until(lambda: lock_file.stat().st_mtime > an_hour_ago + 1800, "the heartbeat touching the file")
        with pytest.raises(LockTimeout):  # its pid cannot be asked; its heartbeat is fresh
            Lock(fs, directory, "extract", **{**LONG, "stale_after_s": 60, "timeout_s": 0}).acquire_shared()
    finally:
        far.release()


def test_a_silent_holder_on_another_host_is_taken_over_and_keeps_its_hands_off(fs, directory):
    silent = Lock(fs, directory, "purge", **{**LONG, "heartbeat_s": 3600}, host="far-away").acquire_exclusive()
    an_hour_ago = time.time() - 3600
    os.utime(local(directory) / "exclusive", (an_hour_ago, an_hour_ago))
    taker = Lock(fs, directory, "purge-2", **{**LONG, "stale_after_s": 60, "timeout_s": 5}).acquire_exclusive()
    assert [r["token"] for r in taker.recovered] == [silent.token]
    silent.release()  # late: the file is the taker's now, and stays
    [held] = holders(fs, directory)
    assert held["token"] == taker.token
    taker.release()


def test_a_stale_exclusive_of_a_killed_process_is_taken_over_by_its_dead_pid(fs, directory):
    spec = {"mode": "hold", "kind": "exclusive", "directory": directory, "options": LONG}
    child = start_child(spec, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        said = child.stdout.readline().split()
        assert said[:1] == [b"held"], said
        [held] = holders(fs, directory)
        assert held["pid"] == child.pid and held["stale"] is False
    finally:
        child.kill()
        child.wait()
    assert holders(fs, directory)[0]["stale"] is True
    # stale_after_s is an hour: only the dead pid can make this lock stale.
    taker = Lock(fs, directory, "purge", **{**LONG, "timeout_s": 10}).acquire_exclusive()
    assert [(r["pid"], r["token"]) for r in taker.recovered] == [(child.pid, said[1].decode())]
    assert [h["token"] for h in holders(fs, directory)] == [taker.token]
    assert not [p for p in local(directory).iterdir() if ".broken-" in p.name]
    taker.release()


def hold_in_child(directory: str, kind: str, crash_at: int = 0, steps: Path | None = None) -> bytes:
    """Run a child that takes a lock and then is SIGKILLed; return what it said ('held <token>' or b'')."""
    spec = {"mode": "hold", "kind": kind, "directory": directory, "options": LONG}
    child = start_child(spec, crash_at, str(steps) if steps else None, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        return child.stdout.readline().strip()  # b"" when it died at its crash point first
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize("dead_kind, taker_kind", [("exclusive", "exclusive"), ("exclusive", "shared"),
                                                   ("shared", "exclusive")])
def test_a_run_killed_at_each_step_of_taking_over_a_dead_holder_leaves_the_lock_takeable(
        fs, tmp_path, dead_kind, taker_kind):
    def dead_holder_then_taker(name: str, crash_at: int) -> tuple[str, bytes, list[str]]:
        directory, steps = f"file://{tmp_path}/{name}", tmp_path / f"{name}.steps"
        assert hold_in_child(directory, dead_kind).startswith(b"held ")
        said = hold_in_child(directory, taker_kind, crash_at, steps)
        return directory, said, [line.split()[1] for line in steps.read_text().splitlines()]

    _, said, all_steps = dead_holder_then_taker("uninterrupted", 0)
    assert said.startswith(b"held ") and any(step.startswith(("lock.break", "lock.exclusive.delete_stale"))
                                             for step in all_steps), all_steps
    for crash_at, step in enumerate(all_steps, 1):
        directory, said, steps = dead_holder_then_taker(f"killed-at-{crash_at}", crash_at)
        assert said == b"" and steps[-1] == step, (crash_at, step, steps)
        with Lock(fs, directory, "purge", **{**LONG, "timeout_s": 10}).exclusive() as purge:
            assert [h["token"] for h in holders(fs, directory)] == [purge.token], step


class RenameRace:
    """The real HadoopFS, where another run acts right after the first rename (a race made certain)."""

    def __init__(self, real, other_run):
        self._real, self._other_run = real, other_run

    def __getattr__(self, name):
        return getattr(self._real, name)

    def rename(self, source: str, target: str) -> bool:
        moved = self._real.rename(source, target)
        if self._other_run:
            self._other_run, other_run = None, self._other_run
            other_run()
        return moved


def test_breaking_gives_back_a_lock_that_changed_hands_since_it_was_judged_and_never_overwrites(fs, directory):
    path = f"{directory}/exclusive"
    fs.mkdirs(directory)

    def record(token: str) -> bytes:
        return json.dumps({"host": "far-away", "pid": 7, "token": token, "job": "purge"}).encode()

    assert fs.create_exclusive(path, record("judged"))
    judged = read_holder(fs, path)
    fs.delete(path)
    assert fs.create_exclusive(path, record("newcomer"))  # the judged holder left; a live one came
    assert break_stale(fs, judged, "breaker") is False
    assert read_holder(fs, path).token == "newcomer", "moved aside, found to be another, put back"

    third_run = RenameRace(fs, lambda: fs.create_exclusive(path, record("third")))
    assert break_stale(third_run, judged, "breaker") is False
    assert read_holder(fs, path).token == "third", "the name taken meanwhile is never overwritten"
    assert [h["token"] for h in holders(fs, directory)] == ["third"]
    assert not [p for p in local(directory).iterdir() if ".broken-" in p.name]


def test_a_broken_lock_is_noticed_as_lost_and_not_released_by_its_old_holder(fs, directory):
    lock = Lock(fs, directory, "purge", **{**LONG, "heartbeat_s": 0.02}).acquire_exclusive()
    lock.check()
    # Another run judged it dead: moved it aside and put its own record in its place.
    assert fs.rename(f"{directory}/exclusive", f"{directory}/exclusive.broken-other")
    fs.delete(f"{directory}/exclusive.broken-other")
    assert fs.create_exclusive(f"{directory}/exclusive", json.dumps({"host": "far-away", "pid": 1, "token": "other"}).encode())
    wait_until(lambda: lock.lost, "the heartbeat noticing the lock is gone")
    with pytest.raises(LockLost) as raised:
        lock.check()
    assert raised.value.exit_code == 1
    lock.release()
    assert [h["token"] for h in holders(fs, directory)] == ["other"]


def test_exclusive_all_takes_every_root_in_order_and_releases_all_on_failure(fs, tmp_path):
    roots = [f"file://{tmp_path}/b/_locks", f"file://{tmp_path}/a/_locks"]
    with exclusive_all(fs, roots, "purge", **{**LONG, "timeout_s": 0}) as held:
        assert [lock.directory for lock in held] == sorted(fs.qualify(r) for r in roots)
        assert all(kinds(fs, r) == ["exclusive"] for r in roots)
    assert all(holders(fs, r) == [] for r in roots)
    with Lock(fs, roots[0], "extract", **LONG).shared():  # b is busy; a comes first and is taken
        with pytest.raises(LockTimeout):
            with exclusive_all(fs, roots, "purge", **{**LONG, "timeout_s": 0}):
                pytest.fail("must not get here")
        assert holders(fs, roots[1]) == [], "the root already taken is released when the next one fails"


def test_shared_all_holds_every_root_and_keeps_purges_out_of_each(fs, tmp_path):
    roots = [f"file://{tmp_path}/b/_locks", f"file://{tmp_path}/a/_locks"]
    with shared_all(fs, roots, "extract", **{**LONG, "timeout_s": 0}) as held:
        assert [lock.kind for lock in held] == ["shared", "shared"]
        for root in roots:
            with pytest.raises(LockTimeout):
                Lock(fs, root, "purge", **{**LONG, "timeout_s": 0}).acquire_exclusive()
    assert all(holders(fs, r) == [] for r in roots)


def test_for_root_reads_the_governance_settings(fs, tmp_path):
    settings = load_settings(environ={}).with_overrides({"governance.lock_timeout_s": 7, "governance.lock_stale_s": 70,
                                                          "governance.lock_heartbeat_s": 3})
    lock = Lock.for_root(fs, f"file://{tmp_path}/out/", "purge", settings)
    assert (lock.directory, lock.timeout_s, lock.stale_after_s, lock.heartbeat_s) == (
        f"file://{tmp_path}/out/_locks", 7.0, 70.0, 3.0)
    with lock.exclusive():
        assert kinds(fs, lock.directory) == ["exclusive"]


# --- many processes --------------------------------------------------------------------------

CHILDREN, ROUNDS = 4, 8


def loop_spec(directory: str, log: Path, seed: int) -> dict:
    return {"mode": "loop", "directory": directory, "log": str(log), "seed": seed, "rounds": ROUNDS, "options": LONG}


def assert_everyone_left(fs, directory) -> None:
    """The directory holds only dead holders' files, and a new purge (real HadoopFS) gets in."""
    assert all(h["stale"] for h in holders(fs, directory)), holders(fs, directory)
    with Lock(fs, directory, "purge-after", **{**LONG, "timeout_s": 10}).exclusive():
        assert [h["kind"] for h in holders(fs, directory)] == ["exclusive"]


@pytest.mark.parametrize("seed", [11, 12])
def test_interleaved_processes_never_overlap_an_exclusive_interval(fs, tmp_path, seed):
    directory, log = f"file://{tmp_path}/locks", tmp_path / "intervals.log"
    children = [start_child(loop_spec(directory, log, seed * 100 + n)) for n in range(CHILDREN)]
    assert finish(children) == [0] * CHILDREN
    lines = log.read_text().splitlines()
    assert overlaps(lines) == []
    assert Counter(line.split()[0] for line in lines) == {"enter": CHILDREN * ROUNDS, "exit": CHILDREN * ROUNDS}
    assert {line.split()[1] for line in lines} == {"exclusive", "shared"}
    assert_everyone_left(fs, directory)


@pytest.mark.parametrize("seed", [21, 22, 23, 24])
def test_a_process_killed_at_a_random_lock_step_does_not_stop_the_others(fs, tmp_path, seed):
    rng = random.Random(seed)
    # Count the victim's steps when alone; with company it passes the same steps (and more).
    solo_steps = tmp_path / "solo-steps.log"
    solo = start_child(loop_spec(f"file://{tmp_path}/solo", tmp_path / "solo.log", seed * 100),
                       checkpoint_log=str(solo_steps))
    assert finish([solo]) == [0]
    crash_at = rng.randint(1, len(solo_steps.read_text().splitlines()))

    directory, log, steps = f"file://{tmp_path}/locks", tmp_path / "intervals.log", tmp_path / "victim-steps.log"
    victim = start_child(loop_spec(directory, log, seed * 100), crash_at=crash_at, checkpoint_log=str(steps))
    others = [start_child(loop_spec(directory, log, seed * 100 + n)) for n in range(1, CHILDREN)]
    codes = finish([victim, *others])
    died_at = steps.read_text().splitlines()[-1]
    assert codes == [-signal.SIGKILL] + [0] * (CHILDREN - 1), died_at
    lines = log.read_text().splitlines()
    assert overlaps(lines) == [], died_at
    finished = Counter(pid for event, _, pid in map(str.split, lines) if event == "exit")
    assert all(finished[str(child.pid)] == ROUNDS for child in others), (finished, died_at)
    assert_everyone_left(fs, directory)
