"""`make demo-yarn`: the demo's extract on YARN into HDFS, on the sandbox's Hadoop minicluster.

What a user of a real cluster runs, on a cluster that lives only as long as this command: the
sandbox's lists are put on HDFS, the packed environment too (MEDIAEXTRACT_ENVIRONMENT_URI), and
`./spark-submit.sh --master yarn --deploy-mode client ... extract` writes the data set under
hdfs:///user/<you>/out. The minicluster is the one tests/cluster runs on (dev/hadoop); its HDFS
is deleted when it stops, so `--hold` keeps it up until Enter, with the HADOOP_CONF_DIR to point
Hadoop's and Spark's tools at meanwhile.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .hadoop import REPO, MiniHadoop


def submit_command(cluster: MiniHadoop, job: str, *args: str, deploy_mode: str = "client") -> list[str]:
    """Return `./spark-submit.sh --master yarn ...` for JOB ARGS on this cluster (the tests' form)."""
    return [str(REPO / "spark-submit.sh"), "--master", "yarn", "--deploy-mode", deploy_mode,
            *cluster.submit_options(), job, *args]


def run(sandbox_root: Path, *, hold: bool = False) -> int:
    """Start the minicluster, extract the sandbox's lists on YARN into HDFS, stop; return the exit code."""
    sandbox_root = sandbox_root.resolve()
    lists = sandbox_root / "lists"
    if not lists.is_dir():
        print(f"sandbox: no {lists}: run `python -m mediaextract_sandbox seed` first (make demo-yarn does)",
              file=sys.stderr)
        return 2
    cluster = MiniHadoop(sandbox_root / "hadoop")
    cluster.up()
    try:
        home = f"hdfs:///user/{cluster.user}"
        print(f"minicluster READY in {cluster.started_s:.1f} s: HADOOP_CONF_DIR={cluster.conf_dir}", flush=True)
        subprocess.run([str(REPO / "scripts" / "dist.sh")], check=True, cwd=REPO, stdout=subprocess.DEVNULL)
        environment = f"{home}/.mediaextract/environment.tar.gz"
        cluster.put(REPO / "dist" / "environment.tar.gz", environment)
        cluster.put(lists, f"{home}/demo/lists")
        env = {**os.environ, **cluster.spark_env(), "MEDIAEXTRACT_ENVIRONMENT_URI": environment}
        command = submit_command(cluster, "extract", "--conf", "conf/local.yaml", "--name", "demo",
                                 "--set", f"output.root={home}/out", f"{home}/demo/lists")
        print("$ " + " ".join(command[:5] + ["..."] + command[command.index("extract"):]), flush=True)
        code = subprocess.run(command, cwd=REPO, env=env, stdin=subprocess.DEVNULL).returncode
        listing = cluster.fs_shell("-ls", f"{home}/out/demo")
        print(listing.stdout.rstrip())
        if hold:
            print(f"The cluster stays up until Enter. Meanwhile: export HADOOP_CONF_DIR={cluster.conf_dir} "
                  f"JAVA_HOME={env['JAVA_HOME']}", flush=True)
            try:
                input()
            except EOFError:
                pass
        return code
    finally:
        cluster.down()
