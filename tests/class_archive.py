"""A class data archive (AppCDS) for the driver JVMs the tests start through ./spark-submit.sh.

A short-lived Spark driver spends much of its CPU loading and verifying Spark's classes; the
suite starts about a hundred of them on a 2-core machine. One spark-submit run with
-XX:ArchiveClassesAtExit writes the classes it loaded to an archive; later local-mode drivers
map it instead. The run is an extract of the sandbox's lists (the catalog read, the fetch tasks'
Python runner, Parquet, the report: what most of the suite's runs do), so the archive holds the
classes of real work, not only those of a session's start: a `plan` of the sandbox's lists, with
the suite's settings, three runs each, interleaved: 17.5-20.2 s of user CPU with an archive made by
a `plan` that failed on its list file (before any query: how it was made before), 15.4-15.9 s
with one made by an extract. Making it costs about 56 s of CPU (48.5 s user, 7.6 s system,
alone), once per session, in the background.

Speed only: a JVM whose class path differs from the archive's (a YARN client's has
HADOOP_CONF_DIR) ignores it, silently (-Xlog:cds=off), and runs as before; no behaviour depends
on it. The process that is not a worker names the archive's directory (inherited by the pytest
workers); the first worker to have its sandbox up makes it, in the background; each test process
uses it once it is there.
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


def name() -> None:
    """Name the archive's place (in the process that is not a worker, before the workers start)."""
    directory = Path(tempfile.mkdtemp(prefix="mediaextract-tests-cds-"))
    os.environ[VARIABLE] = str(directory / "spark-submit.jsa")


def start(repo: Path, sandbox) -> None:
    """Make the archive in the background with an extract of the sandbox's lists, unless another
    process of this session has begun to (the first to claim it makes it)."""
    archive = Path(os.environ.get(VARIABLE, ""))
    if not archive.name:
        return
    try:
        os.close(os.open(archive.with_suffix(".claimed"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return
    partial = archive.with_suffix(".partial")
    work = archive.parent / "run"
    pairs = {**sandbox.settings(), "catalog.partitions": 2, "output.root": str(work)}
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAEXTRACT_")}
    env.update(MEDIAEXTRACT_LOG_DIR=str(work / "logs"),
               SPARK_SUBMIT_OPTS=f"{os.environ.get('SPARK_SUBMIT_OPTS', '')} -XX:ArchiveClassesAtExit={partial}")
    command = [str(repo / "spark-submit.sh"), "--master", "local[2]", "extract",
               *[a for k, v in pairs.items() for a in ("--set", f"{k}={v}")],
               "--output", str(work / "classes"), str(sandbox.lists_dir)]
    # Its own session: remove() stops the script, its JVM and its Python driver together.
    process = subprocess.Popen(command, cwd=repo, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
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


def stop() -> None:
    """Stop this process's making if it still runs (before its sandbox goes down)."""
    for process in _making:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def remove() -> None:
    """Delete the archive's directory (the process that is not a worker, at the end)."""
    stop()
    archive = os.environ.get(VARIABLE)
    if archive:
        shutil.rmtree(Path(archive).parent, ignore_errors=True)
