"""extract on YARN (the minicluster of conftest.py), run as people run it: ./spark-submit.sh --master yarn,
shipping the package and the packed environment, writing the data set to HDFS."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from mediaextract import dataset
from mediaextract.digest import sha1_base36
from mediaextract.hadoopfs import HadoopFS

from ..conftest import REPO

pytestmark = pytest.mark.timeout(1200)

OTHER_USER = "someoneelse"  # an ordinary HDFS user: neither the owner nor the superuser


@pytest.fixture(scope="module")
def output_root(hadoop, spark):
    """An output root on HDFS that other users may list (0755), so that only a data set's own modes
    keep them out of it."""
    root = f"{hadoop.home}/out"
    fs = HadoopFS(spark)
    fs.mkdirs(root, 0o755)
    assert fs.info(root).mode == 0o755
    return root


def extract_on_yarn(hadoop, sandbox, deploy_mode: str, root: str, output: str, lists: list[str]):
    """Run extract on YARN; return spark-submit.sh's result and the one YARN application it made."""
    before = {app["id"] for app in hadoop.applications()}
    pairs = {**sandbox.settings(), "catalog.partitions": 2, "output.root": root}
    sets = [a for key, value in pairs.items() for a in ("--set", f"{key}={value}")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAEXTRACT_")}
    env.update(hadoop.spark_env())
    result = subprocess.run(
        [str(REPO / "spark-submit.sh"), "--master", "yarn", "--deploy-mode", deploy_mode,
         *hadoop.submit_options(), "extract", *sets, "--output", output, *lists],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1100, stdin=subprocess.DEVNULL)
    made = [app for app in hadoop.applications() if app["id"] not in before]
    return result, made


def assert_succeeded_on_yarn(result, made: list[dict]) -> None:
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    assert [(app["state"], app["finalStatus"], app["applicationType"]) for app in made] == \
        [("FINISHED", "SUCCEEDED", "SPARK")], made


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


def test_extract_in_client_mode_writes_a_private_data_set_to_hdfs(hadoop, spark, sandbox, truth, list_paths,
                                                                  output_root):
    output = f"{output_root}/client"
    # On YARN a path without a scheme is on HDFS: the driver and the executors share this machine's files.
    result, made = extract_on_yarn(hadoop, sandbox, "client", output_root, output,
                                   [f"file://{p}" for p in list_paths])
    assert_succeeded_on_yarn(result, made)
    assert "extract " in result.stdout  # the driver's progress reached this console
    assert_extracted_as_the_ground_truth(spark, output, truth)
    assert_private(hadoop, spark, output)


def test_extract_in_cluster_mode_reads_lists_from_hdfs_and_writes_a_private_data_set(hadoop, spark, sandbox, truth,
                                                                                     list_paths, output_root):
    """The driver runs in YARN's application master; the lists are on HDFS, named by a directory."""
    fs = HadoopFS(spark)
    lists = f"{hadoop.home}/lists"
    for path in map(Path, list_paths):
        fs.write_bytes(f"{lists}/{path.name}", path.read_bytes())
    output = f"{output_root}/cluster"
    result, made = extract_on_yarn(hadoop, sandbox, "cluster", output_root, output, [lists + "/"])
    assert_succeeded_on_yarn(result, made)
    assert_extracted_as_the_ground_truth(spark, output, truth)
    assert_private(hadoop, spark, output)
