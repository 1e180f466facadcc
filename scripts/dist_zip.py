"""Build dist/mediaextract.zip, the package shipped to executors (spark-submit --py-files).

The zip holds what executors import and nothing else: the modules of lib/mediaextract and its
sub-packages (directories with an __init__.py), plus the package data the code reads with
pkgutil.get_data (DATA, the same list as setup.py's package_data). Anything else that lands in
lib/mediaextract (SQL, notes, caches, tests) stays out; the development sandbox lives in
dev/mediaextract_sandbox and is never looked at. tests/unit/test_dist_zip.py asserts the list.

The zip is reproducible (sorted entries, fixed timestamps and modes), so the same sources give
the same bytes: it is rewritten only when its content changed, atomically.

    python scripts/dist_zip.py [--lib lib] [--output dist/mediaextract.zip] [--list]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "mediaextract"
# Package data read at run time (config.py: pkgutil.get_data("mediaextract", "defaults.yaml")).
DATA = ("defaults.yaml",)
REPO = Path(__file__).resolve().parent.parent
EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry


def members(lib: Path) -> list[str]:
    """Return the zip's entries (paths relative to lib, '/'-separated), sorted."""
    root = lib / PACKAGE
    if not (root / "__init__.py").is_file():
        raise FileNotFoundError(f"no package at {root}")
    found = [f"{PACKAGE}/{name}" for name in DATA if (root / name).is_file()]
    for directory, subdirs, files in os.walk(root):
        here = Path(directory)
        # Only packages are importable from the zip: skip caches and plain directories (and
        # everything below them).
        subdirs[:] = [d for d in subdirs if (here / d / "__init__.py").is_file()]
        found += [(here / f).relative_to(lib).as_posix() for f in files if f.endswith(".py")]
    return sorted(found)


def render(lib: Path) -> bytes:
    """Return the bytes of the zip built from lib."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in members(lib):
            entry = zipfile.ZipInfo(name, date_time=EPOCH)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, (lib / name).read_bytes())
    return buffer.getvalue()


def build(lib: Path, output: Path) -> bool:
    """Write the zip to output when its content differs from what is there; True if written."""
    data = render(lib)
    if output.is_file() and output.read_bytes() == data:
        return False
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, output)  # a concurrent spark-submit sees the old zip or the new, whole
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/dist_zip.py", description=__doc__.splitlines()[0])
    parser.add_argument("--lib", type=Path, default=REPO / "lib", help="directory holding the package")
    parser.add_argument("--output", type=Path, default=REPO / "dist" / f"{PACKAGE}.zip")
    parser.add_argument("--list", action="store_true", help="print the entries instead of building")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(members(args.lib)))
    elif build(args.lib, args.output):
        print(f"dist: built {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
