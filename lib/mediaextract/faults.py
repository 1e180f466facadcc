"""Crash points for kill-and-interleave tests (no Spark, no I/O unless armed).

Code that writes or deletes calls `checkpoint("what")` between its steps. Unarmed (always, in
production) it does nothing. A test arms a process with MEDIAEXTRACT_CRASH_AT=N (or `arm(N)`):
the N-th checkpoint that process reaches kills it with SIGKILL, as a machine failure would, so a
seed that picks N picks the instruction at which a run dies; MEDIAEXTRACT_CRASH_ON=NAME kills it at
the first checkpoint of that name; MEDIAEXTRACT_RAISE_ON=NAME raises InjectedFailure there instead
(an unexpected error, as a bug would raise); MEDIAEXTRACT_HANG_ON=NAME blocks there for ever holding the
GIL (a native decoder stuck on a hostile file). MEDIAEXTRACT_CHECKPOINT_LOG=PATH
appends each checkpoint's name to PATH, so a test can count the steps of a run first.
`call_at(NAME, function)` runs another job's step at that checkpoint, in the same process.
"""

from __future__ import annotations

import ctypes
import os
import signal

_crash_at = int(os.environ.get("MEDIAEXTRACT_CRASH_AT", "0") or 0)
_crash_on = os.environ.get("MEDIAEXTRACT_CRASH_ON") or None   # or the first checkpoint of this name
_raise_on = os.environ.get("MEDIAEXTRACT_RAISE_ON") or None     # raise at the first checkpoint of this name
_hang_on = os.environ.get("MEDIAEXTRACT_HANG_ON") or None       # block for ever at each checkpoint of this name
_log_path = os.environ.get("MEDIAEXTRACT_CHECKPOINT_LOG") or None
_reached = 0
_calls: dict = {}   # checkpoint name -> function to call there once (in-process interleave tests)


class InjectedFailure(RuntimeError):
    """What MEDIAEXTRACT_RAISE_ON raises: deliberately not a MediaextractError, like a bug."""


def arm(crash_at: int, log_path: str | None = None) -> None:
    """Kill this process at its crash_at-th checkpoint from now (0: never); log names to log_path."""
    global _crash_at, _reached, _log_path
    _crash_at, _reached, _log_path = crash_at, 0, log_path


def call_at(name: str, function) -> None:
    """Call function() once, the next time this process reaches checkpoint name: another job's
    step, run at that exact point (an in-process interleave test)."""
    _calls[name] = function


def checkpoint(name: str) -> None:
    """Count a step; die here (SIGKILL) when this is the armed one."""
    global _reached
    if not _crash_at and not _log_path and not _crash_on and not _raise_on and not _hang_on and not _calls:
        return
    if name == _hang_on:
        # As a native decoder stuck on a file: blocks for ever without releasing the GIL.
        ctypes.PyDLL(None).pause()
    if name in _calls:
        _calls.pop(name)()
    if name == _raise_on:
        raise InjectedFailure(f"injected failure at {name}")
    _reached += 1
    if _log_path:
        with open(_log_path, "a", encoding="utf-8") as log:
            log.write(f"{_reached} {name}\n")
    if (_crash_at and _reached == _crash_at) or name == _crash_on:
        os.kill(os.getpid(), signal.SIGKILL)


_ARMING = ("MEDIAEXTRACT_CRASH_AT", "MEDIAEXTRACT_CHECKPOINT_LOG", "MEDIAEXTRACT_CRASH_ON",
           "MEDIAEXTRACT_RAISE_ON", "MEDIAEXTRACT_HANG_ON")


def child_environment(env: dict, prefix: str) -> dict:
    """Return `env` for a helper process whose checkpoints are named `prefix...`: a count or a
    log armed for this process must not be spent or written by the helper; only a crash, raise
    or hang aimed at one of the helper's own checkpoints goes through."""
    kept = dict(env)
    for key in _ARMING:
        value = kept.get(key)
        if value is not None and not (key.endswith("_ON") and value.startswith(prefix)):
            del kept[key]
    return kept
