"""Pillow's own test images (real edge cases: broken files, bombs, odd modes), from its sdist.

The sdist is fetched once with pip into `<repo>/.cache/pillow-sdist/` (gitignored) and reused.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import PIL

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "pillow-sdist"
# The Pillow we test against: its own test images exercise its own decoders.
PILLOW_VERSION = PIL.__version__


class CorpusUnavailable(RuntimeError):
    """The sdist could not be fetched (no network to PyPI?)."""


def sdist_path(cache: Path = CACHE, version: str = PILLOW_VERSION) -> Path:
    """Gives the path of Pillow's sdist, downloading it with pip only when it is not cached."""
    for candidate in sorted(cache.glob(f"pillow-{version}.tar.gz")):
        return candidate
    cache.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
        "--disable-pip-version-check", f"pillow=={version}", "-d", str(cache),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    found = sorted(cache.glob(f"pillow-{version}.tar.gz"))
    if done.returncode != 0 or not found:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise CorpusUnavailable(
            f"could not download Pillow {version}'s sdist from PyPI (`{' '.join(command)}` "
            f"exited {done.returncode}): {tail}"
        )
    return found[0]


def images(cache: Path = CACHE, version: str = PILLOW_VERSION) -> Path:
    """Gives the folder holding the sdist's Tests/images/, extracting it once."""
    archive = sdist_path(cache, version)
    target = cache / f"pillow-{version}-images"
    marker = target / ".complete"
    if not marker.exists():
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers()
                       if m.isfile() and "/Tests/images/" in m.name]
            tar.extractall(target, members=members, filter="data")
        marker.touch()
    (root,) = target.glob("*/Tests/images")
    return root


def image_files(root: Path) -> list[Path]:
    """Gives every file under root (subfolders included), sorted."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != ".complete")
