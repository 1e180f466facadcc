"""Host-wide slots (real processes and threads) and the request-rate limiter (fake clock)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import stat
import tempfile
import threading
from contextlib import contextmanager

import pytest

from mediaextract.limits import HostSlots, RateLimiter, request_turn, slots_directory

pytestmark = pytest.mark.timeout(120)

DEADLINE_S = 60.0
PROCESSES = 6
THREADS = 3
ROUNDS = 40
SLOTS = 2


# --- HostSlots across processes and threads ----------------------------------------------------

def _contend(directory, in_slot, peak, reached, failures):
    """Child process: THREADS threads, each holding a slot ROUNDS times and counting holders."""
    slots = HostSlots(directory, SLOTS)

    def loop():
        try:
            for _ in range(ROUNDS):
                with slots.hold():
                    with in_slot.get_lock():
                        in_slot.value += 1
                        peak.value = max(peak.value, in_slot.value)
                        if in_slot.value >= SLOTS:
                            reached.set()
                    # Until the cap has been reached once, a holder waits for a second holder:
                    # the full cap is then reached for sure, not by luck of timing.
                    if not reached.wait(DEADLINE_S):
                        raise AssertionError("never saw two holders at once")
                    with in_slot.get_lock():
                        in_slot.value -= 1
        except BaseException as error:  # noqa: BLE001 - reported to the parent
            with failures.get_lock():
                failures.value += 1
            raise error

    threads = [threading.Thread(target=loop) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_slots_cap_holders_across_processes_and_threads(tmp_path, method):
    ctx = multiprocessing.get_context(method)
    in_slot = ctx.Value("i", 0)
    peak = ctx.Value("i", 0)
    failures = ctx.Value("i", 0)
    reached = ctx.Event()
    children = [ctx.Process(target=_contend, args=(str(tmp_path), in_slot, peak, reached, failures))
                for _ in range(PROCESSES)]
    for child in children:
        child.start()
    for child in children:
        child.join(DEADLINE_S)
    assert [child.exitcode for child in children] == [0] * PROCESSES
    assert failures.value == 0
    assert peak.value <= SLOTS
    assert peak.value == SLOTS
    assert in_slot.value == 0
    assert HostSlots(tmp_path, SLOTS).held() == 0


def _hold_until_killed(directory, holding):
    slots = HostSlots(directory, 1)
    with slots.hold():
        holding.set()
        threading.Event().wait()  # until SIGKILL


def test_a_killed_holder_frees_its_slot(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    holding = ctx.Event()
    child = ctx.Process(target=_hold_until_killed, args=(str(tmp_path), holding))
    child.start()
    try:
        assert holding.wait(DEADLINE_S)
        slots = HostSlots(tmp_path, 1)
        assert slots.held() == 1
        os.kill(child.pid, signal.SIGKILL)
        child.join(DEADLINE_S)
        assert child.exitcode == -signal.SIGKILL
        assert slots.held() == 0
        with slots.hold() as index:
            assert index == 0
            assert slots.held() == 1
    finally:
        if child.is_alive():
            child.kill()
            child.join()


def test_threads_of_one_process_conflict(tmp_path):
    slots = HostSlots(tmp_path, 1)
    holding = threading.Event()
    release = threading.Event()

    def holder():
        with slots.hold():
            holding.set()
            release.wait(DEADLINE_S)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert holding.wait(DEADLINE_S)
        # A fresh open() in this same process must see the other thread's lock.
        assert slots.held() == 1
    finally:
        release.set()
        thread.join(DEADLINE_S)
    assert slots.held() == 0


def test_a_blocked_holder_gets_the_slot_once_it_is_released(tmp_path):
    slots = HostSlots(tmp_path, 1)
    order = []
    first_in = threading.Event()
    release = threading.Event()

    def first():
        with slots.hold():
            order.append("first in")
            first_in.set()
            release.wait(DEADLINE_S)
            order.append("first out")

    def second():
        first_in.wait(DEADLINE_S)
        with slots.hold():
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    assert first_in.wait(DEADLINE_S)
    release.set()
    for thread in threads:
        thread.join(DEADLINE_S)
    assert order == ["first in", "first out", "second in"]


def test_slot_indexes_rotate_over_the_slot_files(tmp_path):
    slots = HostSlots(tmp_path, 3)
    seen = set()
    for _ in range(6):
        with slots.hold() as index:
            seen.add(index)
    assert seen == {0, 1, 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "slot-0.lock", "slot-1.lock", "slot-2.lock"]


def test_slots_must_be_positive(tmp_path):
    with pytest.raises(ValueError):
        HostSlots(tmp_path, 0)


# --- RateLimiter ------------------------------------------------------------------------------

class FakeTime:
    def __init__(self, now: float):
        self.now = now
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def test_reserved_starts_are_spaced_across_limiters_sharing_a_directory(tmp_path):
    fake = FakeTime(1000.0)
    a = RateLimiter(tmp_path, 4.0, clock=fake.clock, sleep=fake.sleep)
    b = RateLimiter(tmp_path, 4.0, clock=fake.clock, sleep=fake.sleep)
    starts = [a.reserve(), b.reserve(), a.reserve(), b.reserve(), b.reserve()]
    assert starts == pytest.approx([1000.0, 1000.25, 1000.5, 1000.75, 1001.0])


def test_wait_sleeps_outside_until_the_reserved_start(tmp_path):
    fake = FakeTime(50.0)
    a = RateLimiter(tmp_path, 2.0, clock=fake.clock, sleep=fake.sleep)
    b = RateLimiter(tmp_path, 2.0, clock=fake.clock, sleep=fake.sleep)
    for limiter in (a, b, a, b):
        limiter.wait()
    assert fake.slept == pytest.approx([0.5, 1.0, 1.5])  # the first starts at once
    # Time moves past every reservation: the next request starts at once, spacing restarts.
    fake.now = 60.0
    fake.slept.clear()
    b.wait()
    a.wait()
    assert fake.slept == pytest.approx([0.5])


def test_a_garbled_or_stale_state_file_starts_afresh(tmp_path):
    fake = FakeTime(10.0)
    limiter = RateLimiter(tmp_path, 1.0, clock=fake.clock, sleep=fake.sleep)
    (tmp_path / "rate.state").write_text("not a time")
    assert limiter.reserve() == 10.0
    (tmp_path / "rate.state").write_text(repr(10.0 + 10 ** 9))  # from a clock far ahead
    assert limiter.reserve() == 10.0
    assert limiter.reserve() == 11.0


def test_unlimited_never_waits_nor_touches_disk(tmp_path):
    def no_sleep(seconds):
        raise AssertionError("an unlimited limiter slept")

    limiter = RateLimiter(tmp_path, None, sleep=no_sleep)
    for _ in range(100):
        limiter.wait()
    assert list(tmp_path.iterdir()) == []


class SlotsFreeAt:
    """Slots that are all busy until `free_at` on the fake clock: holding one waits until then."""

    def __init__(self, fake: FakeTime, free_at: float):
        self.fake, self.free_at = fake, free_at

    @contextmanager
    def hold(self):
        self.fake.now = max(self.fake.now, self.free_at)
        yield 0


def test_a_request_takes_its_rate_start_after_its_slot(tmp_path):
    """Starts reserved while requests queued for a slot would all have passed when the slots
    free up, and those requests would go out at once; taken after the slot, they stay spaced."""
    fake = FakeTime(100.0)

    def sleep(seconds):
        fake.now += seconds

    rate = RateLimiter(tmp_path, 2.0, clock=fake.clock, sleep=sleep)
    slots = SlotsFreeAt(fake, free_at=110.0)
    sent = []
    for _ in range(3):
        with request_turn(slots, rate):
            sent.append(fake.now)
    assert sent == pytest.approx([110.0, 110.5, 111.0])


@pytest.mark.parametrize("per_second", [0, -1.0])
def test_rate_must_be_positive(tmp_path, per_second):
    with pytest.raises(ValueError):
        RateLimiter(tmp_path, per_second)


# --- slots_directory --------------------------------------------------------------------------

@pytest.fixture
def private_tempdir(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_slots_directory_is_private_and_per_run(private_tempdir):
    first = slots_directory("run-1")
    again = slots_directory("run-1")
    other = slots_directory("run-2")
    assert first == again != other
    assert first.parent.parent == private_tempdir
    assert first.parent.name == f"mediaextract-slots-{os.getuid()}"
    for path in (first, first.parent):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700


@pytest.mark.parametrize("token", ["", "..", "../x", "a/b", ".hidden", "x" * 200, 42])
def test_slots_directory_refuses_odd_tokens(private_tempdir, token):
    with pytest.raises(ValueError):
        slots_directory(token)


def test_slots_directory_refuses_a_directory_open_to_others(private_tempdir):
    base = private_tempdir / f"mediaextract-slots-{os.getuid()}"
    base.mkdir(mode=0o700)
    os.chmod(base, 0o777)
    with pytest.raises(PermissionError):
        slots_directory("run-1")


def test_slots_directory_refuses_a_symlink(private_tempdir, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    os.chmod(elsewhere, 0o700)
    (private_tempdir / f"mediaextract-slots-{os.getuid()}").symlink_to(elsewhere)
    with pytest.raises(PermissionError):
        slots_directory("run-1")
