"""The sandbox itself: lifecycle, seed idempotence, ground truth against the DB and Swift."""

from __future__ import annotations

import hashlib
import json
import os
import random
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pymysql
import pytest
import yaml
from botocore.exceptions import ClientError

from mediaextract_sandbox import Sandbox, SandboxError
from mediaextract_sandbox import seed as seed_module

pytestmark = pytest.mark.timeout(240)

REPO = Path(__file__).resolve().parents[2]
SEED_STATUSES = {"invalid_name", "duplicate", "not_in_filearchive", "suppressed",
                 "no_storage_key", "not_in_storage", "checksum_mismatch", "ok"}


# --- helpers -------------------------------------------------------------------------------------

def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port(taken: set[int]) -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in taken:
            return port


def _free_run(count: int, taken: set[int]) -> int:
    """Return the first of `count` consecutive free ports (below the ephemeral range)."""
    rng = random.Random()
    for _ in range(500):
        base = rng.randint(20000, 32000 - count)
        run = range(base, base + count)
        if not taken.intersection(run) and all(_bindable(p) for p in run):
            return base
    raise RuntimeError("no run of free ports found")


def _ports() -> dict[str, int]:
    taken: set[int] = set()
    swift = _free_run(4, taken)
    taken.update(range(swift, swift + 4))
    mariadb = _free_port(taken)
    taken.add(mariadb)
    memcached = _free_port(taken)
    return {"mariadb_port": mariadb, "swift_port": swift, "memcached_port": memcached}


def _cli(sandbox: Sandbox, action: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO / "lib"))
    return subprocess.run(
        [sys.executable, "-m", "mediaextract_sandbox", action, "--root", str(sandbox.root),
         "--mariadb-port", str(sandbox.mariadb_port), "--swift-port", str(sandbox.swift_port),
         "--memcached-port", str(sandbox.memcached_port)],
        env=env, capture_output=True, text=True, timeout=120)


def _base36_sha1(data: bytes) -> str:
    number, digits = int(hashlib.sha1(data).hexdigest(), 16), ""
    while number:
        number, rest = divmod(number, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[rest] + digits
    return digits.zfill(31)


def _rows(truth: dict):
    for list_name, entry in truth["lists"].items():
        for row in entry["rows"]:
            yield list_name, row


def _get(sandbox: Sandbox, storage_key: str, client=None) -> bytes:
    client = client or sandbox.s3_client()
    return client.get_object(Bucket=sandbox.bucket_for(storage_key),
                             Key=sandbox.object_path(storage_key))["Body"].read()


def _table_counts(sandbox: Sandbox) -> dict[str, int]:
    conn = sandbox.connect_db()
    try:
        with conn.cursor() as cur:
            counts = {}
            for table in ("filearchive", "image", "oldimage"):
                cur.execute(f"SELECT COUNT(*) FROM {table}")
                counts[table] = cur.fetchone()[0]
            return counts
    finally:
        conn.close()


# --- fixtures ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    box = Sandbox(tmp_path_factory.mktemp("sandbox"), **_ports())
    try:
        box.up()
        yield box
    finally:
        box.down()


@pytest.fixture(scope="module")
def truth(sandbox):
    return sandbox.seed()


# --- lifecycle -----------------------------------------------------------------------------------

def test_up_is_idempotent_and_reuses_running_services(sandbox):
    before = sandbox.pids()
    assert all(before.values()), before
    sandbox.up()
    assert sandbox.pids() == before


def test_status_reports_every_service_running(sandbox):
    assert sandbox.status() == {"mariadb": True, "memcached": True, "swift": True}
    result = _cli(sandbox, "status")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1


def test_settings_point_at_the_sandbox(sandbox):
    assert sandbox.settings() == {
        "catalog.url": f"jdbc:mysql://127.0.0.1:{sandbox.mariadb_port}/commonswiki",
        "storage.endpoint": f"http://127.0.0.1:{sandbox.swift_port}",
        "wiki.id": "wikipedia-commons",
        "secrets_file": str(sandbox.root / "credentials.yaml"),
    }


def test_credentials_file_is_private_and_never_logged(sandbox):
    path = Path(sandbox.settings()["secrets_file"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(sandbox.root.stat().st_mode) == 0o700
    secrets = yaml.safe_load(path.read_text())
    assert secrets["catalog"]["user"] == "mediaextract"
    assert len(secrets["catalog"]["password"]) >= 16
    assert secrets["storage"] == {"access_key": "test:tester", "secret_key": "testing"}
    for log in (sandbox.root / "logs").iterdir():
        assert secrets["catalog"]["password"] not in log.read_text(errors="replace"), log


def test_jdbc_user_reads_over_tcp_and_cannot_write(sandbox, truth):
    secrets = yaml.safe_load(Path(sandbox.settings()["secrets_file"]).read_text())["catalog"]
    conn = pymysql.connect(host="127.0.0.1", port=sandbox.mariadb_port, user=secrets["user"],
                           password=secrets["password"], database="commonswiki")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM filearchive")
            assert cur.fetchone()[0] == len(seed_module.FILEARCHIVE)
            # Names with a backslash and a quote match byte for byte in the binary column.
            by_name = {row["name"]: row["fa_id"] for _, row in _rows(truth) if row["status"] == "ok"}
            for name in ("Old_scan_\\_page_1.jpg", "Don't.jpg", "O'Reilly_\"Camel\"_book.jpg"):
                cur.execute("SELECT fa_id FROM filearchive WHERE fa_name = %s", (name.encode(),))
                assert [r[0] for r in cur.fetchall()] == [by_name[name]]
            with pytest.raises(pymysql.err.OperationalError) as denied:
                cur.execute("DELETE FROM filearchive")
            assert denied.value.args[0] == 1142  # command denied
    finally:
        conn.close()


# --- seed ----------------------------------------------------------------------------------------

def test_seed_is_idempotent_and_repairs_changes(sandbox, truth):
    counts = _table_counts(sandbox)
    ok = next(row for _, row in _rows(truth) if row["status"] == "ok")
    client = sandbox.s3_client()
    client.delete_object(Bucket=sandbox.bucket_for(ok["storage_key"]),
                         Key=sandbox.object_path(ok["storage_key"]))
    client.create_bucket(Bucket="stray-bucket")
    conn = sandbox.connect_db()
    try:
        with conn.cursor() as cur:
            cur.execute("DELETE FROM filearchive WHERE fa_id = %s", (ok["fa_id"],))
    finally:
        conn.close()

    again = sandbox.seed()

    assert again == truth
    assert _table_counts(sandbox) == counts
    assert _base36_sha1(_get(sandbox, ok["storage_key"])) == ok["sha1"]
    assert "stray-bucket" not in {b["Name"] for b in client.list_buckets()["Buckets"]}
    assert json.loads(sandbox.ground_truth_path.read_text(encoding="utf-8")) == truth


def test_ground_truth_counts_add_up(truth):
    totals = dict.fromkeys(truth["totals"], 0)
    statuses = set()
    assert set(truth["lists"]) == {"album_covers", "books", "logos", "screenshots", "out_of_domain"}
    for list_name, entry in truth["lists"].items():
        counts, rows = entry["counts"], entry["rows"]
        assert 12 <= counts["requested"] <= 25, list_name
        assert counts["requested"] == len(rows)
        assert counts["requested"] == (counts["invalid_name"] + counts["duplicate"]
                                       + counts["not_in_filearchive"] + counts["suppressed"]
                                       + counts["no_storage_key"] + counts["found"])
        assert counts["found"] == counts["ok"] + counts["not_in_storage"] + counts["checksum_mismatch"]
        for status in SEED_STATUSES:
            assert counts[status] == sum(row["status"] == status for row in rows)
        found = [row for row in rows if row["status"] in ("ok", "not_in_storage", "checksum_mismatch")]
        assert counts["bytes_found"] == sum(row["size"] for row in found)
        for key, value in counts.items():
            totals[key] += value
        statuses.update(row["status"] for row in rows)
    assert totals == truth["totals"]
    assert statuses == SEED_STATUSES


def test_ground_truth_rows_match_the_list_files(truth):
    for list_name, entry in truth["lists"].items():
        raw = Path(entry["path"]).read_bytes()
        lines = raw.split(b"\n")
        if lines[-1] == b"":
            lines.pop()
        requested = {}
        for number, line in enumerate(lines, start=1):
            text = line.removesuffix(b"\r").decode("utf-8", errors="replace")
            if number == 1:
                text = text.removeprefix("\ufeff")
            if text.strip() and not text.lstrip().startswith("#"):
                requested[number] = text
        assert {row["line"]: row["requested_name"] for row in entry["rows"]} == requested, list_name


def test_ground_truth_matches_the_database(sandbox, truth):
    seed_module.self_check(sandbox, truth)  # the seed's own check, run again on its own
    conn = sandbox.connect_db()
    try:
        with conn.cursor() as cur:
            for list_name, row in _rows(truth):
                if row["status"] in ("invalid_name", "duplicate"):
                    assert row["fa_id"] is None
                    continue
                cur.execute("SELECT COUNT(*) FROM filearchive WHERE fa_name = %s",
                            (row["name"].encode(),))
                assert cur.fetchone()[0] == row["versions"], (list_name, row["line"])
                if row["status"] == "not_in_filearchive":
                    assert row["versions"] == 0
                    continue
                if row["status"] == "suppressed":
                    assert (row["fa_id"], row["sha1"], row["storage_key"]) == (None, None, None)
                    cur.execute("SELECT fa_deleted FROM filearchive WHERE fa_name = %s ORDER BY "
                                "fa_deleted_timestamp DESC, fa_timestamp DESC, fa_id DESC LIMIT 1",
                                (row["name"].encode(),))
                    assert cur.fetchone()[0] & 8
                    continue
                cur.execute("SELECT fa_name, fa_sha1, fa_storage_key, fa_size, fa_deleted "
                            "FROM filearchive WHERE fa_id = %s", (row["fa_id"],))
                name, sha1, key, size, deleted = cur.fetchone()
                assert (name.decode(), sha1.decode(), key.decode(), size) == (
                    row["name"], row["sha1"], row["storage_key"], row["size"])
                assert not deleted & 8
                assert (key == b"") == (row["status"] == "no_storage_key")
            cur.execute("SELECT COUNT(*) FROM image WHERE img_name = %s", (b"Undeleted_cover.jpg",))
            assert cur.fetchone()[0] == 1
            cur.execute("SELECT MAX(LENGTH(fa_metadata)) FROM filearchive")
            assert cur.fetchone()[0] > 100_000  # something the job must never select
    finally:
        conn.close()


def test_objects_in_swift_match_the_ground_truth(sandbox, truth):
    client = sandbox.s3_client()
    checked = set()
    for _, row in _rows(truth):
        status, key = row["status"], row["storage_key"]
        if status not in ("ok", "not_in_storage", "checksum_mismatch") or key in checked:
            continue
        checked.add(key)
        if status == "not_in_storage":
            with pytest.raises(ClientError) as missing:
                _get(sandbox, key, client)
            assert missing.value.response["Error"]["Code"] == "NoSuchKey"
            continue
        body = _get(sandbox, key, client)
        assert len(body) == row["size"]
        assert (_base36_sha1(body) == row["sha1"]) == (status == "ok"), key
    assert len(checked) >= 20


def test_wrong_secret_is_refused_with_403(sandbox, truth):
    ok = next(row for _, row in _rows(truth) if row["status"] == "ok")
    with pytest.raises(ClientError) as refused:
        _get(sandbox, ok["storage_key"], sandbox.s3_client(secret_key="not-the-secret"))
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_object_server_can_be_stopped_and_started(sandbox, truth):
    ok = next(row for _, row in _rows(truth) if row["status"] == "ok")
    sandbox.stop_object_server()
    try:
        assert sandbox.pids()["swift-object"] is None
        assert sandbox.status()["swift"] is False
        with pytest.raises(ClientError) as failed:
            _get(sandbox, ok["storage_key"])
        assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] >= 500
    finally:
        sandbox.start_object_server()
    assert sandbox.status()["swift"] is True
    assert _base36_sha1(_get(sandbox, ok["storage_key"])) == ok["sha1"]


# --- errors --------------------------------------------------------------------------------------

@pytest.mark.parametrize("service", ["mariadb", "swift-object"])
def test_taken_port_is_one_clear_line(tmp_path, service):
    ports = _ports()
    taken = ports["mariadb_port"] if service == "mariadb" else ports["swift_port"] + 3
    other = Sandbox(tmp_path / "other", **ports)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        with pytest.raises(SandboxError) as error:
            other.up()
        message = str(error.value)
        assert "\n" not in message
        assert f"port {taken} " in message
        assert ("MariaDB" if service == "mariadb" else "Swift object server") in message
        assert not any(other.pids().values())  # nothing was started
        if service == "mariadb":
            result = _cli(other, "up")
            assert result.returncode == 2
            assert result.stderr.count("\n") == 1 and f"port {taken} " in result.stderr


# --- last: down ----------------------------------------------------------------------------------

def test_down_stops_everything_and_keeps_the_data(sandbox, truth):
    sandbox.down()
    assert sandbox.status() == {"mariadb": False, "memcached": False, "swift": False}
    assert not any(sandbox.pids().values())
    sandbox.down()  # idempotent
    assert _cli(sandbox, "status").returncode == 1

    sandbox.up()
    assert all(sandbox.status().values())
    assert _table_counts(sandbox)["filearchive"] == len(seed_module.FILEARCHIVE)
    ok = next(row for _, row in _rows(truth) if row["status"] == "ok")
    assert _base36_sha1(_get(sandbox, ok["storage_key"])) == ok["sha1"]


def test_down_without_port_flags_stops_what_up_started_on_other_ports(sandbox):
    sandbox.down()
    up = _cli(sandbox, "up")  # the fixture's ports are not the defaults: up records them
    assert up.returncode == 0, up.stderr
    assert all(sandbox.status().values())
    env = dict(os.environ, PYTHONPATH=str(REPO / "lib"))
    down = subprocess.run([sys.executable, "-m", "mediaextract_sandbox", "down", "--root", str(sandbox.root)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    assert sandbox.status() == {"mariadb": False, "memcached": False, "swift": False}
    assert not any(sandbox.pids().values())
