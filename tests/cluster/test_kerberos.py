"""./spark-submit.sh on a Kerberized cluster: HDFS and YARN of a minicluster of this module's own
(MiniHadoop(secure=True), a MiniKdc in the same JVM), up only while these tests run (in one
process tests/conftest.py runs this module first among the cluster tests, so that it is down before
the plain one starts; under make test it is a unit of work of its own, beside the plain one).

Two YARN applications, both `check-access` on a private HDFS directory (the smallest job that reads
HDFS from the driver; the containers localize the environment from HDFS with the application's
delegation tokens): --principal/--keytab in client mode, a ticket cache from kinit in cluster mode.
A missing or an expired ticket is refused in one line before any Spark work.
"""

from __future__ import annotations

import base64
import os
import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest

from ..conftest import REPO
from .conftest import applications_since, assert_succeeded_on_yarn, minicluster, submit_on_yarn, upload_environment

pytestmark = pytest.mark.timeout(1200)

CHECKED = ".mediaextract"  # under the user's HDFS home: the environment archive, made private


@pytest.fixture(scope="module")
def secure_hadoop(tmp_path_factory):
    for tool in ("kinit", "klist"):
        assert shutil.which(tool), f"no {tool}: install krb5-user (scripts/bootstrap.sh)"
    yield from minicluster(tmp_path_factory.mktemp("secure-hadoop"), secure=True)


@pytest.fixture(scope="module")
def ticket(secure_hadoop, tmp_path_factory) -> Path:
    """A ticket cache of this module's own, from the keytab (kinit -kt), as a user would have."""
    ccache = tmp_path_factory.mktemp("krb5") / "ticket"
    got = secure_hadoop.kinit(ccache)
    assert got.returncode == 0, got.stderr
    return ccache


@pytest.fixture(scope="module")
def secure_env(secure_hadoop, ticket, tmp_path_factory) -> dict:
    """The environment of ./spark-submit.sh on the secure cluster, its run logs in a directory of
    this module's own and no ticket cache of the caller's (each test names its own, or none)."""
    uri = upload_environment(secure_hadoop, ticket)
    private = secure_hadoop.fs_shell("-chmod", "-R", "go-rwx", uri.rsplit("/", 1)[0], ccache=ticket)
    assert private.returncode == 0, private.stderr[-2000:]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDIAEXTRACT_", "KRB5"))}
    return {**env, **secure_hadoop.spark_env(), "MEDIAEXTRACT_ENVIRONMENT_URI": uri,
            "MEDIAEXTRACT_LOG_DIR": str(tmp_path_factory.mktemp("logs"))}


def keytab_keys(keytab: Path) -> list[bytes]:
    """Return the key of every entry of an MIT keytab (format 0x0502: each entry a size, then the
    principal, timestamp, version and key block)."""
    data = keytab.read_bytes()
    assert data[:2] == b"\x05\x02"
    keys, at = [], 2
    while at + 4 <= len(data):
        (size,) = struct.unpack_from(">i", data, at)
        entry, at = data[at + 4: at + 4 + abs(size)], at + 4 + abs(size)
        if size <= 0:  # a hole left by a deleted entry
            continue
        (components,) = struct.unpack_from(">H", entry, 0)
        pos = 2
        for _ in range(components + 1):  # the realm, then each component
            (length,) = struct.unpack_from(">H", entry, pos)
            pos += 2 + length
        pos += 4 + 4 + 1 + 2  # name type, timestamp, key version, key type
        (length,) = struct.unpack_from(">H", entry, pos)
        keys.append(entry[pos + 2: pos + 2 + length])
    return keys


def files_holding(root: Path, needles: list[bytes], skip: tuple[str, ...] = ()) -> list[Path]:
    found = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in skip]
        for name in files:
            path = Path(directory, name)
            try:
                data = path.read_bytes()
            except OSError:
                continue
            if any(needle in data for needle in needles):
                found.append(path)
    return found


def assert_keytab_kept_out_of_logs(secure_hadoop, secure_env, application: str) -> None:
    """No key of the keytab, raw, hex or base64, in the run's log or in anything YARN wrote (the
    containers' logs, the NodeManager's); HDFS's blocks (the application's staging copy of the
    keytab) and the KDC's database hold keys by design and are not logs."""
    keys = keytab_keys(secure_hadoop.keytab)
    assert keys and all(len(key) >= 16 for key in keys)
    needles = [form for key in keys for form in (key, key.hex().encode(), base64.b64encode(key))]
    assert files_holding(Path(secure_env["MEDIAEXTRACT_LOG_DIR"]), needles) == []
    assert files_holding(secure_hadoop.root, needles, skip=("dfs", "kdc", "conf")) == []
    # What it scanned held the application's containers' logs (its AM's and its executor's).
    assert len([p for p in secure_hadoop.base.rglob("stderr") if p.parent.parent.name == application]) == 2


def checked_root(secure_hadoop) -> str:
    return f"{secure_hadoop.default_fs}/user/{secure_hadoop.user}/{CHECKED}"


def test_without_a_ticket_hdfs_refuses_a_client(secure_hadoop, secure_env, ticket):
    """The cluster really asks for Kerberos: the same listing is denied without a ticket."""
    listed = secure_hadoop.fs_shell("-ls", checked_root(secure_hadoop), ccache=ticket)
    assert listed.returncode == 0 and "environment.tar.gz" in listed.stdout, listed.stderr[-2000:]
    denied = secure_hadoop.fs_shell("-ls", checked_root(secure_hadoop))
    assert denied.returncode != 0
    assert "Client cannot authenticate via:[TOKEN, KERBEROS]" in denied.stderr, denied.stderr[-2000:]


def test_check_access_with_principal_and_keytab_in_client_mode(secure_hadoop, secure_env, tmp_path):
    env = {**secure_env, "KRB5CCNAME": str(tmp_path / "no-ticket")}  # Spark logs in from the keytab alone
    result, made = submit_on_yarn(secure_hadoop, env, "check-access", "--root", checked_root(secure_hadoop),
                                  spark_options=["--principal", secure_hadoop.principal,
                                                 "--keytab", str(secure_hadoop.keytab)])
    assert_succeeded_on_yarn(result, made)
    assert result.stdout.splitlines()[-1] == \
        f"check-access: nothing under {checked_root(secure_hadoop)} can be read beyond the owner"
    assert_keytab_kept_out_of_logs(secure_hadoop, secure_env, made[0]["id"])


def test_check_access_with_a_ticket_from_kinit_in_cluster_mode(secure_hadoop, secure_env, ticket):
    """The driver runs in YARN's application master with the delegation tokens spark-submit got
    with the ticket; check-access fails the application (exit 2) if it cannot see the root."""
    result, made = submit_on_yarn(secure_hadoop, {**secure_env, "KRB5CCNAME": str(ticket)}, "check-access",
                                  "--root", checked_root(secure_hadoop), deploy_mode="cluster")
    assert_succeeded_on_yarn(result, made)
    said = [path.read_text(errors="replace") for path in secure_hadoop.base.rglob("stdout")
            if path.parent.parent.name == made[0]["id"]]  # the driver's lines: the AM container's stdout
    line = f"check-access: nothing under {checked_root(secure_hadoop)} can be read beyond the owner"
    assert any(line in text.splitlines() for text in said), said


def refused_before_spark(secure_hadoop, env: dict) -> subprocess.CompletedProcess:
    """Run ./spark-submit.sh check-access on the secure cluster; check that it started nothing: no
    YARN application and no run log (spark-submit.sh opens one just before spark-submit)."""
    before = {app["id"] for app in secure_hadoop.applications()}
    logs_before = set(Path(env["MEDIAEXTRACT_LOG_DIR"]).iterdir())
    result = subprocess.run([str(REPO / "spark-submit.sh"), "--master", "yarn", "check-access",
                             "--root", checked_root(secure_hadoop)], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert set(Path(env["MEDIAEXTRACT_LOG_DIR"]).iterdir()) == logs_before
    assert applications_since(secure_hadoop, before, deadline_s=0) == []
    assert result.returncode == 2 and result.stdout == "", (result.stdout[-2000:], result.stderr[-2000:])
    return result


@pytest.mark.parametrize("cache", ["nonexistent", "empty"])
def test_no_ticket_is_one_line_and_exit_2_before_spark(secure_hadoop, secure_env, tmp_path, cache):
    ccache = tmp_path / "ticket"
    if cache == "empty":
        ccache.write_bytes(b"")
    result = refused_before_spark(secure_hadoop, {**secure_env, "KRB5CCNAME": str(ccache)})
    assert result.stderr.splitlines() == [
        f"mediaextract: error: Kerberos: {secure_hadoop.conf_dir}/core-site.xml asks for Kerberos and there is "
        f"no ticket in {ccache}: run kinit first, or pass --principal and --keytab"]


def test_an_expired_ticket_is_one_line_and_exit_2_before_spark(secure_hadoop, secure_env, tmp_path):
    ccache = tmp_path / "ticket"
    got = secure_hadoop.kinit(ccache, lifetime="5s")  # about the shortest that MIT kinit asks for
    assert got.returncode == 0, got.stderr
    env = {**secure_env, "KRB5CCNAME": str(ccache)}
    klist = [shutil.which("klist"), "-s"]
    assert subprocess.run(klist, env=env).returncode == 0
    deadline = time.monotonic() + 120
    while subprocess.run(klist, env=env).returncode == 0:  # polling the ticket's end, with a deadline
        assert time.monotonic() < deadline, "the 5 s ticket never expired"
        time.sleep(0.5)
    result = refused_before_spark(secure_hadoop, env)
    assert result.stderr.splitlines() == [
        f"mediaextract: error: Kerberos: the ticket in {ccache} has expired: run kinit again, "
        "or pass --principal and --keytab"]


def test_a_secrets_file_on_hdfs_is_checked_with_the_keytabs_login_before_a_cluster_mode_submit(
        secure_hadoop, secure_env, ticket, tmp_path):
    """Without a ticket, the client's check of a secrets file on HDFS (preflight.py) logs in from
    --keytab as the run will: it reads the file's mode and refuses it as shared, in one line, with
    no application (without that login it could only say that it cannot authenticate)."""
    local = tmp_path / "secrets.yaml"
    local.write_text("catalog: {password: not-a-real-one}\n")
    uri = f"hdfs:///user/{secure_hadoop.user}/{CHECKED}/shared-secrets.yaml"
    for args in (("-put", "-f", str(local), uri), ("-chmod", "640", uri)):
        done = secure_hadoop.fs_shell(*args, ccache=ticket)
        assert done.returncode == 0, done.stderr[-2000:]
    env = {**secure_env, "KRB5CCNAME": str(tmp_path / "no-ticket")}
    before = {app["id"] for app in secure_hadoop.applications()}
    result = subprocess.run([str(REPO / "spark-submit.sh"), "--master", "yarn", "--deploy-mode", "cluster",
                             "--principal", secure_hadoop.principal, "--keytab", str(secure_hadoop.keytab),
                             "check-access", "--root", checked_root(secure_hadoop), "--set", f"secrets_file={uri}"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and result.stdout == "", (result.stdout[-2000:], result.stderr[-2000:])
    assert result.stderr.splitlines() == [
        f"mediaextract: error: secrets file {uri} is open to group or others (mode 640): hdfs dfs -chmod 600 {uri}"]
    assert applications_since(secure_hadoop, before, deadline_s=0) == []
