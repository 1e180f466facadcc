"""Deterministic per-list sampling for analysts who size a request before fetching (no Spark).

Each name gets a rank from a seeded hash of (seed, list, name); a sample is the names with the
smallest ranks: the N smallest for a count, those below the fraction for a share. The rank of a
name never depends on the other names, on the order of the list or on how Spark partitions it,
so the same input and seed give the same sample anywhere, and a list that grows keeps its
earlier picks (for a share exactly; for a count, every new pick displaces a larger rank).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Iterable

from . import statuses
from .errors import BadInput
from .rows import ListRow

ALL_LISTS = "*"


@dataclass(frozen=True)
class SampleSpec:
    """Keep `count` names or a `fraction` of them from one list (or every list: "*")."""

    list: str
    count: int | None = None
    fraction: float | None = None

    @classmethod
    def parse(cls, text: str) -> "SampleSpec":
        """Return a spec from "LIST=N", "LIST=0.05", "N" or "0.05" (the last two: every list)."""
        name, sep, amount = text.rpartition("=")
        name = name if sep else ALL_LISTS
        try:
            value = float(amount)
        except ValueError:
            raise BadInput(f"--sample wants LIST=N or LIST=FRACTION, not {text!r}") from None
        if value <= 0:
            raise BadInput(f"--sample {text!r}: the amount must be above 0")
        if value < 1 or ("." in amount and value == 1):
            return cls(list=name, fraction=value)
        if not value.is_integer():
            raise BadInput(f"--sample {text!r}: a count must be a whole number, a share below 1")
        return cls(list=name, count=int(value))

    def describe(self, seed: int) -> str:
        amount = f"{self.count} names" if self.count is not None else f"{self.fraction:g} of the names"
        return f"not in the sample ({amount}, seed {seed})"


def check_lists(specs: Iterable[SampleSpec], known: Iterable[str]) -> None:
    """Raise BadInput (exit 2, before any work) when a spec names a list that is not given: a
    typo would otherwise sample nothing and say nothing."""
    known = sorted(set(known))
    unknown = sorted({s.list for s in specs if s.list != ALL_LISTS and s.list not in known})
    if unknown:
        raise BadInput(f"--sample names {'a list' if len(unknown) == 1 else 'lists'} with no names given: "
                       f"{', '.join(unknown)} (lists: {', '.join(known) or 'none'})")


def rank(seed: int, list_name: str, name: str) -> int:
    """Return the 64-bit sampling rank of a name in a list (smaller ranks are picked first)."""
    digest = hashlib.blake2b(f"{seed}\0{list_name}\0{name}".encode("utf-8", "surrogatepass"), digest_size=8)
    return int.from_bytes(digest.digest(), "big")


def signed_rank(seed: int, list_name: str, name: str) -> int:
    """Return rank() shifted into a signed 64-bit integer (Spark's bigint), same order."""
    return rank(seed, list_name, name) - 2 ** 63


def signed_bound(fraction: float) -> int | None:
    """Return the signed bound below which a signed rank is in a share's sample (the same test as
    rank < fraction * 2**64, exactly: a rank is an integer, so below the float is below its
    ceiling), or None when every rank is."""
    bound = math.ceil(fraction * 2 ** 64)
    return None if bound >= 2 ** 64 else bound - 2 ** 63


def spec_for(specs: Iterable[SampleSpec], list_name: str) -> SampleSpec | None:
    """Return the spec that applies to a list: its own, else the "*" one, else None."""
    specs = list(specs)
    own = [s for s in specs if s.list == list_name]
    return own[-1] if own else next((s for s in reversed(specs) if s.list == ALL_LISTS), None)


def apply_sample(rows: list[ListRow], specs: Iterable[SampleSpec], seed: int) -> list[ListRow]:
    """Return list rows with names outside their list's sample marked sampled_out.

    Only rows still in play (no status yet) are candidates; invalid and duplicate rows keep theirs.
    """
    specs = list(specs)
    if not specs:
        return rows
    chosen: set[tuple[str, int]] = set()
    by_list: dict[str, list[tuple[int, int]]] = {}
    for row in rows:
        if row.in_play:
            by_list.setdefault(row.list, []).append((rank(seed, row.list, row.name), row.line))
    for list_name, ranked in by_list.items():
        spec = spec_for(specs, list_name)
        if spec is None:
            chosen.update((list_name, line) for _, line in ranked)
        elif spec.fraction is not None:
            limit = spec.fraction * 2 ** 64
            chosen.update((list_name, line) for r, line in ranked if r < limit)
        else:
            chosen.update((list_name, line) for _, line in sorted(ranked)[:spec.count])
    return [row.decided(statuses.SAMPLED_OUT, spec_for(specs, row.list).describe(seed))
            if row.in_play and (row.list, row.line) not in chosen else row
            for row in rows]
