"""Retry timing and the breaker for storage requests: backoff delays, Retry-After, a failure window.

Pure logic (no I/O, no Spark). Why our own and not botocore's retry modes:

- botocore honours only `x-amz-retry-after`; Swift (and most HTTP servers) send `Retry-After`,
  in seconds or as an HTTP date;
- botocore's backoff starts at 50 ms, which hammers a sick production backend; ours starts at
  `fetch.backoff_initial_s` and doubles up to `fetch.backoff_max_s`, with full jitter so many
  workers do not retry in step;
- botocore cannot retry a body cut short after get_object() returned (the stream is read by the
  caller); we retry the whole fetch;
- every attempt, retries included, must pass through our cross-process connection cap
  (`limits.HostSlots`) and feed the breaker (`FailureWindow`), which botocore's hidden retries
  would bypass.

So the S3 client is built with `total_max_attempts=1` and the fetch worker loops itself.
"""

from __future__ import annotations

import collections
import datetime
import email.utils
import math
import random
import threading
import time

# 2 ** 60 times any sane initial delay is already far past any max_s: stop doubling there so a
# huge attempt number cannot overflow a float.
_MAX_DOUBLINGS = 60


def backoff_delay(attempt: int, initial_s: float, max_s: float,
                  retry_after_s: float | None = None, rand=random.random) -> float:
    """Return the seconds to wait after failed attempt `attempt` (1-based), full jitter.

    The delay is `rand() * min(max_s, initial_s * 2 ** (attempt - 1))`; a server's Retry-After
    raises it to at least `retry_after_s`, itself capped at `max_s` (a server asking for an hour
    must not park a worker for an hour: the attempt budget and the breaker decide instead).
    """
    if attempt < 1:
        raise ValueError(f"attempt is 1-based, got {attempt}")
    if initial_s < 0 or max_s < 0:
        raise ValueError(f"delays must be >= 0, got initial_s={initial_s} max_s={max_s}")
    ceiling = min(max_s, initial_s * 2.0 ** min(attempt - 1, _MAX_DOUBLINGS))
    delay = rand() * ceiling
    if retry_after_s is not None and retry_after_s > 0:
        delay = max(delay, min(retry_after_s, max_s))
    return delay


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Return the seconds a Retry-After header asks to wait (>= 0), None if absent or unreadable.

    Accepts delay-seconds ("120") or an HTTP date ("Wed, 21 Oct 2015 07:28:00 GMT"), measured from
    `now` (epoch seconds, default the current time). A date in the past gives 0.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
        return None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        # RFC 9110: HTTP dates are always GMT, even when written without a zone.
        when = when.replace(tzinfo=datetime.timezone.utc)
    reference = time.time() if now is None else now
    return max(0.0, when.timestamp() - reference)


class FailureWindow:
    """The breaker: remembers the outcome of the last `size` requests, thread-safe.

    `tripped` is True once the window is full and at least `threshold` of it failed; the caller
    then stops cleanly (exit 5, resumable) instead of failing every remaining row.
    """

    def __init__(self, size: int, threshold: float):
        if size < 1:
            raise ValueError(f"failure window size must be >= 1, got {size}")
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"failure threshold must be in (0, 1], got {threshold}")
        self.size = size
        self.threshold = threshold
        self._outcomes: collections.deque[bool] = collections.deque(maxlen=size)
        self._failures = 0
        self._lock = threading.Lock()

    def record(self, failed: bool) -> None:
        """Add one request's outcome, forgetting the oldest once the window is full."""
        failed = bool(failed)
        with self._lock:
            if len(self._outcomes) == self.size and self._outcomes[0]:
                self._failures -= 1
            self._outcomes.append(failed)
            if failed:
                self._failures += 1

    @property
    def failures(self) -> int:
        """Return how many of the remembered requests failed."""
        with self._lock:
            return self._failures

    @property
    def count(self) -> int:
        """Return how many requests are remembered (at most size)."""
        with self._lock:
            return len(self._outcomes)

    @property
    def tripped(self) -> bool:
        """Return True when the window is full and failures / size >= threshold."""
        with self._lock:
            return len(self._outcomes) == self.size and self._failures / self.size >= self.threshold
