"""S3Store against the real sandbox Swift (directly and through a fault proxy), DiskStore on disk."""

from __future__ import annotations

import hashlib
import os
import pickle
import socket
import time
from pathlib import Path

import pytest
import yaml

from mediaextract.config import StorageSettings
from mediaextract.digest import sha1_base36
from mediaextract.errors import BadInput
from mediaextract.layout import Location, deleted_location, disk_path
from mediaextract_sandbox import Sandbox
from mediaextract_sandbox.proxy import Delay, FaultProxy, Reset, Respond, Truncate, always
from mediaextract.storage import (DiskStore, Fetched, ObjectNotFound, ObjectTooLarge, PermanentStorageError,
                                  RetryableStorageError, S3Store, StorageAuthRefused, StorageError, store_for)

from ..conftest import free_ports

pytestmark = pytest.mark.timeout(300)

MiB = 1024 * 1024
BIG_BYTES = 40 * MiB
SMALL_BYTES = 2 * MiB
DEADLINE_S = 30.0


# --- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def box(tmp_path_factory):
    """A seeded sandbox of this module's own (it stops and starts the object server)."""
    root = tmp_path_factory.mktemp("storage-sandbox")
    sandbox = Sandbox(root, mariadb_port=free_ports(1), swift_port=free_ports(4),
                      memcached_port=free_ports(1))
    try:
        sandbox.up()
        truth = sandbox.seed()
    except BaseException:
        sandbox.down()
        raise
    sandbox.truth = truth
    yield sandbox
    sandbox.down()


@pytest.fixture(scope="module")
def credentials(box) -> dict:
    data = yaml.safe_load(Path(box.credentials_path).read_text())
    return {"access_key": data["storage"]["access_key"], "secret_key": data["storage"]["secret_key"]}


def make_store(endpoint: str, credentials: dict, *, secret_key: str | None = None,
               read_timeout_s: float = 30.0) -> S3Store:
    return S3Store(endpoint, "us-east-1", "path", credentials["access_key"],
                   secret_key or credentials["secret_key"], connect_timeout_s=5,
                   read_timeout_s=read_timeout_s, max_pool=4)


@pytest.fixture(scope="module")
def store(box, credentials) -> S3Store:
    return make_store(box.settings()["storage.endpoint"], credentials)


def _truth_rows(box, status: str) -> list[dict]:
    return [row for entry in box.truth["lists"].values() for row in entry["rows"]
            if row["status"] == status]


@pytest.fixture(scope="module")
def ok_row(box) -> dict:
    rows = _truth_rows(box, "ok")
    assert rows, "the seed has no ok row"
    return rows[0]


def _upload(box, data: bytes, ext: str = "bin") -> tuple[str, Location]:
    """Put `data` where a deleted file with these bytes lives; return (storage_key, location)."""
    key = f"{sha1_base36(data)}.{ext}"
    location = deleted_location(key, wiki_id=box.wiki_id)
    client = box.s3_client()
    try:
        client.create_bucket(Bucket=location.container)
    except client.exceptions.ClientError as error:
        if error.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    client.put_object(Bucket=location.container, Key=location.path, Body=data)
    return key, location


@pytest.fixture(scope="module")
def small_object(box):
    data = os.urandom(SMALL_BYTES)
    key, location = _upload(box, data)
    return data, key, location


@pytest.fixture(scope="module")
def big_object(box):
    data = os.urandom(BIG_BYTES)
    key, location = _upload(box, data)
    return data, key, location


@pytest.fixture
def proxy(box):
    with FaultProxy("127.0.0.1", box.swift_port) as running:
        yield running
        assert running.errors == []


def read_all(fetched: Fetched) -> bytes:
    try:
        return fetched.body.read()
    finally:
        fetched.body.close()


def fetch_error(store, key: str, location: Location, max_bytes: int = 10 * BIG_BYTES,
                spool_bytes: int = 16 * MiB) -> StorageError:
    with pytest.raises(StorageError) as caught:
        store.fetch(key, location, max_bytes, spool_bytes)
    return caught.value


def settled(proxy: FaultProxy, n: int) -> list:
    """Return the proxy's log once `n` requests finished and none is in flight.

    A client can have read the last byte of a response a moment before the proxy books it.
    """
    deadline = time.monotonic() + DEADLINE_S
    while not (proxy.in_flight == 0 and len(proxy.log) >= n):
        if time.monotonic() > deadline:
            pytest.fail(f"the proxy never logged {n} requests")
        time.sleep(0.01)
    return sorted(proxy.log, key=lambda record: record.seq)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- answers from the real Swift ----------------------------------------------------------------

def test_a_seeded_object_arrives_whole_with_its_fa_sha1(box, store, ok_row):
    key = ok_row["storage_key"]
    location = deleted_location(key, wiki_id=box.wiki_id)
    fetched = store.fetch(key, location, max_bytes=10 * MiB, spool_bytes=16 * MiB)
    data = read_all(fetched)
    independent = box.s3_client().get_object(Bucket=location.container, Key=location.path)
    assert data == independent["Body"].read()
    assert fetched.sha1 == ok_row["sha1"]
    assert fetched.size == ok_row["size"] == len(data)


def test_a_missing_object_is_not_found(box, store):
    rows = _truth_rows(box, "not_in_storage")
    assert rows, "the seed has no not_in_storage row"
    key = rows[0]["storage_key"]
    error = fetch_error(store, key, deleted_location(key, wiki_id=box.wiki_id))
    assert (type(error), error.http_status) == (ObjectNotFound, 404)
    assert str(error).startswith("HTTP 404 from storage")


def test_a_missing_bucket_is_not_found(store):
    error = fetch_error(store, "k", Location("no-such-container.zz", "a/b/c/key"))
    assert type(error) is ObjectNotFound


def test_a_wrong_secret_is_auth_and_never_echoed(box, credentials, ok_row):
    wrong = "not-the-secret-3f9a"
    store = make_store(box.settings()["storage.endpoint"], credentials, secret_key=wrong)
    key = ok_row["storage_key"]
    error = fetch_error(store, key, deleted_location(key, wiki_id=box.wiki_id))
    assert (type(error), error.http_status) == (StorageAuthRefused, 403)
    assert wrong not in str(error) and wrong not in repr(error)
    assert credentials["secret_key"] not in str(error)
    with pytest.raises(StorageError) as caught:
        store.preflight(deleted_location(key, wiki_id=box.wiki_id).container)
    assert type(caught.value) is StorageAuthRefused
    assert wrong not in repr(store)


def test_preflight_accepts_good_credentials_with_or_without_the_bucket(box, store, ok_row):
    store.preflight(deleted_location(ok_row["storage_key"], wiki_id=box.wiki_id).container)
    store.preflight("no-such-container.zz")  # a missing bucket is fine: not an auth problem


def test_unreachable_storage_is_retryable(credentials):
    store = make_store(f"http://127.0.0.1:{closed_port()}", credentials)
    error = fetch_error(store, "k", Location("bucket", "a/b/c/key"))
    assert type(error) is RetryableStorageError
    assert error.http_status is None
    with pytest.raises(StorageError) as caught:
        store.preflight("bucket")
    assert type(caught.value) is RetryableStorageError


def test_a_large_object_is_spooled_to_disk(store, big_object):
    data, key, location = big_object
    fetched = store.fetch(key, location, max_bytes=BIG_BYTES, spool_bytes=MiB)
    try:
        assert fetched.body._rolled  # on disk, not in memory
        assert fetched.body.tell() == 0
        assert fetched.size == BIG_BYTES
        assert fetched.sha1 == key.split(".")[0]
        assert hashlib.sha256(fetched.body.read()).digest() == hashlib.sha256(data).digest()
    finally:
        fetched.body.close()


def test_a_small_object_stays_in_memory(store, small_object):
    data, key, location = small_object
    fetched = store.fetch(key, location, max_bytes=SMALL_BYTES, spool_bytes=16 * MiB)
    assert not fetched.body._rolled
    assert read_all(fetched) == data


def test_an_object_over_max_bytes_is_too_large_before_download(store, big_object, proxy,
                                                               credentials):
    data, key, location = big_object
    error = fetch_error(store, key, location, max_bytes=BIG_BYTES - 1)
    assert type(error) is ObjectTooLarge
    assert str(error).startswith("too large")
    # Through the proxy: the connection is dropped long before 40 MB went through.
    proxied = make_store(proxy.endpoint, credentials)
    error = fetch_error(proxied, key, location, max_bytes=MiB)
    assert type(error) is ObjectTooLarge
    assert settled(proxy, 1)[0].body_bytes < BIG_BYTES


def test_the_object_server_down_is_retryable(box, store, small_object):
    data, key, location = small_object
    box.stop_object_server()
    try:
        error = fetch_error(store, key, location)
        assert type(error) is RetryableStorageError
        assert error.http_status is not None and error.http_status >= 500
    finally:
        box.start_object_server()
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            assert read_all(store.fetch(key, location, SMALL_BYTES, 16 * MiB)) == data
            break
        except StorageError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


# --- faults injected between the client and Swift -----------------------------------------------

def test_503_with_retry_after_is_retryable_and_keeps_the_delay(proxy, credentials, small_object):
    _, key, location = small_object
    proxy.fault_for = always(Respond.s3_error(503, "ServiceUnavailable",
                                              headers={"Retry-After": "7"}))
    error = fetch_error(make_store(proxy.endpoint, credentials), key, location)
    assert (type(error), error.http_status, error.retry_after_s) == (RetryableStorageError, 503, 7.0)
    assert str(error).startswith("HTTP 503 from storage")
    assert proxy.total_requests == 1  # botocore did not retry behind our back


def test_429_is_retryable_without_retry_after(proxy, credentials, small_object):
    _, key, location = small_object
    proxy.fault_for = always(Respond(429))
    error = fetch_error(make_store(proxy.endpoint, credentials), key, location)
    assert (type(error), error.http_status, error.retry_after_s) == (RetryableStorageError, 429, None)


@pytest.mark.parametrize("status", [400, 405, 501])
def test_answers_no_retry_can_fix_are_failed(proxy, credentials, small_object, status):
    _, key, location = small_object
    proxy.fault_for = always(Respond.s3_error(status, "InvalidRequest"))
    error = fetch_error(make_store(proxy.endpoint, credentials), key, location)
    assert (type(error), error.http_status) == (PermanentStorageError, status)


def test_403_from_the_server_is_auth(proxy, credentials, small_object):
    _, key, location = small_object
    proxy.fault_for = always(Respond.s3_error(403, "AccessDenied"))
    store = make_store(proxy.endpoint, credentials)
    assert type(fetch_error(store, key, location)) is StorageAuthRefused
    with pytest.raises(StorageError) as caught:
        store.preflight(location.container)
    assert type(caught.value) is StorageAuthRefused


def test_a_reset_connection_is_retryable(proxy, credentials, small_object):
    _, key, location = small_object
    proxy.fault_for = always(Reset())
    error = fetch_error(make_store(proxy.endpoint, credentials), key, location)
    assert type(error) is RetryableStorageError
    assert str(error) == "connection reset"
    assert proxy.total_requests == 1


def test_a_body_cut_short_is_retryable(proxy, credentials, small_object):
    _, key, location = small_object
    proxy.fault_for = always(Truncate(0.5), method="GET")
    error = fetch_error(make_store(proxy.endpoint, credentials), key, location)
    assert type(error) is RetryableStorageError
    assert str(error).startswith("body cut short: ")
    assert f"of {SMALL_BYTES} bytes" in str(error)


def test_a_silent_server_is_a_read_timeout(proxy, credentials, small_object):
    _, key, location = small_object
    proxy.fault_for = always(Delay(10.0))
    store = make_store(proxy.endpoint, credentials, read_timeout_s=0.5)
    error = fetch_error(store, key, location)
    assert type(error) is RetryableStorageError
    assert str(error) == "read timed out"


def test_keep_alive_connections_are_reused_after_a_full_read(proxy, credentials, small_object):
    data, key, location = small_object
    store = make_store(proxy.endpoint, credentials)
    for _ in range(3):
        assert read_all(store.fetch(key, location, SMALL_BYTES, 16 * MiB)) == data
    log = settled(proxy, 3)
    assert [record.status for record in log] == [200, 200, 200]
    assert len({record.conn_id for record in log}) == 1


# --- errors, the store cache ---------------------------------------------------------------------

@pytest.mark.parametrize("kind", [ObjectNotFound, StorageAuthRefused, RetryableStorageError,
                                  PermanentStorageError, ObjectTooLarge])
def test_storage_errors_survive_pickling(kind):
    error = kind("HTTP 503 from storage", 503, 7.0)
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.http_status, copy.retry_after_s) == \
        (kind, "HTTP 503 from storage", 503, 7.0)
    assert isinstance(copy, StorageError)


S3_SETTINGS = {"backend": "s3", "endpoint": "http://127.0.0.1:9", "region": "us-east-1",
               "addressing_style": "path", "connect_timeout_s": 5, "read_timeout_s": 30,
               "disk_root": None}
SECRETS = {"storage.access_key": "test:tester", "storage.secret_key": "s3cr3t-value"}


def storage_settings(section=None, secrets=None) -> StorageSettings:
    return StorageSettings.from_section({**S3_SETTINGS, **(section or {})},
                                        SECRETS if secrets is None else secrets)


def test_store_for_gives_one_store_per_process_and_settings():
    first = store_for(storage_settings(), 4)
    assert isinstance(first, S3Store)
    assert store_for(storage_settings(), 4) is first
    assert store_for(storage_settings({"read_timeout_s": 60}), 4) is not first
    assert store_for(storage_settings(secrets={**SECRETS, "storage.secret_key": "other"}), 4) is not first
    assert store_for(storage_settings(), 8) is not first
    assert SECRETS["storage.secret_key"] not in repr(first)


def test_storage_settings_never_show_the_credentials():
    shown = repr(storage_settings()) + str(storage_settings())
    assert SECRETS["storage.secret_key"] not in shown and SECRETS["storage.access_key"] not in shown


def test_store_for_disk(tmp_path):
    disk = {"backend": "disk", "disk_root": str(tmp_path)}
    store = store_for(storage_settings(disk, {}), 4)
    assert isinstance(store, DiskStore)
    assert store_for(storage_settings(disk, {}), 4) is store


@pytest.mark.parametrize("section, secrets", [
    ({"backend": "ftp"}, SECRETS),
    ({"endpoint": None}, SECRETS),
    ({}, {"storage.access_key": "test:tester"}),
    ({"backend": "disk", "disk_root": None}, {}),
])
def test_incomplete_storage_settings_are_refused(section, secrets):
    with pytest.raises(BadInput) as caught:
        storage_settings(section, secrets)
    assert SECRETS["storage.secret_key"] not in str(caught.value)


# --- DiskStore -----------------------------------------------------------------------------------

def _write_deleted(root: Path, data: bytes) -> str:
    key = f"{sha1_base36(data)}.png"
    path = root / disk_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return key


def test_disk_store_reads_a_deleted_file(tmp_path):
    data = os.urandom(3 * MiB + 5)
    key = _write_deleted(tmp_path, data)
    store = DiskStore(str(tmp_path))
    store.preflight("ignored")
    fetched = store.fetch(key, None, max_bytes=len(data), spool_bytes=MiB)
    assert fetched.body._rolled
    assert fetched.sha1 == key.split(".")[0]
    assert fetched.size == len(data)
    assert read_all(fetched) == data
    small = store.fetch(key, None, max_bytes=len(data), spool_bytes=16 * MiB)
    assert not small.body._rolled
    assert read_all(small) == data


def test_disk_store_missing_file_is_not_found(tmp_path):
    (tmp_path / "deleted").mkdir()
    error = fetch_error(DiskStore(str(tmp_path)), "0" * 31 + ".jpg", None)
    assert type(error) is ObjectNotFound


def test_disk_store_too_large(tmp_path):
    key = _write_deleted(tmp_path, b"x" * 1000)
    error = fetch_error(DiskStore(str(tmp_path)), key, None, max_bytes=999)
    assert type(error) is ObjectTooLarge
    assert str(error).startswith("too large")


def test_disk_store_preflight_needs_the_deleted_directory(tmp_path):
    with pytest.raises(StorageError) as caught:
        DiskStore(str(tmp_path)).preflight("ignored")
    assert type(caught.value) is PermanentStorageError
