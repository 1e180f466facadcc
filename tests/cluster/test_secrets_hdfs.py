"""secrets_file on HDFS (hdfs:///...): read through Hadoop's file system by the driver, wherever it
runs, and refused like a local one (one line, exit 2, before any Spark work) unless it is a
regular file of the user's that nobody else can read. The run that reads it on YARN, and looks
for its values everywhere, is test_yarn.py's cluster-mode extract."""

from __future__ import annotations

import subprocess

import pytest

from mediaextract import config
from mediaextract.errors import BadInput

from ..conftest import REPO
from .conftest import applications_since
from .test_yarn import OTHER_USER

pytestmark = pytest.mark.timeout(600)


def put(hadoop, source, uri: str, umask: str, user: str | None = None) -> None:
    done = hadoop.fs_shell("-D", f"fs.permissions.umask-mode={umask}", "-put", "-f", str(source), uri, user=user)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_private_secrets_file_on_hdfs_gives_the_same_secrets_as_the_local_one(spark, sandbox, hadoop,
                                                                                 hdfs_secrets_file):
    uri = hadoop.default_fs + hdfs_secrets_file[len("hdfs://"):]
    assert config.read_secrets_file(uri) == config.read_secrets_file(sandbox.credentials_path)


@pytest.fixture(scope="module")
def refused(spark, sandbox, hadoop) -> dict[str, str]:
    """Secrets files on HDFS that must be refused, by what is wrong with them."""
    home = f"{hadoop.home}/.mediaextract"
    files = {"group-readable": f"{home}/group-readable.yaml", "missing": f"{home}/missing.yaml",
             "a directory": f"{home}/a-directory.yaml", "shared by an ACL": f"{home}/acl.yaml",
             "another user's": f"{hadoop.default_fs}/tmp/{OTHER_USER}-secrets.yaml"}
    put(hadoop, sandbox.credentials_path, files["group-readable"], "027")
    put(hadoop, sandbox.credentials_path, files["shared by an ACL"], "077")
    put(hadoop, sandbox.credentials_path, files["another user's"], "077", user=OTHER_USER)
    for args in (("-mkdir", "-p", files["a directory"]),
                 ("-chmod", "700", files["a directory"]),
                 ("-setfacl", "-m", f"user:{OTHER_USER}:r--", files["shared by an ACL"])):
        done = hadoop.fs_shell(*args)
        assert done.returncode == 0, done.stderr[-2000:]
    return files


def expected_refusal(case: str, uri: str, user: str) -> str:
    return {"group-readable": f"secrets file {uri} is open to group or others (mode 640): hdfs dfs -chmod 600 {uri}",
            "shared by an ACL": f"secrets file {uri} is open to group or others (mode 640): hdfs dfs -chmod 600 {uri}",
            "missing": f"cannot read secrets file {uri}: No such file or directory",
            "a directory": f"secrets file {uri} is not a regular file",
            "another user's": f"secrets file {uri} belongs to {OTHER_USER}, not to you ({user})"}[case]


@pytest.mark.parametrize("case", ["group-readable", "shared by an ACL", "missing", "a directory", "another user's"])
def test_a_secrets_file_on_hdfs_is_refused_unless_a_private_file_of_yours(hadoop, refused, case):
    with pytest.raises(BadInput) as error:
        config.read_secrets_file(refused[case])
    assert str(error.value) == expected_refusal(case, refused[case], hadoop.user)


@pytest.mark.parametrize("deploy_mode", ["client", "cluster"])
def test_a_shared_secrets_file_on_hdfs_is_one_line_and_exit_2_before_any_application(hadoop, sandbox, yarn_env,
                                                                                      refused, deploy_mode):
    """Through ./spark-submit.sh on YARN: refused before any application is asked for, by the driver
    in client mode, and on the client before spark-submit in cluster mode (preflight.py)."""
    uri = refused["group-readable"]
    before = {app["id"] for app in hadoop.applications()}
    settings = [a for k, v in sandbox.settings().items() for a in ("--set", f"{k}={v}")]
    result = subprocess.run([str(REPO / "spark-submit.sh"), "--master", "yarn", "--deploy-mode", deploy_mode,
                             *hadoop.submit_options(), "check-access", *settings, "--set", f"secrets_file={uri}"],
                            cwd=REPO, env=yarn_env, capture_output=True, text=True, timeout=300,
                            stdin=subprocess.DEVNULL)
    assert (result.returncode, result.stdout) == (2, ""), result.stderr[-3000:]
    assert result.stderr.splitlines() == [
        f"mediaextract: error: {expected_refusal('group-readable', uri, hadoop.user)}"]
    assert applications_since(hadoop, before, deadline_s=0) == []
