"""spark-submit.sh's own handling of spark-submit's options, with a stand-in spark-submit
(SPARK_SUBMIT) that writes down its arguments: no JVM, no Spark."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_wrapper(tmp_path: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess, Path]:
    fake = tmp_path / "spark-submit"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$ARGS_FILE"\n')
    fake.chmod(0o755)
    written = tmp_path / "args"
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("MEDIAEXTRACT_", "KRB5")) and k not in ("HADOOP_CONF_DIR", "YARN_CONF_DIR")}
    result = subprocess.run([str(REPO / "spark-submit.sh"), *args], cwd=REPO, capture_output=True, text=True,
                            timeout=120, stdin=subprocess.DEVNULL,
                            env={**base, "SPARK_SUBMIT": str(fake), "ARGS_FILE": str(written),
                                 "MEDIAEXTRACT_LOG_DIR": str(tmp_path / "logs"), **env})
    return result, written


def test_a_users_driver_java_options_are_kept_beside_the_wrappers(tmp_path):
    """spark-submit keeps one --driver-java-options (the last, over spark.driver.extraJavaOptions):
    the wrapper's log settings must not drop the user's (a krb5.conf, say)."""
    for given in (["--conf", "spark.driver.extraJavaOptions=-Dkrb=1"], ["--driver-java-options", "-Dkrb=1"]):
        result, written = run_wrapper(tmp_path, *given, "status", "--help")
        assert result.returncode == 0, result.stderr
        args = written.read_text().splitlines()
        last = len(args) - 1 - args[::-1].index("--driver-java-options")
        assert args[last + 1].startswith("-Dkrb=1 -Dlog4j2.configurationFile=file:"), args


def test_no_kerberos_ticket_stops_the_wrapper_before_spark_submit(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "core-site.xml").write_text("<configuration><property><name>hadoop.security.authentication</name>"
                                        "<value>kerberos</value></property></configuration>")
    result, written = run_wrapper(tmp_path, "--master", "yarn", "status", HADOOP_CONF_DIR=str(conf),
                                  KRB5CCNAME=str(tmp_path / "no-ticket"))
    assert result.returncode == 2 and result.stdout == "" and not written.exists()
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("mediaextract: error: Kerberos: ")


def test_a_master_without_its_value_or_an_unknown_deploy_mode_is_one_line_before_spark_submit(tmp_path):
    for given in (["--master"], ["--master", "yarn", "--deploy-mode", "remote"],
                  ["--conf", "spark.submit.deployMode=nowhere"]):
        result, written = run_wrapper(tmp_path, *given, "status")
        assert result.returncode == 2 and result.stdout == "" and not written.exists(), (given, result.stderr)
        assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("mediaextract: error: --master "), \
            (given, result.stderr)
