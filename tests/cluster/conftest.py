"""The Hadoop part of the sandbox: one HDFS + YARN minicluster per test session (dev/hadoop).

Started once, on first use, and stopped at the end of the session; stopping also kills any YARN
container left behind, and fails the session if one would not die.
"""

from __future__ import annotations

import subprocess

import pytest

from ..conftest import REPO


@pytest.fixture(scope="session")
def hadoop(tmp_path_factory):
    from mediaextract_sandbox.hadoop import MiniHadoop

    # Installs the launcher's jars when missing (Maven Central); does nothing when they are current.
    subprocess.run([str(REPO / "scripts" / "hadoop_jars.sh")], check=True, cwd=REPO)
    cluster = MiniHadoop(tmp_path_factory.mktemp("hadoop"))
    cluster.up()
    print(f"\nminicluster READY in {cluster.started_s:.1f} s at {cluster.default_fs}")
    yield cluster
    cluster.down()
    assert not cluster.running and cluster.leftovers() == []
