"""Before any JVM: on a Hadoop cluster that asks for Kerberos, a run needs a ticket or a keytab.

spark-submit.sh runs this check (submit_check.py) before it builds dist/ or starts spark-submit.
When the Hadoop client files (HADOOP_CONF_DIR, YARN_CONF_DIR) say
hadoop.security.authentication=kerberos, it needs either --principal with --keytab naming a
readable keytab (Spark then logs in itself) or an
unexpired ticket in the ticket cache (KRB5CCNAME, else the default), as MIT's `klist -s` finds it;
else it prints one line naming the fix and exits 2. Without the check Spark retries for minutes,
then fails with a Java trace ("Client cannot authenticate via:[TOKEN, KERBEROS]").
"""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import KerberosLoginError
from .submit_options import parse

CONF_DIR_VARIABLES = ("HADOOP_CONF_DIR", "YARN_CONF_DIR")  # those spark-submit puts on its classpath

VALID, EXPIRED, NONE = "valid", "expired", "none"


def conf_dirs(env: Mapping[str, str]) -> list[Path]:
    return [Path(env[name]) for name in CONF_DIR_VARIABLES if env.get(name)]


def asks_for_kerberos(conf_dir: Path) -> bool:
    """Return whether conf_dir's core-site.xml sets hadoop.security.authentication to kerberos."""
    try:
        root = ET.parse(conf_dir / "core-site.xml").getroot()
    except (OSError, ET.ParseError):
        return False  # no client file there: Hadoop's default, simple
    for prop in root.iter("property"):
        if (prop.findtext("name") or "").strip() == "hadoop.security.authentication":
            return (prop.findtext("value") or "").strip().lower() == "kerberos"
    return False


LOGIN_KEYS = {"spark.kerberos.principal": "principal", "spark.kerberos.keytab": "keytab",
              # The older names, which Spark still reads.
              "spark.yarn.principal": "principal", "spark.yarn.keytab": "keytab"}


def login_options(spark_opts: Sequence[str], env: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
    """Return (principal, keytab) as spark-submit will take them: --principal P, --keytab=K or
    their --conf, else from the properties file it reads (--properties-file, else
    spark-defaults.conf in SPARK_CONF_DIR or SPARK_HOME/conf: where a scheduled run keeps them)."""
    submit = parse(spark_opts, env)
    found = {LOGIN_KEYS[key]: value for key, (value, _) in submit.properties().items() if key in LOGIN_KEYS}
    found.update({LOGIN_KEYS[key]: value for key, value, _ in submit.confs if key in LOGIN_KEYS})
    found.update({option.removeprefix("--"): value for option, value in submit.options.items()
                  if option in ("--principal", "--keytab")})
    return found.get("principal"), found.get("keytab")


def ticket_state(klist: str, env: Mapping[str, str]) -> str:
    """Return VALID if the ticket cache holds an unexpired ticket, EXPIRED if it is readable but
    holds none, NONE if there is no cache to read."""
    def ok(*args: str) -> bool:
        try:
            return subprocess.run([klist, *args], env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, timeout=30).returncode == 0
        except subprocess.TimeoutExpired:  # a cache it cannot reach (KCM, a hung keyring): one line, not a trace
            raise KerberosLoginError(f"Kerberos: klist did not answer in 30 s (ticket cache "
                                     f"{env.get('KRB5CCNAME') or 'the default'}): run kinit, or pass --principal and --keytab") from None
    if ok("-s"):
        return VALID
    return EXPIRED if ok() else NONE


def check(spark_opts: Sequence[str], env: Mapping[str, str], klist: str | None) -> None:
    """Raise KerberosLoginError unless this run can log in to a cluster that asks for Kerberos."""
    kerberized = [d for d in conf_dirs(env) if asks_for_kerberos(d)]
    if not kerberized:
        return
    principal, keytab = login_options(spark_opts, env)
    if principal or keytab:
        if not (principal and keytab):
            raise KerberosLoginError("Kerberos: --principal and --keytab go together: give both, or neither and kinit")
        if not (os.path.isfile(keytab) and os.access(keytab, os.R_OK)):
            raise KerberosLoginError(f"Kerberos: --keytab {keytab} is not a readable file")
        shipped = [d for d in conf_dirs(env) if Path(keytab).resolve().is_relative_to(d.resolve())]
        if shipped:
            # Spark copies that directory's files into every container, so the key would go too.
            raise KerberosLoginError(f"Kerberos: --keytab {keytab} is inside {shipped[0]}, which spark-submit "
                                   "ships to every container: keep the keytab elsewhere")
        return
    cache = env.get("KRB5CCNAME") or "the default ticket cache"
    why = f"{kerberized[0]}/core-site.xml asks for Kerberos"
    if klist is None:
        raise KerberosLoginError(f"Kerberos: {why} and klist is missing (install krb5-user): "
                               "install it and kinit, or pass --principal and --keytab")
    state = ticket_state(klist, env)
    if state == NONE:
        raise KerberosLoginError(f"Kerberos: {why} and there is no ticket in {cache}: "
                               "run kinit first, or pass --principal and --keytab")
    if state == EXPIRED:
        raise KerberosLoginError(f"Kerberos: the ticket in {cache} has expired: "
                               "run kinit again, or pass --principal and --keytab")
