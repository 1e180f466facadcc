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
# the JIT's tier. The suite is CPU-bound on 2 cores: its two workers share them.
# They also plan their few hundred rows without adaptive re-planning or generated code (Spark
# settings as JVM system properties, which a session takes as defaults): compiling costs more than
# it saves on so few rows. A `plan` of the sandbox's lists, alternating, with the class archive:
# 11.8-13.3 s of CPU with Spark's defaults, 10.7-10.9 s without. Speed only, and not everywhere:
# the tests' own session (spark below: most extracts and governance commands run in it) keeps
# Spark's defaults, so the job's queries are tested with those too.
SPARK_DEFAULTS_KEPT = {"spark.sql.adaptive.enabled": "true", "spark.sql.codegen.wholeStage": "true",
                       "spark.sql.codegen.factoryMode": "FALLBACK"}
SMALL_QUERIES = {"spark.sql.adaptive.enabled": "false", "spark.sql.shuffle.partitions": "2",
                 "spark.sql.codegen.wholeStage": "false", "spark.sql.codegen.factoryMode": "NO_CODEGEN"}
os.environ.setdefault("SPARK_SUBMIT_OPTS", " ".join(["-XX:TieredStopAtLevel=1",
                                                     *(f"-D{k}={v}" for k, v in SMALL_QUERIES.items())]))

from . import class_archive  # noqa: E402

CLUSTER_TESTS = REPO / "tests" / "cluster"


def pytest_configure(config):
    # The class archive of the drivers' JVMs (class_archive.py): named by the process that is not a
    # worker, unless only unit tests run (they start no JVM through spark-submit), and made by the
    # first worker whose sandbox is up.
    if "PYTEST_XDIST_WORKER" not in os.environ and \
            any("unit" not in Path(arg.split("::")[0]).parts for arg in config.args):
        class_archive.name()


def pytest_unconfigure(config):
    if "PYTEST_XDIST_WORKER" not in os.environ:
        class_archive.remove()


@pytest.fixture(autouse=True)
def _drivers_use_the_class_archive_once_made():
    class_archive.use_if_ready()


# Test modules under tests/cluster that start a minicluster of their own (module fixtures).
OWN_CLUSTER = ("tests/cluster/test_kerberos.py",)


def pytest_xdist_make_scheduler(config, log):
    """make test's pytest workers (`-n 2 --dist loadfile --no-loadscope-reorder`): each test
    module is one unit of work, run whole by one worker (its module fixtures set up once), as
    pytest-xdist's loadfile does, but the cluster tests on the session's minicluster are one unit:
    one minicluster per session, on one worker (test_kerberos.py, on a secure minicluster of its
    own, is a unit by itself). Each worker has its own sandbox (MariaDB, Swift) and Spark session."""
    if config.getvalue("dist") != "loadfile":
        return None  # another --dist asked for: xdist's own
    from xdist.scheduler import LoadFileScheduling

    class ClusterTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = super()._split_scope(nodeid)
            return "tests/cluster" if module.startswith("tests/cluster/") and module not in OWN_CLUSTER else module

    return ClusterTogether(config, log)


# The integration modules that take longest under make test (a run with --durations=0, seconds
# per module with two workers): one_line_failures 483, torture 422, governance 417, blobs 291, ...
LONGEST_INTEGRATION = ("test_one_line_failures.py", "test_torture.py", "test_governance.py", "test_blobs.py",
                       "test_controls.py", "test_extract_resume.py", "test_extract_faults.py", "test_modes.py",
                       "test_local_cluster.py", "test_extract.py")


def pytest_collection_modifyitems(config, items):
    """Order the tests. Alone (one process), the cluster tests run last, test_kerberos.py first
    among them: the session's minicluster is up only while they run, and the secure one (a module
    fixture) is gone before it starts, never both at once.

    In make test's workers the units of work are handed out in this order: the two cluster units
    (the longest: a third of the suite's time) start at once, one on each worker, the integration
    modules follow and the unit tests fill in at the end."""
    in_worker = "PYTEST_XDIST_WORKER" in os.environ

    def rank(item) -> tuple[int, int, int]:
        path = item.path
        cluster = CLUSTER_TESTS in path.parents
        if in_worker:
            part = 0 if cluster else 1 if "integration" in path.parts else 2
            # The longest integration modules first, so that the last unit to finish is a short one.
            longest = LONGEST_INTEGRATION.index(path.name) if path.name in LONGEST_INTEGRATION else len(LONGEST_INTEGRATION)
        else:
            part, longest = 2 if cluster else 0 if "unit" in path.parts else 1, 0
        return part, longest, 0 if path.name == "test_kerberos.py" else 1

    items.sort(key=rank)  # stable: within a part, modules and tests stay as collected


@pytest.fixture(scope="session")
def spark():
    from mediaextract.session import build_session

    # pyspark starts this JVM through spark-submit too, so with the suite's C1-only option: it runs
    # many small queries, not a few long ones (test_extract.py alone: 130-150 s of the machine's
    # CPU with C2, 109 s with C1 only, the same wall time).
    session = build_session(load_settings(environ={}), "mediaextract-tests", master="local[2]",
                            extra={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4",
                                   **SPARK_DEFAULTS_KEPT})
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
    class_archive.start(REPO, box)
    yield box
    class_archive.stop()
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
