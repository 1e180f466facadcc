"""Connection caps seen from the server side: a counting proxy between the job and the real Swift.

The caps are a promise to storage owners ("never more than N requests of ours at once"), so they
are checked where storage sees them, with real extracts that run more tasks than connections.

What is counted: a fault rule (`Holding`) holds every GET for a moment before the proxy forwards
it, counting the GETs it holds at once. A held GET is certainly in flight (its client is waiting
for the answer), so the count never over-states concurrency, and holding each request for most of
its time makes any real overlap show. The proxy's own `peak_in_flight` is not used as the
measure: the proxy books a request's end only after its last byte went out, and by then the
client may rightly have released its slot and another process sent the next request (gaps of
0.5 ms seen), so under CPU load it can count 2 where the job never had 2 in flight.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

import pytest
from chispa import assert_df_equality

from mediaextract import dataset, report, statuses
from mediaextract.digest import sha1_base36
from mediaextract.extract import fetch_shape, run_extract
from mediaextract_sandbox.proxy import FaultProxy

from ..conftest import sandbox_settings

pytestmark = pytest.mark.timeout(300)

DEADLINE_S = 60.0
HOLD_S = 0.05


def swift_port(sandbox) -> int:
    return urlsplit(sandbox.settings()["storage.endpoint"]).port


def job_settings(sandbox, proxy: FaultProxy, **overrides):
    """Gives sandbox settings pointed at the proxy; originals only (thumbnails are not the subject)."""
    return sandbox_settings(sandbox, storage__endpoint=proxy.endpoint, output__content="originals", **overrides)


class Holding:
    """A fault rule: holds each GET `seconds` before it is forwarded; counts the GETs held at once.

    With `first_waits_for_second`, the first GET is held until a second one arrives (or a
    deadline), so two requests in flight together is certain rather than likely.
    """

    def __init__(self, seconds: float, first_waits_for_second: bool = False):
        self.seconds = seconds
        self.first_waits_for_second = first_waits_for_second
        self.held = self.peak = self.seen = 0
        self.second_arrived = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, request):
        if request.method != "GET":
            return None
        with self._lock:
            self.seen += 1
            first = self.seen == 1
            self.held += 1
            self.peak = max(self.peak, self.held)
            if self.held >= 2:
                self.second_arrived.set()
        try:
            self.hold(request, first)
        finally:
            with self._lock:
                self.held -= 1
        return None

    def hold(self, request, first: bool) -> None:
        """Holds one GET while it is counted (a subclass may hold some longer)."""
        if first and self.first_waits_for_second:
            self.second_arrived.wait(DEADLINE_S)
        time.sleep(self.seconds)  # the server's think time, not a synchronisation


def gets_after_close(proxy: FaultProxy) -> list:
    """Gives the GET records by start; call after the proxy closed (every request booked)."""
    return sorted((r for r in proxy.log if r.method == "GET"), key=lambda r: r.start)


def assert_items_equal_the_truth(spark, output: str, truth) -> None:
    """Checks one row per requested line with its ground-truth status, and ok bytes verified."""
    items = dataset.read_items(spark, output + "/items")
    expected = [(name, row["line"], row["status"]) for name, part in truth["lists"].items()
                for row in part["rows"]]
    actual = items.select("list", "line", "status")
    assert_df_equality(actual, spark.createDataFrame(expected, actual.schema),
                       ignore_row_order=True, ignore_nullable=True)
    ok = items.where(items.status == statuses.OK).select("sha1", "content").collect()
    assert len(ok) == truth["totals"]["ok"]
    assert all(sha1_base36(bytes(r["content"])) == r["sha1"] for r in ok)


def test_one_connection_per_executor_holds_every_task_to_one_request_at_a_time(
        spark, sandbox, truth, list_paths, tmp_path):
    holding = Holding(HOLD_S)
    parallelism = spark.sparkContext.defaultParallelism
    with FaultProxy("127.0.0.1", swift_port(sandbox), fault_for=holding) as proxy:
        settings = job_settings(sandbox, proxy,
                                fetch__connections_per_executor=1, fetch__max_connections=8,
                                fetch__batch_rows=40)
        slots, threads, tasks = fetch_shape(settings, parallelism)
        # More tasks than connections, run two at a time by local[2]: only the slot shared by
        # the worker processes can keep their requests apart.
        assert (slots, threads) == (1, 1) and tasks > parallelism >= 2
        built = run_extract(spark, settings, list_paths, str(tmp_path / "out"), out=lambda line: None)
    gets = gets_after_close(proxy)
    assert proxy.errors == []

    assert len(gets) == truth["totals"]["found"] >= 30
    # Several worker processes (one boto3 connection each) fetched, never two at once.
    assert len({r.conn_id for r in gets}) >= 2
    assert holding.peak == 1
    assert proxy.peak_in_flight >= holding.peak
    assert report.check_sums(built) == []
    assert_items_equal_the_truth(spark, str(tmp_path / "out"), truth)


def test_the_job_cap_wins_over_a_larger_executor_cap(spark, sandbox, truth, list_paths, tmp_path):
    holding = Holding(HOLD_S, first_waits_for_second=True)
    with FaultProxy("127.0.0.1", swift_port(sandbox), fault_for=holding) as proxy:
        settings = job_settings(sandbox, proxy,
                                fetch__connections_per_executor=3, fetch__max_connections=2)
        slots, threads, tasks = fetch_shape(settings, spark.sparkContext.defaultParallelism)
        assert slots == 2 and tasks * threads <= 2
        built = run_extract(spark, settings, list_paths, str(tmp_path / "out"), out=lambda line: None)
    gets = gets_after_close(proxy)
    assert proxy.errors == []

    assert len(gets) == truth["totals"]["found"]
    assert holding.second_arrived.is_set()
    assert holding.peak == 2
    assert report.check_sums(built) == []
    assert built["totals"][statuses.OK] == truth["totals"]["ok"]


def test_requests_per_second_spaces_the_request_starts(spark, sandbox, truth, list_paths, tmp_path):
    """The limiter reserves start times 1/rate apart and a request never starts before its own.

    So the GETs' starts span at least (N - 1) / rate, less the delay of the first reserved GET
    between its reservation and its arrival (given a second of slack). This is a lower bound
    that a slow machine only makes easier to meet: it cannot fail for being slow. It needs every
    thread to have a slot (threads x tasks at once <= slots), else GETs could queue behind slots
    after their reserved start and then arrive together.
    """
    rate = 10.0
    parallelism = spark.sparkContext.defaultParallelism
    with FaultProxy("127.0.0.1", swift_port(sandbox)) as proxy:
        settings = job_settings(sandbox, proxy, fetch__requests_per_second=rate,
                                fetch__connections_per_executor=2, fetch__max_connections=8)
        slots, threads, _ = fetch_shape(settings, parallelism)
        assert threads * parallelism <= slots
        built = run_extract(spark, settings, list_paths, str(tmp_path / "out"), out=lambda line: None)
    gets = gets_after_close(proxy)
    assert proxy.errors == []

    assert len(gets) == truth["totals"]["found"]
    span = gets[-1].start - gets[0].start
    assert span >= (len(gets) - 1) / rate - 1.0, f"{len(gets)} GETs started within {span:.2f} s"
    assert report.check_sums(built) == []
    assert built["totals"][statuses.OK] == truth["totals"]["ok"]
