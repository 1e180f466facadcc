"""The SQL conditions labels.py pushes down to the catalog: keys of two kinds only."""

from __future__ import annotations

import pytest

from mediaextract import labels


def test_in_predicates_take_ids_and_base36_sha1s_only():
    assert labels.in_predicates("comment_id", [5, 3, 3, 9, 1], 2) == ["comment_id IN (1, 3)", "comment_id IN (5, 9)"]
    assert labels.in_predicates("img_sha1", ["b0", "a1"], 5) == ["img_sha1 IN ('a1', 'b0')"]
    assert labels.in_predicates("comment_id", [], 3) == []
    for bad in ("x' OR '1'='1", "ABC", True, 1.5, None):
        with pytest.raises(ValueError):
            labels.in_predicates("c", [bad], 3)


def test_batches_are_sorted_distinct_and_at_most_the_size():
    assert labels.batches([3, 1, 2, 3, 5], 2) == [[1, 2], [3, 5]]
    assert labels.batches([], 2) == []
