"""extract on YARN (the minicluster of conftest.py), run as people run it: ./spark-submit.sh --master yarn,
shipping the package and the packed environment, writing the data set to HDFS."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from mediaextract import dataset
from mediaextract.digest import sha1_base36
from mediaextract.hadoopfs import HadoopFS

from ..conftest import REPO
from . import leaks
from .conftest import assert_succeeded_on_yarn, extract_settings, submit_on_yarn

pytestmark = pytest.mark.timeout(1200)

OTHER_USER = "someoneelse"  # an ordinary HDFS user: neither the owner nor the superuser


def assert_extracted_as_the_ground_truth(spark, output: str, truth: dict) -> None:
    items = dataset.read_items(spark, output + "/items")
    actual = {(r["list"], r["line"]): r["status"] for r in items.select("list", "line", "status").collect()}
    expected = {(name, r["line"]): r["status"] for name, part in truth["lists"].items() for r in part["rows"]}
    assert actual == expected
    ok = items.where(F.col("status") == "ok").collect()
    assert ok and all(sha1_base36(bytes(r["content"])) == r["sha1"] for r in ok)


def assert_private(hadoop, spark, output: str) -> None:
    """Every directory of the data set is 0700 and every file 0600, as HDFS says; another user can
    neither list nor read it, although the root above it is open to them."""
    fs = HadoopFS(spark)
    entries = [fs.info(output), *fs.walk(output)]
    files = [e for e in entries if not e.is_dir]
    assert files and {e.mode for e in entries if e.is_dir} == {0o700}
    assert {e.mode for e in files} == {0o600}
    assert not any(e.acl for e in entries)

    root = output.rsplit("/", 1)[0]
    listed = hadoop.fs_shell("-ls", root, user=OTHER_USER)
    assert listed.returncode == 0 and output.rsplit("/", 1)[1] in listed.stdout, listed.stderr[-2000:]
    some_file = next(e.path for e in files if "/items/" in e.path)
    for args in (("-ls", output), ("-ls", output + "/items"), ("-cat", some_file)):
        denied = hadoop.fs_shell(*args, user=OTHER_USER)
        assert denied.returncode != 0, (args, denied.stdout[-2000:])
        assert "Permission denied" in denied.stderr and f"user={OTHER_USER}" in denied.stderr, denied.stderr[-2000:]


def test_extract_in_client_mode_writes_a_private_data_set_to_hdfs(hadoop, spark, truth, client_extract):
    output, result, made = client_extract
    assert_succeeded_on_yarn(result, made)
    assert "extract " in result.stdout  # the driver's progress reached this console
    assert_extracted_as_the_ground_truth(spark, output, truth)
    assert_private(hadoop, spark, output)


def test_extract_in_cluster_mode_reads_lists_and_secrets_from_hdfs_and_writes_a_private_data_set(
        hadoop, spark, sandbox, truth, list_paths, output_root, yarn_env, hdfs_secrets_file, tmp_path):
    """The driver runs in YARN's application master; the lists are on HDFS, named by a directory, and
    so are the secrets (secrets_file on HDFS). No secret value shows in any command line or container
    environment while it runs, nor in the container logs, YARN's report or Spark's event log after."""
    fs = HadoopFS(spark)
    lists = f"{hadoop.home}/lists"
    for path in map(Path, list_paths):
        fs.write_bytes(f"{lists}/{path.name}", path.read_bytes())
    output = f"{output_root}/cluster"
    events = tmp_path / "events"
    events.mkdir(mode=0o700)
    secrets = leaks.secret_values(sandbox.credentials_path)
    watch = leaks.Watch(hadoop, secrets)
    result, made = submit_on_yarn(
        hadoop, yarn_env, "extract", *extract_settings(sandbox, output_root, secrets_file=hdfs_secrets_file),
        "--output", output, lists + "/", deploy_mode="cluster", watch=watch,
        spark_options=("--conf", "spark.eventLog.enabled=true", "--conf", f"spark.eventLog.dir=file://{events}",
                       "--conf", "spark.eventLog.compress=false"))
    assert_succeeded_on_yarn(result, made)
    assert_extracted_as_the_ground_truth(spark, output, truth)
    assert_private(hadoop, spark, output)

    # Each place was looked at while it held something: else finding nothing proves nothing.
    app_id = made[0]["id"]
    logs = leaks.container_log_files(hadoop, app_id)
    event_logs = [p for p in events.rglob("*") if p.is_file() and p.name.startswith("events_")]
    assert watch.samples > 10 and watch.session_lines and watch.container_pids and watch.launch_scripts, \
        (watch.samples, watch.session_lines, watch.container_pids, watch.launch_scripts)
    assert any(p.name == "stderr" for p in logs) and any(p.name == "launch_container.sh" for p in logs), logs
    assert len(event_logs) == 1 and b"SparkListenerApplicationEnd" in event_logs[0].read_bytes(), event_logs
    assert sorted(watch.seen) == []
    assert leaks.files_holding(logs + event_logs, secrets) == []
    assert leaks.found_in(json.dumps(hadoop.application(app_id)), secrets) == []


@pytest.mark.parametrize("uri", ["/srv/environment.tar.gz", "file:///srv/environment.tar.gz",
                                 "local:///srv/environment.tar.gz", "hdfs:///srv/environment.tar.gz#env",
                                 "FILE:///srv/environment.tar.gz", "hdfs:///srv/a,b.tar.gz", "hdfs:///srv/a b.tar.gz"])
def test_an_environment_uri_not_on_the_clusters_file_system_is_refused_before_spark(uri):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAEXTRACT_")}
    result = subprocess.run([str(REPO / "spark-submit.sh"), "--master", "yarn", "check-access"], cwd=REPO,
                            env={**env, "MEDIAEXTRACT_ENVIRONMENT_URI": uri}, capture_output=True, text=True,
                            timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "mediaextract: error: MEDIAEXTRACT_ENVIRONMENT_URI must name a file on the cluster's default file system "
        "(hdfs:///...), without #, comma or space"]
