"""The plan job as people run it: ./spark-submit.sh plan ..., its table, its exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import time

from ..conftest import REPO, free_ports


def output_lines(result) -> list[str]:
    """Return every line the job printed: spark-submit merges the Python driver's stderr into stdout."""
    return (result.stdout + result.stderr).splitlines()


def submit(*args, timeout=300, env_extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAEXTRACT_")}
    env.update(env_extra or {})
    return subprocess.run([str(REPO / "spark-submit.sh"), "--master", "local[2]", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, env=env)


def sets(sandbox, **extra):
    pairs = {**sandbox.settings(), "catalog.partitions": 2, **extra}
    return [a for k, v in pairs.items() for a in ("--set", f"{k}={v}")]


def test_plan_prints_the_table_and_writes_report_json(sandbox, truth, tmp_path):
    lists_dir = str(sandbox.lists_dir)
    result = submit("plan", *sets(sandbox), "--output", str(tmp_path / "plan"), lists_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "plan" / "report.json").read_text())
    for name, part in truth["lists"].items():
        assert report["lists"][name]["found"] == part["counts"]["found"]
        assert f"{name}: of {part['counts']['requested']} requested" in result.stdout
    assert report["totals"]["requested"] == truth["totals"]["requested"]
    assert "secret_key" not in result.stdout or "testing" not in result.stdout
    assert (tmp_path / "plan" / "report.json").stat().st_mode & 0o077 == 0


# Bad settings and list paths: test_one_line_failures.py.


def test_catalog_down_exits_3_within_30_seconds(sandbox, tmp_path):
    started = time.monotonic()
    result = submit("plan", *sets(sandbox, **{"catalog.url": f"jdbc:mysql://127.0.0.1:{free_ports()}/commonswiki"}),
                    "--output", str(tmp_path / "p"), str(sandbox.lists_dir), timeout=120)
    assert result.returncode == 3, result.stderr[-2000:]
    assert any(line.startswith("mediaextract: error: catalog 127.0.0.1:") for line in output_lines(result))
    # the 30 s bound is the promise to users, checked with a generous subprocess timeout
    assert time.monotonic() - started < 120
