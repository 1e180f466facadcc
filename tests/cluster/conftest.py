"""The Hadoop part of the sandbox: one HDFS + YARN minicluster per test session (dev/hadoop).

Started once, on first use, and stopped after the last test of tests/cluster (package-scoped
fixtures: tests/conftest.py runs the package as one block, so it starts once; the worker's other
tests do not share the machine with an idle minicluster); stopping also kills any YARN container
left behind, and fails the session if one would not die.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from ..conftest import REPO


def minicluster(root: Path, *, secure: bool = False):
    """Yield a MiniHadoop up under root; stop it after, with every YARN container it ran."""
    from mediaextract_sandbox.hadoop import MiniHadoop

    # Installed by make install (scripts/bootstrap.sh): the tests themselves download nothing.
    current = subprocess.run([str(REPO / "scripts" / "hadoop_jars.sh"), "--check"], cwd=REPO,
                             capture_output=True, text=True)
    assert current.returncode == 0, current.stderr
    cluster = MiniHadoop(root, secure=secure)
    cluster.up()
    print(f"\n{'secure ' if secure else ''}minicluster READY in {cluster.started_s:.1f} s at {cluster.default_fs}")
    yield cluster
    cluster.down()
    assert not cluster.running and cluster.leftovers() == []


@pytest.fixture(scope="package")
def hadoop(tmp_path_factory):
    yield from minicluster(tmp_path_factory.mktemp("hadoop"))


@pytest.fixture(scope="package")
def environment_uri(hadoop):
    """dist/environment.tar.gz uploaded once to HDFS: each application names it with
    MEDIAEXTRACT_ENVIRONMENT_URI instead of uploading 136 MB, and the NodeManager unpacks it once
    for the whole session (test_governance_hdfs.py checks that it did)."""
    return upload_environment(hadoop)


def upload_environment(hadoop, ccache: Path | None = None) -> str:
    """Build dist/ and put its environment on the cluster's HDFS (with the ticket in ccache on a
    secure one); return its URI."""
    subprocess.run([str(REPO / "scripts" / "dist.sh")], check=True, cwd=REPO, capture_output=True)
    # In the README's form (hdfs:///...: the default file system), as users write it.
    uri = f"hdfs:///user/{hadoop.user}/.mediaextract/environment.tar.gz"
    hadoop.put(REPO / "dist" / "environment.tar.gz", uri, ccache=ccache)
    return uri


@pytest.fixture(scope="package")
def yarn_env(hadoop, environment_uri) -> dict:
    """The environment of ./spark-submit.sh --master yarn: no MEDIAEXTRACT_* of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAEXTRACT_")}
    return {**env, **hadoop.spark_env(), "MEDIAEXTRACT_ENVIRONMENT_URI": environment_uri}


def submit_on_yarn(hadoop, env: dict, job: str, *args: str, deploy_mode: str = "client", timeout: float = 900,
                   spark_options: Sequence[str] = (), watch=None):
    """Run ./spark-submit.sh --master yarn [SPARK_OPTIONS] JOB ARGS; return its result and the YARN
    applications it made. A watch (leaks.Watch) polls while it runs, and is stopped when it ends.

    In a session of its own: past the timeout (under the tests' 1200 s) the whole group goes,
    the spark-submit JVM (a client-mode driver) with the script, not the script alone."""
    before = {app["id"] for app in hadoop.applications()}
    command = [str(REPO / "spark-submit.sh"), "--master", "yarn", "--deploy-mode", deploy_mode,
               *hadoop.submit_options(), *spark_options, job, *args]
    with subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          stdin=subprocess.DEVNULL, start_new_session=True) as process:
        if watch is not None:
            watch.session = process.pid  # its own session: the script, spark-submit, a client-mode driver
            watch.start()
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except BaseException:  # our timeout, pytest-timeout's, Ctrl-C: nothing of it may outlive the test
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
        finally:
            if watch is not None:
                watch.stop()
    result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    return result, applications_since(hadoop, before)


FINAL_STATES = ("FINISHED", "FAILED", "KILLED")


def applications_since(hadoop, before: set[str], deadline_s: float = 120) -> list[dict]:
    """Return the YARN applications not in before, once each has reached a final state (or the
    deadline passed): a client-mode driver asks its application master to stop without waiting,
    so spark-submit may exit while its application is still FINISHING."""
    deadline = time.monotonic() + deadline_s
    while True:
        made = [app for app in hadoop.applications() if app["id"] not in before]
        if all(app["state"] in FINAL_STATES for app in made) or time.monotonic() > deadline:
            return made
        time.sleep(0.5)  # polling the ResourceManager, with a deadline


def assert_succeeded_on_yarn(result, made: list[dict]) -> None:
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    assert [(app["state"], app["finalStatus"], app["applicationType"]) for app in made] == \
        [("FINISHED", "SUCCEEDED", "SPARK")], made


@pytest.fixture(scope="package")
def hdfs_secrets_file(hadoop, sandbox) -> str:
    """The sandbox's secrets put on HDFS as the README says: created 0600 (umask 077), so that it
    is never readable by others, not even between a put and a chmod."""
    uri = f"hdfs:///user/{hadoop.user}/.mediaextract/secrets.yaml"
    hadoop.put(sandbox.credentials_path, uri, umask="077")
    return uri


@pytest.fixture(scope="package")
def output_root(hadoop, spark):
    """An output root on HDFS that other users may list (0755), so that only a data set's own modes
    keep them out of it."""
    from mediaextract.hadoopfs import HadoopFS

    root = f"{hadoop.home}/out"
    fs = HadoopFS(spark)
    fs.mkdirs(root, 0o755)
    assert fs.info(root).mode == 0o755
    return root


def extract_settings(sandbox, root: str, **overrides) -> list[str]:
    """Return the --set pairs of a job on the sandbox writing under root (extract, scheduled),
    with dotted overrides (secrets_file=...)."""
    pairs = {**sandbox.settings(), "catalog.partitions": 2, "output.root": root, **overrides}
    return [a for key, value in pairs.items() for a in ("--set", f"{key}={value}")]


@pytest.fixture(scope="package")
def client_extract(hadoop, yarn_env, sandbox, list_paths, output_root):
    """One extract on YARN in client mode, lists on the client's disk, data set on HDFS: checked by
    test_yarn.py, copied by test_governance_hdfs.py (so that the session extracts once)."""
    output = f"{output_root}/client"
    # On YARN a path without a scheme is on HDFS: the driver and the executors share this machine's files.
    result, made = submit_on_yarn(hadoop, yarn_env, "extract", *extract_settings(sandbox, output_root),
                                  "--output", output, *[f"file://{p}" for p in list_paths])
    return output, result, made
