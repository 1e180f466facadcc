"""spark-submit.sh's Kerberos check, its pure parts: which conf asks for Kerberos, how the login was
given (tests/cluster/test_kerberos.py runs the whole check, klist included, on a secure cluster)."""

from __future__ import annotations

import subprocess

import pytest

from mediaextract.errors import EXIT_BAD_INPUT, KerberosLoginError
from mediaextract.kerberos import asks_for_kerberos, check, login_options


def core_site(directory, authentication: str | None):
    prop = "" if authentication is None else \
        f"<property><name>hadoop.security.authentication</name><value>{authentication}</value></property>"
    (directory / "core-site.xml").write_text(f"<configuration>{prop}</configuration>")
    return directory


@pytest.mark.parametrize("authentication, expected", [("kerberos", True), (" Kerberos ", True),
                                                      ("simple", False), (None, False)])
def test_asks_for_kerberos_reads_core_site(tmp_path, authentication, expected):
    assert asks_for_kerberos(core_site(tmp_path, authentication)) is expected


def test_no_core_site_is_simple(tmp_path):
    assert asks_for_kerberos(tmp_path) is False


@pytest.mark.parametrize("options, expected", [
    (["--master", "yarn"], (None, None)),
    (["--principal", "me@R", "--keytab", "/k"], ("me@R", "/k")),
    (["--principal=me@R", "--keytab=/k"], ("me@R", "/k")),
    (["--conf", "spark.kerberos.principal=me@R", "--conf=spark.kerberos.keytab=/k"], ("me@R", "/k")),
    (["--keytab"], (None, "")),
])
def test_login_options(options, expected):
    assert login_options(options) == expected


def test_a_cluster_without_kerberos_needs_nothing(tmp_path):
    check([], {"HADOOP_CONF_DIR": str(core_site(tmp_path, "simple"))}, klist=None)


@pytest.mark.parametrize("options, says", [
    (["--principal", "me@R"], "--principal and --keytab go together"),
    (["--principal", "me@R", "--keytab", "/nonexistent/me.keytab"], "is not a readable file"),
])
def test_bad_login_options_are_bad_input(tmp_path, options, says):
    with pytest.raises(KerberosLoginError, match=says) as raised:
        check(options, {"HADOOP_CONF_DIR": str(core_site(tmp_path, "kerberos"))}, klist=None)
    assert raised.value.exit_code == EXIT_BAD_INPUT


def test_a_keytab_in_the_conf_dir_is_refused(tmp_path):
    """spark-submit ships every file of HADOOP_CONF_DIR to every container."""
    conf = core_site(tmp_path, "kerberos")
    (conf / "me.keytab").write_bytes(b"\x05\x02")
    with pytest.raises(KerberosLoginError, match="ships to every container"):
        check(["--principal", "me@R", "--keytab", str(conf / "me.keytab")], {"YARN_CONF_DIR": str(conf)}, klist=None)


def test_a_readable_keytab_elsewhere_is_enough(tmp_path):
    (tmp_path / "conf").mkdir()
    conf = core_site(tmp_path / "conf", "kerberos")
    (tmp_path / "me.keytab").write_bytes(b"\x05\x02")
    check(["--principal", "me@R", "--keytab", str(tmp_path / "me.keytab")], {"HADOOP_CONF_DIR": str(conf)}, klist=None)


def test_without_klist_the_line_says_what_to_install(tmp_path):
    with pytest.raises(KerberosLoginError, match="klist is missing \\(install krb5-user\\)"):
        check([], {"HADOOP_CONF_DIR": str(core_site(tmp_path, "kerberos"))}, klist=None)


@pytest.mark.parametrize("line", ["spark.kerberos.keytab /k", "spark.kerberos.keytab=/k", "spark.yarn.keytab : /k"])
def test_a_keytab_from_spark_defaults_counts_as_given(tmp_path, line):
    """A scheduled run keeps its principal and keytab in spark-defaults.conf, as spark-submit reads them."""
    (tmp_path / "spark-defaults.conf").write_text(f"# login\nspark.kerberos.principal me@R\n{line}\n")
    assert login_options(["--master", "yarn"], {"SPARK_CONF_DIR": str(tmp_path)}) == ("me@R", "/k")
    assert login_options(["--properties-file", str(tmp_path / "spark-defaults.conf")]) == ("me@R", "/k")
    assert login_options(["--keytab", "/mine"], {"SPARK_CONF_DIR": str(tmp_path)}) == ("me@R", "/mine")


def test_a_klist_that_hangs_is_one_line(tmp_path, monkeypatch):
    klist = tmp_path / "klist"
    klist.write_text("#!/bin/sh\nexec sleep 60\n")
    klist.chmod(0o755)
    real_run = subprocess.run
    # The check's 30 s cut to 0.5 s: the command itself does hang.
    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: real_run(*args, **{**kwargs, "timeout": 0.5}))
    with pytest.raises(KerberosLoginError, match="klist did not answer"):
        check([], {"HADOOP_CONF_DIR": str(core_site(tmp_path, "kerberos"))}, klist=str(klist))
