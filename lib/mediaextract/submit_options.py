"""What spark-submit will be told: the Spark settings of its command line and of the properties
files it reads, parsed once for the checks spark-submit.sh runs before any JVM (submit_check.py:
refuse_speculation here, kerberos.py).

spark-submit takes a setting from `--conf K=V` (also `-c K=V`, `--conf=K=V`) first, then from the
properties file: `--properties-file F`, else spark-defaults.conf in SPARK_CONF_DIR or
SPARK_HOME/conf (a scheduled run keeps its settings there).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SpeculationRefused


def read_properties(path: Path) -> dict[str, str]:
    """Return the entries of a Java properties file as spark-submit reads it ("key value",
    "key=value" or "key: value" lines, values trimmed, the last of a key winning; # and ! start
    comments); {} when it cannot be read."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return {}
    entries = {}
    for line in lines:
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        match = re.match(r"([^=:\s]+)\s*[=:\s]\s*(.*)", line)
        if match:
            entries[match.group(1)] = match.group(2).strip()
    return entries


@dataclass(frozen=True)
class SubmitOptions:
    """The settings a spark-submit command line gives, where each came from."""

    confs: list[tuple[str, str, str]] = field(default_factory=list)  # (key, value, the setting as written)
    options: dict[str, str] = field(default_factory=dict)  # VALUED_OPTIONS given: the last of each
    properties_files: list[Path] = field(default_factory=list)  # those spark-submit reads, the first winning

    def properties(self) -> dict[str, tuple[str, Path]]:
        """Return each key of the properties files with its value and the file it comes from."""
        found: dict[str, tuple[str, Path]] = {}
        for path in self.properties_files:
            for key, value in read_properties(path).items():
                found.setdefault(key, (value, path))
        return found


VALUED_OPTIONS = ("--principal", "--keytab", "--properties-file")


def parse(spark_opts: Sequence[str], env: Mapping[str, str] | None = None) -> SubmitOptions:
    """Return the settings of spark-submit options (those before the job's name) in env."""
    confs, options = [], {}
    for i, option in enumerate(spark_opts):
        following = spark_opts[i + 1] if i + 1 < len(spark_opts) else ""
        name, equals, inline = option.partition("=")
        if name in VALUED_OPTIONS:  # --keytab K or --keytab=K
            options[name] = inline if equals else following
        elif name == "--conf" or option == "-c":  # --conf K=V, --conf=K=V, -c K=V
            setting = inline if equals else following
            key, _, value = setting.partition("=")
            confs.append((key.strip(), value.strip(), setting))
    env = {} if env is None else env
    files = [Path(options["--properties-file"])] if "--properties-file" in options else []
    conf_dir = env.get("SPARK_CONF_DIR") or (f"{env['SPARK_HOME']}/conf" if env.get("SPARK_HOME") else None)
    # Spark reads spark-defaults.conf unless --properties-file is given, and with it when asked to.
    if conf_dir and (not files or "--load-spark-defaults" in spark_opts):
        files.append(Path(conf_dir) / "spark-defaults.conf")
    return SubmitOptions(confs, options, files)


def refuse_speculation(submit: SubmitOptions) -> None:
    """Raise SpeculationRefused when the command line or the properties file turns speculation on."""
    why = "refused: speculative tasks would fetch objects twice"
    for key, value, setting in submit.confs:
        if key == "spark.speculation" and value.lower() != "false":
            raise SpeculationRefused(f"--conf {setting} {why}")
    value, path = submit.properties().get("spark.speculation", ("false", None))
    if value.lower() != "false":
        raise SpeculationRefused(f"spark.speculation={value} in {path} {why}")
