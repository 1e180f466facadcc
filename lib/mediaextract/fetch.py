"""The mapPartitions worker: fetch, verify and thumbnail each row, politely (no Spark import).

One call of `fetch_partition` runs in one Python worker process per Spark task. Several tasks
run at once on an executor, so the connection cap is held by `HostSlots` (file locks shared by
every process of the run on the host), not by a thread pool size. Every planned row that comes
in goes out as one fetched row (rows.FETCHED) with exactly one status; an exception in one row
becomes that row's `fetch_failed`. A row the worker gave up on because the whole job must stop
says so in its `stop` column, which the driver reads after each batch (extract._batch_stats).
"""

from __future__ import annotations

import io
import itertools
import threading
import time
import typing
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from enum import Enum
from typing import Iterator

from . import layout, render_guard, statuses, storage, thumbs
from .config import StorageSettings
from .limits import HostSlots, RateLimiter, request_turn
from .retry import FailureWindow, backoff_delay
from .rows import BLOB_LIST, CONTENT_IN_BLOBS, CONTENT_INLINE, FETCHED_COLUMNS, PLAN_COLUMNS

# Enough of a non-image for the thumbnailer to say why it makes no thumbnail of it.
THUMBNAIL_SNIFF_BYTES = 65536

# The reasons people read on the rows of a stopped job; the driver reads their `stop` instead.
AUTH_REFUSED = "not attempted: storage refused our credentials"
STORAGE_DOWN = "not attempted: storage looks down"


class Stop(Enum):
    """A worker's verdict that the whole job must stop, carried by each row it gave up on."""

    AUTH_REFUSED = "auth_refused"  # storage refused our credentials: no request will succeed
    STORAGE_DOWN = "storage_down"  # the breaker tripped: most recent requests failed

    @property
    def reason(self) -> str:
        """Return the reason a row this verdict stopped carries."""
        return AUTH_REFUSED if self is Stop.AUTH_REFUSED else STORAGE_DOWN


@dataclass(frozen=True)
class FetchPlan:
    """Everything a worker needs, picklable: sent to executors with the task."""

    run_token: str
    storage: StorageSettings        # typed, credentials included (never in its repr)
    wiki_id: str
    files: str          # catalog.files: which zone's layout the rows' paths follow (layout.file_location)
    zone: str           # the deleted zone's name
    sharded: bool
    slots: int          # requests in flight per host, across processes
    threads: int        # fetching threads per task
    slots_dir: str
    requests_per_second: float | None
    max_attempts: int
    backoff_initial_s: float
    backoff_max_s: float
    max_object_bytes: int
    spool_bytes: int
    blob_bytes: int     # a kept original larger than this goes out in chunk rows (rows.CHUNK), not inline
    blob_chunk_bytes: int
    failure_window: int
    failure_threshold: float
    keep_content: bool
    make_thumbnails: bool
    thumbnail: thumbs.ThumbnailSettings

    @classmethod
    def from_settings(cls, settings, run_token: str, slots: int, threads: int, slots_dir: str) -> "FetchPlan":
        content = settings["output.content"]
        return cls(
            run_token=run_token, storage=settings.storage(),
            wiki_id=settings["wiki.id"], files=settings["catalog.files"], zone=settings["storage.zone"], sharded=settings["storage.sharded"],
            slots=slots, threads=threads, slots_dir=slots_dir, requests_per_second=settings["fetch.requests_per_second"],
            max_attempts=settings["fetch.max_attempts"], backoff_initial_s=settings["fetch.backoff_initial_s"],
            backoff_max_s=settings["fetch.backoff_max_s"], max_object_bytes=settings["fetch.max_object_bytes"],
            spool_bytes=settings["fetch.spool_bytes"], failure_window=settings["fetch.failure_window"],
            blob_bytes=settings["output.blob_bytes"], blob_chunk_bytes=settings["output.blob_chunk_bytes"],
            failure_threshold=settings["fetch.failure_threshold"],
            keep_content=content in ("originals", "both"), make_thumbnails=content in ("thumbnails", "both"),
            thumbnail=thumbs.ThumbnailSettings.from_mapping(settings.section("thumbnail")))


class RunState:
    """Per-process state of one run: the breaker and the credentials verdict, shared by threads."""

    _by_run: dict[str, "RunState"] = {}
    _lock = threading.Lock()

    def __init__(self, plan: FetchPlan):
        self.window = FailureWindow(plan.failure_window, plan.failure_threshold)
        self.auth_refused = False

    @classmethod
    def of(cls, plan: FetchPlan) -> "RunState":
        with cls._lock:
            if plan.run_token not in cls._by_run:
                cls._by_run.clear()  # worker processes are reused across runs: keep only this one
                cls._by_run[plan.run_token] = cls(plan)
            return cls._by_run[plan.run_token]


@dataclass
class Outcome:
    """What fetching one row gave: rows.FETCH_COLUMNS but fetched_at, and the row's stop verdict."""

    status: str
    reason: str | None = None
    content: bytes | None = None
    content_in: str | None = None
    thumbnail: bytes | None = None
    thumbnail_status: str | None = None
    thumbnail_mime: str | None = None
    thumbnail_width: int | None = None
    thumbnail_height: int | None = None
    attempts: int = 0
    stop: Stop | None = None
    # The verified body of an original kept in blobs/ (content_in CONTENT_IN_BLOBS), open until
    # fetch_partition has sent it out in chunks; it closes it.
    spool: typing.BinaryIO | None = field(default=None, repr=False, compare=False)

    @classmethod
    def stopped(cls, stop: Stop, attempts: int) -> "Outcome":
        """Return the outcome of a row given up on because the job must stop."""
        return cls(statuses.FETCH_FAILED, stop.reason, attempts=attempts, stop=stop)


class Worker:
    """Fetches rows of one partition with the plan's limits."""

    def __init__(self, plan: FetchPlan):
        self.plan = plan
        self.state = RunState.of(plan)
        self.store = storage.store_for(plan.storage, max_pool=plan.threads)
        self.slots = HostSlots(plan.slots_dir, plan.slots)
        self.rate = RateLimiter(plan.slots_dir, plan.requests_per_second)
        self.thumbnail_settings = plan.thumbnail

    def _location(self, row):
        plan = self.plan
        return layout.file_location(plan.files, row["name"], row["storage_key"], row["archive_name"],
                                    plan.wiki_id, plan.sharded, plan.zone)

    def fetch(self, row) -> Outcome:
        """Return the outcome of one row; never raises."""
        try:
            return self._fetch(row)
        except Exception as error:  # a bug or an unforeseen error: this row fails, not the job
            return Outcome(statuses.FETCH_FAILED, f"unexpected error: {type(error).__name__}: {error}"[:500])

    def _fetch(self, row) -> Outcome:
        plan = self.plan
        if row["size"] is not None and row["size"] > plan.max_object_bytes:
            return Outcome(statuses.TOO_LARGE, f"{row['size']} bytes is over fetch.max_object_bytes "
                                               f"({plan.max_object_bytes})")
        try:
            location = self._location(row)
        except ValueError as error:
            return Outcome(statuses.FETCH_FAILED, f"no usable storage path: {error}")
        attempt = 0
        while True:
            if self.state.auth_refused:
                return Outcome.stopped(Stop.AUTH_REFUSED, attempt)
            if self.state.window.tripped:
                return Outcome.stopped(Stop.STORAGE_DOWN, attempt)
            attempt += 1
            try:
                with request_turn(self.slots, self.rate):
                    fetched = self.store.fetch(row["storage_key"], location, plan.max_object_bytes, plan.spool_bytes)
            except storage.ObjectNotFound:
                self.state.window.record(False)
                return Outcome(statuses.NOT_IN_STORAGE, "no object at its storage path", attempts=attempt)
            except storage.StorageAuthRefused:
                self.state.auth_refused = True
                return Outcome.stopped(Stop.AUTH_REFUSED, attempt)
            except storage.RetryableStorageError as error:
                self.state.window.record(True)
                if attempt >= plan.max_attempts:
                    return Outcome(statuses.FETCH_FAILED, f"{error} (after {attempt} attempts)", attempts=attempt)
                time.sleep(backoff_delay(attempt, plan.backoff_initial_s, plan.backoff_max_s, error.retry_after_s))
                continue
            except storage.ObjectTooLarge as error:
                self.state.window.record(False)
                return Outcome(statuses.TOO_LARGE, str(error), attempts=attempt)
            except storage.StorageError as error:
                self.state.window.record(False)
                return Outcome(statuses.FETCH_FAILED, str(error), attempts=attempt)
            self.state.window.record(False)
            outcome = None
            try:
                outcome = self._verified(row, fetched, attempt)
                return outcome
            finally:
                if outcome is None or outcome.spool is not fetched.body:
                    fetched.body.close()

    def _verified(self, row, fetched, attempts: int) -> Outcome:
        if row["size"] is not None and fetched.size != row["size"]:
            return Outcome(statuses.CHECKSUM_MISMATCH, f"got {fetched.size} bytes, fa_size says {row['size']}",
                           attempts=attempts)
        if fetched.sha1 != row["sha1"]:
            return Outcome(statuses.CHECKSUM_MISMATCH, f"sha1 of the bytes is {fetched.sha1}, fa_sha1 says {row['sha1']}",
                           attempts=attempts)
        # Read the body into memory only when something needs all of it: the content column, or
        # a thumbnail a thumbnailer here can draw. A video stays in the spool file, and so does
        # an original over output.blob_bytes: it goes out in chunks, and its thumbnail is drawn
        # from the file by the drawing child, so no worker ever holds a large object whole.
        large = fetched.size > self.plan.blob_bytes
        inline = self.plan.keep_content and not large
        needed = inline or (self.plan.make_thumbnails and thumbs.may_draw(row["mime"]) and not large)
        data = fetched.body.read() if needed else fetched.body.read(THUMBNAIL_SNIFF_BYTES)
        outcome = Outcome(statuses.OK, attempts=attempts, content=data if inline else None)
        if self.plan.keep_content:
            outcome.content_in = CONTENT_INLINE if inline else CONTENT_IN_BLOBS
        if self.plan.make_thumbnails:
            visual = thumbs.has_visual_content(row["mime"], row["media_type"])
            made = None
            if not visual:
                outcome.reason = f"thumbnail: {thumbs.NO_VISUAL_CONTENT}"
            else:
                # Drawn in this process's drawing child, under its time and memory limits; a
                # video is read there from the spool file as needed. Fetching overlaps, drawing
                # takes turns (other tasks use other cores).
                video = fetched.body if thumbs.is_video(row["mime"], row["media_type"]) else None
                whole = fetched.body if large and video is None and thumbs.may_draw(row["mime"]) else None
                made = render_guard.drawer().draw(self.thumbnail_settings, data, row["mime"], video_file=video,
                                                  whole_file=whole)
                if made.reason:
                    outcome.reason = f"thumbnail: {made.reason}"
                else:
                    outcome.thumbnail, outcome.thumbnail_mime = made.data, made.mime
                    outcome.thumbnail_width, outcome.thumbnail_height = made.width, made.height
            outcome.thumbnail_status = thumbs.thumbnail_status(made, visual)
        if outcome.content_in == CONTENT_IN_BLOBS:
            outcome.spool = fetched.body
        return outcome


def fetched_row(row, outcome: Outcome, fetched_at: datetime | None = None) -> tuple:
    """Return the fetched row (rows.FETCHED_COLUMNS, in order) of a planned row and its outcome.

    row is a planned row (rows.PLAN_COLUMNS, by name: a Spark Row or a dict); fetched_at
    defaults to now (UTC).
    """
    values = {c: row[c] for c in PLAN_COLUMNS}
    values.update((f.name, getattr(outcome, f.name)) for f in fields(outcome))
    values["stop"] = outcome.stop.value if outcome.stop is not None else None
    values["fetched_at"] = fetched_at or datetime.now(timezone.utc)
    values["chunk"] = None
    return tuple(values[c] for c in FETCHED_COLUMNS)


def chunk_rows(sha1: str, body: typing.BinaryIO, chunk_bytes: int) -> Iterator[tuple]:
    """Yield the chunk rows (rows.FETCHED_COLUMNS, list rows.BLOB_LIST, line 0) of a verified
    original read from body, from its start, chunk_bytes at a time: index, bytes in `content`.

    A chunk row names its original by sha1 only: several rows (names, lists) may hold it, and a
    purge keeps it while any of them stays (governance.matching.kept_originals).
    """
    # To the end first: a buffered seek to 0 may stay inside the buffer and not move the file's
    # own position, which the drawing child (a video's decoder) may have moved.
    body.seek(0, io.SEEK_END)
    body.seek(0)
    for index in itertools.count():
        data = body.read(chunk_bytes)
        if not data:
            return
        values = dict.fromkeys(FETCHED_COLUMNS)
        values.update(list=BLOB_LIST, line=0, sha1=sha1, status=statuses.OK, content=data, chunk=index)
        yield tuple(values[c] for c in FETCHED_COLUMNS)


def fetch_partition(plan: FetchPlan, rows: Iterator) -> Iterator[tuple]:
    """Yield one fetched row (rows.FETCHED) per planned row (rows.PLAN_COLUMNS) of a partition,
    fetching with plan.threads threads; an original kept in blobs/ is followed by its chunk rows
    (once per task, however many rows hold it).

    At most 2 x threads rows are in progress at once, so a slow consumer never makes the worker
    hold more than that many bodies (large ones in spool files, not memory).
    """
    worker = Worker(plan)
    chunked: set[str] = set()

    def out(row, outcome: Outcome) -> Iterator[tuple]:
        yield fetched_row(row, outcome)
        if outcome.spool is not None:
            with outcome.spool as body:
                if row["sha1"] not in chunked:
                    chunked.add(row["sha1"])
                    yield from chunk_rows(row["sha1"], body, plan.blob_chunk_bytes)

    with ThreadPoolExecutor(max_workers=plan.threads, thread_name_prefix="fetch") as pool:
        running: dict = {}
        try:
            for row in rows:
                running[pool.submit(worker.fetch, row)] = row
                if len(running) >= 2 * plan.threads:
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield from out(running.pop(future), future.result())
            for future in list(running):
                yield from out(running.pop(future), future.result())
        finally:  # the task stopped early: spool files of rows not sent out yet are closed
            for future in running:
                future.add_done_callback(_close_spool)


def _close_spool(future) -> None:
    if not future.cancelled() and future.exception() is None and future.result().spool is not None:
        future.result().spool.close()
