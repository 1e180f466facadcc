"""spark-submit.sh on local-cluster[2,1,1024]: separate executor JVMs and the shipped artifacts, as on YARN."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pyspark
import pytest
from pyspark.sql import functions as F

from mediaextract import dataset
from mediaextract.digest import sha1_base36

from ..conftest import REPO


@pytest.mark.timeout(1200)
def test_extract_on_local_cluster_with_shipped_package_and_environment(spark, sandbox, truth, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAEXTRACT_")}
    # local-cluster workers keep executor directories under $SPARK_HOME/work (pip's pyspark dir)
    work = Path(pyspark.__file__).parent / "work"
    before = set(work.glob("app-*"))
    pairs = {**sandbox.settings(), "catalog.partitions": 2, "fetch.batch_rows": 5}
    lists = sorted(Path(sandbox.lists_dir).glob("books.txt"))
    result = subprocess.run(
        [str(REPO / "spark-submit.sh"), "--master", "local-cluster[2,1,1024]", "extract",
         *[a for k, v in pairs.items() for a in ("--set", f"{k}={v}")], "--output", str(tmp_path / "out"),
         *map(str, lists)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1100)
    assert result.returncode == 0, result.stderr[-4000:]
    assert (REPO / "dist" / "mediaextract.zip").exists() and (REPO / "dist" / "environment.tar.gz").exists()

    # Executors ran in their own directories with the archive unpacked: the shipped environment.
    apps = set(work.glob("app-*")) - before
    assert len(apps) == 1
    executor_dirs = [p for p in apps.pop().iterdir() if p.is_dir()]
    assert len(executor_dirs) >= 2
    assert all((d / "environment" / "bin" / "python").exists() and (d / "mediaextract.zip").exists()
               for d in executor_dirs)

    items = dataset.read_items(spark, str(tmp_path / "out" / "items"))
    expected = {r["line"]: r["status"] for r in truth["lists"]["books"]["rows"]}
    assert {r["line"]: r["status"] for r in items.collect()} == expected
    ok = items.where(F.col("status") == "ok").collect()
    assert ok and all(sha1_base36(bytes(r["content"])) == r["sha1"] for r in ok)
