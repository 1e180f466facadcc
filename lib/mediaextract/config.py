"""Settings: defaults, a YAML file, --set overrides, validation, and secrets kept apart (no Spark).

Settings are the package's `defaults.yaml` (also at conf/defaults.yaml), overlaid by one YAML
file and then by `key=value` overrides. A key that the defaults do not know is rejected, so a
typo never silently means "default". Secrets never come from those: they come from the
environment or from a credentials file that nobody but its owner can read (refused otherwise,
as ssh refuses a readable private key), and they are never part of what is printed or written.
"""

from __future__ import annotations

import copy
import os
import pkgutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from .errors import BadInput

# Secret name -> environment variables tried in order. The names are the credentials file keys.
SECRET_SOURCES: dict[str, tuple[str, ...]] = {
    "catalog.user": ("MEDIAEXTRACT_CATALOG_USER",),
    "catalog.password": ("MEDIAEXTRACT_CATALOG_PASSWORD",),
    "storage.access_key": ("MEDIAEXTRACT_STORAGE_ACCESS_KEY", "AWS_ACCESS_KEY_ID"),
    "storage.secret_key": ("MEDIAEXTRACT_STORAGE_SECRET_KEY", "AWS_SECRET_ACCESS_KEY"),
}
MASK = "***"

CHOICES: dict[str, tuple[str, ...]] = {
    "catalog.source": ("jdbc", "snapshot"),
    "catalog.versions": ("latest", "all"),
    "storage.backend": ("s3", "disk"),
    "storage.addressing_style": ("path", "virtual", "auto"),
    "output.content": ("originals", "thumbnails", "both"),
    "thumbnail.alpha_format": ("png", "webp"),
}


def _load_defaults() -> dict:
    raw = pkgutil.get_data("mediaextract", "defaults.yaml")
    return yaml.safe_load(raw)


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


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Return value converted to the default's type, or raise BadInput naming the key."""
    if value is None or default is None:
        # Keys whose default is null (optional paths, caps) take any single YAML value.
        if isinstance(value, (dict, list)):
            raise BadInput(f"setting {key} must be a single value, not {value!r}")
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
            return value.lower() in ("true", "yes")
        raise BadInput(f"setting {key} must be true or false, not {value!r}")
    if isinstance(default, (int, float)):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise BadInput(f"setting {key} must be a number, not {value!r}") from None
        if isinstance(default, int) and number.is_integer():
            return int(number)
        return number
    if isinstance(default, list):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise BadInput(f"setting {key} must be a list, not {value!r}")
        return value
    if isinstance(value, (dict, list)):
        raise BadInput(f"setting {key} must be a single value, not {value!r}")
    return str(value)


@dataclass(frozen=True)
class Settings:
    """The effective settings (flat, dotted keys) and the secrets, kept apart."""

    values: Mapping[str, Any]
    secrets: Mapping[str, str]

    def __getitem__(self, key: str) -> Any:
        if key in SECRET_SOURCES:
            return self.secrets.get(key)
        return self.values[key]

    def section(self, name: str) -> dict[str, Any]:
        """Return one section as a plain dict with short keys (secrets excluded)."""
        prefix = name + "."
        return {k[len(prefix):]: v for k, v in self.values.items() if k.startswith(prefix)}

    def public(self) -> dict[str, Any]:
        """Return the settings as a nested dict fit to print or write: secrets masked."""
        tree: dict[str, Any] = {}
        flat = dict(self.values)
        for key in SECRET_SOURCES:
            flat[key] = MASK if self.secrets.get(key) else None
        for key, value in sorted(flat.items()):
            node = tree
            *parents, leaf = key.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        return tree

    def with_overrides(self, overrides: Mapping[str, Any]) -> "Settings":
        """Return a copy with dotted overrides applied (validated like --set)."""
        values = dict(self.values)
        _apply(values, overrides, source="override")
        _validate(values)
        return Settings(values=values, secrets=self.secrets)


def _apply(values: dict[str, Any], overrides: Mapping[str, Any], source: str) -> None:
    for key, value in overrides.items():
        if key in SECRET_SOURCES:
            env = " or ".join(SECRET_SOURCES[key])
            raise BadInput(f"{key} is a secret and cannot be set in {source}: use {env} or secrets_file")
        if key not in values and key not in _DEFAULTS_FLAT:
            raise BadInput(f"unknown setting {key!r} in {source} (see conf/defaults.yaml)")
        values[key] = _coerce(key, value, _DEFAULTS_FLAT[key])


def _validate(values: Mapping[str, Any]) -> None:
    for key, allowed in CHOICES.items():
        if values[key] not in allowed:
            raise BadInput(f"setting {key} must be one of {', '.join(allowed)}, not {values[key]!r}")
    for key in ("fetch.connections_per_executor", "fetch.max_connections", "fetch.max_attempts",
                "catalog.partitions", "fetch.batch_rows", "thumbnail.width"):
        if not isinstance(values[key], int) or values[key] < 1:
            raise BadInput(f"setting {key} must be a whole number of at least 1, not {values[key]!r}")
    if not 0 < float(values["fetch.failure_threshold"]) <= 1:
        raise BadInput("setting fetch.failure_threshold must be in (0, 1]")
    if values["catalog.source"] == "snapshot" and not values["catalog.snapshot"]:
        raise BadInput("catalog.source is snapshot but catalog.snapshot (its path) is not set")


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


def read_secrets_file(path: str | os.PathLike) -> dict[str, str]:
    """Return the secrets of a credentials file; refuse one that others can read."""
    try:
        info = os.stat(path)
    except OSError as error:
        raise BadInput(f"cannot read secrets file {path}: {error.strerror}") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise BadInput(
            f"secrets file {path} is readable by others (mode {stat.S_IMODE(info.st_mode):o}): "
            f"chmod 600 {path}")
    try:
        tree = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        raise BadInput(f"secrets file {path} is not readable YAML") from None
    flat = flatten(tree) if isinstance(tree, Mapping) else {}
    unknown = sorted(set(flat) - set(SECRET_SOURCES))
    if unknown:
        raise BadInput(f"secrets file {path} has unknown keys: {', '.join(unknown)}")
    return {k: str(v) for k, v in flat.items() if v is not None}


def load_settings(conf_path: str | os.PathLike | None = None,
                  overrides: Mapping[str, Any] | Iterable[str] = (),
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Return validated Settings from defaults, an optional file and overrides; secrets apart."""
    environ = os.environ if environ is None else environ
    values = copy.deepcopy(_DEFAULTS_FLAT)
    if conf_path:
        _apply(values, read_settings_file(conf_path), source=str(conf_path))
    if not isinstance(overrides, Mapping):
        overrides = parse_overrides(overrides)
    _apply(values, overrides, source="--set")
    _validate(values)
    secrets: dict[str, str] = {}
    if values["secrets_file"]:
        secrets.update(read_secrets_file(values["secrets_file"]))
    for key, names in SECRET_SOURCES.items():
        for name in names:
            if environ.get(name):
                secrets[key] = environ[name]
                break
    return Settings(values=values, secrets=secrets)


_DEFAULTS_FLAT = flatten(_load_defaults())
DEFAULT_KEYS = tuple(sorted(_DEFAULTS_FLAT))
