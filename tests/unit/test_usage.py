"""./spark-submit.sh --help and --version: the jobs, the exit codes, before any JVM starts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mediaextract import __version__, cli, usage
from mediaextract.errors import EXIT_MEANINGS, BadInput

REPO = Path(__file__).resolve().parents[2]


def submit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(REPO / "spark-submit.sh"), *args], capture_output=True, text=True, timeout=60)


def script_jobs() -> list[str]:
    return re.search(r'^JOBS="([^"]+)"', (REPO / "spark-submit.sh").read_text(), re.M).group(1).split()


def test_help_lists_every_job_one_line_each_and_every_exit_code():
    result = submit("--help")
    assert result.returncode == 0 and result.stderr == ""
    listed = re.findall(r"^  ([a-z-]+)  +\S", result.stdout, re.M)
    assert sorted(listed) == sorted(script_jobs())
    codes = [int(c) for c in re.findall(r"^ +(\d+)  \S", result.stdout, re.M)]
    assert codes == sorted(EXIT_MEANINGS)
    assert all(line for _, line in usage.job_lines(REPO / "jobs"))  # no job without its line


def test_version_prints_the_package_version():
    result = submit("--version")
    assert (result.returncode, result.stdout, result.stderr) == (0, f"mediaextract {__version__}\n", "")


def test_no_job_is_one_line_and_exit_2():
    result = submit("--master", "local[1]")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "see ./spark-submit.sh --help" in result.stderr


def test_the_readmes_exit_code_table_has_the_declared_codes():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    assert [int(c) for c in re.findall(r"^\| (\d+) \|", section, re.M)] == sorted(EXIT_MEANINGS)


def test_a_second_conf_after_the_job_is_refused():
    parser = cli.job_parser("extract", "test")
    with pytest.raises(BadInput, match="--conf given twice"):
        parser.parse_args(["--conf", "a.yaml", "--conf", "b.yaml"])
    assert parser.parse_args(["--conf", "a.yaml"]).conf == "a.yaml"


def test_a_stopped_run_says_one_line_from_one_source_with_its_exit_code():
    # spark-submit.sh asks for this line when a signal stopped the run; cli.py says the same one.
    for name, code, start in (("INT", 130, "mediaextract: interrupted; "), ("TERM", 143, "mediaextract: stopped (SIGTERM); ")):
        said = subprocess.run([sys.executable, "-m", "mediaextract.usage", "stopped", name, "/logs/x.log"],
                              capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "lib")})
        assert said.returncode == code and said.stdout == ""
        assert said.stderr == f"{start}committed batches are kept, run again to resume (log: /logs/x.log)\n"
