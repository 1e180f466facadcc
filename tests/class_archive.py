"""A class data archive (AppCDS) for the driver JVMs the tests start through ./spark-submit.sh.

A short-lived Spark driver spends about half of its CPU loading and verifying Spark's classes;
the suite starts about a hundred of them on a 2-core machine. One spark-submit run with
-XX:ArchiveClassesAtExit writes the classes it loaded (a session and a failed `plan`: what every
run does first) to an archive; later local-mode drivers map it instead (a `plan` refusing its list
file: 13.6 s of CPU without, 6.5 s with). Speed only: a JVM whose class path differs from the
archive's (a YARN client's has HADOOP_CONF_DIR) ignores it, silently (-Xlog:cds=off), and
runs as before; no behaviour depends on it. Made once per session, in the background, by the
pytest process that is not a worker; each test process uses it once it is there.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

VARIABLE = "MEDIAEXTRACT_TEST_CLASS_ARCHIVE"  # where it will be (inherited by the pytest workers)
USE = "-XX:SharedArchiveFile={} -Xlog:cds=off,cds+dynamic=off"


_making: list[subprocess.Popen] = []


def start(repo: Path) -> None:
    """Start making the archive in the background; its path goes into the environment at once."""
    directory = Path(tempfile.mkdtemp(prefix="mediaextract-tests-cds-"))
    archive = directory / "spark-submit.jsa"
    os.environ[VARIABLE] = str(archive)
    partial = archive.with_suffix(".partial")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAEXTRACT_")}
    env.update(MEDIAEXTRACT_LOG_DIR=str(directory / "logs"),
               SPARK_SUBMIT_OPTS=f"{os.environ.get('SPARK_SUBMIT_OPTS', '')} -XX:ArchiveClassesAtExit={partial}")
    # Its own session: remove() stops the script, its JVM and its Python driver together.
    process = subprocess.Popen([str(repo / "spark-submit.sh"), "plan", "--conf", "conf/local.yaml",
                                str(directory / "no-such-list.txt")], cwd=repo, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    _making.append(process)

    def publish() -> None:
        process.wait()
        if partial.is_file():
            partial.rename(archive)  # whole or not there: a JVM never maps a half-written archive

    threading.Thread(target=publish, name="class-archive", daemon=True).start()


def use_if_ready() -> None:
    """Once the archive is there, add it to SPARK_SUBMIT_OPTS (read by every spark-submit this
    process starts from then on)."""
    archive = os.environ.get(VARIABLE)
    options = os.environ.get("SPARK_SUBMIT_OPTS", "")
    if archive and "SharedArchiveFile" not in options and Path(archive).is_file():
        os.environ["SPARK_SUBMIT_OPTS"] = f"{options} {USE.format(archive)}".strip()


def remove() -> None:
    """Stop the making if it still runs, and delete the archive."""
    for process in _making:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    archive = os.environ.get(VARIABLE)
    if archive:
        shutil.rmtree(Path(archive).parent, ignore_errors=True)
