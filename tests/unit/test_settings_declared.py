"""The settings declaration drives everything: defaults.yaml, validation of every key, the list size cap."""

from collections import namedtuple
from pathlib import Path

import pytest
import yaml

from mediaextract import cli, list_reader
from mediaextract.config import (DEFAULTS, SETTING_BY_KEY, SETTINGS, Setting, defaults_yaml, flatten,
                                 load_settings, typed)
from mediaextract.errors import EXIT_BAD_INPUT, BadInput

REPO = Path(__file__).resolve().parents[2]
KEYS = [setting.key for setting in SETTINGS]


# --- defaults.yaml -------------------------------------------------------------------------------

def test_defaults_yaml_holds_the_declared_defaults():
    for path in (REPO / "lib" / "mediaextract" / "defaults.yaml", REPO / "conf" / "defaults.yaml"):
        assert flatten(yaml.safe_load(path.read_text())) == {s.key: s.default for s in SETTINGS}


def test_defaults_yaml_is_exactly_the_generated_text_with_the_docs_as_comments():
    # Regenerate with: .venv/bin/python -m mediaextract.config defaults > lib/mediaextract/defaults.yaml
    text = (REPO / "lib" / "mediaextract" / "defaults.yaml").read_text()
    assert text == defaults_yaml()
    for setting in SETTINGS:
        assert f"# {setting.doc}\n" in text


def test_every_key_is_declared_once_with_a_one_line_doc():
    assert len(KEYS) == len(set(KEYS))
    for setting in SETTINGS:
        assert setting.doc and "\n" not in setting.doc and "|" not in setting.doc, setting.key


def test_declared_defaults_pass_their_own_declaration():
    assert DEFAULTS == {s.key: typed(s, s.default) for s in SETTINGS}
    assert load_settings(environ={}).values == DEFAULTS


def test_recent_keys_are_declared():
    assert SETTING_BY_KEY["output.roots"].default == []
    assert SETTING_BY_KEY["input.max_list_bytes"].default == 256 * 1024 * 1024
    for key in ("governance.lock_timeout_s", "governance.lock_stale_s", "governance.lock_heartbeat_s"):
        assert SETTING_BY_KEY[key].above == 0


# --- a bad value for every key -------------------------------------------------------------------

def bad_values(setting: Setting) -> list:
    """Return values the declaration of setting must refuse."""
    values: list = [{"a": 1} if setting.type is list else ["a", "b"]]  # the wrong shape
    if not setting.nullable:
        values.append(None)
    if setting.type is bool:
        values.append("maybe")
    if setting.type in (int, float):
        values += ["many", True]
        values += [setting.at_least - 1] if setting.at_least is not None else []
        values += [setting.above, -30] if setting.above is not None else []
        values += [setting.at_most + 1] if setting.at_most is not None else []
    if setting.type is int:
        values.append(1.5)
    if setting.type is str:
        values.append("nonsense" if setting.choices else "")
    if setting.type is list:
        values.append(["nonsense"] if setting.choices else [""])
    return values


BAD = [(s.key, value) for s in SETTINGS for value in bad_values(s)]


@pytest.mark.parametrize("key, value", BAD, ids=[f"{k}={v!r}" for k, v in BAD])
def test_a_bad_value_for_every_key_is_one_line_naming_the_key(key, value):
    with pytest.raises(BadInput) as error:
        load_settings(None, {key: value}, environ={})
    message = str(error.value)
    assert f"setting {key} must be " in message and "\n" not in message


def test_every_key_has_a_bad_value_tried():
    assert {key for key, _ in BAD} == set(KEYS)


@pytest.mark.parametrize("pair, words", [
    ("fetch.requests_per_second=fast", "a number above 0 (or null), not 'fast'"),
    ("thumbnail.box=huge", "a whole number of at least 1 (or null), not 'huge'"),
    ("fetch.executors=many", "a whole number of at least 1 (or null), not 'many'"),
    ("output.retention_days=-30", "a whole number of at least 1, not -30"),
    ("fetch.max_object_bytes=-1", "a whole number of at least 1, not -1"),
    ("storage.read_timeout_s=-5", "a number above 0, not -5"),
    ("wiki.id=[a, b]", "a non-empty text, not a list"),
    ("fetch.retry_statuses=ok", "a list of not_in_storage, checksum_mismatch, too_large, fetch_failed, not 'ok'"),
])
def test_the_issues_bad_values_exit_2_with_one_line(pair, words, capsys):
    def main(argv) -> int:
        load_settings(None, argv, environ={})
        return 0

    code = cli.run(main, [pair])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert err.count("\n") == 1 and err.startswith(f"mediaextract: error: setting {pair.split('=')[0]} must be ")
    assert words in err


@pytest.mark.parametrize("overrides, words", [
    ({"governance.lock_heartbeat_s": 300}, "lock_heartbeat_s must be less than governance.lock_stale_s"),
    ({"governance.lock_stale_s": 5}, "lock_heartbeat_s must be less than governance.lock_stale_s"),
    ({"fetch.backoff_initial_s": 60}, "backoff_initial_s must not exceed fetch.backoff_max_s"),
    ({"catalog.source": "snapshot"}, "catalog.snapshot (its path) is not set"),
    ({"catalog.source": "snapshot", "catalog.snapshot": "/s", "catalog.files": "live"}, "a snapshot (catalog.source) holds filearchive only"),
])
def test_settings_that_do_not_fit_together_are_refused(overrides, words):
    with pytest.raises(BadInput, match=words.replace("(", r"\(").replace(")", r"\)")):
        load_settings(None, overrides, environ={})


# --- a good value for every key ------------------------------------------------------------------

GOOD = {
    "wiki.id": "enwiki", "wiki.capitalize_first": False, "input.max_list_bytes": 1024,
    "catalog.source": "snapshot", "catalog.url": "jdbc:mysql://db.example.org:3307/enwiki?useSSL=true",
    "catalog.driver": "com.mysql.cj.jdbc.Driver", "catalog.jar": None, "catalog.partitions": 16,
    "catalog.fetch_size": 500, "catalog.connect_timeout_s": 2.5, "catalog.snapshot": "/srv/snap",
    "catalog.versions": "all", "catalog.hidden_content_is_suppressed": True, "catalog.explain_undeleted": False,
    "catalog.labels": False, "catalog.lookup_batch": 50, "catalog.files": "old", "catalog.tables": "file",
    "storage.backend": "disk", "storage.endpoint": "https://ms.example.org", "storage.region": "eqiad",
    "storage.addressing_style": "virtual", "storage.connect_timeout_s": 1, "storage.read_timeout_s": 60,
    "storage.zone": "public", "storage.sharded": False, "storage.disk_root": "/srv/upload",
    "fetch.connections_per_executor": 2, "fetch.max_connections": 16, "fetch.executors": 3,
    "fetch.requests_per_second": 2.5, "fetch.max_attempts": 1, "fetch.backoff_initial_s": 0.1,
    "fetch.backoff_max_s": 5, "fetch.max_object_bytes": 1, "fetch.spool_bytes": 1024, "fetch.batch_rows": 1,
    "fetch.failure_window": 10, "fetch.stop_if_first_missing": 0, "fetch.failure_threshold": 1, "fetch.retry_statuses": ["too_large"],
    "fetch.estimate_request_s": 0.2, "fetch.estimate_bytes_per_s": 1e6, "thumbnail.width": 320,
    "thumbnail.box": 640, "thumbnail.quality": 100, "thumbnail.alpha_format": "webp", "thumbnail.max_pixels": 1,
    "thumbnail.max_seconds": 5, "thumbnail.max_memory_bytes": 536870912,
    "output.root": "hdfs:///data/out", "output.content": "originals", "output.retention_days": 1,
    "output.blob_bytes": 1, "output.blob_chunk_bytes": 1024,
    "output.group_readable": True, "output.roots": ["/srv/a", "hdfs:///b"], "governance.lock_timeout_s": 0.5,
    "governance.lock_stale_s": 20, "governance.lock_heartbeat_s": 19.5, "secrets_file": "<a private file>",
}
# What a good value needs beside it.
WITH = {"catalog.source": {"catalog.snapshot": "/srv/snap"}}


@pytest.mark.parametrize("key", KEYS)
def test_a_good_value_for_every_key_is_accepted_and_typed(key, tmp_path):
    assert key in GOOD, f"add a good value for {key} to GOOD"
    value = GOOD[key]
    if key == "secrets_file":
        value = str(tmp_path / "credentials.yaml")
        Path(value).write_text("catalog: {user: u}\n")
        Path(value).chmod(0o600)
    settings = load_settings(None, {key: value, **WITH.get(key, {})}, environ={})
    assert settings[key] == value
    assert value is None or isinstance(settings[key], SETTING_BY_KEY[key].type)


# --- input.max_list_bytes ------------------------------------------------------------------------

Sized = namedtuple("Sized", "path length")
Content = namedtuple("Content", "path content")


class FakeSpark:
    """Just enough of spark.read.format("binaryFile") to see which columns are read."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.selected: list[tuple[str, ...]] = []
        self.read = self

    def format(self, name):
        assert name == "binaryFile"
        return self

    def load(self, path):
        return self

    def select(self, *columns):
        self.selected.append(columns)
        return self

    def collect(self):
        if self.selected[-1] == ("path", "length"):
            return [Sized(path, len(data)) for path, data in self.files.items()]
        return [Content(path, data) for path, data in self.files.items()]


def test_a_list_file_over_the_cap_is_refused_before_its_content_is_read():
    spark = FakeSpark({"file:/l/small.txt": b"A.jpg\n", "file:/l/big.txt": b"B.jpg\n" * 100})
    with pytest.raises(BadInput) as error:
        list_reader.list_files(spark, ["/l"], max_list_bytes=100)
    assert str(error.value) == ("list file file:/l/big.txt is 600 bytes, more than input.max_list_bytes (100): "
                                "split it or raise the setting")
    assert spark.selected == [("path", "length")]


def test_list_files_within_the_cap_are_listed_without_their_content():
    spark = FakeSpark({"file:/l/small.txt": b"A.jpg\n"})
    found = list_reader.list_files(spark, ["/l"], max_list_bytes=6)
    assert [file for _, files in found for file in files] == [list_reader.ListFile("file:/l/small.txt", "small", "lines")]
    assert spark.selected == [("path", "length")]
