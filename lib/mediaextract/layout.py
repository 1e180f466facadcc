"""Where MediaWiki keeps a file: storage key or name -> (Swift container, object path).

Pure string rules from /work/shared/mediawiki-storage.md ("Where the object is"); no Spark,
no I/O. A Swift container is also the S3 bucket (s3api), the object path the S3 key.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from urllib.parse import quote

COMMONS_WIKI_ID = "wikipedia-commons"

# Wikis whose containers carry a shard suffix (Wikimedia's filebackend config).
SHARDED_WIKIS = frozenset({
    "commons", "de", "en", "fi", "fr", "he", "hu", "id", "it", "ja", "ro", "ru", "th", "tr",
    "uk", "zh",
})

# sha1 in base 36 (always zero-padded to 31) + optional normalised extension.
STORAGE_KEY_RE = re.compile(r"[0-9a-z]{31}(?:\.[0-9a-z]+)?")
_ARCHIVE_NAME_RE = re.compile(r"[0-9]{14}!.+", re.DOTALL)
# Swift refuses object names whose URL-encoded form is longer than this.
MAX_OBJECT_PATH_BYTES = 1024


@dataclass(frozen=True)
class Location:
    container: str  # Swift container = S3 bucket
    path: str  # object name inside it (raw, not URL-encoded)
    # The same object under a MediaWiki upload directory (FSFileBackend): a zone's own layout.
    disk_path: str = field(default="", compare=False)


# Which files a catalog row describes (setting catalog.files): each has its own table and zone.
DELETED, LIVE, OLD = "deleted", "live", "old"
FILES = (DELETED, LIVE, OLD)


def _check_storage_key(storage_key: str) -> str:
    if not isinstance(storage_key, str) or not STORAGE_KEY_RE.fullmatch(storage_key):
        raise ValueError(
            f"not a storage key (sha1 base 36, 31 characters, optional .ext): {storage_key!r}"
        )
    return storage_key


def _check_part(what: str, value: str) -> None:
    if not value or "/" in value:
        raise ValueError(f"{what} must be non-empty and contain no '/': {value!r}")


def _check_path(path: str) -> str:
    # quote() raises UnicodeEncodeError (a ValueError) for lone surrogates: not a real name.
    encoded = quote(path, safe="/")
    if len(encoded) > MAX_OBJECT_PATH_BYTES:
        raise ValueError(
            f"object path is {len(encoded)} bytes URL-encoded; Swift allows "
            f"{MAX_OBJECT_PATH_BYTES}"
        )
    return path


def _container(wiki_id: str, zone: str, shard: str | None) -> str:
    _check_part("wiki_id", wiki_id)
    _check_part("zone", zone)
    base = f"{wiki_id}-local-{zone}"
    return f"{base}.{shard}" if shard else base


def _deleted_rel(k: str) -> str:
    return f"{k[0]}/{k[1]}/{k[2]}/{k}"


def deleted_location(
    storage_key: str,
    wiki_id: str = COMMONS_WIKI_ID,
    sharded: bool = True,
    zone: str = "deleted",
) -> Location:
    """Return the container and object path of a deleted file's content (fa_storage_key)."""
    k = _check_storage_key(storage_key)
    return Location(
        container=_container(wiki_id, zone, k[0:2] if sharded else None),
        path=_check_path(_deleted_rel(k)),
        disk_path="deleted/" + _deleted_rel(k),
    )


def disk_path(storage_key: str) -> str:
    """Return the path of a deleted file under a MediaWiki upload directory (FSFileBackend)."""
    return _check_path("deleted/" + _deleted_rel(_check_storage_key(storage_key)))


def _name_hash(name: str) -> str:
    _check_part("name", name)
    return hashlib.md5(name.encode("utf-8")).hexdigest()


def public_location(
    name: str, wiki_id: str = COMMONS_WIKI_ID, sharded: bool = True
) -> Location:
    """Return the container and object path of a live file's current version (img_name)."""
    h = _name_hash(name)
    path = _check_path(f"{h[0]}/{h[0:2]}/{name}")
    return Location(container=_container(wiki_id, "public", h[0:2] if sharded else None),
                    path=path, disk_path=path)


def archive_location(
    archive_name: str, name: str, wiki_id: str = COMMONS_WIKI_ID, sharded: bool = True
) -> Location:
    """Return the container and object path of an old version of a live file (oi_archive_name).

    The hash directories come from the file's current name, not the archive name, and the
    archive directory lives in the public zone's (sharded) container.
    """
    if not isinstance(archive_name, str) or not _ARCHIVE_NAME_RE.fullmatch(archive_name) \
            or "/" in archive_name:
        raise ValueError(f"not an archive name (YYYYMMDDHHMMSS!Name): {archive_name!r}")
    h = _name_hash(name)
    path = _check_path(f"archive/{h[0]}/{h[0:2]}/{archive_name}")
    return Location(container=_container(wiki_id, "public", h[0:2] if sharded else None),
                    path=path, disk_path=path)


def file_location(
    files: str,
    name: str | None,
    storage_key: str | None,
    archive_name: str | None,
    wiki_id: str = COMMONS_WIKI_ID,
    sharded: bool = True,
    deleted_zone: str = "deleted",
) -> Location:
    """Return where the content of a planned row is, by the files its catalog describes.

    - deleted (filearchive): the deleted zone, by fa_storage_key;
    - live (image): the public zone, by the name;
    - old (oldimage): the archive directory of the public zone, by oi_archive_name and the
      name; a version whose file MediaWiki hides (oi_deleted & 1) moved to the deleted zone,
      and only such a row has a storage key (catalog.resolve gives it one).
    """
    if files == DELETED or (files == OLD and storage_key):
        return deleted_location(storage_key, wiki_id, sharded, deleted_zone)
    if files == LIVE:
        return public_location(name, wiki_id, sharded)
    if files == OLD:
        return archive_location(archive_name, name, wiki_id, sharded)
    raise ValueError(f"files must be one of {', '.join(FILES)}: {files!r}")
