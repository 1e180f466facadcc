"""faults.call_at: another job's step run once at a named checkpoint (in-process interleaving)."""

from __future__ import annotations

from mediaextract import faults


def test_a_call_runs_once_at_its_checkpoint_only():
    calls: list[str] = []
    faults.call_at("export.staging", lambda: calls.append("swapped"))
    faults.checkpoint("export.other")
    assert calls == []
    faults.checkpoint("export.staging")
    faults.checkpoint("export.staging")
    assert calls == ["swapped"]
