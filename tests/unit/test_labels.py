"""What labels.py asks the catalog, and how the keys are cut into batches (catalog_client)."""

from __future__ import annotations

import pytest

from mediaextract import catalog_client, labels
from mediaextract.config import load_settings
from mediaextract.errors import CatalogUnreachable


def test_keys_are_cut_in_order_into_batches_of_at_most_the_size():
    assert list(catalog_client.batched([3, 1, 2, 3, 5], 2)) == [[3, 1], [2, 3], [5]]
    assert list(catalog_client.batched([], 2)) == []
    # Streamed: a partition's keys are read a batch at a time, never all at once.
    taken = []

    def keys():
        for key in range(10):
            taken.append(key)
            yield key

    first = next(catalog_client.batched(keys(), 4))
    assert first == [0, 1, 2, 3] and taken == [0, 1, 2, 3]


def test_live_names_are_asked_of_each_presets_live_files_by_sha1():
    image = labels.live_names_query(load_settings(None, ["catalog.tables=image"]))
    assert image == "SELECT img_name, img_sha1 FROM image WHERE img_sha1 IN ({keys})"
    migrated = labels.live_names_query(load_settings(None, ["catalog.tables=file"]))
    # The migrated schema's live files are a derived table: its latest revisions of undeleted files.
    assert migrated.startswith("SELECT file_name, fr_sha1 FROM (SELECT ")
    assert "f.file_deleted = 0 AND r.fr_id = f.file_latest" in migrated
    assert migrated.endswith(" live_files WHERE fr_sha1 IN ({keys})")


def test_a_login_never_shows_its_password():
    login = catalog_client.Login("db", 3306, "wiki", "reader", "s3cret-pw", 5)
    assert "s3cret-pw" not in repr(login) and "s3cret-pw" not in str(login)
    assert "reader" in repr(login)


def test_catalog_text_is_decoded_from_bytes_as_utf8():
    assert catalog_client.text("é".encode()) == "é"
    assert catalog_client.text(bytearray(b"a\nb")) == "a\nb"
    assert catalog_client.text(b"\xff") == "\ufffd"  # not UTF-8: replaced, never a failed task
    assert catalog_client.text(None) is None and catalog_client.text("x") == "x"


def test_a_tasks_catalog_error_is_found_in_the_error_the_driver_gets():
    spark_said = ("An error occurred while calling o812.parquet.\n: org.apache.spark.SparkException: Job aborted\n"
                  "Caused by: org.apache.spark.api.python.PythonException: Traceback (most recent call last):\n"
                  '  File "labels.py", line 41, in comment_texts\n'
                  "mediaextract.errors.CatalogUnreachable: catalog 10.0.0.1:3306/wiki unreachable: refused\r\n"
                  "\tat org.apache.spark.api.python.BasePythonRunner.handlePythonException")
    found = catalog_client.unreachable_in(RuntimeError(spark_said))
    assert isinstance(found, CatalogUnreachable) and str(found) == "catalog 10.0.0.1:3306/wiki unreachable: refused"
    assert catalog_client.unreachable_in(RuntimeError("ValueError: catalog")) is None
    with pytest.raises(CatalogUnreachable, match="^catalog 10.0.0.1:3306/wiki unreachable: refused$"):
        with catalog_client.tasks_reaching_the_catalog():
            raise RuntimeError(spark_said)
    with pytest.raises(ZeroDivisionError):  # anything else goes on as it was
        with catalog_client.tasks_reaching_the_catalog():
            1 / 0
