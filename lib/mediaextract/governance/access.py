"""check-access: find what, under a root, someone beyond its owner (and group, if allowed) can read."""

from __future__ import annotations

from typing import Callable

from pyspark.sql import SparkSession

from ..errors import BadInput
from ..hadoopfs import HadoopFS
from .rules import access_problem


def check_access(spark: SparkSession, settings, root: str | None = None,
                 out: Callable[[str], None] = print) -> list[tuple[str, int, str]]:
    """Return (path, mode, problem) of every entry under root that someone beyond its owner can read."""
    fs = HadoopFS(spark)
    root = root or settings["output.root"]
    if not fs.exists(root):
        raise BadInput(f"root {root} does not exist")
    root = fs.qualify(root).rstrip("/")
    group_readable = bool(settings["output.group_readable"])
    found = []
    for entry in [fs.info(root), *fs.walk_all(root)]:
        problem = access_problem(entry.mode, group_readable, entry.acl)
        if problem:
            found.append((entry.path, entry.mode, problem))
            out(f"{entry.mode:04o} {'d' if entry.is_dir else 'f'} {entry.path}  ({problem})")
    allowed = "owner and group (read)" if group_readable else "owner"
    if found:
        out(f"check-access: {len(found)} entr{'ies' if len(found) != 1 else 'y'} under {root} "
            f"can be read beyond the {allowed}")
    else:
        out(f"check-access: nothing under {root} can be read beyond the {allowed}")
    return found
