"""Object store clients: one attempt at the bytes of one deleted file, hashed while they stream.

Both stores have the same API, so the fetch worker does not care which one it has:

    store = store_for(settings.storage(), max_pool)               # cached per process
    store.preflight(container)                                    # once per job, fail fast
    fetched = store.fetch(storage_key, location, max_bytes, spool_bytes)   # -> Fetched
    try: ... fetched.body.read() ... finally: fetched.body.close()

- `storage_key` is the row's storage key (for messages, and DiskStore's deleted zone when no
  location is given); `location` is `layout.file_location(...)`. S3Store reads `location`
  (container = bucket, path = key) and needs it; DiskStore reads `location.disk_path` under its
  root (deleted/a/b/c/<key>, h/hh/<name>, archive/h/hh/<archive name>).
- `fetch` makes ONE attempt. Retries, backoff, the connection cap, the rate limit and the
  breaker are the caller's (retry.py, limits.py): every attempt must pass through them.
- Every failure the caller must act on is a StorageError whose class says what to do:
  ObjectNotFound (an answer: not_in_storage), StorageAuthRefused (stop the job),
  RetryableStorageError (back off and try again, honouring `retry_after_s`), ObjectTooLarge
  (too_large) and PermanentStorageError, its base (will not succeed on retry: fetch_failed).
  str(error) is one short line and never holds credentials. Anything else raised is a bug (or a
  full spool disk).
- The bytes land in a SpooledTemporaryFile: in memory up to `spool_bytes`, then on disk in the
  temp directory, so a 1 GB original never sits whole in a worker's memory.

No Spark here.
"""

from __future__ import annotations

import errno
import http.client
import os
import re
import stat
import tempfile
import threading
import typing
from dataclasses import dataclass
from pathlib import Path

from mediaextract.config import StorageSettings
from mediaextract.digest import Sha1Base36
from mediaextract.layout import Location, disk_path
from mediaextract.retry import parse_retry_after

CHUNK_BYTES = 1024 * 1024
USER_AGENT_EXTRA = "mediaextract"  # lets storage owners tell our requests apart in their logs

_ERROR_CODE_RE = re.compile(r"[A-Za-z0-9.]{1,64}")


class StorageError(Exception):
    """One failed attempt at storage; the subclass tells the caller what to do about it."""

    def __init__(self, message: str, http_status: int | None = None, retry_after_s: float | None = None):
        super().__init__(message)
        self.http_status = http_status
        self.retry_after_s = retry_after_s

    def __reduce__(self):
        # Keeps the attributes when pickled (Spark ships exceptions between processes).
        return (type(self), (str(self), self.http_status, self.retry_after_s))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(message={str(self)!r}, "
                f"http_status={self.http_status!r}, retry_after_s={self.retry_after_s!r})")


class ObjectNotFound(StorageError):
    """No object at the path (404, or no such file on disk): an answer, not a failure."""


class StorageAuthRefused(StorageError):
    """Storage refused our credentials (401/403): no request will succeed, the job stops."""


class RetryableStorageError(StorageError):
    """A failure a later attempt may not meet (timeout, reset, 429, 5xx, a body cut short)."""


class PermanentStorageError(StorageError):
    """A failure every attempt would meet (another 4xx, an untrusted certificate, no permission)."""


class ObjectTooLarge(PermanentStorageError):
    """The object is over the size limit (announced, or found while reading)."""


@dataclass
class Fetched:
    body: typing.BinaryIO  # SpooledTemporaryFile positioned at 0; the caller closes it
    size: int  # bytes received
    sha1: str  # base 36 (fa_sha1 form) of the bytes received, computed while streaming


# --- shared streaming -----------------------------------------------------------------------------

def _spool(read, expected: int | None, max_bytes: int, spool_bytes: int,
           cut_short: tuple[type[BaseException], ...], describe_cut) -> Fetched:
    """Return the bytes of `read` spooled and hashed; raise StorageError if too many or too few."""
    spool = tempfile.SpooledTemporaryFile(max_size=spool_bytes)
    try:
        hasher = Sha1Base36()
        received = 0
        while True:
            # Only the read is guarded: a failing spool write (disk full) is not storage's fault.
            try:
                chunk = read(CHUNK_BYTES)
            except cut_short as error:
                raise RetryableStorageError(_cut_message(received, expected, describe_cut(error))) from error
            if not chunk:
                break
            received += len(chunk)
            if received > max_bytes:
                # Only reachable when the size was not announced (or lied about).
                raise ObjectTooLarge(f"too large: more than {max_bytes} bytes")
            hasher.update(chunk)
            spool.write(chunk)
        if expected is not None and received != expected:
            raise RetryableStorageError(_cut_message(received, expected, None))
        spool.seek(0)
        return Fetched(body=spool, size=received, sha1=hasher.base36())
    except BaseException:
        spool.close()
        raise


def _cut_message(received: int, expected: int | None, why: str | None) -> str:
    of = f"{received} of {expected} bytes" if expected is not None else f"{received} bytes"
    return f"body cut short: {of}" + (f" ({why})" if why else "")


def _too_large(size: int, max_bytes: int) -> ObjectTooLarge:
    return ObjectTooLarge(f"too large: {size} bytes, limit {max_bytes}")


# --- S3 (Swift's s3api) ---------------------------------------------------------------------------

def _botocore():
    # Imported lazily so DiskStore users and unit tests of other modules do not pay for boto.
    import botocore.exceptions as exceptions
    import urllib3.exceptions as urllib3_exceptions

    return exceptions, urllib3_exceptions


def _causes(error: BaseException, depth: int = 6):
    """Yield error and what it wraps (botocore's kwargs['error'], args, __cause__, __context__)."""
    seen: set[int] = set()
    stack = [(error, 0)]
    while stack:
        current, level = stack.pop()
        if id(current) in seen or level > depth:
            continue
        seen.add(id(current))
        yield current
        kwargs = getattr(current, "kwargs", None)
        inner = [kwargs.get("error") if isinstance(kwargs, dict) else None,
                 current.__cause__, current.__context__, *getattr(current, "args", ())]
        stack.extend((item, level + 1) for item in inner if isinstance(item, BaseException))


def _transport_error(error: BaseException) -> StorageError:
    """Return the StorageError (one-line message) of a transport failure; never echoes the endpoint's secrets."""
    exc, u3 = _botocore()
    chain = list(_causes(error))
    if any(isinstance(item, (exc.ReadTimeoutError, u3.ReadTimeoutError)) for item in chain):
        return RetryableStorageError("read timed out")
    if any(isinstance(item, exc.ConnectTimeoutError) for item in chain):
        return RetryableStorageError("connect timed out")
    if isinstance(error, exc.SSLError):
        if "CERTIFICATE_VERIFY_FAILED" in " ".join(str(item) for item in chain):
            return PermanentStorageError("TLS certificate of storage not trusted")
        return RetryableStorageError("TLS error talking to storage")
    if isinstance(error, exc.ProxyConnectionError):
        return RetryableStorageError("could not connect to the HTTP proxy")
    if any(isinstance(item, ConnectionResetError) for item in chain):
        return RetryableStorageError("connection reset")
    if any(isinstance(item, ConnectionRefusedError) for item in chain):
        return RetryableStorageError("connection refused")
    if isinstance(error, exc.EndpointConnectionError):
        return RetryableStorageError("could not connect to storage")
    if any(isinstance(item, (exc.ConnectionClosedError, http.client.RemoteDisconnected,
                             ConnectionAbortedError, BrokenPipeError)) for item in chain):
        return RetryableStorageError("connection closed by storage")
    if any(isinstance(item, TimeoutError) for item in chain):
        return RetryableStorageError("timed out")
    return RetryableStorageError(f"connection error ({type(error).__name__})")


def _from_client_error(error, *, missing_is_ok: bool = False) -> StorageError | None:
    """Return the StorageError for an HTTP error answer (None for a 404 when missing_is_ok)."""
    response = getattr(error, "response", None) or {}
    meta = response.get("ResponseMetadata") or {}
    status = meta.get("HTTPStatusCode")
    headers = {str(k).lower(): v for k, v in (meta.get("HTTPHeaders") or {}).items()}
    code = str((response.get("Error") or {}).get("Code") or "")
    shown_code = code if _ERROR_CODE_RE.fullmatch(code) and code != str(status) else ""
    message = f"HTTP {status} from storage" if status else "error answer from storage"
    if shown_code:
        message += f" ({shown_code})"
    if status == 404 or code in ("NoSuchKey", "NoSuchBucket", "NotFound"):
        return None if missing_is_ok else ObjectNotFound(message, status or 404)
    if status in (401, 403) or code in ("AccessDenied", "InvalidAccessKeyId",
                                        "SignatureDoesNotMatch"):
        return StorageAuthRefused(message, status)
    # 501 Not Implemented is a 5xx that no retry fixes.
    if status in (408, 429) or (status is not None and 500 <= status < 600 and status != 501) \
            or (status is None and code in ("SlowDown", "ServiceUnavailable", "InternalError",
                                            "RequestTimeout")):
        retry_after = parse_retry_after(headers.get("retry-after")
                                        or headers.get("x-amz-retry-after"))
        return RetryableStorageError(message, status, retry_after)
    return PermanentStorageError(message, status)


class S3Store:
    """Reads objects through an S3 API (Swift's s3api): one boto3 client, thread-safe, pooled."""

    def __init__(self, endpoint: str, region: str, addressing_style: str, access_key: str,
                 secret_key: str, connect_timeout_s: float, read_timeout_s: float, max_pool: int):
        import boto3.session
        from botocore.config import Config

        if addressing_style not in ("path", "virtual", "auto"):
            raise ValueError(f"addressing_style must be path, virtual or auto, got {addressing_style!r}")
        if int(max_pool) < 1:
            raise ValueError(f"max_pool must be >= 1, got {max_pool}")
        self.endpoint = endpoint
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": addressing_style},
            connect_timeout=connect_timeout_s,
            read_timeout=read_timeout_s,
            max_pool_connections=int(max_pool),
            # Retries are ours (retry.py): botocore's would bypass our caps and the breaker.
            retries={"total_max_attempts": 1},
            # Plain GETs: no checksum headers or trailers Swift does not need (we check sha1).
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            user_agent_extra=USER_AGENT_EXTRA,
        )
        # A session of our own: boto3's default session is not thread-safe to create clients from.
        self._client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint, region_name=region, aws_access_key_id=access_key,
            aws_secret_access_key=secret_key, config=config)

    def __repr__(self) -> str:
        return f"S3Store(endpoint={self.endpoint!r})"

    def _transport_errors(self) -> tuple[type[BaseException], ...]:
        exc, u3 = _botocore()
        return (exc.HTTPClientError, exc.ConnectionError, u3.HTTPError,
                http.client.HTTPException, ConnectionError, TimeoutError)

    def fetch(self, storage_key: str, location: Location | None, max_bytes: int,
              spool_bytes: int) -> Fetched:
        """Return the object at `location` spooled and hashed; one attempt, StorageError on failure."""
        if location is None:
            raise ValueError(f"S3Store.fetch needs the location of {storage_key!r}")
        exc, _ = _botocore()
        transport = self._transport_errors()
        try:
            response = self._client.get_object(Bucket=location.container, Key=location.path)
        except exc.ClientError as error:
            raise _from_client_error(error) from error
        except transport as error:
            raise _transport_error(error) from error
        body = response["Body"]
        try:
            expected = response.get("ContentLength")
            if expected is not None and expected > max_bytes:
                raise _too_large(expected, max_bytes)
            def why(error: BaseException) -> str | None:
                # An IncompleteReadError says nothing the byte counts do not already say.
                if isinstance(error, exc.IncompleteReadError):
                    return None
                return str(_transport_error(error))

            return _spool(body.read, expected, max_bytes, spool_bytes,
                          (exc.IncompleteReadError, *transport), why)
        finally:
            # After a complete read urllib3 has already returned the connection to the pool;
            # otherwise this drops a connection in an unknown state.
            body.close()

    def preflight(self, container: str, must_exist: bool = False) -> None:
        """Return None when storage accepts our credentials (HEAD bucket); a missing bucket is
        fine unless must_exist (ObjectNotFound): the container of a planned row must be there."""
        exc, _ = _botocore()
        try:
            self._client.head_bucket(Bucket=container)
        except exc.ClientError as error:
            problem = _from_client_error(error, missing_is_ok=not must_exist)
            if problem is not None:
                raise problem from error
        except self._transport_errors() as error:
            raise _transport_error(error) from error


# --- a MediaWiki upload directory (FSFileBackend) ----------------------------------------------

class DiskStore:
    """Reads files from a MediaWiki upload directory: <root>/deleted/a/b/c/<key> and the public zone."""

    def __init__(self, root: str):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"DiskStore(root={str(self.root)!r})"

    def fetch(self, storage_key: str, location: Location | None, max_bytes: int,
              spool_bytes: int) -> Fetched:
        """Return the file at `location` (by default the deleted file of `storage_key`) spooled and hashed."""
        path = self.root / (location.disk_path if location is not None and location.disk_path
                            else disk_path(storage_key))
        try:
            handle = open(path, "rb", buffering=0)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as error:
            raise ObjectNotFound("not found on disk") from error
        except PermissionError as error:
            raise PermanentStorageError("permission denied reading the file") from error
        except OSError as error:
            raise RetryableStorageError(f"disk error ({_errno_name(error)})") from error
        with handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ObjectNotFound("not a regular file on disk")
            if info.st_size > max_bytes:
                raise _too_large(info.st_size, max_bytes)
            # A file that changes while read shows up as a sha1 mismatch: no size check here.
            return _spool(handle.read, None, max_bytes, spool_bytes, (OSError,),
                          lambda error: f"disk error ({_errno_name(error)})")

    def preflight(self, container: str | None = None, must_exist: bool = False) -> None:
        """Return None when <root>/deleted is a readable directory, else raise PermanentStorageError."""
        deleted = self.root / "deleted"
        if not deleted.is_dir() or not os.access(deleted, os.R_OK | os.X_OK):
            raise PermanentStorageError(f"{deleted} is not a readable directory")


def _errno_name(error: OSError) -> str:
    return errno.errorcode.get(error.errno or 0, type(error).__name__)


# --- one store per worker process ----------------------------------------------------------------

_STORES: dict[tuple, object] = {}
_STORES_LOCK = threading.Lock()


def store_for(settings: StorageSettings, max_pool: int):
    """Return this process's S3Store or DiskStore for these storage settings, creating it once.

    PySpark reuses a Python worker process across tasks: one client (and its connection pool)
    per process, not per task. The settings are frozen and already validated (Settings.storage()),
    so they are the cache key as they are.
    """
    key = (settings, int(max_pool))
    with _STORES_LOCK:
        store = _STORES.get(key)
        if store is None:
            store = _STORES[key] = _new_store(settings, int(max_pool))
        return store


def _new_store(settings: StorageSettings, max_pool: int):
    """Return a new store of the settings' backend."""
    if settings.backend == "disk":
        return DiskStore(settings.disk_root)
    return S3Store(settings.endpoint, settings.region, settings.addressing_style, settings.access_key,
                   settings.secret_key, settings.connect_timeout_s, settings.read_timeout_s, max_pool)
