"""dist/mediaextract.zip (spark-submit --py-files) ships what executors import, and only that.

Building it is cheap (no Spark, no network): the tests build it into tmp_path with the same
script scripts/dist.sh runs. A module added to or removed from lib/mediaextract changes the
zip: update SHIPPED in the same change, deliberately.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "dist_zip.py"

SHIPPED = [
    "mediaextract/__init__.py",
    "mediaextract/audit.py",
    "mediaextract/catalog.py",
    "mediaextract/catalog_client.py",
    "mediaextract/cli.py",
    "mediaextract/config.py",
    "mediaextract/console.py",
    "mediaextract/dataset.py",
    "mediaextract/dataset_files.py",
    "mediaextract/defaults.yaml",
    "mediaextract/digest.py",
    "mediaextract/djvu.py",
    "mediaextract/errors.py",
    "mediaextract/export.py",
    "mediaextract/extract.py",
    "mediaextract/faults.py",
    "mediaextract/fetch.py",
    "mediaextract/governance/__init__.py",
    "mediaextract/governance/access.py",
    "mediaextract/governance/expire.py",
    "mediaextract/governance/inventory.py",
    "mediaextract/governance/matching.py",
    "mediaextract/governance/purge.py",
    "mediaextract/governance/reconcile.py",
    "mediaextract/governance/rules.py",
    "mediaextract/governance/writers.py",
    "mediaextract/hadoopfs.py",
    "mediaextract/json_output.py",
    "mediaextract/kerberos.py",
    "mediaextract/labels.py", "mediaextract/layout.py",
    "mediaextract/limits.py",
    "mediaextract/list_reader.py",
    "mediaextract/lists.py",
    "mediaextract/locks.py",
    "mediaextract/manifest.py",
    "mediaextract/names.py",
    "mediaextract/pipeline.py",
    "mediaextract/png_vips.py",
    "mediaextract/preflight.py",
    "mediaextract/render_guard.py",
    "mediaextract/report.py",
    "mediaextract/report_html.py",
    "mediaextract/retry.py",
    "mediaextract/rows.py",
    "mediaextract/safe_names.py",
    "mediaextract/sampling.py",
    "mediaextract/schedule.py",
    "mediaextract/session.py",
    "mediaextract/status.py",
    "mediaextract/statuses.py",
    "mediaextract/storage.py",
    "mediaextract/submit_check.py",
    "mediaextract/submit_options.py",
    "mediaextract/thumbs.py",
    "mediaextract/usage.py",
]


def dist_zip():
    """The build script as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("dist_zip", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(tmp_path: Path) -> Path:
    output = tmp_path / "dist" / "mediaextract.zip"
    done = subprocess.run([sys.executable, str(SCRIPT), "--lib", str(REPO / "lib"), "--output", str(output)],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"dist: built {output}\n"
    return output


def test_the_zip_holds_exactly_the_package_modules_and_its_defaults(tmp_path):
    with zipfile.ZipFile(build(tmp_path)) as archive:
        names = archive.namelist()
        assert archive.testzip() is None
        assert archive.read("mediaextract/defaults.yaml") == (REPO / "lib/mediaextract/defaults.yaml").read_bytes()
    assert names == SHIPPED
    assert not [n for n in names if "sandbox" in n or n.endswith(".sql") or "test" in n]


def test_only_modules_of_packages_and_declared_data_are_picked(tmp_path):
    lib = tmp_path / "lib"
    files = ["mediaextract/__init__.py", "mediaextract/a.py", "mediaextract/defaults.yaml",
             "mediaextract/schema.sql", "mediaextract/notes.md", "mediaextract/other.yaml",
             "mediaextract/__pycache__/a.cpython-311.pyc", "mediaextract/__pycache__/b.py",
             "mediaextract/sub/__init__.py", "mediaextract/sub/b.py", "mediaextract/sub/seed.sql",
             "mediaextract/sub/deeper/__init__.py", "mediaextract/sub/deeper/c.py",
             "mediaextract/plain/d.py", "mediaextract/plain/inner/__init__.py", "elsewhere.py"]
    for name in files:
        (lib / name).parent.mkdir(parents=True, exist_ok=True)
        (lib / name).write_text("")
    assert dist_zip().members(lib) == [
        "mediaextract/__init__.py", "mediaextract/a.py", "mediaextract/defaults.yaml",
        "mediaextract/sub/__init__.py", "mediaextract/sub/b.py",
        "mediaextract/sub/deeper/__init__.py", "mediaextract/sub/deeper/c.py"]


def test_the_zip_is_rewritten_only_when_its_content_changed(tmp_path):
    module = dist_zip()
    lib = tmp_path / "lib"
    (lib / "mediaextract").mkdir(parents=True)
    for name in ("__init__.py", "a.py", "b.py", "defaults.yaml"):
        (lib / "mediaextract" / name).write_text(f"# {name}\n")
    output = tmp_path / "m.zip"
    assert module.build(lib, output) is True
    first = output.read_bytes()
    os.utime(lib / "mediaextract" / "a.py", (1, 1))  # a touched file is not a change
    assert module.build(lib, output) is False and output.read_bytes() == first
    assert module.render(lib) == first, "reproducible: same sources, same bytes"
    (lib / "mediaextract" / "b.py").unlink()  # a removed module is a change
    assert module.build(lib, output) is True
    assert zipfile.ZipFile(output).namelist() == ["mediaextract/__init__.py", "mediaextract/a.py",
                                                  "mediaextract/defaults.yaml"]
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["m.zip"], "no temporary file left"


IMPORT_ALL = r"""
import importlib, json, pkgutil, sys
zip_path, hidden, modules = sys.argv[1], set(sys.argv[2:5]), json.loads(sys.argv[5])
sys.path[:] = [zip_path] + [p for p in sys.path if p not in hidden and p not in ("", ".")]
files = {name: importlib.import_module(name).__file__ for name in modules}
outside = {n: f for n, f in files.items() if not f.startswith(zip_path + "/")}
assert not outside, outside
assert b"fetch:" in pkgutil.get_data("mediaextract", "defaults.yaml")
try:
    import mediaextract_sandbox
except ModuleNotFoundError:
    pass
else:
    raise AssertionError("the sandbox is importable without the work tree")
print("ok", len(files))
"""


def test_every_shipped_module_imports_from_the_zip_alone(tmp_path):
    """The zip is enough: no module reaches for the work tree (the dev/ sandbox, tests, jobs)."""
    output = build(tmp_path)
    modules = [n[:-len(".py")].replace("/", ".").removesuffix(".__init__") for n in SHIPPED if n.endswith(".py")]
    hidden = [str(REPO / "lib"), str(REPO), str(REPO / "dev")]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", IMPORT_ALL, str(output), *hidden, json.dumps(modules)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["ok", str(len(modules))]


DRAW_FROM_ZIP = r"""
import io, sys
zip_path, hidden = sys.argv[1], set(sys.argv[2:5])
sys.path[:] = [zip_path] + [p for p in sys.path if p not in hidden and p not in ("", ".")]
from PIL import Image
from mediaextract import render_guard
from mediaextract.thumbs import ThumbnailSettings
out = io.BytesIO(); Image.new("RGB", (800, 600)).save(out, "PNG")
made = render_guard.drawer().draw(ThumbnailSettings(), out.getvalue(), "image/png")
print(made.reason, made.width, made.height)
"""


def test_the_drawing_child_starts_from_the_zip_alone(tmp_path):
    """Executors have the package only as the zip on sys.path: the child runs from it too."""
    output = build(tmp_path)
    hidden = [str(REPO / "lib"), str(REPO), str(REPO / "dev")]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", DRAW_FROM_ZIP, str(output), *hidden],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["None", "500", "375"]
