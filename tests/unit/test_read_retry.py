"""Which read failures mean a swap moved the items away under the read (read again), and which not."""

import pytest

from mediaextract.dataset import _vanished


class IllegalArgumentException(Exception):
    """Stands for pyspark's captured exception of that name (only the type's name is looked at)."""


@pytest.mark.parametrize("error, vanished", [
    (Exception("java.io.FileNotFoundException: File file:/x/items/list=a/part-0.parquet does not exist"), True),
    (Exception("[PATH_NOT_FOUND] Path does not exist: file:/x/items."), True),
    (IllegalArgumentException(), True),                     # Spark's listing, the directory gone mid-way
    (IllegalArgumentException("Wrong FS: hdfs://x"), False),  # a real mistake, with its message
    (ValueError(""), False),
    (Exception("AnalysisException: column thumbnail_status not found"), False),
])
def test_only_a_vanished_file_is_read_again(error, vanished):
    assert _vanished(error) is vanished
