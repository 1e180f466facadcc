from datetime import datetime, timedelta, timezone

import pytest

from mediaextract.errors import BadInput
from mediaextract.schedule import is_stale, period_before

UTC = timezone.utc


@pytest.mark.parametrize("nominal, frequency, label, start, end", [
    ("2026-10-01T00:00", "quarterly", "2026-Q3", "2026-07-01", "2026-10-01"),
    ("2026-01-01T00:00", "quarterly", "2025-Q4", "2025-10-01", "2026-01-01"),
    ("2026-11-17T08:00", "quarterly", "2026-Q3", "2026-07-01", "2026-10-01"),
    ("2026-10-01T00:00", "monthly", "2026-09", "2026-09-01", "2026-10-01"),
    ("2026-01-15T00:00", "monthly", "2025-12", "2025-12-01", "2026-01-01"),
    ("2026-09-28T00:00", "weekly", "2026-W39", "2026-09-21", "2026-09-28"),
    ("2026-10-01T12:00", "weekly", "2026-W39", "2026-09-21", "2026-09-28"),
])
def test_the_period_is_the_full_one_before_the_nominal_time(nominal, frequency, label, start, end):
    period = period_before(datetime.fromisoformat(nominal).replace(tzinfo=UTC), frequency)
    assert period.label == label
    assert period.start == datetime.fromisoformat(start).replace(tzinfo=UTC)
    assert period.end == datetime.fromisoformat(end).replace(tzinfo=UTC)


def test_unknown_frequency_is_bad_input():
    with pytest.raises(BadInput):
        period_before(datetime.now(UTC), "daily")


def test_lock_staleness():
    now = datetime(2026, 10, 1, tzinfo=UTC)
    fresh = {"host": "elsewhere", "pid": 1, "started": (now - timedelta(hours=1)).isoformat()}
    old = {"host": "elsewhere", "pid": 1, "started": (now - timedelta(hours=50)).isoformat()}
    assert not is_stale(fresh, now, timedelta(hours=48))
    assert is_stale(old, now, timedelta(hours=48))
    assert is_stale({}, now, timedelta(hours=48))
    dead = {"host": "here", "pid": 2 ** 22 + 7, "started": now.isoformat()}
    assert is_stale(dead, now, timedelta(hours=48), host="here")
