"""extract against a misbehaving Swift: every fault injected by a FaultProxy in front of the real one.

Each test checks the statuses (per row where it matters), how the job ends (normally, or with the
documented exception and exit code), that no requested line is lost, and that the counts add up.

How attempts are checked: the proxy's rules count attempts per object path, and the sandbox's
lists request some objects from several rows (the same file in two lists, or two names with the
same bytes and extension). So a rule "fault the first f GETs of each object" makes the k rows of
one object take k + f attempts together, each at most f + 1; a row alone on its object takes
exactly f + 1. That is asserted per object, and the proxy's own count of GETs per object must
equal the attempts the rows recorded.
"""

from __future__ import annotations

import collections
import os
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from mediaextract import dataset, report, statuses
from mediaextract.dataset import Paths
from mediaextract.digest import sha1_base36
from mediaextract.errors import BadInput, StorageAuthError, StorageDown
from mediaextract.extract import run_extract
from mediaextract.fetch import AUTH_REFUSED, STORAGE_DOWN
from mediaextract.hadoopfs import HadoopFS
from mediaextract_sandbox.proxy import Delay, FaultProxy, Reset, Respond, Truncate, always

from ..conftest import sandbox_settings

pytestmark = pytest.mark.timeout(300)

DEADLINE_S = 60.0
FOUND = (statuses.OK, statuses.NOT_IN_STORAGE, statuses.CHECKSUM_MISMATCH)
# Retries are the subject here, not the wait between them.
FAST_RETRIES = {"fetch__backoff_initial_s": 0.01, "fetch__backoff_max_s": 0.05}
# Larger than any run here has requests: the breaker must not trip in tests of transient faults.
NO_BREAKER = {"fetch__failure_window": 1000}
FIRST_LINE = re.compile(r": (\d+) requested, (\d+) to fetch in (\d+) batches \((\d+) done by earlier runs\)")


# --- helpers -------------------------------------------------------------------------------------

def swift_port(sandbox) -> int:
    return urlsplit(sandbox.settings()["storage.endpoint"]).port


def job_settings(sandbox, proxy: FaultProxy, **overrides):
    """Gives sandbox settings pointed at the proxy; originals only (thumbnails are not the subject)."""
    return sandbox_settings(sandbox, storage__endpoint=proxy.endpoint, output__content="originals", **overrides)


def wait_for(condition, what: str, timeout_s: float = DEADLINE_S) -> None:
    """Polls `condition` until it holds; fails the test with `what` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def object_url_path(sandbox, storage_key: str) -> str:
    """Gives the path the proxy sees for a GET of this storage key (keys need no escaping)."""
    return f"/{sandbox.bucket_for(storage_key)}/{sandbox.object_path(storage_key)}"


def truth_rows(truth) -> dict:
    """Gives {(list, line): ground-truth row} for every requested line."""
    return {(name, row["line"]): row for name, part in truth["lists"].items() for row in part["rows"]}


def found_keys(truth) -> set:
    """Gives the (list, line) of the rows the job has to fetch."""
    return {key for key, row in truth_rows(truth).items() if row["status"] in FOUND}


def collect(spark, path: str) -> dict:
    """Gives {(list, line): Row} of the items under path, failing on a line stored twice."""
    rows = dataset.read_items(spark, path).collect()
    keyed = {(r["list"], r["line"]): r for r in rows}
    assert len(keyed) == len(rows), "a requested line has more than one row"
    return keyed


def gets(proxy: FaultProxy) -> list:
    return [r for r in proxy.log if r.method == "GET"]


def first_line_counts(lines: list[str]) -> dict:
    match = FIRST_LINE.search(lines[0])
    assert match, lines[0]
    requested, to_fetch, batches, reused = map(int, match.groups())
    return {"requested": requested, "to_fetch": to_fetch, "batches": batches, "reused": reused}


def assert_complete_and_true(built: dict, items: dict, truth) -> None:
    """One row per requested line, each with its ground-truth status; ok bytes verified; sums hold."""
    expected = truth_rows(truth)
    assert set(items) == set(expected)
    wrong = {key: (items[key]["status"], row["status"]) for key, row in expected.items()
             if items[key]["status"] != row["status"]}
    assert wrong == {}, "rows whose status differs from the ground truth: (got, expected)"
    for key, row in items.items():
        if row["status"] == statuses.OK:
            assert sha1_base36(bytes(row["content"])) == row["sha1"] == expected[key]["sha1"], key
    assert report.check_sums(built) == []
    for name, part in truth["lists"].items():
        for count, value in part["counts"].items():
            assert built["lists"][name][count] == value, (name, count)


def assert_attempts(sandbox, items: dict, log: list, faulted_first: dict) -> None:
    """Checks attempts per object: the first faulted_first[key] GETs of each object failed."""
    attempts = collections.defaultdict(list)
    for row in items.values():
        if row["status"] in FOUND:
            attempts[row["storage_key"]].append(row["attempts"])
    for key, made in attempts.items():
        failed = faulted_first.get(key, 0)
        assert sum(made) == len(made) + failed, (key, made, failed)
        assert all(1 <= n <= failed + 1 for n in made), (key, made, failed)
    alone = [key for key, made in attempts.items() if len(made) == 1]
    assert alone, "the check needs objects that only one row asks for"
    for key in alone:
        assert attempts[key] == [faulted_first.get(key, 0) + 1], key
    # Every attempt went through storage, and nothing else did.
    per_path = collections.Counter(r.path for r in log if r.method == "GET")
    assert per_path == {object_url_path(sandbox, key): sum(made) for key, made in attempts.items()}


def credentials_file(sandbox, path: Path, secret_key: str) -> str:
    """Writes a 0600 secrets file with the sandbox's catalog login and the given S3 secret."""
    catalog = yaml.safe_load(Path(sandbox.settings()["secrets_file"]).read_text())["catalog"]
    text = yaml.safe_dump({"catalog": catalog,
                           "storage": {"access_key": "test:tester", "secret_key": secret_key}})
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    return str(path)


def batch_dirs(output: str) -> list[str]:
    """Gives the names of every batch directory written, committed or not."""
    return sorted(p.name for p in Path(output, "_work").glob("run-*/batch-*"))


# --- transient faults: retried until they pass -----------------------------------------------

def test_bursts_of_503_are_retried_until_they_pass(spark, sandbox, truth, list_paths, tmp_path):
    def burst(request):
        if request.method != "GET":
            return None
        if request.attempt == 1:
            return Respond(503, {"Retry-After": "0"}, b"busy\n")
        if request.attempt == 2:
            return Respond.s3_error(503, "SlowDown", "Please reduce your request rate.")
        return None

    output = str(tmp_path / "out")
    with FaultProxy("127.0.0.1", swift_port(sandbox), fault_for=burst) as proxy:
        settings = job_settings(sandbox, proxy, **FAST_RETRIES, **NO_BREAKER)
        built = run_extract(spark, settings, list_paths, output, out=lambda line: None)
    assert proxy.errors == []

    items = collect(spark, output + "/items")
    assert_complete_and_true(built, items, truth)
    keys = {row["storage_key"] for row in items.values() if row["status"] in FOUND}
    assert_attempts(sandbox, items, gets(proxy), dict.fromkeys(keys, 2))
    assert collections.Counter(r.status for r in gets(proxy))[503] == 2 * len(keys)


def test_resets_timeouts_and_cut_bodies_are_retried_and_cut_bodies_never_stored(
        spark, sandbox, truth, list_paths, tmp_path):
    # Each object gets one kind of fault on its first GET. An object that is not there (404)
    # gets a reset: a 404 is an answer, and its body is an error text, not the object.
    rows = truth_rows(truth).values()
    stored = sorted({r["storage_key"] for r in rows if r["status"] in (statuses.OK, statuses.CHECKSUM_MISMATCH)})
    missing = sorted({r["storage_key"] for r in rows if r["status"] == statuses.NOT_IN_STORAGE})
    kinds = {key: ("reset", "timeout", "truncate")[i % 3] for i, key in enumerate(stored)}
    kinds.update(dict.fromkeys(missing, "reset"))
    faults = {"reset": Reset(), "timeout": Delay(60), "truncate": Truncate(0.5)}
    by_path = {object_url_path(sandbox, key): faults[kind] for key, kind in kinds.items()}

    def first_get_fails(request):
        if request.method == "GET" and request.attempt == 1:
            return by_path.get(request.path)
        return None

    output = str(tmp_path / "out")
    # Delay(60) outlasts the 2 s read timeout; closing the proxy cuts the delays short.
    with FaultProxy("127.0.0.1", swift_port(sandbox), fault_for=first_get_fails) as proxy:
        settings = job_settings(sandbox, proxy, storage__read_timeout_s=2,
                                fetch__connections_per_executor=8, fetch__max_connections=8,
                                **FAST_RETRIES, **NO_BREAKER)
        built = run_extract(spark, settings, list_paths, output, out=lambda line: None)
    assert proxy.errors == []

    items = collect(spark, output + "/items")
    assert_complete_and_true(built, items, truth)
    assert_attempts(sandbox, items, gets(proxy), dict.fromkeys(kinds, 1))
    faulted = collections.Counter(r.fault for r in gets(proxy) if r.fault)
    assert faulted == {"reset": sum(k == "reset" for k in kinds.values()),
                       "delay": sum(k == "timeout" for k in kinds.values()),
                       "truncate": sum(k == "truncate" for k in kinds.values())}
    # A cut body is never what gets kept: the rows of cut objects hold the whole, verified bytes.
    cut = [row for row in items.values()
           if kinds.get(row["storage_key"]) == "truncate" and row["status"] == statuses.OK]
    assert cut
    assert all(len(row["content"]) == row["size"] and sha1_base36(bytes(row["content"])) == row["sha1"]
               for row in cut)


# --- failures that outlast the attempts --------------------------------------------------------

def test_storage_failing_every_attempt_gives_fetch_failed_and_a_rerun_fetches_them(
        spark, sandbox, truth, list_paths, tmp_path):
    output = str(tmp_path / "out")
    found = found_keys(truth)
    with FaultProxy("127.0.0.1", swift_port(sandbox),
                    fault_for=always(Respond(503), method="GET")) as proxy:
        settings = job_settings(sandbox, proxy, fetch__max_attempts=2,
                                **FAST_RETRIES, **NO_BREAKER)
        failed_report = run_extract(spark, settings, list_paths, output, out=lambda line: None)
        failed_items = collect(spark, output + "/items")
        failed_gets = gets(proxy)

        proxy.fault_for = None
        proxy.reset_stats()
        lines: list[str] = []
        built = run_extract(spark, settings, list_paths, output, out=lines.append)
        rerun_gets = gets(proxy)
    assert proxy.errors == []

    expected = truth_rows(truth)
    assert set(failed_items) == set(expected)
    for key, row in failed_items.items():
        if key in found:
            assert (row["status"], row["attempts"]) == (statuses.FETCH_FAILED, 2), key
            assert row["reason"] == "HTTP 503 from storage (after 2 attempts)", key
            assert row["content"] is None
        else:
            assert row["status"] == expected[key]["status"], key
    assert report.check_sums(failed_report) == []
    assert failed_report["totals"][statuses.FETCH_FAILED] == failed_report["totals"]["found"] == len(found)
    assert len(failed_gets) == 2 * len(found)
    assert all(r.status == 503 for r in failed_gets)

    # The re-run (same command, same output) fetches the failed rows again, and only them.
    assert first_line_counts(lines) == {"requested": len(expected), "to_fetch": len(found),
                                        "batches": 1, "reused": 0}
    assert len(rerun_gets) == len(found)
    assert_complete_and_true(built, collect(spark, output + "/items"), truth)


def test_storage_down_mid_run_stops_with_exit_5_keeps_batches_and_resumes(
        spark, sandbox, truth, list_paths, tmp_path):
    output = str(tmp_path / "out")
    found = found_keys(truth)
    expected = truth_rows(truth)
    lines: list[str] = []

    def stop_storage_after_first_batch(line):
        lines.append(line)
        if line.startswith("batch 1/"):
            sandbox.stop_object_server()   # Swift's proxy now answers 503 to every GET
            proxy.reset_stats()

    try:
        with FaultProxy("127.0.0.1", swift_port(sandbox)) as proxy:
            settings = job_settings(sandbox, proxy, fetch__batch_rows=10,
                                    fetch__max_attempts=2, fetch__failure_window=5,
                                    fetch__failure_threshold=0.8, **FAST_RETRIES)
            with pytest.raises(StorageDown) as stopped:
                run_extract(spark, settings, list_paths, output, out=stop_storage_after_first_batch)
            after_stop = gets(proxy)
            stopped_lines = list(lines)
            committed = dataset.committed_batches(HadoopFS(spark), Paths(output))
            written = batch_dirs(output)
            batches = [collect(spark, path) for path in committed]

            sandbox.start_object_server()
            probe = sandbox.s3_client()
            key = next(row["storage_key"] for row in expected.values() if row["status"] == statuses.OK)
            wait_for(lambda: _get_works(probe, sandbox, key), "Swift to serve objects again")
            proxy.reset_stats()
            lines.clear()
            built = run_extract(spark, settings, list_paths, output, out=lines.append)
            rerun_gets = gets(proxy)
    finally:
        sandbox.start_object_server()
    assert proxy.errors == []

    error = stopped.value
    assert error.exit_code == 5
    assert "\n" not in str(error) and "run the same command again" in str(error)

    # It stopped cleanly: every batch it wrote is committed, and it stopped before the last.
    total_batches = first_line_counts(stopped_lines)["batches"]
    assert [p.rsplit("/", 1)[-1] for p in committed] == written
    assert len(stopped_lines) - 1 == len(committed) and 2 <= len(committed) < total_batches
    # No row lost or doubled in what it kept.
    kept = [key for batch in batches for key in batch]
    assert len(kept) == len(set(kept)) and set(kept) <= found
    # The batch committed before storage went down is kept as it was fetched.
    before, *after = batches
    assert {key: row["status"] for key, row in before.items()} == {key: expected[key]["status"] for key in before}
    # After: each row failed (its attempts spent, or not attempted once the breaker tripped).
    for batch in after:
        for key, row in batch.items():
            assert row["status"] == statuses.FETCH_FAILED, key
            assert row["reason"] == STORAGE_DOWN or (
                row["reason"].startswith("HTTP 503 from storage") and row["reason"].endswith("(after 2 attempts)")), row
    assert any(row["reason"] == STORAGE_DOWN for row in after[-1].values())
    # Storage down was only asked for rows of the batches that found it down.
    after_paths = {object_url_path(sandbox, expected[key]["storage_key"]) for batch in after for key in batch}
    assert after_stop and all(r.status == 503 and r.path in after_paths for r in after_stop)

    # The same command again reuses what was fetched and fetches only the rest.
    ok_kept = sum(row["status"] == statuses.OK for batch in batches for row in batch.values())
    counts = first_line_counts(lines)
    assert (counts["reused"], counts["to_fetch"]) == (ok_kept, len(found) - ok_kept)
    assert ok_kept > 0 and len(rerun_gets) == len(found) - ok_kept
    assert_complete_and_true(built, collect(spark, output + "/items"), truth)
    assert not Path(output, "_work").exists() and Path(output, "_SUCCESS").exists()


def _get_works(client, sandbox, storage_key: str) -> bool:
    try:
        client.get_object(Bucket=sandbox.bucket_for(storage_key), Key=sandbox.object_path(storage_key))["Body"].read()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not yet"
        return False


# --- credentials -------------------------------------------------------------------------------

def test_wrong_credentials_stop_the_job_at_the_preflight_before_any_fetch(
        spark, sandbox, list_paths, tmp_path):
    secret = "not-the-sandbox-secret"
    secrets_file = credentials_file(sandbox, tmp_path / "credentials.yaml", secret)
    output = tmp_path / "out"
    with FaultProxy("127.0.0.1", swift_port(sandbox)) as proxy:
        settings = job_settings(sandbox, proxy, secrets_file=secrets_file)
        assert settings["storage.secret_key"] == secret
        with pytest.raises(StorageAuthError) as refused:
            run_extract(spark, settings, list_paths, str(output), out=lambda line: None)
    assert proxy.errors == []

    assert refused.value.exit_code == 4
    message = str(refused.value)
    assert "\n" not in message and message.startswith("storage refused our credentials")
    assert secret not in message
    assert [(r.method, r.status) for r in proxy.log] == [("HEAD", 403)]
    assert not output.exists()


def test_a_wrong_wiki_id_stops_before_any_fetch_naming_the_container_it_looked_in(
        spark, sandbox, list_paths, tmp_path):
    output = tmp_path / "out"
    with FaultProxy("127.0.0.1", swift_port(sandbox)) as proxy:
        settings = job_settings(sandbox, proxy, wiki__id="enwiki")
        with pytest.raises(BadInput) as wrong:
            run_extract(spark, settings, list_paths, str(output), out=lambda line: None)
    assert proxy.errors == []
    assert wrong.value.exit_code == 2
    message = str(wrong.value)
    assert "\n" not in message and re.search(r"no container enwiki-local-deleted\.[0-9a-z]{2}\b", message)
    assert not [r for r in proxy.log if r.method == "GET"]     # nothing fetched
    assert not (output / "items").exists() and not (output / "_SUCCESS").exists()


def test_credentials_refused_mid_run_stop_with_exit_4_and_keep_committed_batches(
        spark, sandbox, truth, list_paths, tmp_path):
    output = str(tmp_path / "out")
    found = found_keys(truth)
    expected = truth_rows(truth)
    lines: list[str] = []

    def refuse_after_first_batch(line):
        lines.append(line)
        if line.startswith("batch 1/"):
            proxy.fault_for = always(Respond.s3_error(403, "AccessDenied", "Access Denied."), method="GET")
            proxy.reset_stats()

    with FaultProxy("127.0.0.1", swift_port(sandbox)) as proxy:
        settings = job_settings(sandbox, proxy, fetch__batch_rows=10,
                                **FAST_RETRIES)
        with pytest.raises(StorageAuthError) as refused:
            run_extract(spark, settings, list_paths, output, out=refuse_after_first_batch)
    assert proxy.errors == []

    assert refused.value.exit_code == 4
    assert "\n" not in str(refused.value) and "run the same command again" in str(refused.value)
    # It stopped right after the batch that was refused, before the others.
    total_batches = first_line_counts(lines)["batches"]
    assert total_batches > 2
    assert [line.split(":", 1)[0] for line in lines[1:]] == [f"batch 1/{total_batches}", f"batch 2/{total_batches}"]

    committed = dataset.committed_batches(HadoopFS(spark), Paths(output))
    assert [p.rsplit("/", 1)[-1] for p in committed] == batch_dirs(output)
    assert len(committed) == 2
    before, refused_batch = (collect(spark, path) for path in committed)
    assert not set(before) & set(refused_batch) and set(before) | set(refused_batch) <= found
    # Nothing lost from the batch committed before: statuses and bytes as fetched.
    assert {key: row["status"] for key, row in before.items()} == {key: expected[key]["status"] for key in before}
    assert all(sha1_base36(bytes(row["content"])) == row["sha1"]
               for row in before.values() if row["status"] == statuses.OK)
    assert all((row["status"], row["reason"]) == (statuses.FETCH_FAILED, AUTH_REFUSED)
               for row in refused_batch.values())
    # A refusal is not retried: each worker stops at its first 403, and no other batch is asked.
    refused_gets = gets(proxy)
    refused_paths = {object_url_path(sandbox, expected[key]["storage_key"]) for key in refused_batch}
    assert refused_gets and all(r.status == 403 and r.path in refused_paths for r in refused_gets)
    assert sum(row["attempts"] for row in refused_batch.values()) == len(refused_gets)
    assert all(row["attempts"] <= 1 for row in refused_batch.values())
