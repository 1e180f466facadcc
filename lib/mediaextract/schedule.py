"""Scheduled runs: the deletion window of a period, a lock per period, done and failed flags.

The period is the full period before the nominal time (oozie's convention: a run at
2026-10-01T00:00Z with frequency quarterly covers 2026-07-01 .. 2026-10-01, "2026-Q3").
Periods are plain functions; the lock lives on the output's file system so that two schedulers
on two machines see the same lock.
"""

from __future__ import annotations

import json
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from . import faults, locks
from .errors import BadInput, Locked

FREQUENCIES = ("quarterly", "monthly", "weekly")


@dataclass(frozen=True)
class Period:
    label: str          # 2026-Q3, 2026-09, 2026-W39
    start: datetime     # inclusive, UTC
    end: datetime       # exclusive, UTC


def period_before(nominal: datetime, frequency: str) -> Period:
    """Return the last full period that ends at or before the nominal time."""
    nominal = nominal.astimezone(timezone.utc)
    if frequency == "weekly":
        monday = (nominal - timedelta(days=nominal.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
        start = monday - timedelta(days=7)
        year, week, _ = start.isocalendar()
        return Period(f"{year}-W{week:02d}", start, monday)
    if frequency == "monthly":
        end = nominal.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        start = (end - timedelta(days=1)).replace(day=1)
        return Period(f"{start.year}-{start.month:02d}", start, end)
    if frequency == "quarterly":
        first_month = 3 * ((nominal.month - 1) // 3) + 1
        end = nominal.replace(month=first_month, day=1, hour=0, minute=0, second=0, microsecond=0)
        start = (end - timedelta(days=1)).replace(day=1)
        start = start.replace(month=3 * ((start.month - 1) // 3) + 1)
        return Period(f"{start.year}-Q{(start.month - 1) // 3 + 1}", start, end)
    raise BadInput(f"--frequency must be one of {', '.join(FREQUENCIES)}, not {frequency!r}")


def is_stale(lock: dict, now: datetime, stale_after: timedelta, host: str | None = None) -> bool:
    """Return True when a lock's holder is gone (dead pid on this host) or too old.

    The rule is `locks.is_stale`; `started` stands in for the heartbeat when only the record is
    at hand (a record without it counts as ancient)."""
    try:
        heartbeat_ms = int(datetime.fromisoformat(lock["started"]).timestamp() * 1000)
    except (KeyError, ValueError, TypeError):
        heartbeat_ms = 0
    return locks.is_stale(lock, heartbeat_ms, int(now.timestamp() * 1000), stale_after.total_seconds(),
                          host or socket.gethostname(), locks.process_alive)


class PeriodLock:
    """An exclusive lock file on any Hadoop file system (the `locks` protocol, never waiting):
    the holder heartbeats it, and a stale one (dead pid on this host, or no heartbeat for
    stale_after) is broken with rename-and-verify."""

    def __init__(self, fs, path: str, stale_after: timedelta, now=lambda: datetime.now(timezone.utc),
                 heartbeat_s: float = 60.0, job: str = "scheduled"):
        self.fs, self.path, self.stale_after, self.now, self.job = fs, path, stale_after, now, job
        # Several beats per stale_after, so one slow beat never makes a live run look dead.
        self.heartbeat_s = min(heartbeat_s, stale_after.total_seconds() / 4)
        self.token = uuid.uuid4().hex
        self._heartbeat: locks.Heartbeat | None = None

    @property
    def lost(self) -> bool:
        """Return True when another run broke this lock while it was held."""
        return bool(self._heartbeat and self._heartbeat.lost)

    def _content(self) -> bytes:
        record = locks.new_record(self.job, self.token, socket.gethostname())
        record["started"] = self.now().isoformat(timespec="seconds")
        return json.dumps(record).encode()

    def _take(self) -> bool:
        faults.checkpoint("lock.period.create")
        if not self.fs.create_exclusive(self.path, self._content(), 0o600):
            return False
        self._heartbeat = locks.Heartbeat(self.fs, self.path, self.token, self.heartbeat_s)
        return True

    def acquire(self) -> str | None:
        """Take the lock; return a note when a stale lock was recovered. Raise Locked if held."""
        if self._take():
            return None
        held = locks.read_holder(self.fs, self.path)
        if held is None:  # released between our create and our read
            if self._take():
                return None
            raise Locked(f"another run took {self.path}")
        heartbeat = datetime.fromtimestamp(held.heartbeat_ms / 1000, timezone.utc)
        if not locks.is_stale(held.record, held.heartbeat_ms, int(self.now().timestamp() * 1000),
                              self.stale_after.total_seconds(), socket.gethostname(), locks.process_alive):
            raise Locked(f"another run holds {self.path} ({locks.describe(held)}, last seen "
                         f"{heartbeat.isoformat(timespec='seconds')}): not starting a second one")
        if not locks.break_stale(self.fs, held, self.token):
            raise Locked(f"another run recovered {self.path} first")
        if not self._take():
            raise Locked(f"another run took {self.path}")
        return f"recovered a stale lock ({locks.describe(held)})"

    def release(self) -> None:
        """Stop the heartbeat and delete the lock file if it is still ours (never raises)."""
        if self._heartbeat:
            self._heartbeat.stop()
            self._heartbeat = None
        try:
            holder = locks.read_holder(self.fs, self.path)
            if holder is not None and holder.token == self.token:
                self.fs.delete(self.path)
        except Exception:  # release runs in `finally`: it must not hide the run's own error
            pass
