import pytest

from mediaextract.errors import BadInput
from mediaextract.rows import ListRow
from mediaextract.sampling import SampleSpec, apply_sample, check_lists, rank


def rows(names, list_name="books"):
    return [ListRow(list_name, i + 1, n, n) for i, n in enumerate(names)]


def kept(result):
    return {r.name for r in result if r.in_play}


NAMES = [f"File_{i}.jpg" for i in range(400)]


def test_spec_parsing():
    assert SampleSpec.parse("books=10") == SampleSpec("books", count=10)
    assert SampleSpec.parse("books=0.05") == SampleSpec("books", fraction=0.05)
    assert SampleSpec.parse("25") == SampleSpec("*", count=25)
    for bad in ("books=x", "books=0", "books=2.5", "books=-1"):
        with pytest.raises(BadInput):
            SampleSpec.parse(bad)


def test_count_keeps_exactly_n_and_marks_the_rest_sampled_out():
    result = apply_sample(rows(NAMES), [SampleSpec("books", count=25)], seed=7)
    assert len(kept(result)) == 25
    out = [r for r in result if r.status == "sampled_out"]
    assert len(out) == 375 and out[0].reason == "not in the sample (25 names, seed 7)"
    assert all(type(r) is ListRow for r in result)


def test_same_sample_whatever_the_order_of_the_list():
    forward = kept(apply_sample(rows(NAMES), [SampleSpec("books", count=30)], seed=1))
    backward = kept(apply_sample(rows(NAMES[::-1]), [SampleSpec("books", count=30)], seed=1))
    assert forward == backward


def test_seed_changes_the_sample():
    spec = [SampleSpec("books", count=30)]
    assert kept(apply_sample(rows(NAMES), spec, seed=1)) != kept(apply_sample(rows(NAMES), spec, seed=2))


def test_growing_a_list_keeps_earlier_picks_for_a_share():
    spec = [SampleSpec("books", fraction=0.1)]
    before = kept(apply_sample(rows(NAMES[:200]), spec, seed=3))
    after = kept(apply_sample(rows(NAMES), spec, seed=3))
    assert before and before <= after


def test_growing_a_list_never_adds_an_old_name_to_a_count_sample():
    spec = [SampleSpec("books", count=20)]
    before = kept(apply_sample(rows(NAMES[:200]), spec, seed=3))
    after = kept(apply_sample(rows(NAMES), spec, seed=3))
    assert (after & set(NAMES[:200])) <= before


def test_rows_with_a_status_are_not_candidates_and_keep_it():
    data = rows(NAMES[:10]) + [ListRow("books", 99, "Category:X", None, "invalid_name", "not a file")]
    result = apply_sample(data, [SampleSpec("*", count=3)], seed=0)
    assert result[-1] == data[-1]
    assert len(kept(result)) == 3


def test_other_lists_untouched_without_a_star_spec():
    data = rows(NAMES[:10], "books") + rows(NAMES[:10], "logos")
    result = apply_sample(data, [SampleSpec("books", count=2)], seed=0)
    assert sum(1 for r in result if r.list == "logos" and r.in_play) == 10


def test_rank_is_stable_across_processes():
    assert rank(0, "books", "File_1.jpg") == rank(0, "books", "File_1.jpg")
    assert rank(0, "books", "File_1.jpg") != rank(0, "logos", "File_1.jpg")


def test_a_sample_of_a_list_not_given_is_refused_naming_the_lists():
    with pytest.raises(BadInput, match=r"with no names given: nosuchlist \(lists: books, covers\)$"):
        check_lists([SampleSpec.parse("covers=5"), SampleSpec.parse("nosuchlist=5")], ["covers", "books"])


def test_a_sample_of_given_lists_or_of_every_list_passes():
    check_lists([SampleSpec.parse("covers=5"), SampleSpec.parse("0.5")], ["covers"])
