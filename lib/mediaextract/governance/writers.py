"""How a writer makes a copy: under a configured root, registered before its first byte, while
holding the root shared (no Spark: file operations go through the fs object handed in)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from .. import locks
from . import inventory as inv


@contextmanager
def writing(fs, settings, kind: str, path: str, job: str, *, dataset: str | None = None,
            extra: dict | None = None) -> Iterator[inv.Copy]:
    """Hold the root of path (and of the data set it is made from) shared, register path as
    being written, yield its entry, and mark it complete when the block ends without an error.

    A copy made from a data set is registered in the data set's root: a purge of that root then
    reaches it wherever it is, even when run without the copy's own root configured. A path
    outside every configured root is refused (BadInput, exit 2) before anything is written.
    """
    own = inv.root_of(fs, settings, path, kind)
    registry = inv.Registry(fs, inv.root_of(fs, settings, dataset, "data set") if dataset else own)
    roots = {own, registry.root}
    with locks.shared_all(fs, [f"{root}/{inv.LOCKS}" for root in sorted(roots)], job, **locks.options(settings)):
        copy = registry.register(kind, path, dataset=dataset, job=job, extra=extra)
        yield copy
        registry.complete(copy)
