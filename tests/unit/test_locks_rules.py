"""The lock rules alone (no Spark, no file system): staleness and process identity."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from mediaextract.locks import LockLost, is_stale, process_alive, process_start

HERE = "this-host"
NOW_MS = 1_800_000_000_000
STALE_AFTER_S = 300.0
FRESH_MS = NOW_MS - 1_000                        # beat a second ago
OLD_MS = NOW_MS - int(STALE_AFTER_S * 1000) - 1  # silent just past stale_after


def never_asked(pid, proc_start):
    raise AssertionError("another host's process cannot be asked whether it is alive")


def reaped_child_pid() -> int:
    """Return the pid of a process that has exited and been reaped (nobody has it now)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def me(**changes) -> dict:
    record = {"host": HERE, "pid": os.getpid(), "proc_start": process_start(os.getpid()), "token": "t", "job": "extract"}
    return {**record, **changes}


@pytest.mark.parametrize("case, holder, heartbeat_ms, stale", [
    ("live process on this host, fresh beat", me(), FRESH_MS, False),
    ("live process on this host, silent too long", me(), OLD_MS, True),
    ("reused pid: same pid, another start time", me(proc_start=(process_start(os.getpid()) or 0) + 1), FRESH_MS, True),
    ("other host, fresh beat", me(host="elsewhere"), FRESH_MS, False),
    ("other host, silent too long", me(host="elsewhere"), OLD_MS, True),
    ("other host, silent exactly stale_after", me(host="elsewhere"), NOW_MS - int(STALE_AFTER_S * 1000), False),
    ("unreadable (being written), fresh", None, FRESH_MS, False),
    ("unreadable (cut short), silent too long", None, OLD_MS, True),
    ("no pid, fresh", {"host": HERE}, FRESH_MS, False),
    ("pid not a number, fresh", me(pid="12"), FRESH_MS, False),
    ("pid 0 (a process group, not a holder), fresh", me(pid=0), FRESH_MS, False),
])
def test_staleness_truth_table(case, holder, heartbeat_ms, stale):
    alive = process_alive if holder and holder.get("host") == HERE else never_asked
    assert is_stale(holder, heartbeat_ms, NOW_MS, STALE_AFTER_S, HERE, alive) is stale, case


def test_a_dead_process_on_this_host_is_stale_at_once_whatever_its_heartbeat():
    dead = me(pid=reaped_child_pid(), proc_start=None)
    assert is_stale(dead, NOW_MS, NOW_MS, STALE_AFTER_S, HERE, process_alive)
    assert not is_stale(dead, NOW_MS, NOW_MS, STALE_AFTER_S, "another-host-name", never_asked)


def test_a_holder_without_proc_start_is_judged_by_its_pid():
    assert not is_stale(me(proc_start=None), FRESH_MS, NOW_MS, STALE_AFTER_S, HERE, process_alive)


def test_the_judge_passes_pid_and_proc_start_to_alive():
    asked = []
    is_stale(me(pid=4242, proc_start=77), FRESH_MS, NOW_MS, STALE_AFTER_S, HERE,
             lambda pid, start: asked.append((pid, start)) or True)
    assert asked == [(4242, 77)]


def test_process_identity_is_pid_and_start_time():
    own_start = process_start(os.getpid())
    assert isinstance(own_start, int)
    assert process_alive(os.getpid(), own_start)
    assert process_alive(os.getpid(), None)
    assert not process_alive(os.getpid(), own_start + 1)
    assert not process_alive(reaped_child_pid(), None)
    assert not process_alive(0, None) and not process_alive(-1, None)


def proc_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


def test_a_killed_child_not_yet_reaped_is_dead():
    # A parent that has not reaped its killed child yet still has its pid (a zombie):
    # signal 0 reaches it, yet it will never release a lock.
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 30
        while proc_state(child.pid) != "Z":
            assert time.monotonic() < deadline, "the child never exited"
            time.sleep(0.01)
        os.kill(child.pid, 0)  # still "there" to the kernel
        assert not process_alive(child.pid, None)
    finally:
        child.wait()


def test_lock_lost_is_a_user_facing_error_with_exit_code_1():
    assert LockLost("x").exit_code == 1
