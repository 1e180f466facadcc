"""Backoff delays, Retry-After parsing and the failure window (breaker)."""

from __future__ import annotations

import threading
from email.utils import formatdate

import pytest

from mediaextract.retry import FailureWindow, backoff_delay, parse_retry_after


# --- backoff_delay -----------------------------------------------------------------------------

@pytest.mark.parametrize("attempt, ceiling", [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (7, 30.0)])
def test_backoff_ceiling_doubles_from_initial_up_to_max(attempt, ceiling):
    assert backoff_delay(attempt, 0.5, 30.0, rand=lambda: 1.0) == pytest.approx(ceiling)


def test_backoff_is_full_jitter_over_the_ceiling():
    assert backoff_delay(3, 0.5, 30.0, rand=lambda: 0.0) == 0.0
    assert backoff_delay(3, 0.5, 30.0, rand=lambda: 0.25) == pytest.approx(0.5)


def test_backoff_with_real_randomness_stays_within_bounds():
    delays = [backoff_delay(4, 0.5, 30.0) for _ in range(500)]
    assert all(0.0 <= d <= 4.0 for d in delays)
    assert len(set(delays)) > 1  # jittered, not one fixed value


def test_retry_after_raises_the_delay_to_at_least_it():
    assert backoff_delay(1, 0.5, 30.0, retry_after_s=7.0, rand=lambda: 1.0) == 7.0
    # A longer jittered delay is kept.
    assert backoff_delay(6, 0.5, 30.0, retry_after_s=1.0, rand=lambda: 1.0) == 16.0


def test_retry_after_is_capped_at_max():
    assert backoff_delay(1, 0.5, 30.0, retry_after_s=3600.0, rand=lambda: 0.0) == 30.0


def test_zero_or_missing_retry_after_changes_nothing():
    assert backoff_delay(2, 0.5, 30.0, retry_after_s=0.0, rand=lambda: 0.5) == 0.5
    assert backoff_delay(2, 0.5, 30.0, retry_after_s=None, rand=lambda: 0.5) == 0.5


def test_huge_attempt_numbers_do_not_overflow():
    assert backoff_delay(10_000, 0.5, 30.0, rand=lambda: 1.0) == 30.0


@pytest.mark.parametrize("args", [(0, 0.5, 30.0), (1, -1.0, 30.0), (1, 0.5, -1.0)])
def test_backoff_rejects_nonsense(args):
    with pytest.raises(ValueError):
        backoff_delay(*args)


# --- parse_retry_after -------------------------------------------------------------------------

@pytest.mark.parametrize("value, seconds", [("120", 120.0), (" 5 ", 5.0), ("0", 0.0),
                                            ("1.5", 1.5)])
def test_retry_after_in_seconds(value, seconds):
    assert parse_retry_after(value) == seconds


def test_retry_after_as_http_date_is_measured_from_now():
    now = 1_700_000_000.0
    assert parse_retry_after(formatdate(now + 90, usegmt=True), now=now) == pytest.approx(90.0)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412450.0) == \
        pytest.approx(30.0)


def test_retry_after_date_in_the_past_is_zero():
    now = 1_700_000_000.0
    assert parse_retry_after(formatdate(now - 600, usegmt=True), now=now) == 0.0


@pytest.mark.parametrize("value", [None, "", "  ", "soon", "-5", "nan", "inf",
                                   "Someday, 99 Foo 2015 07:28:00 GMT"])
def test_unreadable_retry_after_is_none(value):
    assert parse_retry_after(value) is None


# --- FailureWindow -----------------------------------------------------------------------------

def test_window_does_not_trip_before_it_is_full():
    window = FailureWindow(size=4, threshold=0.5)
    for _ in range(3):
        window.record(True)
    assert not window.tripped
    window.record(False)
    assert window.tripped  # 3 of 4 failed


def test_window_trips_exactly_at_the_threshold():
    window = FailureWindow(size=5, threshold=0.8)
    for failed in (True, True, True, False, False):
        window.record(failed)
    assert not window.tripped  # 3/5 < 0.8
    window.record(True)  # oldest (True) leaves: T T F F T
    assert not window.tripped
    window.record(True)  # T F F T T -> 3/5
    window.record(True)  # F F T T T
    window.record(True)  # F T T T T -> 4/5
    assert window.tripped
    assert window.failures == 4 and window.count == 5


def test_window_recovers_as_successes_slide_in():
    window = FailureWindow(size=3, threshold=1.0)
    for _ in range(3):
        window.record(True)
    assert window.tripped
    window.record(False)
    assert not window.tripped
    assert window.failures == 2


def test_window_counts_correctly_under_many_threads():
    window = FailureWindow(size=8000, threshold=0.5)
    start = threading.Barrier(8)

    def worker(failed: bool):
        start.wait()
        for _ in range(1000):
            window.record(failed)

    threads = [threading.Thread(target=worker, args=(i % 2 == 0,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert window.count == 8000
    assert window.failures == 4000
    assert window.tripped


@pytest.mark.parametrize("size, threshold", [(0, 0.5), (10, 0.0), (10, 1.5)])
def test_window_rejects_nonsense(size, threshold):
    with pytest.raises(ValueError):
        FailureWindow(size, threshold)
