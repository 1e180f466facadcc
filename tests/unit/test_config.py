import os
import subprocess
from pathlib import Path

import pytest

from mediaextract import config
from mediaextract.config import MASK, SETTING_BY_KEY, StorageSettings, load_settings, parse_overrides
from mediaextract.errors import BadInput
from mediaextract.session import job_conf

REPO = Path(__file__).resolve().parents[2]


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_defaults_load_without_a_file():
    settings = load_settings(environ={})
    assert settings["thumbnail.width"] == 500
    assert settings["output.retention_days"] == 180
    assert settings["catalog.password"] is None


def test_file_then_overrides_win_in_order(tmp_path):
    conf = write(tmp_path / "c.yaml", "fetch:\n  max_connections: 3\n  connections_per_executor: 2\n", 0o644)
    settings = load_settings(conf, ["fetch.max_connections=5"], environ={})
    assert settings["fetch.max_connections"] == 5
    assert settings["fetch.connections_per_executor"] == 2


def test_override_values_are_typed_like_the_default():
    settings = load_settings(None, ["output.group_readable=true", "fetch.failure_threshold=0.5",
                                    "fetch.retry_statuses=fetch_failed,too_large"], environ={})
    assert settings["output.group_readable"] is True
    assert settings["fetch.failure_threshold"] == 0.5
    assert settings["fetch.retry_statuses"] == ["fetch_failed", "too_large"]


@pytest.mark.parametrize("pairs, words", [
    (["fetch.max_conections=3"], "unknown setting 'fetch.max_conections'"),
    (["fetch.max_connections=many"], "must be a whole number of at least 1, not 'many'"),
    (["fetch.max_connections=0"], "at least 1, not 0"),
    (["output.content=everything"], "must be one of originals, thumbnails, both"),
    (["catalog.source=snapshot"], "catalog.snapshot"),
    (["noequals"], "key=value"),
])
def test_bad_settings_give_one_clear_line(pairs, words):
    with pytest.raises(BadInput) as error:
        load_settings(None, pairs, environ={})
    assert words in str(error.value)
    assert "\n" not in str(error.value)


def test_unknown_key_in_a_file_is_rejected(tmp_path):
    conf = write(tmp_path / "c.yaml", "fetch:\n  speed: 3\n")
    with pytest.raises(BadInput, match="unknown setting 'fetch.speed'"):
        load_settings(conf, environ={})


def test_secret_in_settings_file_is_refused(tmp_path):
    conf = write(tmp_path / "c.yaml", "catalog:\n  password: hunter2\n")
    with pytest.raises(BadInput, match="is a secret") as error:
        load_settings(conf, environ={})
    assert "hunter2" not in str(error.value)


def test_secrets_from_environment_are_masked_when_printed():
    settings = load_settings(None, environ={"MEDIAEXTRACT_CATALOG_PASSWORD": "hunter2",
                                            "AWS_SECRET_ACCESS_KEY": "s3cret"})
    assert settings["catalog.password"] == "hunter2"
    assert settings["storage.secret_key"] == "s3cret"
    public = settings.public()
    assert public["catalog"]["password"] == MASK
    assert public["storage"]["secret_key"] == MASK
    assert "hunter2" not in repr(public) and "s3cret" not in repr(public)


def test_secrets_are_in_no_repr_or_printed_form():
    settings = load_settings(None, ["storage.endpoint=http://127.0.0.1:9"],
                             environ={"MEDIAEXTRACT_CATALOG_PASSWORD": "hunter2",
                                      "MEDIAEXTRACT_STORAGE_ACCESS_KEY": "AKIDEXAMPLE",
                                      "MEDIAEXTRACT_STORAGE_SECRET_KEY": "s3cret"})
    storage = settings.storage()
    assert (storage.access_key, storage.secret_key) == ("AKIDEXAMPLE", "s3cret")
    for shown in (repr(settings), str(settings), repr(settings.secrets), str(settings.secrets),
                  repr(settings.public()), repr(storage), str(storage)):
        assert "hunter2" not in shown and "s3cret" not in shown and "AKIDEXAMPLE" not in shown
    assert repr(settings.secrets) == repr({key: MASK for key in settings.secrets})


@pytest.mark.parametrize("url", [
    "jdbc:mysql://127.0.0.1:3306/commonswiki?user=research&password=hunter2",
    "jdbc:mysql://127.0.0.1:3306/commonswiki?useSSL=true&PASSWORD=hunter2",
    "jdbc:mysql://research:hunter2@127.0.0.1:3306/commonswiki",
    "jdbc:mysql://research@127.0.0.1/commonswiki",
])
def test_credentials_in_the_catalog_url_are_refused_without_echoing_them(url):
    with pytest.raises(BadInput, match="catalog.url must not carry credentials") as error:
        load_settings(None, {"catalog.url": url}, environ={})
    assert "hunter2" not in str(error.value) and "research" not in str(error.value)
    assert error.value.exit_code == 2


def test_storage_settings_are_typed_from_the_declaration_with_their_credentials():
    settings = load_settings(None, ["storage.endpoint=http://127.0.0.1:9", "storage.read_timeout_s=60"],
                             environ={"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s"})
    storage = settings.storage()
    assert storage == StorageSettings(backend="s3", endpoint="http://127.0.0.1:9", region="us-east-1",
                                      addressing_style="path", connect_timeout_s=5.0, read_timeout_s=60.0,
                                      disk_root=None, access_key="a", secret_key="s")
    for name in StorageSettings.setting_names():
        assert type(getattr(storage, name)) in (SETTING_BY_KEY[f"storage.{name}"].type, type(None))


@pytest.mark.parametrize("pairs, environ, words", [
    ([], {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s"}, "storage.endpoint is required"),
    (["storage.endpoint=http://h"], {"AWS_ACCESS_KEY_ID": "a"}, "storage credentials missing"),
    (["storage.backend=disk"], {}, "storage.disk_root is required"),
])
def test_incomplete_storage_settings_are_one_line(pairs, environ, words):
    with pytest.raises(BadInput, match=words):
        load_settings(None, pairs, environ=environ).storage()


def test_secrets_file_is_read_when_private_and_refused_when_readable(tmp_path):
    secrets = write(tmp_path / "cred.yaml", "catalog: {user: u, password: p}\nstorage: {secret_key: k}\n")
    settings = load_settings(None, [f"secrets_file={secrets}"], environ={})
    assert (settings["catalog.user"], settings["catalog.password"], settings["storage.secret_key"]) == ("u", "p", "k")
    os.chmod(secrets, 0o640)
    with pytest.raises(BadInput, match="open to group or others.*chmod 600"):
        load_settings(None, [f"secrets_file={secrets}"], environ={})


@pytest.mark.parametrize("mode", [0o610, 0o604, 0o601, 0o620])
def test_secrets_file_with_any_group_or_other_bit_is_refused(tmp_path, mode):
    secrets = write(tmp_path / "cred.yaml", "catalog: {password: p}\n", mode)
    with pytest.raises(BadInput, match=f"mode {mode:o}"):
        config.read_secrets_file(secrets)


def test_secrets_file_behind_a_symlink_is_refused(tmp_path):
    target = write(tmp_path / "cred.yaml", "catalog: {password: p}\n")
    link = tmp_path / "link.yaml"
    link.symlink_to(target)
    with pytest.raises(BadInput, match="is a symbolic link"):
        config.read_secrets_file(link)


def test_a_file_uri_secrets_file_is_a_local_file_with_the_local_checks(tmp_path):
    # Not read through Hadoop's local file system, which follows links and checks by path.
    target = write(tmp_path / "cred.yaml", "catalog: {password: p}\n")
    assert config.read_secrets_file(f"file://{target}") == {"catalog.password": "p"}
    link = tmp_path / "link.yaml"
    link.symlink_to(target)
    with pytest.raises(BadInput, match="is a symbolic link"):
        config.read_secrets_file(f"file://{link}")
    assert not config.on_hadoop(f"file://{target}") and config.on_hadoop("hdfs:///user/me/cred.yaml")


def test_secrets_file_that_is_not_a_regular_file_is_refused(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)  # opening it must not wait for a writer
    for path in (tmp_path, fifo):
        with pytest.raises(BadInput, match="is not a regular file"):
            config.read_secrets_file(path)


def test_secrets_file_of_another_user_is_refused(tmp_path, monkeypatch):
    secrets = write(tmp_path / "cred.yaml", "catalog: {password: p}\n")
    owner = os.stat(secrets).st_uid
    monkeypatch.setattr(os, "geteuid", lambda: owner + 1)
    with pytest.raises(BadInput, match=f"belongs to uid {owner}, not to you"):
        config.read_secrets_file(secrets)


def test_secrets_file_is_opened_once_and_checked_on_that_descriptor(tmp_path, monkeypatch):
    secrets = write(tmp_path / "cred.yaml", "catalog: {password: p}\n")
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, flags, *rest: opened.append(flags) or real_open(path, flags, *rest))

    def no_path_checks(*args, **kwargs):
        raise AssertionError("the secrets file is checked by path, not on its descriptor")

    monkeypatch.setattr(os, "stat", no_path_checks)
    monkeypatch.setattr(os, "lstat", no_path_checks)
    assert config.read_secrets_file(secrets) == {"catalog.password": "p"}
    assert len(opened) == 1 and opened[0] & os.O_NOFOLLOW


def test_environment_wins_over_secrets_file(tmp_path):
    secrets = write(tmp_path / "cred.yaml", "catalog: {password: from-file}\n")
    settings = load_settings(None, [f"secrets_file={secrets}"],
                             environ={"MEDIAEXTRACT_CATALOG_PASSWORD": "from-env"})
    assert settings["catalog.password"] == "from-env"


def test_parse_overrides_reads_values_as_yaml():
    assert parse_overrides(["a.b=1", "c.d=true", "e.f=", "g.h=x=y"]) == {"a.b": 1, "c.d": True, "e.f": None, "g.h": "x=y"}


# --- speculative execution -----------------------------------------------------------------------

def test_the_session_forces_speculation_off_whatever_extra_asks():
    conf = job_conf(load_settings(environ={}), {"spark.speculation": "true", "spark.ui.enabled": "false"})
    assert conf["spark.speculation"] == "false" and conf["spark.ui.enabled"] == "false"


@pytest.mark.parametrize("options", [["--conf", "spark.speculation=true"], ["--conf=spark.speculation=True"],
                                     ["-c", "spark.speculation = true"]])
def test_spark_submit_refuses_speculation_before_the_job_name(options):
    result = subprocess.run([str(REPO / "spark-submit.sh"), *options, "plan", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "speculative tasks would fetch objects twice" in result.stderr
