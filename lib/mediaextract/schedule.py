"""Scheduled runs: the deletion window of a period, a lock per period, done and failed flags.

The period is the full period before the nominal time (oozie's convention: a run at
2026-10-01T00:00Z with frequency quarterly covers 2026-07-01 .. 2026-10-01, "2026-Q3").
Periods are plain functions; the lock lives on the output's file system so that two schedulers
on two machines see the same lock.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(lock: dict, now: datetime, stale_after: timedelta, host: str | None = None) -> bool:
    """Return True when a lock's holder is gone (dead pid on this host) or it is too old."""
    host = host or socket.gethostname()
    try:
        started = datetime.fromisoformat(lock["started"])
    except (KeyError, ValueError, TypeError):
        return True
    if now - started > stale_after:
        return True
    return lock.get("host") == host and not _pid_alive(int(lock.get("pid", 0)))


class PeriodLock:
    """An exclusive lock file on any Hadoop file system; a stale one is recovered."""

    def __init__(self, fs, path: str, stale_after: timedelta, now=lambda: datetime.now(timezone.utc)):
        self.fs, self.path, self.stale_after, self.now = fs, path, stale_after, now
        self.token = uuid.uuid4().hex

    def _content(self) -> bytes:
        return json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "token": self.token,
                           "started": self.now().isoformat(timespec="seconds")}).encode()

    def acquire(self) -> str | None:
        """Take the lock; return a note when a stale lock was recovered. Raise Locked if held."""
        if self.fs.create_exclusive(self.path, self._content()):
            return None
        try:
            held_raw = self.fs.read_bytes(self.path)
            held = json.loads(held_raw)
        except Exception:
            held_raw, held = b"", {}
        if not is_stale(held, self.now(), self.stale_after):
            raise Locked(f"another run holds {self.path} (host {held.get('host')}, pid {held.get('pid')}, "
                         f"since {held.get('started')}): not starting a second one")
        # Move the stale lock aside atomically; if what moved is not what we judged stale,
        # another run recovered it first: give it back and step aside.
        aside = f"{self.path}.stale-{self.token}"
        if not self.fs.rename(self.path, aside):
            raise Locked(f"another run is recovering {self.path}")
        if self.fs.read_bytes(aside) != held_raw:
            self.fs.rename(aside, self.path)
            raise Locked(f"another run recovered {self.path} first")
        self.fs.delete(aside)
        if not self.fs.create_exclusive(self.path, self._content()):
            raise Locked(f"another run took {self.path}")
        return f"recovered a stale lock (host {held.get('host')}, pid {held.get('pid')}, since {held.get('started')})"

    def release(self) -> None:
        try:
            if json.loads(self.fs.read_bytes(self.path)).get("token") == self.token:
                self.fs.delete(self.path)
        except Exception:
            pass
