"""What spark-submit will be told (submit_options.py): the settings of its command line and of the
properties file it reads, and the refusal of speculation (spark-submit.sh runs it through
submit_check.py; tests/cluster/test_yarn_faults.py runs six forms against YARN)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mediaextract.errors import EXIT_BAD_INPUT, SpeculationRefused
from mediaextract.submit_options import parse, read_properties, refuse_speculation

from ..conftest import REPO


@pytest.mark.parametrize("text, expected", [
    ("a b\n", {"a": "b"}), ("a=b", {"a": "b"}), ("a : b  ", {"a": "b"}), ("  a\tb", {"a": "b"}),
    ("# a b\n! c d\n\n", {}), ("a 1\na 2\n", {"a": "2"}), ("a = b = c", {"a": "b = c"}),
])
def test_read_properties_as_spark_submit_does(tmp_path, text, expected):
    (tmp_path / "p").write_text(text)
    assert read_properties(tmp_path / "p") == expected


def test_an_unreadable_properties_file_has_nothing(tmp_path):
    assert read_properties(tmp_path / "missing") == {}


def test_parse_takes_every_form_of_conf_and_the_valued_options():
    submit = parse(["--master", "yarn", "--conf", "a=1", "-c", " b = 2 ", "--conf=c=3=4",
                    "--principal=me@R", "--keytab", "/k"])
    assert submit.confs == [("a", "1", "a=1"), ("b", "2", " b = 2 "), ("c", "3=4", "c=3=4")]
    assert submit.options == {"--principal": "me@R", "--keytab": "/k"}
    assert submit.properties_files == []


def test_the_properties_file_read_is_the_one_given_else_spark_defaults(tmp_path):
    conf_dir = {"SPARK_CONF_DIR": str(tmp_path / "conf")}
    assert parse([], conf_dir).properties_files == [tmp_path / "conf" / "spark-defaults.conf"]
    assert parse([], {"SPARK_HOME": "/spark"}).properties_files == [Path("/spark/conf/spark-defaults.conf")]
    assert parse(["--properties-file", "/p"], conf_dir).properties_files == [Path("/p")]
    assert parse(["--properties-file=/p", "--load-spark-defaults"], conf_dir).properties_files == \
        [Path("/p"), tmp_path / "conf" / "spark-defaults.conf"]


def test_the_given_properties_file_wins_over_spark_defaults(tmp_path):
    (tmp_path / "mine").write_text("k mine\n")
    (tmp_path / "spark-defaults.conf").write_text("k defaults\nother 1\n")
    submit = parse(["--properties-file", str(tmp_path / "mine"), "--load-spark-defaults"],
                   {"SPARK_CONF_DIR": str(tmp_path)})
    assert submit.properties() == {"k": ("mine", tmp_path / "mine"), "other": ("1", tmp_path / "spark-defaults.conf")}


@pytest.mark.parametrize("options, says", [
    (["--conf", "spark.speculation=true"], "--conf spark.speculation=true refused"),
    (["-c", "spark.speculation = TRUE"], "--conf spark.speculation = TRUE refused"),
    (["--conf=spark.speculation=yes"], "--conf spark.speculation=yes refused"),
])
def test_speculation_on_the_command_line_is_refused(options, says):
    with pytest.raises(SpeculationRefused, match=says) as raised:
        refuse_speculation(parse(options))
    assert raised.value.exit_code == EXIT_BAD_INPUT
    assert str(raised.value).endswith("speculative tasks would fetch objects twice")


@pytest.mark.parametrize("line", ["spark.speculation   TRUE", "spark.speculation=true", "spark.speculation: 1"])
@pytest.mark.parametrize("how", ["--properties-file", "SPARK_CONF_DIR"])
def test_speculation_in_the_properties_file_read_is_refused_naming_it(tmp_path, line, how):
    path = tmp_path / "spark-defaults.conf"
    path.write_text(f"spark.yarn.am.memory 512m\n{line}\n")
    options, env = (["--properties-file", str(path)], {}) if how == "--properties-file" else ([], {"SPARK_CONF_DIR": str(tmp_path)})
    with pytest.raises(SpeculationRefused, match=f"spark.speculation=.* in {path} refused"):
        refuse_speculation(parse(options, env))


@pytest.mark.parametrize("options, text", [
    (["--conf", "spark.speculation=false"], ""),
    (["--conf", "spark.speculation.multiplier=3", "--conf", "spark.speculationx=true"], ""),
    ([], "spark.speculation FALSE\nspark.speculation.quantile 0.5\n"),
    ([], "spark.speculation true\nspark.speculation false\n"),  # the last of a key wins, as in Java
])
def test_speculation_off_or_other_settings_pass(tmp_path, options, text):
    (tmp_path / "spark-defaults.conf").write_text(text)
    refuse_speculation(parse(options, {"SPARK_CONF_DIR": str(tmp_path)}))


def test_a_properties_file_not_read_is_not_refused(tmp_path):
    """spark-submit ignores spark-defaults.conf when given --properties-file (without --load-spark-defaults)."""
    (tmp_path / "spark-defaults.conf").write_text("spark.speculation true\n")
    (tmp_path / "mine").write_text("spark.executor.cores 1\n")
    refuse_speculation(parse(["--properties-file", str(tmp_path / "mine")], {"SPARK_CONF_DIR": str(tmp_path)}))


def test_submit_check_is_one_line_and_exit_2(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mediaextract.submit_check", "--master", "yarn", "--conf",
                           "spark.speculation=true"], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "lib")})
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == ("mediaextract: error: --conf spark.speculation=true refused: "
                           "speculative tasks would fetch objects twice\n")
