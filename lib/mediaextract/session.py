"""The SparkSession every job uses, configured once (Spark edge)."""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

from .console import CONSOLE
from .errors import BadInput

# Hadoop applies this umask to every file and directory Spark writes, on HDFS as on file://
# (otherwise 644/755 whatever the process umask). Group-readable output is widened afterwards
# by dataset.apply_permissions, so nothing is ever created wider than asked.
PRIVATE_UMASK = "077"

# Settings no job may run without, whatever spark-submit, spark-defaults.conf or `extra` say.
# A speculative copy of a fetch task would fetch its objects a second time, past our caps.
FORCED_CONF = {"spark.speculation": "false"}


def session_conf(settings) -> dict[str, str]:
    """Return the Spark settings mediaextract needs, whatever the master."""
    conf = {
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        # ENUM columns arrive as CHAR-like strings padded with spaces otherwise.
        "spark.sql.readSideCharPadding": "false",
        "spark.hadoop.fs.permissions.umask-mode": PRIVATE_UMASK,
        # A persisted frame (the resolved plan, the labelled rows) keeps Spark's 200 shuffle
        # partitions otherwise: adaptive execution may not coalesce a cached plan's output by
        # default. With it, a run of 74 names planned in 4.9 s instead of 13.6 s (warm; the
        # 200 tiny tasks per stage and 200 files per write were most of a small run's plan).
        "spark.sql.optimizer.canChangeCachedPlanOutputPartitioning": "true",
        # Spark 4's DataFrame query context: every DataFrame API call in the driver walks the
        # Python stack and makes about five more py4j round trips to hand its call site to the
        # JVM (F.col: 2.0 ms a call with it, 0.5 ms without). A job builds thousands of columns
        # (an extract rerun of one list: 13,600 round trips); its failures are one line anyway.
        "spark.python.sql.dataFrameDebugging.enabled": "false",
    }
    jar = settings["catalog.jar"]
    if jar and os.path.exists(jar):
        conf["spark.jars"] = jar
    return conf


def job_conf(settings, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Return the Spark settings a job's session is built with: ours, then extra, then FORCED_CONF."""
    return {**session_conf(settings), **(extra or {}), **FORCED_CONF}


def build_session(settings, app_name: str, master: str | None = None,
                  extra: dict[str, str] | None = None) -> SparkSession:
    """Return the active SparkSession, creating it with mediaextract's settings if needed."""
    # Executors must run the interpreter that has our dependencies (field notes).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    for key, value in job_conf(settings, extra).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    # pyspark has just put its own SIGINT handler in place: watch Ctrl-C in front of it again.
    CONSOLE.watch_interrupts()
    _refuse_speculation(spark)
    return spark


def _refuse_speculation(spark: SparkSession) -> None:
    """Raise BadInput when the context runs speculative tasks (one made before this module built it)."""
    if spark.sparkContext.getConf().get("spark.speculation", "false").strip().lower() != "false":
        raise BadInput("spark.speculation is on in this Spark context: a fetch task must never run twice; "
                       "start the job without it")
