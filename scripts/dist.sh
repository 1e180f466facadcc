#!/usr/bin/env bash
# Build what spark-submit ships to a cluster, only when its inputs changed:
#   dist/mediaextract.zip        the package (--py-files): its modules and defaults.yaml only
#   dist/environment.tar.gz      a packed venv with requirements-executor.txt (--archives)
# venv-pack keeps a link to the interpreter: cluster nodes need the same Python at the same path
# (as on WMF's analytics clusters, where the nodes share the client's Debian Python).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p dist
# Two spark-submit.sh at once (two scheduled jobs, the suite's two workers) build one after the
# other: the second finds the first's environment and builds nothing. Held until this script exits.
exec 9>dist/.lock
flock 9
# Only the package's modules and defaults.yaml (never the dev/ sandbox, SQL or tests); rewritten
# only when its content changed (the zip is reproducible, so removed files count as a change too).
.venv/bin/python scripts/dist_zip.py --lib lib --output dist/mediaextract.zip
env_stamp="dist/.environment-$(sha1sum requirements-executor.txt | cut -c1-12)"
if [ ! -f dist/environment.tar.gz ] || [ ! -f "$env_stamp" ]; then
  rm -rf dist/executor-venv dist/environment.tar.gz dist/.environment-*
  python3 -m venv dist/executor-venv
  dist/executor-venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-executor.txt
  .venv/bin/venv-pack --prefix dist/executor-venv --output dist/environment.tar.gz --quiet
  touch "$env_stamp"
  echo "dist: built dist/environment.tar.gz"
fi
