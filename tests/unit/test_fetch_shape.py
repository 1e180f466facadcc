import pytest

from mediaextract.config import load_settings
from mediaextract.extract import fetch_shape


@pytest.mark.parametrize("per_executor, cap, parallelism, executors", [
    (4, 8, 2, 1), (1, 8, 2, 1), (3, 2, 2, 1), (7, 7, 2, 1), (3, 3, 2, 1), (2, 8, 40, 10), (4, 5, 16, 4),
])
def test_shape_never_exceeds_either_cap_and_uses_what_it_can(per_executor, cap, parallelism, executors):
    settings = load_settings(None, [f"fetch.connections_per_executor={per_executor}",
                                    f"fetch.max_connections={cap}"], environ={})
    slots, threads, tasks = fetch_shape(settings, parallelism, executors)
    assert slots == min(per_executor, cap)
    assert tasks * threads <= cap                     # the job's cap, on any number of executors
    assert threads <= slots                           # a task alone never exceeds its host's cap
    usable = min(min(parallelism, tasks) * threads, slots * executors)
    best = max(min(min(parallelism, cap // t) * t, slots * executors) for t in range(1, slots + 1))
    assert usable == best


def test_odd_caps_are_used_fully_on_two_cores():
    settings = load_settings(None, ["fetch.connections_per_executor=7", "fetch.max_connections=7"], environ={})
    slots, threads, tasks = fetch_shape(settings, 2, 1)
    assert min(2, tasks) * threads == 7
