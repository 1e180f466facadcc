"""Connection caps seen from the server side: a counting proxy between the job and the real Swift.

The caps are the promise to storage owners ("never more than N requests of ours at once"), so
they are checked where storage sees them: FaultProxy counts requests in flight while a real
extract runs with more tasks than connections.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from chispa import assert_df_equality

from mediaextract import dataset, report, statuses
from mediaextract.digest import sha1_base36
from mediaextract.extract import fetch_shape, run_extract
from mediaextract.sandbox.proxy import FaultProxy

from ..conftest import sandbox_settings

pytestmark = pytest.mark.timeout(300)

DEADLINE_S = 30.0


def swift_port(sandbox) -> int:
    return urlsplit(sandbox.settings()["storage.endpoint"]).port


def wait_for(condition, what: str, timeout_s: float = DEADLINE_S) -> None:
    """Polls `condition` until it holds; fails the test with `what` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def settled_gets(proxy: FaultProxy) -> list:
    """Gives the proxy's GET records by start, once nothing is in flight (booking lags the client)."""
    wait_for(lambda: proxy.in_flight == 0, "the proxy to book every request")
    return sorted((r for r in proxy.log if r.method == "GET"), key=lambda r: r.start)


def found_count(truth) -> int:
    return truth["totals"]["found"]


def assert_items_equal_the_truth(spark, output: str, truth) -> None:
    """Checks one row per requested line, each with its ground-truth status, and ok bytes verified."""
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
    with FaultProxy("127.0.0.1", swift_port(sandbox), latency_s=0.05) as proxy:
        settings = sandbox_settings(sandbox, storage__endpoint=proxy.endpoint,
                                    fetch__connections_per_executor=1, fetch__max_connections=8,
                                    fetch__batch_rows=40)
        slots, threads, tasks = fetch_shape(settings, spark.sparkContext.defaultParallelism)
        # More tasks than connections, run two at a time by local[2]: only the host-wide slot
        # can keep their requests apart.
        assert (slots, threads) == (1, 1) and tasks > spark.sparkContext.defaultParallelism
        built = run_extract(spark, settings, list_paths, str(tmp_path / "out"), out=lambda line: None)
        gets = settled_gets(proxy)
        assert proxy.errors == []

    assert len(gets) == found_count(truth) >= 30
    # Two worker processes (one per running task) fetched: the cap held across processes.
    assert len({r.conn_id for r in gets}) >= 2
    assert proxy.peak_in_flight == 1
    assert report.check_sums(built) == []
    assert_items_equal_the_truth(spark, str(tmp_path / "out"), truth)


def test_the_job_cap_wins_over_a_larger_executor_cap(spark, sandbox, truth, list_paths, tmp_path):
    met = {"two": False}

    def hold_first_get_until_a_second_arrives(request):
        # Makes "2 in flight" certain rather than likely: the first GET waits (bounded) for a
        # second one. With a broken cap a third would arrive meanwhile and the peak show it.
        if request.method == "GET" and not met["two"]:
            deadline = time.monotonic() + DEADLINE_S
            while proxy.in_flight < 2 and time.monotonic() < deadline:
                time.sleep(0.005)
            met["two"] = True
        return None

    with FaultProxy("127.0.0.1", swift_port(sandbox), latency_s=0.05,
                    fault_for=hold_first_get_until_a_second_arrives) as proxy:
        settings = sandbox_settings(sandbox, storage__endpoint=proxy.endpoint,
                                    fetch__connections_per_executor=3, fetch__max_connections=2)
        slots, threads, tasks = fetch_shape(settings, spark.sparkContext.defaultParallelism)
        assert slots == 2 and tasks * threads <= 2
        built = run_extract(spark, settings, list_paths, str(tmp_path / "out"), out=lambda line: None)
        gets = settled_gets(proxy)
        assert proxy.errors == []

    assert len(gets) == found_count(truth)
    assert proxy.peak_in_flight == 2
    assert report.check_sums(built) == []
    assert built["totals"]["ok"] == truth["totals"]["ok"]
