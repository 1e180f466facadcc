"""The default data set name: stable for a re-run, and never the same for controls and deleted files."""

from types import SimpleNamespace

import pytest

from mediaextract.cli import extraction_name


@pytest.mark.parametrize("lists, files, name", [
    (["lists/covers.txt"], None, "covers"),
    (["lists/covers.txt"], "deleted", "covers"),
    (["lists/covers.txt"], "live", "covers-live"),
    (["b=x.csv", "lists/a.txt"], "old", "a+b-old"),
    ([], None, "deleted"),
    ([], "live", "live"),
])
def test_the_default_name_says_which_files(lists, files, name):
    assert extraction_name(SimpleNamespace(name=None, lists=lists, files=files)) == name


def test_a_given_name_wins():
    assert extraction_name(SimpleNamespace(name="mine", lists=["a.txt"], files="live")) == "mine"
