#!/usr/bin/env bash
# Build what spark-submit ships to a cluster, only when its inputs changed:
#   dist/mediaextract.zip        the package (--py-files)
#   dist/environment.tar.gz      a packed venv with requirements-executor.txt (--archives)
# venv-pack keeps a link to the interpreter: cluster nodes need the same Python at the same path
# (as on WMF's analytics clusters, where the nodes share the client's Debian Python).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p dist
zip_stamp=$(find lib/mediaextract -type f \( -name '*.py' -o -name '*.yaml' -o -name '*.sql' \) -newer dist/mediaextract.zip 2>/dev/null | head -1 || true)
if [ ! -f dist/mediaextract.zip ] || [ -n "$zip_stamp" ]; then
  rm -f dist/mediaextract.zip
  (cd lib && ../.venv/bin/python - <<'PY'
import zipfile, pathlib
with zipfile.ZipFile("../dist/mediaextract.zip", "w", zipfile.ZIP_DEFLATED) as archive:
    for path in sorted(pathlib.Path("mediaextract").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            archive.write(path)
PY
  )
  echo "dist: built dist/mediaextract.zip"
fi
env_stamp="dist/.environment-$(sha1sum requirements-executor.txt | cut -c1-12)"
if [ ! -f dist/environment.tar.gz ] || [ ! -f "$env_stamp" ]; then
  rm -rf dist/executor-venv dist/environment.tar.gz dist/.environment-*
  python3 -m venv dist/executor-venv
  dist/executor-venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-executor.txt
  .venv/bin/venv-pack --prefix dist/executor-venv --output dist/environment.tar.gz --quiet
  touch "$env_stamp"
  echo "dist: built dist/environment.tar.gz"
fi
