"""Faults on YARN: an executor's container killed mid-fetch, the driver (the application master)
killed mid-run, speculative execution asked for; and a YARN run compared with a local run.

Storage is reached through the sandbox's counting proxy (dev/mediaextract_sandbox/proxy.py), as in
tests/integration: it traps a GET so that a fetch is certainly in flight when its container is
killed, counts the GETs held at once (the server-side peak, see test_extract_caps.py) and the GETs
of a resumed run.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from chispa import assert_df_equality

from mediaextract import dataset, statuses
from mediaextract.dataset import Paths
from mediaextract.extract import run_extract
from mediaextract.hadoopfs import HadoopFS
from mediaextract_sandbox.proxy import FaultProxy, Reset

from ..conftest import REPO, sandbox_settings
from ..integration.test_extract_caps import Holding, swift_port
from .conftest import applications_since, assert_succeeded_on_yarn, extract_settings, submit_on_yarn
from .test_yarn import assert_extracted_as_the_ground_truth

pytestmark = pytest.mark.timeout(1200)

DEADLINE_S = 600.0  # a submit, its plan and a first fetch on a loaded 2-core machine
GONE_S = 60.0
HOLD_S = 0.05
CAP = 2  # fetch.max_connections of the killed run: less than its executors could open (2 x 2)
# The killed run's two executors of one core each (the sandbox's applications have one of two
# cores): the killed executor's task runs again on the other.
TWO_EXECUTORS = ("--num-executors", "2", "--executor-cores", "1")
# Columns that differ between two runs of the same lists whatever the master: when it was fetched.
RUN_COLUMNS = ("fetched_at",)


def wait_for(condition, what: str, timeout_s: float):
    """Polls condition until it gives something true, and gives that; fails the test at the deadline."""
    deadline = time.monotonic() + timeout_s
    while not (found := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)
    return found


# -- the processes of YARN containers ------------------------------------------------------------

def containers(hadoop) -> dict[int, str]:
    """Gives the live processes of YARN containers: pid -> container id (from their working directory)."""
    found = {}
    for pid in hadoop.leftovers():
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        names = [part for part in cwd.split("/") if part.startswith("container_")]
        if names:
            found[pid] = names[0]
    return found


def socket_inodes(local_port: int, remote_port: int) -> set[str]:
    """Gives the inodes of the loopback TCP sockets from local_port to remote_port (/proc/net/tcp*)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == local_port and int(fields[2].rsplit(":", 1)[1], 16) == remote_port:
                inodes.add(fields[9])
    return inodes


def holder_of(pids, inodes: set[str]) -> int | None:
    """Gives the pid among pids that has one of these sockets open, else None."""
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                    return pid
            except OSError:
                continue
    return None


def executor_id(pids) -> str:
    """Gives the Spark executor id of the container's executor JVM (its --executor-id argument)."""
    for pid in pids:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"--executor-id" in argv:
            return argv[argv.index(b"--executor-id") + 1].decode()
    pytest.fail(f"no executor JVM among {pids}")


def kill_container(hadoop, container: str) -> list[int]:
    """SIGKILLs every process of a container (the JVM, its Python daemon and workers are in
    different process groups) and waits until none is left; gives their pids."""
    pids = [pid for pid, name in containers(hadoop).items() if name == container]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_for(lambda: container not in containers(hadoop).values(), f"{container}'s processes to die", GONE_S)
    return pids


class Trap(Holding):
    """Holding (counts the GETs held at once) that traps the first GET until `release` is set, then
    resets it: its client is dead by then, and the orphan never reaches Swift. GETs arriving while
    a GET is trapped wait before they are counted, so that the orphan is never counted together
    with the requests that follow its client's death (storage sees the client's connection close)."""

    def __init__(self, seconds: float):
        super().__init__(seconds)
        self.caught = threading.Event()
        self.release = threading.Event()
        self.conn_id: int | None = None
        self._armed = True
        self._arm_lock = threading.Lock()

    def __call__(self, request):
        if request.method != "GET":
            return None
        with self._arm_lock:
            trapped, self._armed = self._armed, False
        if trapped:
            self.conn_id = request.conn_id
            super().__call__(request)
            return Reset()
        if self.caught.is_set():
            self.release.wait(DEADLINE_S)
        return super().__call__(request)

    def hold(self, request, first: bool) -> None:
        if request.conn_id == self.conn_id and not self.caught.is_set():
            self.caught.set()
            self.release.wait(DEADLINE_S)
            return
        super().hold(request, first)


# -- Spark's event log ------------------------------------------------------------------------------

def event_log_options(directory: Path) -> tuple[str, ...]:
    """Gives the --conf options writing one uncompressed, unrolled event log file into directory."""
    confs = {"spark.eventLog.enabled": "true", "spark.eventLog.dir": f"file://{directory}",
             "spark.eventLog.compress": "false", "spark.eventLog.rolling.enabled": "false"}
    return tuple(a for k, v in confs.items() for a in ("--conf", f"{k}={v}"))


def read_events(directory: Path) -> list[dict]:
    files = [p for p in directory.iterdir() if p.is_file()]
    assert len(files) == 1 and not files[0].name.endswith(".inprogress"), files
    return [json.loads(line) for line in files[0].read_text().splitlines() if line.strip()]


def spark_properties(events: list[dict]) -> dict[str, str]:
    update = next(e for e in events if e["Event"] == "SparkListenerEnvironmentUpdate")
    props = update["Spark Properties"]
    return dict(props) if isinstance(props, list) else props


# -- a local run of the same lists ----------------------------------------------------------------

@pytest.fixture(scope="module")
def local_items(spark, sandbox, list_paths, tmp_path_factory):
    """The items of an extract of the sandbox's lists run here (local[2]), with the settings of the
    YARN runs (conftest.extract_settings) but for the output root."""
    output = str(tmp_path_factory.mktemp("local-extract") / "out")
    run_extract(spark, sandbox_settings(sandbox), list_paths, output, out=lambda line: None)
    return dataset.read_items(spark, output + "/items")


def assert_same_items(spark, output: str, local) -> None:
    """The items of output equal local's, but for RUN_COLUMNS."""
    yarn = dataset.read_items(spark, output + "/items")
    assert_df_equality(yarn.drop(*RUN_COLUMNS).orderBy("list", "line"), local.drop(*RUN_COLUMNS).orderBy("list", "line"),
                       ignore_nullable=True)


def test_a_run_on_yarn_into_hdfs_gives_the_items_of_a_local_run(spark, client_extract, local_items):
    output, result, made = client_extract
    assert_succeeded_on_yarn(result, made)
    assert local_items.count() > 0
    assert_same_items(spark, output, local_items)


# -- speculation -----------------------------------------------------------------------------------

SPECULATION_ON = "spark.speculation=TRUE"


@pytest.mark.parametrize("how", ["--conf", "-c", "--conf=", "--properties-file", "--properties-file=",
                                 "SPARK_CONF_DIR"])
def test_speculation_asked_for_is_refused_before_any_yarn_application(hadoop, yarn_env, tmp_path, how):
    properties = tmp_path / "spark-defaults.conf"
    properties.write_text("spark.yarn.am.memory 512m\nspark.speculation   TRUE\n")
    env, options = dict(yarn_env), []
    if how == "SPARK_CONF_DIR":
        env["SPARK_CONF_DIR"] = str(tmp_path)
    elif how.endswith("="):
        options = [f"{how}{SPECULATION_ON if how == '--conf=' else properties}"]
    else:
        options = [how, SPECULATION_ON if how in ("--conf", "-c") else str(properties)]
    before = {app["id"] for app in hadoop.applications()}
    result = subprocess.run([str(REPO / "spark-submit.sh"), "--master", "yarn", *options, "extract", "--output",
                             "/nowhere", "/nowhere.txt"], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120, stdin=subprocess.DEVNULL)
    assert (result.returncode, result.stdout) == (2, "")
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("mediaextract: error: ") and "speculative tasks would fetch objects twice" in result.stderr
    assert applications_since(hadoop, before, deadline_s=0) == []


# -- the driver killed, then an executor ----------------------------------------------------------

def committed(fs: HadoopFS, paths: Paths) -> list[str]:
    return dataset.committed_batches(fs, paths) if fs.exists(paths.work) else []


def kill_the_driver_after_a_committed_batch(hadoop, fs: HadoopFS, paths: Paths, run, before: set[str]) -> str:
    """Waits for the first committed batch of the cluster-mode run, SIGKILLs its driver (the
    application master's container) and gives the application's id."""
    wait_for(lambda: committed(fs, paths) or run.done(), "the first committed batch", DEADLINE_S)
    assert not run.done(), run.result()[0].stderr[-3000:]
    app = next(a["id"] for a in hadoop.applications() if a["id"] not in before)
    driver = "container_" + app.removeprefix("application_") + "_01_000001"
    assert driver in containers(hadoop).values()
    kill_container(hadoop, driver)
    return app


def kill_the_executor_of_the_trapped_get(hadoop, proxy: FaultProxy, trap: Trap, run) -> str:
    """Waits until the trap holds a GET, SIGKILLs the container of the process waiting for it
    (an executor's: neither the driver nor its application master fetches) and gives the executor's id."""
    try:
        while not trap.caught.wait(1):
            assert not run.done(), run.result()[0].stderr[-3000:]
        port = proxy.client_port(trap.conn_id)
        processes = containers(hadoop)
        holder = holder_of(processes, socket_inodes(port, proxy.port))
        assert holder in processes, (port, processes)
        container = processes[holder]
        killed = executor_id(pid for pid, name in processes.items() if name == container)
        kill_container(hadoop, container)
        return killed
    finally:
        trap.release.set()


def test_the_driver_killed_fails_the_application_and_a_rerun_resumes_losing_nothing_to_a_killed_executor(
        hadoop, spark, sandbox, truth, list_paths, output_root, yarn_env, local_items, tmp_path):
    """In cluster mode. The driver killed after a committed batch: spark.yarn.maxAppAttempts is 1
    (MiniHadoop.submit_options), so YARN does not start it again, the application fails, and the
    user's re-run resumes. In that re-run (one submit for three things) an executor's container is
    killed mid-GET, and speculation is asked for where spark-submit.sh cannot see it (a JVM system
    property in SPARK_SUBMIT_OPTS): the session forces it off."""
    fs = HadoopFS(spark)
    lists = f"{hadoop.home}/lists-killed"
    for path in map(Path, list_paths):
        fs.write_bytes(f"{lists}/{path.name}", path.read_bytes())
    output = f"{output_root}/killed"
    paths = Paths(output)
    found = truth["totals"]["found"]
    events_dir = tmp_path / "events"
    events_dir.mkdir()
    trap = Trap(HOLD_S)
    with FaultProxy("127.0.0.1", swift_port(sandbox), latency_s=0.2) as proxy, \
            concurrent.futures.ThreadPoolExecutor(1) as pool:
        # The settings of the local run (but for the caps and small batches, which change no item).
        args = ["extract", *extract_settings(sandbox, output_root), "--set", f"storage.endpoint={proxy.endpoint}",
                "--set", f"fetch.max_connections={CAP}", "--set", "fetch.connections_per_executor=2",
                "--set", "fetch.batch_rows=5", "--output", output, lists + "/"]
        before = {app["id"] for app in hadoop.applications()}
        run = pool.submit(submit_on_yarn, hadoop, yarn_env, *args, deploy_mode="cluster", spark_options=TWO_EXECUTORS)
        app = kill_the_driver_after_a_committed_batch(hadoop, fs, paths, run, before)
        result, made = run.result()
        assert result.returncode != 0
        assert [(a["id"], a["state"]) for a in made] in ([(app, "FAILED")], [(app, "KILLED")]), made

        # The executors go with their application; none may fetch into the re-run's counts.
        wait_for(lambda: not any(app.removeprefix("application_") in c for c in containers(hadoop).values()),
                 "the application's containers to end", GONE_S)
        wait_for(lambda: proxy.in_flight == 0, "the killed run's requests to end", GONE_S)
        assert not fs.exists(paths.items)
        ok_kept = sum(dataset.read_items(spark, path).where(f"status = '{statuses.OK}'").count()
                      for path in committed(fs, paths))
        assert 0 < ok_kept < truth["totals"]["ok"]

        proxy.latency_s = 0.0
        proxy.fault_for = trap
        proxy.reset_stats()
        run = pool.submit(submit_on_yarn, hadoop, {**yarn_env, "SPARK_SUBMIT_OPTS": "-Dspark.speculation=true"},
                          *args, deploy_mode="cluster",
                          spark_options=(*TWO_EXECUTORS, *event_log_options(events_dir)))
        killed_executor = kill_the_executor_of_the_trapped_get(hadoop, proxy, trap, run)
        again, made = run.result()
    assert proxy.errors == []
    assert_succeeded_on_yarn(again, made)

    events = read_events(events_dir)
    removed = [e for e in events if e["Event"] == "SparkListenerExecutorRemoved"]
    assert killed_executor in {e["Executor ID"] for e in removed}
    lost = [e for e in events if e["Event"] == "SparkListenerTaskEnd"
            and e["Task Info"]["Executor ID"] == killed_executor and e["Task End Reason"]["Reason"] != "Success"]
    assert lost, [e["Task End Reason"] for e in events if e["Event"] == "SparkListenerTaskEnd"][:5]
    assert spark_properties(events)["spark.speculation"] == "false"

    assert 1 <= trap.peak <= CAP
    # The committed batches were reused: only the rest was fetched, each object once but the
    # trapped one, twice: its task (one thread: at most CAP tasks at once) ran again elsewhere.
    assert trap.seen == found - ok_kept + 1
    assert_extracted_as_the_ground_truth(spark, output, truth)
    assert_same_items(spark, output, local_items)
    assert fs.exists(f"{output}/_SUCCESS") and not fs.exists(paths.work)
