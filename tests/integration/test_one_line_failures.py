"""Every documented failure, run as people run it (./spark-submit.sh), says one line and its exit code.

Spark's and the JVM's own output goes to the run's log (spark-submit.sh); the console gets the
job's progress lines and, on failure, exactly one line on stderr. Each case below asserts the
whole output: nothing but progress on stdout, one line on stderr besides timestamped progress,
and no trace of a traceback or of Spark's logging anywhere on the console.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from datetime import datetime, timezone, timedelta
from pathlib import Path

import pytest
import yaml

from mediaextract import locks, schedule
from mediaextract.config import load_settings
from mediaextract.errors import (EXIT_BAD_INPUT, EXIT_BUG, EXIT_CATALOG_UNREACHABLE, EXIT_INTERRUPTED,
                                 EXIT_LOCK_TIMEOUT, EXIT_LOCKED, EXIT_NOTHING_IN_STORAGE, EXIT_PURGE_INCOMPLETE,
                                 EXIT_STORAGE_AUTH, EXIT_STORAGE_DOWN, EXIT_TERMINATED)
from mediaextract.hadoopfs import HadoopFS

from ..conftest import REPO, free_ports
from .test_export import small_data_set
from .test_extract_resume import wait_for
from .test_proxy import FaultProxy

pytestmark = pytest.mark.timeout(600)

PROGRESS = re.compile(r"^\d\d:\d\d:\d\d (INFO|DEBUG) ")
NOISE = re.compile(r"Traceback \(most recent|Exception|WARN|Warning|py4j|at org\.apache|log4j")
START_DEADLINE_S = 300.0


# This process's own run logs: under make test another pytest worker's runs write theirs too, and
# newest_run_log() must find one of ours.
RUN_LOGS = REPO / "logs" / f"tests-{os.getpid()}"


def env(**extra) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAEXTRACT_")}
    return {**clean, "MEDIAEXTRACT_LOG_DIR": str(RUN_LOGS), **extra}


def submit(*args, extra_env=None, spark=("--master", "local[2]"), timeout=300):
    return subprocess.run([str(REPO / "spark-submit.sh"), *spark, *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, env=env(**(extra_env or {})), stdin=subprocess.DEVNULL)


def the_one_line(result) -> str:
    """Return the failure's line, asserting it is the only thing said besides progress."""
    said = [line for line in result.stderr.splitlines() if not PROGRESS.match(line)]
    noisy = [line for line in (result.stdout + result.stderr).splitlines() if NOISE.search(line)]
    assert len(said) == 1 and not noisy, (result.returncode, result.stdout[-3000:], result.stderr[-3000:])
    assert said[0].startswith("mediaextract: ")
    return said[0]


def sets(sandbox, **extra) -> list[str]:
    pairs = {**sandbox.settings(), "catalog.partitions": 2, **extra}
    return [a for k, v in pairs.items() for a in ("--set", f"{k}={v}")]


def log_of(line: str) -> Path:
    """Return the run log a failure line names."""
    found = re.search(r"(/\S+\.log)", line)
    assert found, line
    return Path(found.group(1).rstrip(")"))


# --- exit 2: bad input, before any work ---------------------------------------------------------

def test_an_unknown_setting(sandbox):
    result = submit("plan", "--set", "fetch.speed=3", str(sandbox.lists_dir))
    assert result.returncode == EXIT_BAD_INPUT
    assert the_one_line(result) == "mediaextract: error: unknown setting 'fetch.speed' in --set (see conf/defaults.yaml)"


def test_a_list_that_does_not_exist_after_spark_started(sandbox, tmp_path):
    result = submit("plan", *sets(sandbox), "--output", str(tmp_path / "p"), "/no/such/list.txt")
    assert result.returncode == EXIT_BAD_INPUT
    assert the_one_line(result) == "mediaextract: error: list path not found: /no/such/list.txt"
    assert not (tmp_path / "p").exists()


def test_a_sample_of_a_list_not_given(sandbox, tmp_path):
    result = submit("extract", *sets(sandbox), "--output", str(tmp_path / "o"), "--sample", "nosuchlist=5",
                    str(sandbox.lists_dir))
    assert result.returncode == EXIT_BAD_INPUT
    assert "nosuchlist" in the_one_line(result)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("body, said", [
    (b"title\nA.jpg\n", "has no column 'name' (columns: title); set lists column with --column"),
    (b'name\n"A.jpg\n' + b"x" * 200_000 + b"\n", "cannot be parsed: Error: field larger than field limit (131072)"),
])
def test_a_list_file_that_cannot_be_read_as_a_list(sandbox, tmp_path, body, said):
    (tmp_path / "covers.csv").write_bytes(body)  # parsed in an executor: still one line, before any work
    result = submit("plan", *sets(sandbox), "--output", str(tmp_path / "p"), str(tmp_path / "covers.csv"))
    assert result.returncode == EXIT_BAD_INPUT
    line = the_one_line(result)
    assert line.startswith(f"mediaextract: error: list file:{tmp_path}/covers.csv ") and line.endswith(said), line
    assert not (tmp_path / "p").exists()


def test_a_chunk_size_other_than_the_data_sets_own(spark, sandbox, tmp_path):
    # A data set whose large originals were cut in 8 kB chunks: another size would mix two cuts.
    data = small_data_set(spark, tmp_path / "set", {"covers": [("A.jpg", "ok"), ("B.jpg", "ok")]})
    metadata = {"exports": [], "settings": {"output": {"blob_chunk_bytes": 8192}}}
    (data / "_metadata.json").write_text(json.dumps(metadata))
    before = {p: p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file()}
    result = submit("extract", *sets(sandbox, **{"output.root": str(tmp_path)}), "--output", str(data),
                    str(sandbox.lists_dir))
    assert result.returncode == EXIT_BAD_INPUT
    assert the_one_line(result) == (f"mediaextract: error: {data} keeps large originals in chunks of 8192 bytes, "
                                    "not 524288: set output.blob_chunk_bytes=8192 for it")
    assert {p: p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file()} == before


def test_no_job_named():
    result = submit("--conf", "x=y")
    assert result.returncode == EXIT_BAD_INPUT
    assert the_one_line(result).startswith("mediaextract: error: no job named")


def test_a_wrong_spark_option_is_one_line_naming_the_log():
    result = submit("plan", "x", spark=("--master", "no-such-master"))
    assert result.returncode != 0
    line = the_one_line(result)
    assert "before the job could say why" in line
    log = log_of(line)
    assert log.read_text() and log.stat().st_mode & 0o077 == 0 and log.parent.stat().st_mode & 0o077 == 0


# --- exits 3, 4, 5: what the job depends on ----------------------------------------------------

def test_the_catalog_down(sandbox, tmp_path):
    result = submit("plan", *sets(sandbox, **{"catalog.url": f"jdbc:mysql://127.0.0.1:{free_ports()}/commonswiki"}),
                    "--output", str(tmp_path / "p"), str(sandbox.lists_dir))
    assert result.returncode == EXIT_CATALOG_UNREACHABLE
    the_one_line(result)


def test_a_catalog_that_refuses_the_label_lookups(sandbox, tmp_path):
    """The label lookups run in the executors, after the plan: an account that may read
    filearchive and image but not comment stops the extract there, in one line and exit 3."""
    user, password = "no_comments", "no-comments-password"
    db = sandbox.connect_db()
    try:
        with db.cursor() as cur:
            for host in ("%", "localhost", "127.0.0.1"):
                cur.execute(f"CREATE USER IF NOT EXISTS '{user}'@'{host}' IDENTIFIED BY '{password}'")
                for table in ("filearchive", "image"):
                    cur.execute(f"GRANT SELECT ON commonswiki.{table} TO '{user}'@'{host}'")
    finally:
        db.close()
    secrets = yaml.safe_load(Path(sandbox.settings()["secrets_file"]).read_text())
    secrets["catalog"] = {**(secrets.get("catalog") or {}), "user": user, "password": password}
    limited = tmp_path / "credentials.yaml"
    limited.write_text(yaml.safe_dump(secrets))
    limited.chmod(0o600)
    output = tmp_path / "o"
    result = submit("extract", *sets(sandbox, secrets_file=str(limited)), "--output", str(output),
                    str(sandbox.lists_dir))
    assert result.returncode == EXIT_CATALOG_UNREACHABLE
    line = the_one_line(result)
    assert re.search(r"^mediaextract: error: catalog 127\.0\.0\.1:\d+/commonswiki query failed: \(1142, "
                     r".*SELECT command denied to user 'no_comments'.*comment", line), line
    assert password not in result.stdout + result.stderr + newest_run_log()
    assert not (output / "_SUCCESS").exists()


def test_credentials_refused_by_storage(sandbox, tmp_path):
    secrets = yaml.safe_load(Path(sandbox.settings()["secrets_file"]).read_text())
    secrets["storage"]["secret_key"] = "not-the-sandbox-secret"
    wrong = tmp_path / "credentials.yaml"
    wrong.write_text(yaml.safe_dump(secrets))
    wrong.chmod(0o600)
    result = submit("extract", *sets(sandbox, secrets_file=str(wrong)), "--output", str(tmp_path / "o"),
                    str(sandbox.lists_dir))
    assert result.returncode == EXIT_STORAGE_AUTH
    the_one_line(result)
    assert "not-the-sandbox-secret" not in result.stdout + result.stderr + newest_run_log()


def newest_run_log() -> str:
    """Return the text of the newest run log (a failure line with exit 2..8 may not name it)."""
    logs = sorted(RUN_LOGS.glob("*.log"), key=lambda p: p.stat().st_mtime)
    return logs[-1].read_text(errors="replace") if logs else ""


def test_a_wrong_wiki_id_is_one_line_naming_the_container(sandbox, tmp_path):
    output = tmp_path / "o"
    result = submit("extract", *sets(sandbox, **{"wiki.id": "enwiki"}), "--output", str(output),
                    str(sandbox.lists_dir))
    assert result.returncode == EXIT_BAD_INPUT
    line = the_one_line(result)
    assert re.search(r"^mediaextract: error: storage has no container enwiki-local-deleted\.[0-9a-z]{2}\b", line)
    assert not (output / "_SUCCESS").exists()


def test_a_zone_whose_containers_hold_none_of_the_files_stops_naming_one(sandbox, truth, tmp_path):
    # The containers exist (a wrong zone that happens to exist, or a mirror not filled yet), so
    # the preflight passes; the first objects fetched are all missing: the run stops, exit 9.
    shards = {r["storage_key"][:2] for part in truth["lists"].values() for r in part["rows"] if r["storage_key"]}
    client = sandbox.s3_client()
    buckets = [f"{sandbox.wiki_id}-local-mirror.{shard}" for shard in sorted(shards)]
    for bucket in buckets:
        client.create_bucket(Bucket=bucket)
    try:
        output = tmp_path / "o"
        argv = ["extract", "--output", str(output), str(sandbox.lists_dir)]
        result = submit(*argv[:1], *sets(sandbox, **{"storage.zone": "mirror", "fetch.stop_if_first_missing": 5,
                                                    "fetch.batch_rows": 5}), *argv[1:])
        assert result.returncode == EXIT_NOTHING_IN_STORAGE
        line = the_one_line(result)
        assert re.search(rf"were all missing, e\.g\. in container {sandbox.wiki_id}-local-mirror\.[0-9a-z]{{2}}: "
                         r"check wiki\.id, storage\.zone and storage\.sharded", line), line
        assert not (output / "_SUCCESS").exists()
        # The batch that showed it is committed; someone who knows the files are lost goes on.
        assert list((output / "_work").rglob("_SUCCESS"))
        result = submit(*argv[:1], *sets(sandbox, **{"storage.zone": "mirror", "fetch.stop_if_first_missing": 0}),
                        *argv[1:])
        assert result.returncode == 0, result.stderr[-2000:]
        report = json.loads((output / "report.json").read_text())
        assert report["totals"]["not_in_storage"] >= 5 and report["totals"]["ok"] == 0
    finally:
        for bucket in buckets:
            client.delete_bucket(Bucket=bucket)


def test_storage_down(sandbox, tmp_path):
    result = submit("extract", *sets(sandbox, **{"storage.endpoint": f"http://127.0.0.1:{free_ports()}",
                                                 "fetch.max_attempts": 1}),
                    "--output", str(tmp_path / "o"), str(sandbox.lists_dir))
    assert result.returncode == EXIT_STORAGE_DOWN
    the_one_line(result)


# --- exits 6, 7, 8: other runs and copies --------------------------------------------------------

def test_the_scheduled_period_locked_by_another_run(spark, sandbox, tmp_path):
    root = tmp_path / "periods"
    nominal = "2026-11-02T00:00Z"
    period = schedule.period_before(datetime(2026, 11, 2, tzinfo=timezone.utc), "monthly")
    fs = HadoopFS(spark)
    fs.mkdirs(f"file:{root}/_locks", 0o700)
    held = schedule.PeriodLock(fs, f"file:{root}/_locks/snapshot={period.label}.lock", timedelta(hours=48))
    assert held.acquire() is None
    result = submit("scheduled", *sets(sandbox), "--nominal-time", nominal, "--frequency", "monthly",
                    "--output-root", str(root))
    assert result.returncode == EXIT_LOCKED
    the_one_line(result)


def test_a_purge_that_cannot_read_a_registered_copy(spark, tmp_path):
    from mediaextract import export

    root = tmp_path / "root"
    small_data_set(spark, root / "covers", {"covers": [("Gone.jpg", "ok"), ("Kept.jpg", "ok")]})
    settings = load_settings(overrides={"output.root": str(root)}, environ={})
    copy = root / "exports" / "covers-files"
    export.run_export(spark, settings, str(root / "covers"), str(copy), "files", out=lambda line: None)
    (copy / "manifest.csv").unlink()        # which files the copy holds is unknown now
    names = tmp_path / "names.txt"
    names.write_text("Gone.jpg\n")
    result = submit("purge", "--request", "T-1", "--names", str(names), "--set", f"output.root={root}")
    assert result.returncode == EXIT_PURGE_INCOMPLETE
    line = the_one_line(result)
    assert str(copy) in line and "Gone" not in result.stdout + result.stderr


def test_a_purge_that_waits_too_long_for_a_writer(spark, tmp_path):
    root = tmp_path / "root"
    small_data_set(spark, root / "covers", {"covers": [("Gone.jpg", "ok")]})
    settings = load_settings(overrides={"output.root": str(root)}, environ={})
    names = tmp_path / "names.txt"
    names.write_text("Gone.jpg\n")
    writer = locks.Lock.for_root(HadoopFS(spark), f"file:{root}", "extract", settings)
    with writer.shared():
        result = submit("purge", "--request", "T-2", "--names", str(names), "--set", f"output.root={root}",
                        "--set", "governance.lock_timeout_s=1")
    assert result.returncode == EXIT_LOCK_TIMEOUT
    the_one_line(result)


# --- a killed driver, and Ctrl-C -----------------------------------------------------------------

def test_a_driver_killed_outright_is_one_line_naming_the_log(sandbox, tmp_path):
    result = submit("extract", *sets(sandbox), "--output", str(tmp_path / "o"), str(sandbox.lists_dir),
                    extra_env={"MEDIAEXTRACT_CRASH_ON": "extract.planned"})
    assert result.returncode not in (0, EXIT_BAD_INPUT)
    line = the_one_line(result)
    assert "before the job could say why" in line and log_of(line).exists()


def test_ctrl_c_mid_extract_is_one_line_and_exit_130(sandbox, tmp_path):
    # A terminal's Ctrl-C goes to the whole foreground process group, once fetching has begun.
    result = interrupt_mid_extract(sandbox, tmp_path, lambda job: os.killpg(job.pid, signal.SIGINT))
    assert result.returncode == EXIT_INTERRUPTED
    line = the_one_line(result)
    assert line.startswith("mediaextract: interrupted; committed batches are kept, run again to resume")


def interrupt_mid_extract(sandbox, tmp_path, send) -> subprocess.CompletedProcess:
    """Run an extract through spark-submit.sh, call send(job) once it fetches, and return the result."""
    output = tmp_path / "o"
    steps = tmp_path / "checkpoints.log"
    swift = int(sandbox.settings()["storage.endpoint"].rsplit(":", 1)[1])
    with FaultProxy("127.0.0.1", swift, latency_s=0.3) as proxy:
        command = [str(REPO / "spark-submit.sh"), "--master", "local[2]", "extract",
                   *sets(sandbox, **{"storage.endpoint": proxy.endpoint, "fetch.batch_rows": 5,
                                     "output.content": "originals"}),
                   "--output", str(output), str(sandbox.lists_dir)]
        job = subprocess.Popen(command, cwd=REPO, env=env(MEDIAEXTRACT_CHECKPOINT_LOG=str(steps)),
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
        try:
            wait_for(lambda: (steps.exists() and "extract.planned" in steps.read_text()) or job.poll() is not None,
                     "the extract to start fetching", START_DEADLINE_S)
            assert job.poll() is None
            send(job)
            out, err = job.communicate(timeout=120)
        finally:
            if job.poll() is None:
                os.killpg(job.pid, signal.SIGKILL)
                job.wait()
    assert not (output / "_SUCCESS").exists()
    return subprocess.CompletedProcess(command, job.returncode, out, err)


def test_sigterm_to_the_script_alone_is_one_line_and_exit_143(sandbox, tmp_path):
    # A scheduler stops a run by sending SIGTERM to the process it started, not to its group.
    result = interrupt_mid_extract(sandbox, tmp_path, lambda job: job.send_signal(signal.SIGTERM))
    assert result.returncode == EXIT_TERMINATED
    line = the_one_line(result)
    assert line.startswith("mediaextract: stopped (SIGTERM); committed batches are kept, run again to resume")
    assert log_of(line).exists()


def test_an_unexpected_failure_is_one_line_and_the_traceback_is_in_the_log(sandbox, tmp_path):
    result = submit("extract", *sets(sandbox), "--output", str(tmp_path / "o"), str(sandbox.lists_dir),
                    extra_env={"MEDIAEXTRACT_RAISE_ON": "extract.planned"})
    assert result.returncode == EXIT_BUG
    line = the_one_line(result)
    assert line.startswith("mediaextract: error: unexpected failure (a bug): the traceback is in ")
    logged = log_of(line).read_text()
    assert "Traceback" in logged and "injected failure at extract.planned" in logged
