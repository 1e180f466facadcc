#!/usr/bin/env bash
# Install what mediaextract needs, only what is missing (a second run installs nothing).
# Debian packages: a JRE when java is absent, mariadb-server, libmariadb-java (the JDBC jar),
# memcached (Swift's token cache), maven and a JDK (the tests' HDFS + YARN minicluster, built by
# scripts/hadoop_jars.sh), krb5-user (kinit, klist). Python: a .venv with the pinned requirements and the package.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
[ -f /usr/share/java/mariadb-java-client.jar ] || missing+=(libmariadb-java)
command -v memcached >/dev/null 2>&1 || [ -x /usr/bin/memcached ] || missing+=(memcached)
# Debian's Chromium: the browser test opens report.html in it, headless.
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
# The minicluster of tests/cluster (dev/hadoop): Maven fetches its jars, javac builds its launcher.
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v javac >/dev/null 2>&1 || missing+=(default-jdk-headless)
# MIT Kerberos' kinit and klist: spark-submit.sh's ticket check, and the secure minicluster's tests
# (a Linux JDK has no kinit of its own).
command -v klist >/dev/null 2>&1 || missing+=(krb5-user)
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts nothing here (no systemd); the sandbox runs private instances anyway.
fi

# The HDFS + YARN minicluster's jars and launcher in .cache/hadoop (skipped when up to date), beside
# the Python install below: Maven (a JVM, and downloads) and pip each keep about one core busy.
# Only tests/cluster needs them: without Maven Central everything else still installs and runs.
jars_log=$(mktemp)
scripts/hadoop_jars.sh >"$jars_log" 2>&1 &
jars_pid=$!
# A failed pip install (set -e) or a Ctrl-C leaves no Maven behind (mvn is the script's child).
trap 'pkill -P "$jars_pid" 2>/dev/null; kill "$jars_pid" 2>/dev/null; rm -f "$jars_log"' EXIT

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  echo "bootstrap: installing Python requirements into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
  rm -f .venv/.installed-*
  touch "$stamp"
fi
# The package and the jobs are importable from the venv (driver and local executors) without
# an install step to forget after editing: a .pth file points at the work tree. dev/ holds the
# development-only sandbox package (mediaextract_sandbox), kept out of lib/ so it never ships.
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
printf '%s\n%s\n%s\n' "$PWD/lib" "$PWD" "$PWD/dev" > "$site/mediaextract-worktree.pth"

wait "$jars_pid" && jars_status=0 || jars_status=$?
trap - EXIT
cat "$jars_log"
rm -f "$jars_log"
[ "$jars_status" -eq 0 ] || echo "bootstrap: warning: the minicluster is not installed (see above): tests/cluster will fail" >&2
