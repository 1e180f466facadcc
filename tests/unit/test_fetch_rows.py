"""The fetch worker's rows (rows.FETCHED) and its verdicts: storage errors by class, the stop column."""

from __future__ import annotations

import uuid
from dataclasses import fields
from datetime import datetime, timezone

import pytest

from mediaextract import fetch, rows, statuses, storage
from mediaextract.config import load_settings
from mediaextract.fetch import FetchPlan, Outcome, Stop, Worker, fetched_row

# The items table as data sets have it: a change here is a change of the output contract (add,
# never rename: sha1_hex came later, and a data set without it still resumes; test_sha1_hex.py;
# content_in came with blobs/).
ITEMS_CONTRACT = ("struct<list:string,line:int,requested_name:string,name:string,status:string,reason:string,"
                  "fa_id:bigint,sha1:string,sha1_hex:string,storage_key:string,size:bigint,width:int,height:int,"
                  "media_type:string,mime:string,uploaded_at:timestamp,deleted_at:timestamp,versions:int,"
                  "archive_name:string,deleted_reason:string,description:string,live_duplicate_of:string,content:binary,content_in:string,thumbnail:binary,thumbnail_status:string,"
                  "thumbnail_mime:string,"
                  "thumbnail_width:int,thumbnail_height:int,fetched_at:timestamp,attempts:int>")
NOT_NULL = ["list", "line", "status"]


def test_the_items_schema_is_the_contract():
    items = rows.schema(rows.ITEM)
    assert items.simpleString() == ITEMS_CONTRACT
    assert [f.name for f in items if not f.nullable] == NOT_NULL


# A storage key as MediaWiki writes it (31 base-36 digits and the extension): rows are located by it.
KEY = "0" * 30 + "k.jpg"


def test_the_fetched_row_is_the_item_row_its_stop_verdict_and_a_chunk_index():
    assert rows.FETCHED_COLUMNS == (*rows.ITEM_COLUMNS, "stop", "chunk")
    assert rows.schema(rows.FETCHED)["stop"].nullable and rows.schema(rows.FETCHED)["chunk"].nullable
    assert set(rows.PLAN_COLUMNS) | set(rows.FETCH_COLUMNS) == set(rows.ITEM_COLUMNS)
    assert not set(rows.PLAN_COLUMNS) & set(rows.FETCH_COLUMNS)


def test_an_outcome_holds_the_fetch_columns_but_when_and_the_stop():
    assert {f.name for f in fields(Outcome)} == (set(rows.FETCH_COLUMNS) - {"fetched_at"}) | {"stop", "spool"}


def planned(**values) -> dict:
    row = dict.fromkeys(rows.PLAN_COLUMNS)
    row.update(list="covers", line=1, requested_name="Foo.jpg", name="Foo.jpg", sha1="s" * 31,
               storage_key=KEY, size=3, mime="image/jpeg")
    row.update(values)
    return row


def test_fetched_row_puts_plan_and_outcome_values_in_the_declared_order():
    at = datetime(2026, 11, 29, tzinfo=timezone.utc)
    outcome = Outcome(statuses.OK, content=b"abc", thumbnail=b"t", thumbnail_mime="image/jpeg",
                      thumbnail_width=5, thumbnail_height=4, attempts=2)
    values = dict(zip(rows.FETCHED_COLUMNS, fetched_row(planned(), outcome, at), strict=True))
    assert values["list"] == "covers" and values["storage_key"] == KEY and values["size"] == 3
    assert (values["status"], values["reason"], values["content"], values["attempts"]) == (statuses.OK, None, b"abc", 2)
    assert (values["thumbnail_width"], values["thumbnail_height"], values["fetched_at"]) == (5, 4, at)
    assert values["stop"] is None


def test_a_stopped_row_carries_its_verdict_as_the_stop_column():
    values = dict(zip(rows.FETCHED_COLUMNS, fetched_row(planned(), Outcome.stopped(Stop.AUTH_REFUSED, 1))))
    assert (values["status"], values["reason"], values["stop"]) == \
        (statuses.FETCH_FAILED, fetch.AUTH_REFUSED, "auth_refused")
    assert Stop(values["stop"]) is Stop.AUTH_REFUSED
    assert Stop.STORAGE_DOWN.reason == fetch.STORAGE_DOWN


# --- the worker's verdict on each storage error class ---------------------------------------------

class FakeStore:
    """Raises the next error of `errors` on each fetch."""

    def __init__(self, *errors: Exception):
        self.errors = list(errors)
        self.calls = 0

    def fetch(self, storage_key, location, max_bytes, spool_bytes):
        self.calls += 1
        raise self.errors.pop(0)


def worker(tmp_path, monkeypatch, store: FakeStore, *settings: str) -> Worker:
    monkeypatch.setattr(storage, "store_for", lambda *args, **kwargs: store)
    loaded = load_settings(None, ["storage.backend=disk", f"storage.disk_root={tmp_path}", "fetch.max_attempts=1",
                                  *settings], environ={})
    plan = FetchPlan.from_settings(loaded, uuid.uuid4().hex, slots=1, threads=1, slots_dir=str(tmp_path / "slots"))
    return Worker(plan)


@pytest.mark.parametrize("error, status, stop", [
    (storage.ObjectNotFound("HTTP 404 from storage", 404), statuses.NOT_IN_STORAGE, None),
    (storage.ObjectTooLarge("too large: 9 bytes, limit 8"), statuses.TOO_LARGE, None),
    # A message that only looks like one: the class decides, not the text.
    (storage.PermanentStorageError("too large for this proxy (HTTP 400)", 400), statuses.FETCH_FAILED, None),
    (storage.RetryableStorageError("connection reset"), statuses.FETCH_FAILED, None),
    (storage.StorageAuthRefused("HTTP 403 from storage", 403), statuses.FETCH_FAILED, Stop.AUTH_REFUSED),
])
def test_each_storage_error_class_gives_its_status(tmp_path, monkeypatch, error, status, stop):
    outcome = worker(tmp_path, monkeypatch, FakeStore(error)).fetch(planned())
    assert (outcome.status, outcome.stop, outcome.attempts) == (status, stop, 1)


def test_after_an_auth_refusal_no_row_is_attempted_and_each_says_stop(tmp_path, monkeypatch):
    store = FakeStore(storage.StorageAuthRefused("HTTP 401 from storage", 401))
    fetching = worker(tmp_path, monkeypatch, store)
    first, second = fetching.fetch(planned()), fetching.fetch(planned(line=2))
    assert store.calls == 1
    assert (first.stop, second.stop, second.attempts, second.reason) == \
        (Stop.AUTH_REFUSED, Stop.AUTH_REFUSED, 0, fetch.AUTH_REFUSED)


def test_a_tripped_breaker_stops_the_next_rows_as_storage_down(tmp_path, monkeypatch):
    store = FakeStore(storage.RetryableStorageError("HTTP 503 from storage", 503))
    fetching = worker(tmp_path, monkeypatch, store, "fetch.failure_window=1", "fetch.failure_threshold=1")
    first, second = fetching.fetch(planned()), fetching.fetch(planned(line=2))
    assert (first.status, first.stop) == (statuses.FETCH_FAILED, None)
    assert (second.status, second.stop, second.reason, store.calls) == \
        (statuses.FETCH_FAILED, Stop.STORAGE_DOWN, fetch.STORAGE_DOWN, 1)


# --- large originals: chunk rows, not inline bytes (a real DiskStore under tmp_path) ------------

def stored(tmp_path, data: bytes, key: str = KEY) -> dict:
    """Put data where a DiskStore finds the deleted file of key; return its planned row."""
    from mediaextract import layout
    from mediaextract.digest import sha1_base36

    path = tmp_path / "store" / layout.disk_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return planned(sha1=sha1_base36(data), size=len(data), mime="application/octet-stream", media_type="UNKNOWN")


def partition(tmp_path, rows_in, *settings: str) -> list[dict]:
    loaded = load_settings(None, ["storage.backend=disk", f"storage.disk_root={tmp_path / 'store'}",
                                  "output.blob_bytes=5000", "output.blob_chunk_bytes=1024", *settings], environ={})
    plan = FetchPlan.from_settings(loaded, uuid.uuid4().hex, slots=1, threads=2, slots_dir=str(tmp_path / "slots"))
    return [dict(zip(rows.FETCHED_COLUMNS, values, strict=True)) for values in fetch.fetch_partition(plan, iter(rows_in))]


def test_an_original_over_blob_bytes_goes_out_in_chunk_rows_once_per_task(tmp_path):
    data = bytes(range(256)) * 40 + b"end"  # 10243 bytes: 10 chunks of 1024 and one of 3
    row = stored(tmp_path, data)
    out = partition(tmp_path, [row, {**row, "list": "books", "line": 7, "name": "Other_name.bin"}],
                    "output.content=originals")
    items = [r for r in out if r["chunk"] is None]
    chunks = [r for r in out if r["chunk"] is not None]
    assert [(r["status"], r["content"], r["content_in"]) for r in items] == [(statuses.OK, None, rows.CONTENT_IN_BLOBS)] * 2
    assert [r["chunk"] for r in chunks] == list(range(11)), "once, however many rows hold it, in order"
    assert b"".join(r["content"] for r in chunks) == data
    assert {r["list"] for r in chunks} == {rows.BLOB_LIST}
    # A chunk names its original by sha1 alone: several rows hold it (governance keeps it while one does).
    assert {(r["name"], r["sha1"], r["storage_key"], r["fa_id"], r["line"]) for r in chunks} == {(None, row["sha1"], None, None, 0)}


def test_an_original_up_to_blob_bytes_stays_inline(tmp_path):
    data = b"x" * 5000
    out = partition(tmp_path, [stored(tmp_path, data)], "output.content=both")
    assert [(r["status"], r["content"], r["content_in"], r["chunk"]) for r in out] == \
        [(statuses.OK, data, rows.CONTENT_INLINE, None)]


def test_no_original_kept_no_content_in_and_no_chunks(tmp_path):
    out = partition(tmp_path, [stored(tmp_path, b"y" * 9000)], "output.content=thumbnails")
    assert [(r["status"], r["content"], r["content_in"], r["chunk"]) for r in out] == [(statuses.OK, None, None, None)]


def test_a_large_image_is_drawn_from_its_spool_file_by_the_drawing_child(tmp_path):
    import io as _io
    import random

    from PIL import Image

    noise = random.Random(3).randbytes(900 * 600 * 3)
    encoded = _io.BytesIO()
    Image.frombytes("RGB", (900, 600), noise).save(encoded, "JPEG", quality=95)
    data = encoded.getvalue()
    assert len(data) > 5000
    row = {**stored(tmp_path, data), "mime": "image/jpeg", "media_type": "BITMAP"}
    out = partition(tmp_path, [row], "output.content=both")
    item, *chunks = out
    assert (item["content_in"], item["thumbnail_status"], item["thumbnail_width"], item["thumbnail_height"]) == \
        (rows.CONTENT_IN_BLOBS, "made", 500, 333)
    assert Image.open(_io.BytesIO(item["thumbnail"])).size == (500, 333)
    assert b"".join(r["content"] for r in chunks) == data, "the child's read left the file whole for the chunks"
