"""Shared fixtures: one Spark session and one seeded sandbox (real MariaDB + Swift) per run."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "lib"), str(REPO), str(REPO / "dev")]

from mediaextract.config import load_settings  # noqa: E402
from mediaextract_sandbox import free_ports  # noqa: E402,F401  (tests import it from here)

# Tests use loopback only: Spark would otherwise bind to the machine's outward address.
os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
# The driver JVMs the tests start through spark-submit (./spark-submit.sh, local mode and YARN
# clients) compile with C1 only: a short-lived driver spends about a third of its CPU in the C2
# compiler, on a 2-core machine that runs the suite. A `plan` refusing its list file, 3 runs each,
# alternating: 23.6-23.8 s of CPU, 13.4-15.8 s with C1 only. Speed only: no behaviour depends on
# the JIT's tier. The tests' own long-lived session (fixture `spark`) keeps the default.
os.environ.setdefault("SPARK_SUBMIT_OPTS", "-XX:TieredStopAtLevel=1")


@pytest.fixture(scope="session")
def spark():
    from mediaextract.session import build_session

    # pyspark starts this JVM through spark-submit too: without the suite's C1-only option.
    submit_options = os.environ.pop("SPARK_SUBMIT_OPTS", None)
    try:
        session = build_session(load_settings(environ={}), "mediaextract-tests", master="local[2]",
                                extra={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4"})
    finally:
        if submit_options is not None:
            os.environ["SPARK_SUBMIT_OPTS"] = submit_options
    yield session
    session.stop()


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    from mediaextract_sandbox import Sandbox

    root = tmp_path_factory.mktemp("sandbox")
    box = Sandbox(root, mariadb_port=free_ports(1), swift_port=free_ports(4), memcached_port=free_ports(1))
    # Data sets may only be written under a configured root: every test's tmp_path is under this.
    box.output_root = str(tmp_path_factory.getbasetemp())
    box.up()
    box.seed()
    yield box
    box.down()


@pytest.fixture(scope="session")
def truth(sandbox) -> dict:
    return json.loads(Path(sandbox.ground_truth_path).read_text())


def sandbox_settings(sandbox, **overrides):
    """Return settings for the sandbox (no environment secrets), with dotted overrides."""
    values = {**sandbox.settings(), "catalog.partitions": 2, "fetch.backoff_initial_s": 0.05,
              "fetch.backoff_max_s": 0.5}
    values.update({k.replace("__", "."): v for k, v in overrides.items()})
    return load_settings(None, overrides=values, environ={})


@pytest.fixture
def settings(sandbox):
    return sandbox_settings(sandbox)


@pytest.fixture(scope="session")
def list_paths(sandbox) -> list[str]:
    return sorted(str(p) for p in Path(sandbox.lists_dir).glob("*.txt"))
