import os
from pathlib import Path

import pytest

from mediaextract.config import DEFAULT_KEYS, MASK, load_settings, parse_overrides
from mediaextract.errors import BadInput


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
    (["fetch.max_connections=many"], "must be a number"),
    (["fetch.max_connections=0"], "at least 1"),
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


def test_secrets_file_is_read_when_private_and_refused_when_readable(tmp_path):
    secrets = write(tmp_path / "cred.yaml", "catalog: {user: u, password: p}\nstorage: {secret_key: k}\n")
    settings = load_settings(None, [f"secrets_file={secrets}"], environ={})
    assert (settings["catalog.user"], settings["catalog.password"], settings["storage.secret_key"]) == ("u", "p", "k")
    os.chmod(secrets, 0o640)
    with pytest.raises(BadInput, match="readable by others.*chmod 600"):
        load_settings(None, [f"secrets_file={secrets}"], environ={})


def test_environment_wins_over_secrets_file(tmp_path):
    secrets = write(tmp_path / "cred.yaml", "catalog: {password: from-file}\n")
    settings = load_settings(None, [f"secrets_file={secrets}"],
                             environ={"MEDIAEXTRACT_CATALOG_PASSWORD": "from-env"})
    assert settings["catalog.password"] == "from-env"


def test_parse_overrides_reads_values_as_yaml():
    assert parse_overrides(["a.b=1", "c.d=true", "e.f=", "g.h=x=y"]) == {"a.b": 1, "c.d": True, "e.f": None, "g.h": "x=y"}


def test_every_default_key_is_dotted_under_a_section_or_top_level():
    assert "fetch.max_connections" in DEFAULT_KEYS and "secrets_file" in DEFAULT_KEYS
