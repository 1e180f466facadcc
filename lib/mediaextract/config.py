"""Settings: declared once, overlaid by a YAML file and --set overrides, validated; secrets apart (no Spark).

Every setting is declared once, in SETTINGS below: its key, type, range or choices, default and a
one-line meaning. That declaration gives the defaults, the validation, `defaults.yaml` (also at
conf/defaults.yaml) and the README's settings table (`python -m mediaextract.config defaults` or
`table` prints them; tests keep the checked-in copies equal). One YAML file overlays the defaults,
then `key=value` overrides; a key that is not declared is rejected, so a typo never silently means
"default", and every bad value is one line and exit 2 before any Spark work.

Secrets never come from those: they come from the environment or from a credentials file that
nobody but its owner can read (refused otherwise, as ssh refuses a readable private key), and they
are never part of what is printed or written.
"""

from __future__ import annotations

import errno
import math
import os
import stat
import sys
import urllib.parse
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import parse_qsl, urlsplit

import yaml

from . import statuses
from .errors import BadInput

# Secret name -> environment variables tried in order. The names are the credentials file keys.
SECRET_SOURCES: dict[str, tuple[str, ...]] = {
    "catalog.user": ("MEDIAEXTRACT_CATALOG_USER",),
    "catalog.password": ("MEDIAEXTRACT_CATALOG_PASSWORD",),
    "storage.access_key": ("MEDIAEXTRACT_STORAGE_ACCESS_KEY", "AWS_ACCESS_KEY_ID"),
    "storage.secret_key": ("MEDIAEXTRACT_STORAGE_SECRET_KEY", "AWS_SECRET_ACCESS_KEY"),
}
MASK = "***"

# Statuses a re-run may fetch again: those decided by fetching, except a success.
RETRYABLE_STATUSES = tuple(s for s in statuses.FETCH_STATUSES if s != statuses.OK)


@dataclass(frozen=True)
class Setting:
    """One setting: key, type, allowed values, default and its one-line meaning."""

    key: str
    type: type                       # bool, int, float, str, or list (of texts)
    default: Any
    doc: str                         # one line: the YAML comment and the README's "meaning"
    choices: tuple[str, ...] = ()    # a str must be one of these; so must each item of a list
    at_least: float | None = None
    above: float | None = None
    at_most: float | None = None
    nullable: bool = False           # null is allowed (an optional path, cap or count)

    def describe(self) -> str:
        """Return what a good value is, in words ("a whole number of at least 1")."""
        if self.type is bool:
            wanted = "true or false"
        elif self.type is list:
            wanted = f"a list of {', '.join(self.choices)}" if self.choices else "a list of non-empty texts"
        elif self.choices:
            wanted = f"one of {', '.join(self.choices)}"
        elif self.type is str:
            wanted = "a non-empty text"
        else:
            bounds = [f"{word} {_plain(limit)}" for word, limit in
                      (("of at least", self.at_least), ("above", self.above), ("at most", self.at_most))
                      if limit is not None]
            wanted = ("a whole number" if self.type is int else "a number") + \
                (" " + " and ".join(bounds) if bounds else "")
        return wanted + (" (or null)" if self.nullable else "")


def _plain(number: float) -> str:
    """Return a bound as written in an error line: 1, not 1.0."""
    return str(int(number)) if float(number).is_integer() else str(number)


SETTINGS: tuple[Setting, ...] = (
    Setting("wiki.id", str, "wikipedia-commons",
            "wiki id: prefix of the Swift containers (`<id>-local-deleted.<shard>`)"),
    Setting("wiki.capitalize_first", bool, True, "upper-case the first letter of names, as Commons does"),
    Setting("input.max_list_bytes", int, 268435456,
            "a list file larger than this is refused (exit 2) before it is read", at_least=1),
    Setting("catalog.source", str, "jdbc", "`jdbc` reads `filearchive` live; `snapshot` reads a Parquet snapshot",
            choices=("jdbc", "snapshot")),
    Setting("catalog.url", str, "jdbc:mysql://127.0.0.1:3306/commonswiki",
            "JDBC URL; must be `jdbc:mysql://` (a `jdbc:mariadb://` URL matches no Spark dialect); "
            "credentials in it are refused"),
    Setting("catalog.driver", str, "org.mariadb.jdbc.Driver", "JDBC driver class"),
    Setting("catalog.jar", str, "/usr/share/java/mariadb-java-client.jar",
            "the driver jar (Debian's `libmariadb-java`); null: none shipped", nullable=True),
    Setting("catalog.partitions", int, 8, "JDBC read partitions over `fa_id`; also the most label lookups at once (catalog connections)", at_least=1),
    Setting("catalog.fetch_size", int, 10000, "rows per JDBC round trip", at_least=1),
    Setting("catalog.connect_timeout_s", float, 10, "give up on an unreachable catalog after this (exit 3)", above=0),
    Setting("catalog.snapshot", str, None, "path of a snapshot made by the `snapshot` job", nullable=True),
    Setting("catalog.files", str, "deleted",
            "which files: `deleted` (`filearchive`), `live` (`image`, public zone) or `old` (`oldimage`, "
            "archive zone): live and old files are the controls of a deletion model; over JDBC only",
            choices=("deleted", "live", "old")),
    Setting("catalog.tables", str, "image",
            "the catalog's schema: `image` (image, oldimage: today's MediaWiki) or `file` (file, filerevision, "
            "filetypes: MediaWiki's file schema migration); filearchive either way",
            choices=("image", "file")),
    Setting("catalog.versions", str, "latest", "`latest`: one row per name; `all`: one per deleted version",
            choices=("latest", "all")),
    Setting("catalog.hidden_content_is_suppressed", bool, False,
            "also treat `fa_deleted & 1` (content hidden) as suppressed"),
    Setting("catalog.explain_undeleted", bool, True, "look unmatched names up in `image` to say \"not deleted: a live file\""),
    Setting("catalog.labels", bool, True, "extract reads each found row's deletion reason and description (`comment`) and live files with its sha1 (`image`)"),
    Setting("catalog.lookup_batch", int, 1000, "ids (or sha1s) per query when extract looks rows up in `comment` and `image`", at_least=1),
    Setting("storage.backend", str, "s3", "`s3`: Swift through its S3 API; `disk`: a MediaWiki upload directory",
            choices=("s3", "disk")),
    Setting("storage.endpoint", str, None, "S3 endpoint URL (needed with `backend: s3`)", nullable=True),
    Setting("storage.region", str, "us-east-1", "S3 region (Swift's s3api `location`)"),
    Setting("storage.addressing_style", str, "path", "`path`, `virtual` or `auto` bucket addressing",
            choices=("path", "virtual", "auto")),
    Setting("storage.connect_timeout_s", float, 5, "connect timeout per request", above=0),
    Setting("storage.read_timeout_s", float, 30, "read timeout per request", above=0),
    Setting("storage.zone", str, "deleted", "container zone: `<wiki.id>-local-<zone>`"),
    Setting("storage.sharded", bool, True, "add the `.<key[0:2]>` shard suffix to containers (the 16 big wikis)"),
    Setting("storage.disk_root", str, None, "with `backend: disk`, the upload directory holding `deleted/`",
            nullable=True),
    Setting("fetch.stop_if_first_missing", int, 20,
            "stop (exit 9) when the first N objects a run fetches are all missing (404): wrong wiki.id, zone or "
            "sharding; 0: never", at_least=0),
    Setting("fetch.connections_per_executor", int, 4, "hard cap on requests in flight per executor", at_least=1),
    Setting("fetch.max_connections", int, 8, "hard cap on requests in flight for the whole job", at_least=1),
    Setting("fetch.executors", int, None,
            "executors fetching at once, for the plan's estimate (null: from Spark's settings)",
            at_least=1, nullable=True),
    Setting("fetch.requests_per_second", float, None,
            "optional cap on request starts per second per executor host", above=0, nullable=True),
    Setting("fetch.max_attempts", int, 5, "attempts per object, the first included", at_least=1),
    Setting("fetch.backoff_initial_s", float, 0.5, "first retry delay; doubles each attempt, full jitter", above=0),
    Setting("fetch.backoff_max_s", float, 30, "longest retry delay (also caps `Retry-After`)", above=0),
    Setting("fetch.max_object_bytes", int, 5368709120,
            "larger objects are `too_large`, decided before download (default: Commons' upload limit, 5 GiB)",
            at_least=1),
    Setting("fetch.spool_bytes", int, 16777216, "bodies larger than this stream to a spool file, not memory",
            at_least=1),
    Setting("fetch.batch_rows", int, 2000, "rows per committed batch", at_least=1),
    Setting("fetch.failure_window", int, 50, "recent requests looked at to decide the backend is down", at_least=1),
    Setting("fetch.failure_threshold", float, 0.8, "stop (exit 5) when this share of them failed",
            above=0, at_most=1),
    Setting("fetch.retry_statuses", list, ["fetch_failed", "not_in_storage", "checksum_mismatch"],
            "statuses fetched again by a re-run", choices=RETRYABLE_STATUSES),
    Setting("fetch.estimate_request_s", float, 0.05, "plan: seconds per request, for the time estimate", above=0),
    Setting("fetch.estimate_bytes_per_s", float, 20000000,
            "plan: bytes per second per connection, for the estimate", above=0),
    Setting("thumbnail.width", int, 500, "MediaWiki's \"500px\": the width; never upscaled", at_least=1),
    Setting("thumbnail.box", int, None, "bound the longer side to this instead of the width",
            at_least=1, nullable=True),
    Setting("thumbnail.quality", int, 85, "JPEG/WebP quality", at_least=1, at_most=100),
    Setting("thumbnail.alpha_format", str, "png", "`png` or `webp` for images with transparency",
            choices=("png", "webp")),
    Setting("thumbnail.max_pixels", int, 100000000, "refuse larger sources before decoding (decompression bombs)",
            at_least=1),
    Setting("thumbnail.max_seconds", int, 60,
            "wall time one file may take to draw; past it the drawing process is killed", at_least=1),
    Setting("thumbnail.max_memory_bytes", int, 2147483648,
            "address space of the drawing process (what a hostile file can make it allocate)",
            at_least=268435456),
    Setting("output.root", str, "out",
            "where extractions go (plain paths resolve like Spark's: local with `local[*]`, HDFS on YARN)"),
    Setting("output.content", str, "both", "`originals`, `thumbnails` or `both`",
            choices=("originals", "thumbnails", "both")),
    Setting("output.blob_bytes", int, 1048576,
            "originals larger than this are kept in the data set's `blobs/` table, in chunks, not in "
            "`items.content` (README, Large originals: raise it only with the executors' memory)", at_least=1),
    Setting("output.blob_chunk_bytes", int, 524288,
            "bytes per chunk of `blobs/` (the last one of an original is shorter); fixed for a data set",
            at_least=1024, at_most=8388608),
    Setting("output.retention_days", int, 180, "`expires` = created + this", at_least=1),
    Setting("output.group_readable", bool, False, "0750/0640 instead of 0700/0600"),
    Setting("output.roots", list, [],
            "further roots where data sets, snapshots and exports may be written (`output.root` always is "
            "one); anything else is refused (exit 2)"),
    Setting("governance.lock_timeout_s", float, 600,
            "how long purge, expire and reconcile wait for writers to let go of a root, then exit 8", above=0),
    Setting("governance.lock_stale_s", float, 300,
            "a lock whose heartbeat is older than this (or whose process is dead on this host) belongs to a "
            "dead run and is taken over", above=0),
    Setting("governance.lock_heartbeat_s", float, 10,
            "how often a lock's holder refreshes its heartbeat (less than `governance.lock_stale_s`)", above=0),
    Setting("secrets_file", str, None, "YAML file with the secrets (README, Secrets): a regular file of yours, "
            "mode 600", nullable=True),
)
SETTING_BY_KEY: dict[str, Setting] = {setting.key: setting for setting in SETTINGS}


# --- one value -------------------------------------------------------------------------------------

def _shown(setting: Setting, value: Any) -> str:
    """Return a bad value as an error line shows it: short, in YAML's words where they differ."""
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list) and setting.type is not list:
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _bad(setting: Setting, value: Any) -> BadInput:
    """Return the one-line error for a bad value: the key, what it wants and what it got."""
    return BadInput(f"setting {setting.key} must be {setting.describe()}, not {_shown(setting, value)}")


def _as_number(setting: Setting, value: Any) -> float:
    """Return value as a finite float (from a number or its text)."""
    # bool is an int in Python, but `true` is not a count.
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _bad(setting, value)
    try:
        number = float(value)
    except ValueError:
        raise _bad(setting, value) from None
    if not math.isfinite(number):
        raise _bad(setting, value)
    return number


def _as_whole(setting: Setting, value: Any) -> int:
    """Return value as an int (from an int, a whole float or their text)."""
    number = _as_number(setting, value)
    if isinstance(value, int):
        return value  # exact, however large
    if not number.is_integer():
        raise _bad(setting, value)
    return int(number)


def _as_bool(setting: Setting, value: Any) -> bool:
    """Return value as a bool (from a bool or true/false/yes/no)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
        return value.lower() in ("true", "yes")
    raise _bad(setting, value)


def _as_text(setting: Setting, value: Any) -> str:
    """Return value as a non-empty str (from a text or a number)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or str(value) == "":
        raise _bad(setting, value)
    return str(value)


def _as_list(setting: Setting, value: Any) -> list[str]:
    """Return value as a list of non-empty texts (from a list or comma-separated text)."""
    if isinstance(value, str):  # --set fetch.retry_statuses=fetch_failed,too_large
        value = [item.strip() for item in value.split(",") if item.strip()]
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise _bad(setting, value)
    return list(value)


_CONVERTERS = {bool: _as_bool, int: _as_whole, float: _as_number, str: _as_text, list: _as_list}


def _within(setting: Setting, value: Any) -> bool:
    """Return whether a value of the right type is inside the setting's range or choices."""
    if setting.choices:
        return all(item in setting.choices for item in (value if isinstance(value, list) else [value]))
    if setting.type in (int, float):
        return ((setting.at_least is None or value >= setting.at_least)
                and (setting.above is None or value > setting.above)
                and (setting.at_most is None or value <= setting.at_most))
    return True


def typed(setting: Setting, value: Any) -> Any:
    """Return value as the setting's type, or raise BadInput naming the key and what it wants."""
    if value is None:
        if setting.nullable:
            return None
        raise _bad(setting, value)
    if setting.type is not list and isinstance(value, (Mapping, list)):
        raise _bad(setting, value)  # a list or mapping where one value is wanted
    result = _CONVERTERS[setting.type](setting, value)
    if not _within(setting, result):
        raise _bad(setting, value)
    return result


# --- settings that must agree --------------------------------------------------------------------

def _refuse_credentials_in_url(url: str) -> None:
    """Raise BadInput when a JDBC URL carries a user or password (the message never shows them)."""
    parts = urlsplit(url[len("jdbc:"):] if url.startswith("jdbc:") else url)
    in_query = {name.lower() for name, _ in parse_qsl(parts.query, keep_blank_values=True)}
    if "@" in parts.netloc or in_query & {"user", "password"}:
        raise BadInput("setting catalog.url must not carry credentials (user or password): use "
                       "MEDIAEXTRACT_CATALOG_USER/MEDIAEXTRACT_CATALOG_PASSWORD or secrets_file")


def _check_agreement(values: Mapping[str, Any]) -> None:
    """Raise BadInput when settings that are each fine do not fit together."""
    _refuse_credentials_in_url(values["catalog.url"])
    if values["catalog.source"] == "snapshot" and not values["catalog.snapshot"]:
        raise BadInput("catalog.source is snapshot but catalog.snapshot (its path) is not set")
    if values["catalog.source"] == "snapshot" and values["catalog.files"] != "deleted":
        raise BadInput(f"catalog.files is {values['catalog.files']} but a snapshot (catalog.source) holds "
                       "filearchive only: read live and old files with catalog.source: jdbc")
    if values["fetch.backoff_initial_s"] > values["fetch.backoff_max_s"]:
        raise BadInput("setting fetch.backoff_initial_s must not exceed fetch.backoff_max_s")
    # A holder that refreshes less often than staleness is judged would be taken over while alive.
    if values["governance.lock_heartbeat_s"] >= values["governance.lock_stale_s"]:
        raise BadInput("setting governance.lock_heartbeat_s must be less than governance.lock_stale_s")


# --- typed views ---------------------------------------------------------------------------------

class Secrets(dict):
    """The secrets by name; shown masked wherever they are printed."""

    def __repr__(self) -> str:
        return repr({name: MASK for name in self})


@dataclass(frozen=True)
class StorageSettings:
    """What a storage client needs: the `storage` section's client keys and its credentials."""

    backend: str
    endpoint: str | None
    region: str
    addressing_style: str
    connect_timeout_s: float
    read_timeout_s: float
    disk_root: str | None
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in self.setting_names():
            object.__setattr__(self, name, typed(SETTING_BY_KEY[f"storage.{name}"], getattr(self, name)))
        if self.backend == "disk" and not self.disk_root:
            raise BadInput("storage.disk_root is required with storage.backend: disk")
        if self.backend == "s3" and not self.endpoint:
            raise BadInput("storage.endpoint is required with storage.backend: s3")
        if self.backend == "s3" and not (self.access_key and self.secret_key):
            raise BadInput("storage credentials missing: storage.access_key and storage.secret_key")

    @classmethod
    def setting_names(cls) -> list[str]:
        """Return the fields that are `storage.*` settings (all but the credentials)."""
        return [f.name for f in fields(cls) if f.name not in ("access_key", "secret_key")]

    @classmethod
    def from_section(cls, section: Mapping[str, Any], secrets: Mapping[str, str]) -> "StorageSettings":
        """Return the storage settings of a `storage` section (short keys) and the secrets."""
        return cls(**{name: section[name] for name in cls.setting_names()},
                   access_key=secrets.get("storage.access_key"), secret_key=secrets.get("storage.secret_key"))


@dataclass(frozen=True, repr=False)
class Settings:
    """The effective settings (flat, dotted keys, typed) and the secrets, kept apart."""

    values: Mapping[str, Any]
    secrets: Mapping[str, str]

    def __repr__(self) -> str:
        return f"Settings(values={dict(self.values)!r}, secrets={Secrets(self.secrets)!r})"

    def __getitem__(self, key: str) -> Any:
        if key in SECRET_SOURCES:
            return self.secrets.get(key)
        return self.values[key]

    def section(self, name: str) -> dict[str, Any]:
        """Return one section as a plain dict with short keys (secrets excluded)."""
        prefix = name + "."
        return {k[len(prefix):]: v for k, v in self.values.items() if k.startswith(prefix)}

    def storage(self) -> StorageSettings:
        """Return the typed storage settings with their credentials; BadInput when incomplete."""
        return StorageSettings.from_section(self.section("storage"), self.secrets)

    def public(self) -> dict[str, Any]:
        """Return the settings as a nested dict fit to print or write: secrets masked."""
        flat = dict(self.values)
        for key in SECRET_SOURCES:
            flat[key] = MASK if self.secrets.get(key) else None
        return nest(flat)

    def with_overrides(self, overrides: Mapping[str, Any]) -> "Settings":
        """Return a copy with dotted overrides applied (validated like --set)."""
        values = dict(self.values)
        _apply(values, overrides, source="override")
        _check_agreement(values)
        return Settings(values=values, secrets=self.secrets)


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Return {"a": {"b": value}} for {"a.b": value}, keys sorted."""
    tree: dict[str, Any] = {}
    for key, value in sorted(flat.items()):
        node = tree
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def flatten(tree: Mapping, prefix: str = "") -> dict[str, Any]:
    """Return {"a.b": value} for a nested mapping (lists are values, not branches)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


# --- loading -------------------------------------------------------------------------------------

def _apply(values: dict[str, Any], overrides: Mapping[str, Any], source: str) -> None:
    for key, value in overrides.items():
        if key in SECRET_SOURCES:
            env = " or ".join(SECRET_SOURCES[key])
            raise BadInput(f"{key} is a secret and cannot be set in {source}: use {env} or secrets_file")
        if key not in SETTING_BY_KEY:
            raise BadInput(f"unknown setting {key!r} in {source} (see conf/defaults.yaml)")
        values[key] = typed(SETTING_BY_KEY[key], value)


def parse_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """Return {"key": value} from "key=value" strings; the value is read as YAML (1, true, [a])."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"--set wants key=value, not {pair!r}")
        try:
            overrides[key.strip()] = yaml.safe_load(raw) if raw != "" else None
        except yaml.YAMLError:
            overrides[key.strip()] = raw
    return overrides


def read_settings_file(path: str | os.PathLike) -> dict[str, Any]:
    """Return the flat settings of one YAML file, or raise BadInput."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise BadInput(f"cannot read settings file {path}: {error.strerror}") from None
    try:
        tree = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise BadInput(f"settings file {path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(tree, Mapping):
        raise BadInput(f"settings file {path} must hold a mapping of sections")
    return flatten(tree)


def _open_private(path: str | os.PathLike) -> int:
    """Return a descriptor of path opened for reading, refused unless it is a private file of ours."""
    # O_NOFOLLOW: a symlink is refused, not followed elsewhere. O_NONBLOCK: opening a FIFO does not
    # hang (it is refused below). Checks are made on the open descriptor, so nothing can be swapped
    # in between the check and the read.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise BadInput(f"secrets file {path} is a symbolic link: name the file itself") from None
        raise BadInput(f"cannot read secrets file {path}: {error.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise BadInput(f"secrets file {path} is not a regular file")
        if info.st_uid != os.geteuid():
            raise BadInput(f"secrets file {path} belongs to uid {info.st_uid}, not to you (uid {os.geteuid()})")
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise BadInput(f"secrets file {path} is open to group or others "
                           f"(mode {stat.S_IMODE(info.st_mode):o}): chmod 600 {path}")
    except BaseException:
        os.close(fd)
        raise
    return fd


def on_hadoop(path: str | os.PathLike) -> bool:
    """Return whether a secrets file is named by a URI (hdfs:///...), read through Hadoop's file
    system; any other name, file:// URIs included, is a path on this machine, as it always was
    (and gets the local checks: no link followed, what is read is what was checked)."""
    text = str(path)
    return "://" in text and not text.lower().startswith("file:")


def _local_path(path: str | os.PathLike) -> str | os.PathLike:
    """Return the path of a file: URI, and any other name as it is."""
    text = str(path)
    return urllib.parse.urlparse(text).path if text.lower().startswith("file:") else path


def _read_private(path: str | os.PathLike) -> str:
    """Return the text of a private file of ours on this machine (refused otherwise)."""
    with os.fdopen(_open_private(_local_path(path)), "r", encoding="utf-8") as handle:
        return handle.read()


def _read_private_on_hadoop(path: str) -> str:
    """Return the text of a private file of ours on Hadoop's file system (refused otherwise).

    In YARN's cluster mode the driver runs in a container of some node, where no file of the
    client's is: a file on HDFS reads the same from the client and from any container."""
    from .hadoopfs import HadoopFS, java_reason  # a JVM is needed here only

    fs = HadoopFS.before_session()
    try:
        info = fs.info(path)
        if info.is_dir:
            raise BadInput(f"secrets file {path} is not a regular file")
        user = fs.user()
        if info.owner != user:
            raise BadInput(f"secrets file {path} belongs to {info.owner}, not to you ({user})")
        # An ACL granting anyone else a read shows in the group bits (its mask), refused here too.
        if info.mode & 0o077:
            raise BadInput(f"secrets file {path} is open to group or others "
                           f"(mode {info.mode:o}): hdfs dfs -chmod 600 {path}")
        data = fs.read_bytes(path)
    except BadInput:
        raise
    except Exception as error:  # py4j: the file system's FileNotFoundException, AccessControlException
        raise BadInput(f"cannot read secrets file {path}: {java_reason(error)}") from None
    return data.decode("utf-8")


def read_secrets_file(path: str | os.PathLike) -> dict[str, str]:
    """Return the secrets of a credentials file; refuse a link, a non-file, another's or a shared one."""
    reader = _read_private_on_hadoop if on_hadoop(path) else _read_private
    try:
        tree = yaml.safe_load(reader(path)) or {}  # BadInput from reader: refused, nothing parsed
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        raise BadInput(f"secrets file {path} is not readable YAML") from None
    flat = flatten(tree) if isinstance(tree, Mapping) else {}
    unknown = sorted(set(flat) - set(SECRET_SOURCES))
    if unknown:
        raise BadInput(f"secrets file {path} has unknown keys: {', '.join(unknown)}")
    return {k: str(v) for k, v in flat.items() if v is not None}


def _secrets(secrets_file: str | None, environ: Mapping[str, str]) -> Secrets:
    """Return the secrets of the file, each overridden by its environment variable when set."""
    secrets = Secrets(read_secrets_file(secrets_file) if secrets_file else {})
    for key, names in SECRET_SOURCES.items():
        for name in names:
            if environ.get(name):
                secrets[key] = environ[name]
                break
    return secrets


def load_values(conf_path: str | os.PathLike | None = None,
                overrides: Mapping[str, Any] | Iterable[str] = ()) -> dict[str, Any]:
    """Return the validated settings (no secrets) from the defaults, an optional file and overrides."""
    values = dict(DEFAULTS)
    if conf_path:
        _apply(values, read_settings_file(conf_path), source=str(conf_path))
    if not isinstance(overrides, Mapping):
        overrides = parse_overrides(overrides)
    _apply(values, overrides, source="--set")
    _check_agreement(values)
    return values


def load_settings(conf_path: str | os.PathLike | None = None,
                  overrides: Mapping[str, Any] | Iterable[str] = (),
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Return validated Settings from the declared defaults, an optional file and overrides."""
    environ = os.environ if environ is None else environ
    values = load_values(conf_path, overrides)
    return Settings(values=values, secrets=_secrets(values["secrets_file"], environ))


# Typed once at import: a declared default that its own declaration refuses fails right here.
DEFAULTS: dict[str, Any] = {setting.key: typed(setting, setting.default) for setting in SETTINGS}


# --- the generated copies: defaults.yaml and the README table --------------------------------------

def yaml_value(value: Any) -> str:
    """Return value written as YAML flow (null, true, 0.5, [a, b], text)."""
    return yaml.safe_dump(value, default_flow_style=True, width=math.inf).split("\n...")[0].strip()


DEFAULTS_HEADER = """\
# Every setting mediaextract knows, with its default. Generated from SETTINGS in
# lib/mediaextract/config.py (python -m mediaextract.config defaults): edit there, not here.
# A settings file (--conf) and --set key=value override these; a key that is not here is
# rejected. Secrets never live here: see README.md ("Secrets")."""


def defaults_yaml() -> str:
    """Return the text of defaults.yaml: each section's keys with defaults, meanings as comments."""
    lines = [DEFAULTS_HEADER]
    section = None
    for setting in SETTINGS:
        name, _, leaf = setting.key.rpartition(".")
        if name != section:
            lines.append("")
            if name:
                lines.append(f"{name}:")
            section = name
        entry = f"{'  ' if name else ''}{leaf}: {yaml_value(setting.default)}"
        lines.append(f"{entry:<32} # {setting.doc}")
    return "\n".join(lines) + "\n"


def readme_table() -> str:
    """Return the README's settings table: key, default and meaning of every setting."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    rows += [f"| `{s.key}` | `{yaml_value(s.default)}` | {s.doc} |" for s in SETTINGS]
    return "\n".join(rows) + "\n"


def main(argv: list[str]) -> int:
    """Print defaults.yaml (`defaults`) or the README table (`table`); return the exit code."""
    printers = {"defaults": defaults_yaml, "table": readme_table}
    if len(argv) != 1 or argv[0] not in printers:
        print("usage: python -m mediaextract.config defaults|table", file=sys.stderr)
        return 2
    sys.stdout.write(printers[argv[0]]())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
