"""export: a data set's files as people and training code use them: tarballs, directories, shards.

One container per list: `tar` writes `<list>.tar[.gz|.bz2]` (members `<list>/<name>`, so unpacking
every archive gives the `files` layout), `files` writes `<list>/<name>`, `webdataset` writes
shards `<list>-000000.tar`, ... of `--shard-size` samples, each sample `<key>.<ext>` and
`<key>.json` (the row without its bytes). Names are made safe by `safe_names` in line order, and
`manifest.csv` maps every file back to its row (file, list, line, name, sha1, storage_key); `file`
is relative to the export, its first component the list's directory, archive stem or shard.

Memory stays bounded whatever the data set's size: rows arrive on the driver one partition at a
time (`toLocalIterator(prefetchPartitions=False)` over rows range-partitioned by list and line,
partitions sized to about PARTITION_BYTES) and every file is streamed out. The export is written
beside its destination and swapped in at the end, so a failed export leaves the old one (or
nothing), and it is registered in the data set's `_metadata.json` "exports", where `purge` and
`expire` find it; `purge_export` takes files out of an export again.

The destination is the driver's own disk for a plain or `file:` path (written with Python), or any
Hadoop file system for other schemes (streamed through HadoopFS).
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import stat
import tarfile
import uuid
from datetime import datetime, timezone
from typing import BinaryIO, Callable, Iterable, Iterator

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from . import dataset, statuses
from . import manifest as manifest_file
from .dataset import ITEM_COLUMNS, Paths
from .dataset_files import MANIFEST
from .digest import Sha1Base36, sha1_base36
from .errors import BadInput, MediaextractError
from .hadoopfs import HadoopFS
from .faults import checkpoint
from .report import plural
from .rows import CONTENT_IN_BLOBS
from .governance import inventory, rules, writers
from .safe_names import UniqueNames, extension_of, sample_key, thumbnail_name

FORMATS = ("tar", "files", "webdataset")
WHAT = ("originals", "thumbnails")
COMPRESSION = {"none": "", "gz": "gz", "bz2": "bz2"}
MANIFEST_COLUMNS = manifest_file.COLUMNS
DEFAULT_SHARD_SIZE = 1000
# Bytes of content per partition the driver receives at a time (an estimate: see _plan).
PARTITION_BYTES = 64 * 1024 * 1024
# Thumbnails' sizes are estimated before reading them, at this many bytes per pixel (generous
# for JPEG, so partitions come out smaller, never larger, than planned).
THUMBNAIL_BYTES_PER_PIXEL = 1.0
BLOB_COLUMNS = {"originals": "content", "thumbnails": "thumbnail"}
META_COLUMNS = tuple(c for c in ITEM_COLUMNS if c not in ("content", "thumbnail"))
# A line's versions: by fa_id for deleted files, by archive name for old versions of live files.
ORDER = ("list", "line", "fa_id", "archive_name")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


class CorruptDataSet(MediaextractError):
    """A stored original does not match its sha1 or size: the data set is damaged (exit 1)."""


# --- destinations: the driver's disk or a Hadoop file system ------------------------------------


class LocalTarget:
    """Files on the driver's own disk, written with plain Python I/O."""

    hadoop = False

    def exists(self, path: str) -> bool:
        return os.path.lexists(path)

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(path) and not os.path.islink(path)

    def names(self, path: str) -> list[str]:
        return sorted(os.listdir(path)) if self.is_dir(path) else []

    def mkdir(self, path: str, mode: int) -> None:
        os.mkdir(path, mode)
        os.chmod(path, mode)  # the process umask may have narrowed it

    def makedirs(self, path: str, mode: int) -> None:
        if not os.path.isdir(path):
            os.makedirs(path, mode)

    def open_write(self, path: str, mode: int) -> BinaryIO:
        # O_EXCL and O_NOFOLLOW: never write through a link or over a file someone put there.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
        os.fchmod(fd, mode)
        return os.fdopen(fd, "wb", buffering=1 << 20)

    def open_read(self, path: str) -> BinaryIO:
        return open(path, "rb", buffering=1 << 20)

    def mode_of(self, path: str) -> int:
        return stat.S_IMODE(os.lstat(path).st_mode)

    def set_mtime(self, path: str, seconds: float) -> None:
        os.utime(path, (seconds, seconds), follow_symlinks=False)

    def replace(self, source: str, target: str) -> None:
        os.replace(source, target)

    def rename(self, source: str, target: str) -> bool:
        if os.path.lexists(target):
            return False  # never over another copy (HDFS does not either)
        os.rename(source, target)
        return True

    def delete(self, path: str) -> None:
        if self.is_dir(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.unlink(path)

    def qualify(self, path: str) -> str:
        return "file:" + os.path.abspath(path)


class HadoopTarget:
    """Files on any Hadoop file system, streamed through the driver's HadoopFS."""

    hadoop = True

    def __init__(self, fs: HadoopFS):
        self.fs = fs

    def exists(self, path: str) -> bool:
        return self.fs.exists(path)

    def is_dir(self, path: str) -> bool:
        return self.fs.exists(path) and self.fs.info(path).is_dir

    def names(self, path: str) -> list[str]:
        return sorted(entry.path.rstrip("/").rsplit("/", 1)[-1] for entry in self.fs.list(path))

    def mkdir(self, path: str, mode: int) -> None:
        self.fs.mkdirs(path, mode)

    def makedirs(self, path: str, mode: int) -> None:
        if not self.fs.exists(path):
            self.fs.mkdirs(path, mode)

    def open_write(self, path: str, mode: int) -> BinaryIO:
        return self.fs.open_write(path, mode)

    def open_read(self, path: str) -> BinaryIO:
        return self.fs.open_read(path)

    def mode_of(self, path: str) -> int:
        return self.fs.info(path).mode

    def set_mtime(self, path: str, seconds: float) -> None:
        pass  # Hadoop keeps its own times; the manifest and the rows keep the upload time

    def replace(self, source: str, target: str) -> None:
        self.fs.replace(source, target)

    def rename(self, source: str, target: str) -> bool:
        return self.fs.rename(source, target)

    def delete(self, path: str) -> None:
        if self.fs.exists(path):
            self.fs.delete(path)

    def qualify(self, path: str) -> str:
        return self.fs.qualify(path)


def target_for(fs: HadoopFS, path: str, hadoop: bool | None = None) -> tuple[LocalTarget | HadoopTarget, str]:
    """Return the target that writes path and path in its terms (an OS path for the local disk).

    A plain path or a `file:` URI is the driver's disk; any other scheme is a Hadoop file system.
    `hadoop=True` sends a `file:` path through HadoopFS as well (to test that path locally).
    """
    match = _SCHEME.match(path)
    scheme = match.group(1).lower() if match else None
    if hadoop or (hadoop is None and scheme not in (None, "file")):
        return HadoopTarget(fs), path.rstrip("/")
    if scheme == "file":
        path = re.sub(r"^file:(//)?", "", path, flags=re.IGNORECASE)
        path = "/" + path.lstrip("/")
    return LocalTarget(), os.path.abspath(path)


# --- writers: one container per list -----------------------------------------------------------


def _tarinfo(name: str, size: int, mode: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = mode
    info.mtime = int(mtime)
    info.uname = info.gname = ""
    return info


def _open_tar(stream: BinaryIO, compression: str) -> tarfile.TarFile:
    # PAX: UTF-8 names of any length (ustar stops at 100 bytes).
    return tarfile.open(fileobj=stream, mode=f"w|{compression}", format=tarfile.PAX_FORMAT)


class _Writer:
    def __init__(self, target, root: str, file_mode: int, dir_mode: int, compression: str = "",
                 shard_size: int = DEFAULT_SHARD_SIZE):
        self.target, self.root = target, root
        self.file_mode, self.dir_mode = file_mode, dir_mode
        self.compression = compression
        self.suffix = f".tar.{compression}" if compression else ".tar"
        self.shard_size = shard_size
        self.stem: str | None = None

    def start(self, stem: str) -> None:
        self.stem = stem

    def add(self, name: str, content: BinaryIO, size: int, row: dict, mtime: float, extension: str,
            number: int) -> str:
        """Write one file of `size` bytes read from content; return its path in the export."""
        raise NotImplementedError

    def finish(self) -> None:
        self.stem = None

    def abort(self) -> None:
        """Close whatever is open without finishing it (the staging directory is deleted next)."""
        for name in ("tar", "stream"):
            handle = getattr(self, name, None)
            if handle is not None:
                try:
                    handle.close()
                except Exception:  # half-written archives are thrown away anyway
                    pass
                setattr(self, name, None)


class FilesWriter(_Writer):
    """`<list>/<name>`: one directory per list."""

    def start(self, stem: str) -> None:
        super().start(stem)
        self.target.mkdir(f"{self.root}/{stem}", self.dir_mode)

    def add(self, name, content, size, row, mtime, extension, number) -> str:
        relative = f"{self.stem}/{name}"
        path = f"{self.root}/{relative}"
        with self.target.open_write(path, self.file_mode) as out:
            shutil.copyfileobj(content, out, 1 << 20)
        self.target.set_mtime(path, mtime)
        return relative


class TarWriter(_Writer):
    """`<list>.tar[.gz|.bz2]` holding `<list>/<name>`: one archive per list."""

    def start(self, stem: str) -> None:
        super().start(stem)
        self.stream = self.target.open_write(f"{self.root}/{stem}{self.suffix}", self.file_mode)
        self.tar = _open_tar(self.stream, self.compression)

    def add(self, name, content, size, row, mtime, extension, number) -> str:
        relative = f"{self.stem}/{name}"
        self.tar.addfile(_tarinfo(relative, size, self.file_mode, mtime), content)
        return relative

    def finish(self) -> None:
        self.tar.close()
        self.stream.close()
        super().finish()


class WebDatasetWriter(_Writer):
    """`<list>-NNNNNN.tar` shards of shard_size samples: `<key>.<ext>` and `<key>.json` each."""

    def start(self, stem: str) -> None:
        super().start(stem)
        self.tar = self.stream = None
        self.shard_name = None

    def _next_shard(self, number: int) -> None:
        self._close_shard()
        self.shard_name = f"{self.stem}-{number // self.shard_size:06d}{self.suffix}"
        self.stream = self.target.open_write(f"{self.root}/{self.shard_name}", self.file_mode)
        self.tar = _open_tar(self.stream, self.compression)

    def _close_shard(self) -> None:
        if self.tar is not None:
            self.tar.close()
            self.stream.close()
        self.tar = self.stream = None

    def add(self, name, content, size, row, mtime, extension, number) -> str:
        if number % self.shard_size == 0:
            self._next_shard(number)
        key = sample_key(self.stem, number)
        metadata = sample_json(row)
        self.tar.addfile(_tarinfo(f"{key}.{extension}", size, self.file_mode, mtime), content)
        self.tar.addfile(_tarinfo(f"{key}.json", len(metadata), self.file_mode, mtime), io.BytesIO(metadata))
        return f"{self.shard_name}/{key}.{extension}"

    def finish(self) -> None:
        self._close_shard()
        super().finish()


def sample_json(row: dict) -> bytes:
    """Return a webdataset sample's `<key>.json`: its row without bytes (row_metadata)."""
    return json.dumps(row, ensure_ascii=False, sort_keys=True).encode("utf-8")


WRITERS = {"files": FilesWriter, "tar": TarWriter, "webdataset": WebDatasetWriter}


# --- rows ---------------------------------------------------------------------------------------


def _utc(value):
    """Return a collected timestamp as aware UTC (PySpark hands back naive local times)."""
    if value is None:
        return None
    return value.astimezone(timezone.utc)


def row_metadata(row: dict) -> dict:
    """Return a row's columns without bytes, timestamps as ISO UTC: the sample's .json."""
    return {c: (_utc(row[c]).isoformat() if isinstance(row[c], datetime) else row[c])
            for c in META_COLUMNS}


def list_stems(list_names: Iterable[str]) -> dict[str, str]:
    """Return each list's safe directory / archive stem, unique ignoring case, in sorted order."""
    allocator = UniqueNames(reserved=[MANIFEST], keep_extension=False)
    return {name: allocator.add(name) for name in sorted(list_names)}


def _plan(items: DataFrame, what: str, partition_bytes: int) -> tuple[int, int]:
    """Return (ok rows, partitions) for streaming ok rows, from columns that hold no bytes."""
    if what == "originals":  # an original kept in blobs/ comes apart, in chunks (BlobReader)
        weight = F.when(F.col("content_in") == CONTENT_IN_BLOBS, F.lit(0)).otherwise(F.coalesce(F.col("size"), F.lit(0)))
    else:
        weight = F.coalesce(F.col("thumbnail_width") * F.col("thumbnail_height") * THUMBNAIL_BYTES_PER_PIXEL,
                            F.lit(0))
    row = items.agg(F.count(F.lit(1)).alias("rows"), F.coalesce(F.sum(weight), F.lit(0)).alias("bytes")).first()
    return int(row["rows"]), max(1, math.ceil(float(row["bytes"]) / partition_bytes))


def stream_rows(items: DataFrame, what: str, partition_bytes: int = PARTITION_BYTES) -> tuple[int, Iterator]:
    """Return (ok rows, iterator of ok rows in ORDER), one partition at a time."""
    ok = items.where(F.col("status") == statuses.OK)
    total, partitions = _plan(ok, what, partition_bytes)
    ordered = (ok.select(*META_COLUMNS, F.col(BLOB_COLUMNS[what]).alias("_blob"))
               .repartitionByRange(partitions, *ORDER).sortWithinPartitions(*ORDER))
    return total, ordered.toLocalIterator(prefetchPartitions=False)


class BlobReader:
    """The originals of a data set's blobs/ table, one at a time, chunk by chunk (driver side).

    Each original is one small Spark job: its chunks are found by a join with a one-row local
    table (the sha1 never becomes a literal in a plan: see governance.matching), and come to the
    driver one partition (about one chunk) at a time, in order; nothing holds the whole object.
    """

    def __init__(self, spark: SparkSession, fs: HadoopFS, path: str):
        self.spark = spark
        path = dataset.readable(fs, path)
        self._files: dict[str, list[str]] | None = None
        self.table = spark.read.schema(dataset.BLOBS_SCHEMA).parquet(path) if fs.exists(path) else None

    def _files_of(self, sha1: str) -> list[str]:
        """Return the part files holding chunks of an original: an index of blobs/ made once (its
        sha1 column and file names: no bytes), so each original reads its own files only."""
        if self._files is None:
            self._files = {}
            if self.table is not None:
                where = self.table.select("sha1", F.col("_metadata.file_path").alias("file")).distinct()
                for row in where.toLocalIterator():
                    self._files.setdefault(row["sha1"], []).append(row["file"])
        return self._files.get(sha1, [])

    def chunks(self, sha1: str) -> Iterator[tuple[int, bytes]]:
        """Yield (index, bytes) of the chunks of the original with this sha1, in order."""
        files = self._files_of(sha1)
        if not files:
            return
        key = self.spark.createDataFrame([(sha1,)], "sha1 string")
        mine = (self.spark.read.schema(dataset.BLOBS_SCHEMA).parquet(*files)
                .join(F.broadcast(key), on="sha1", how="left_semi"))
        count = mine.count()  # reads no bytes: the sha1 column only
        # About PARTITION_BYTES at a time reach the driver, in chunk order.
        partitions = max(1, math.ceil(count * dataset.BLOB_CHUNK_BYTES_MAX / PARTITION_BYTES))
        ordered = mine.select("chunk", "bytes").repartitionByRange(partitions, "chunk").sortWithinPartitions("chunk")
        for row in ordered.toLocalIterator(prefetchPartitions=False):
            yield row["chunk"], bytes(row["bytes"])

    def open(self, sha1: str, size: int, damaged: Exception) -> "BlobStream":
        """Return the original with this sha1 as a stream; `damaged` is raised when its chunks
        are missing, out of order, or do not make up `size` bytes of that sha1."""
        return BlobStream(self.chunks(sha1), sha1, size, damaged)


class BlobStream(io.RawIOBase):
    """A file-like view of an original's chunks that checks them as they pass (see verify)."""

    def __init__(self, chunks: Iterator[tuple[int, bytes]], sha1: str, size: int, damaged: Exception):
        self._chunks, self._sha1, self._size, self._damaged = chunks, sha1, size, damaged
        self._hash, self._read, self._next = Sha1Base36(), 0, 0
        self._buffer = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        """Fill buffer across chunks (tarfile takes a short read for the end of the data)."""
        filled = 0
        while filled < len(buffer):
            if not self._buffer and not self._next_chunk():
                if self._read < self._size:
                    raise self._damaged  # chunks missing at the end: never a short file
                break
            n = min(len(buffer) - filled, len(self._buffer))
            buffer[filled:filled + n] = self._buffer[:n]
            self._buffer = self._buffer[n:]
            filled += n
        return filled

    def _next_chunk(self) -> bool:
        got = next(self._chunks, None)
        if got is None:
            return False
        index, data = got
        if index != self._next or self._read + len(data) > self._size:
            raise self._damaged
        self._next += 1
        self._read += len(data)
        self._hash.update(data)
        self._buffer = memoryview(data)
        return True

    def verify(self) -> None:
        """Raise the damaged error unless every chunk was read and they are the original."""
        while self.read(1 << 20):
            pass
        if self._read != self._size or self._hash.base36() != self._sha1:
            raise self._damaged


# --- export -------------------------------------------------------------------------------------


def _check_destination(target, path: str) -> None:
    if not target.exists(path):
        return
    if not target.is_dir(path):
        raise BadInput(f"--to {path} exists and is not a directory: refusing to replace it")
    names = target.names(path)
    if names and MANIFEST not in names:
        raise BadInput(f"--to {path} exists and is not an earlier export (no {MANIFEST}): refusing to replace it")


def _swap_in(target, staging: str, path: str) -> None:
    _check_destination(target, path)
    dataset.swap_in(target, staging, path)  # the project's one swap: path.old while it runs


def infer_format(fs: HadoopFS, path: str) -> str:
    """Return the format of an export found without a registry entry, from what its manifest names."""
    target, root = target_for(fs, path)
    for row in _read_manifest(target, root):
        container = row["file"].split("/", 1)[0]
        if container.endswith(".tar") and not target.is_dir(f"{root}/{container}"):
            return "webdataset"
        return "tar" if _tar_archive(target, root, container) else "files"
    return "files"


def _check_options(fmt: str, what: str, compress: str, shard_size: int) -> None:
    if fmt not in FORMATS:
        raise BadInput(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if what not in WHAT:
        raise BadInput(f"--what must be one of {', '.join(WHAT)}, not {what!r}")
    if compress not in COMPRESSION:
        raise BadInput(f"--compress must be one of {', '.join(COMPRESSION)}, not {compress!r}")
    if fmt == "files" and compress != "none":
        raise BadInput("--compress applies to tar and webdataset exports, not to files")
    if shard_size < 1:
        raise BadInput(f"--shard-size must be at least 1, not {shard_size}")


def run_export(spark: SparkSession, settings, dataset_path: str, to: str, fmt: str,
               what: str = "originals", compress: str = "none", lists: Iterable[str] | None = None,
               shard_size: int = DEFAULT_SHARD_SIZE, out=print, partition_bytes: int = PARTITION_BYTES,
               hadoop: bool | None = None, dry_run: bool = False) -> dict:
    """Return the registered entry (with files per list) of a new export of a data set's ok rows.

    Rows come to the driver one partition at a time, in (list, line) order, and leave it file by
    file: memory stays bounded by `partition_bytes` whatever the data set's size. dry_run: check
    everything a real export checks, count the ok rows per list, and write and register nothing.
    """
    _check_options(fmt, what, compress, shard_size)
    fs = HadoopFS(spark)
    paths = Paths(dataset_path)
    if not fs.exists(paths.success):
        raise BadInput(f"{paths.root} is not a complete data set (no _SUCCESS): run extract first")
    target, root = target_for(fs, to, hadoop)
    qualified = target.qualify(root)
    dataset_root = fs.qualify(paths.root)
    if qualified == dataset_root or dataset_root.startswith(qualified.rstrip("/") + "/") or \
            qualified.startswith(fs.qualify(paths.items) + "/"):
        raise BadInput(f"--to {to} would overwrite the data set itself")
    _check_destination(target, root)
    inventory.root_of(fs, settings, qualified, "export")  # exit 2 before any work when outside the roots

    items = dataset.read_items(spark, dataset.readable(fs, paths.items))
    available = sorted(r["list"] for r in items.select("list").distinct().collect())
    wanted = sorted({n for value in (lists or ()) for n in value.split(",") if n}) or available
    unknown = [n for n in wanted if n not in available]
    if unknown:
        raise BadInput(f"no list {', '.join(unknown)} in {paths.root} (lists: {', '.join(available)})")
    stems = list_stems(wanted)
    if dry_run:
        return _dry_run(items, qualified, fmt, what, wanted, out)

    run_id = uuid.uuid4().hex[:8]
    staging = dataset.staging_path(root, run_id)
    replaced = dataset.old_path(root)
    extra = {"format": fmt, "what": what, "lists": wanted, "staging": target.qualify(staging),
             "replaced": target.qualify(replaced)}
    # Registered (with where its staging goes) before its first byte; the roots of the data set
    # and of the export are held shared, so no purge runs while files are written or read.
    with writers.writing(fs, settings, inventory.EXPORT, qualified, "export", dataset=dataset_root,
                         extra=extra):
        # Read again under the lock: a purge may have swapped items/ since the lists were read.
        # An extract of the same data set holds the root shared too and may swap items/ while
        # it is read: the read then fails on a vanished file (never mixing old and new rows),
        # _write_export drops its staging, and the export starts again from the new items.
        exported, skipped = dataset.with_items(
            spark, lambda: dataset.readable(fs, paths.items),
            lambda items: _write_export(spark, target, items.where(F.col("list").isin(wanted)), what, fmt,
                                        compress, shard_size, wanted, stems, staging, root, replaced, settings,
                                        partition_bytes, paths, qualified, out))
    entry = {"path": qualified, "format": fmt, "what": what,
             "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "lists": wanted}
    out(f"exported {plural(sum(exported.values()), 'file')} to {qualified}"
        + (f"; {plural(skipped, 'ok row')} without {BLOB_COLUMNS[what]} left out" if skipped else ""))
    return {**entry, "files": exported, "skipped": skipped}


def _dry_run(items: DataFrame, qualified: str, fmt: str, what: str, wanted: list[str], out) -> dict:
    """Return (and say) what an export would hold: ok rows per list, from columns without bytes."""
    counted = (items.where(F.col("list").isin(wanted) & (F.col("status") == statuses.OK))
               .groupBy("list").count().collect())
    rows = {name: 0 for name in wanted} | {r["list"]: int(r["count"]) for r in counted}
    out(f"export {qualified} (dry run): {fmt}, {what}; {plural(sum(rows.values()), 'ok row')} "
        f"({', '.join(f'{name} {count}' for name, count in rows.items())}); rows without "
        f"{BLOB_COLUMNS[what]} would be left out; nothing written")
    return {"path": qualified, "format": fmt, "what": what, "lists": wanted, "ok_rows": rows, "dry_run": True}


def _write_export(spark, target, items: DataFrame, what: str, fmt: str, compress: str, shard_size: int,
                  wanted: list[str], stems: dict[str, str], staging: str, root: str, replaced: str, settings,
                  partition_bytes: int, paths: Paths, qualified: str, out) -> tuple[dict[str, int], int]:
    """Write the export into staging and swap it in; return (files per list, rows skipped)."""
    file_mode, dir_mode = dataset.modes(settings)
    parent = staging.rsplit("/", 1)[0]
    target.makedirs(parent or "/", dir_mode)
    target.mkdir(staging, dir_mode)
    checkpoint("export.staging")
    writer = WRITERS[fmt](target, staging, file_mode, dir_mode, COMPRESSION[compress], shard_size)
    exported = {name: 0 for name in wanted}
    skipped = 0
    try:
        total, rows = stream_rows(items, what, partition_bytes)
        out(f"export {paths.root}: {plural(total, 'ok row')} of {plural(len(wanted), 'list')} to {qualified} "
            f"({fmt}, {what})")
        with target.open_write(f"{staging}/{MANIFEST}", file_mode) as raw:
            manifest_text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            manifest = manifest_file.Writer(manifest_text)
            current, names, number = None, None, 0
            blobs = BlobReader(spark, HadoopFS(spark), paths.blobs)
            for spark_row in rows:
                row = spark_row.asDict()
                data = row.pop("_blob")
                in_blobs = what == "originals" and row["content_in"] == CONTENT_IN_BLOBS
                if data is None and not in_blobs:  # no thumbnail (not an image), or originals not kept
                    skipped += 1
                    continue
                if row["list"] != current:
                    if current is not None:
                        writer.finish()
                        out(f"  {current}: {plural(exported[current], 'file')}")
                    current, names, number = row["list"], UniqueNames(), 0
                    writer.start(stems[current])
                damaged = CorruptDataSet(f"{current} line {row['line']} ({row['name']}): stored bytes do not match "
                                         "their sha1/size; the data set is damaged, extract it again")
                if in_blobs:
                    content, size = blobs.open(row["sha1"], row["size"], damaged), row["size"]
                else:
                    data = bytes(data)
                    if what == "originals" and (sha1_base36(data) != row["sha1"] or len(data) != row["size"]):
                        raise damaged
                    content, size = io.BytesIO(data), len(data)
                name = row["name"] if what == "originals" else thumbnail_name(row["name"], row["thumbnail_mime"])
                safe = names.add(name)
                extension = extension_of(row["name"], row["thumbnail_mime"] if what == "thumbnails" else None)
                mtime = _utc(row["uploaded_at"]).timestamp() if row["uploaded_at"] else 0
                relative = writer.add(safe, content, size, row_metadata(row), mtime, extension, number)
                if in_blobs:
                    content.verify()  # every chunk read, in order, and the whole is its sha1
                manifest.add({**row, "file": relative})
                exported[current] += 1
                number += 1
            if current is not None:
                writer.finish()
                out(f"  {current}: {plural(exported[current], 'file')}")
            manifest_text.flush()
            manifest_text.detach()
        for name in wanted:
            if exported[name] == 0:
                if fmt == "webdataset":  # a shard holds at least one sample: none is written
                    out(f"  {name}: 0 files (no ok row with {BLOB_COLUMNS[what]}): no shard written")
                else:  # every list asked for has its directory or archive, empty ones too
                    writer.start(stems[name])
                    writer.finish()
                    out(f"  {name}: 0 files (no ok row with {BLOB_COLUMNS[what]}): left empty")
        _swap_in(target, staging, root)
    except BaseException:
        writer.abort()
        target.delete(staging)
        raise
    return exported, skipped


# --- purge --------------------------------------------------------------------------------------


def _read_manifest(target, root: str) -> Iterator[dict]:
    """Yield the manifest's rows (texts, escapes undone)."""
    for row, _ in _read_manifest_both(target, root):
        yield row


def _read_manifest_both(target, root: str) -> Iterator[tuple[dict, dict]]:
    """Yield (row, row as written) of each manifest line (see manifest.read)."""
    with target.open_read(f"{root}/{MANIFEST}") as raw:
        yield from manifest_file.read(raw)


def _matching(target, root: str, matches: Callable[[dict], bool]) -> list[dict]:
    """Return the manifest rows a purge selects: by their text, or as written (older manifests)."""
    return [row for row, written in _read_manifest_both(target, root) if matches(row) or matches(written)]


def _archive_compression(name: str) -> str:
    for compression in ("gz", "bz2"):
        if name.endswith(f".tar.{compression}"):
            return compression
    return ""


def rewrite_archive(target, path: str, drop: Callable[[str], bool]) -> int:
    """Return how many members were dropped from the tar archive at path, rewritten without them.

    The new archive is written beside the old one and renamed over it, with its mode.
    """
    temporary = f"{path}.purging"
    target.delete(temporary)
    dropped = 0
    mode = target.mode_of(path)
    with target.open_read(path) as source, tarfile.open(fileobj=source, mode="r|*") as old, \
            target.open_write(temporary, mode) as sink, _open_tar(sink, _archive_compression(path)) as new:
        for member in old:
            if drop(member.name):
                dropped += 1
                continue
            new.addfile(member, old.extractfile(member) if member.isreg() else None)
    target.replace(temporary, path)
    return dropped


def _edits(target, path: str, edit: Callable[[str, bytes], bytes | None]) -> int:
    """Return how many members of the tar archive at path edit would change (reading only the
    members whose name ends in .json: the only ones an edit looks at)."""
    found = 0
    with target.open_read(path) as source, tarfile.open(fileobj=source, mode="r|*") as archive:
        for member in archive:
            if member.isreg() and member.name.endswith(".json"):
                found += edit(member.name, archive.extractfile(member).read()) is not None
    return found


def edit_archive(target, path: str, edit: Callable[[str, bytes], bytes | None]) -> int:
    """Return how many `.json` members of the tar archive at path edit(name, data) changed (it
    returns their new bytes, or None to keep them). An archive with such a member is rewritten
    beside itself (other members streamed through) and renamed over, with its mode; any other
    is only read."""
    if not _edits(target, path, edit):
        return 0
    temporary = f"{path}.purging"
    target.delete(temporary)
    edited = 0
    mode = target.mode_of(path)
    try:
        with target.open_read(path) as source, tarfile.open(fileobj=source, mode="r|*") as old, \
                target.open_write(temporary, mode) as sink, _open_tar(sink, _archive_compression(path)) as new:
            for member in old:
                if not member.isreg():
                    new.addfile(member)
                    continue
                if not member.name.endswith(".json"):
                    new.addfile(member, old.extractfile(member))
                    continue
                data = old.extractfile(member).read()
                changed = edit(member.name, data)
                if changed is not None:
                    edited += 1
                    member.size, data = len(changed), changed
                new.addfile(member, io.BytesIO(data))
    except BaseException:
        target.delete(temporary)
        raise
    checkpoint("export.archive_edited")
    target.replace(temporary, path)
    return edited


def _sample_edit(removed: Callable[[str], bool]) -> Callable[[str, bytes], bytes | None]:
    """Return the edit that clears a sample's label texts naming a removed file (webdataset)."""
    def edit(name: str, data: bytes) -> bytes | None:
        if not name.endswith(".json"):
            return None
        try:
            record = json.loads(data)
        except ValueError:
            return None  # not a sample's metadata: nothing a purge wrote, nothing to clear
        cleared = rules.without_mentions(record, removed) if isinstance(record, dict) else None
        return None if cleared is None else sample_json(cleared)
    return edit


def _shards(target, root: str) -> list[str]:
    """Return the paths of a webdataset export's shards, from its manifest."""
    return sorted({f"{root}/{row['file'].partition('/')[0]}" for row in _read_manifest(target, root)})


def scan_mentions(fs: HadoopFS, entry: dict, removed: Callable[[str], bool] | None) -> int:
    """Return how many samples of an export have label texts naming a removed file (removed(name)
    says which: see rules.names_a_removed_file; only a webdataset export keeps label texts, in
    each sample's .json), changing nothing."""
    if entry["format"] != "webdataset" or removed is None:
        return 0
    target, root = target_for(fs, entry["path"])
    if not target.exists(f"{root}/{MANIFEST}"):
        return 0
    edit = _sample_edit(removed)
    return sum(_edits(target, shard, edit) for shard in _shards(target, root) if target.exists(shard))


def clear_mentions(fs: HadoopFS, entry: dict, removed: Callable[[str], bool] | None,
                   hadoop: bool | None = None) -> int:
    """Return how many samples of an export lost label texts naming a removed file (see
    scan_mentions): each shard holding one is rewritten (beside itself, renamed over); running
    it again after a failure finishes the job, after success changes nothing."""
    if entry["format"] != "webdataset" or removed is None:
        return 0
    target, root = target_for(fs, entry["path"], hadoop)
    if not target.exists(f"{root}/{MANIFEST}"):
        return 0
    edit = _sample_edit(removed)
    return sum(edit_archive(target, shard, edit) for shard in _shards(target, root) if target.exists(shard))


def _tar_archive(target, root: str, stem: str) -> str | None:
    for suffix in (".tar", ".tar.gz", ".tar.bz2"):
        if target.exists(f"{root}/{stem}{suffix}"):
            return f"{root}/{stem}{suffix}"
    return None


def scan_export(fs: HadoopFS, entry: dict, matches: Callable[[dict], bool]) -> int:
    """Return how many items of an export match (its manifest rows), removing none (a dry run)."""
    target, root = target_for(fs, entry["path"])
    if not target.exists(f"{root}/{MANIFEST}"):
        return 0
    return len(_matching(target, root, matches))


def purge_export(fs: HadoopFS, entry: dict, matches: Callable[[dict], bool], hadoop: bool | None = None) -> int:
    """Return how many items were removed from an export: every one whose manifest row matches.

    The manifest row is a dict of strings: file, list, line, name, sha1, storage_key. Files are
    deleted (files format); archives and shards holding one are rewritten without it (written
    new, renamed over); manifest.csv is rewritten last, so running it again after a failure
    finishes the job, and running it again after success removes nothing (returns 0).
    `hadoop=True` goes through HadoopFS for a `file:` export too (as for hdfs://; for tests).
    """
    target, root = target_for(fs, entry["path"], hadoop)
    if not target.exists(f"{root}/{MANIFEST}"):
        return 0
    removed = {row["file"]: row for row in _matching(target, root, matches)}
    if not removed:
        return 0
    by_container: dict[str, set[str]] = {}
    for relative in removed:
        container, _, member = relative.partition("/")
        by_container.setdefault(container, set()).add(member)
    fmt = entry["format"]
    for container, members in sorted(by_container.items()):
        if fmt == "files":
            for member in members:
                target.delete(f"{root}/{container}/{member}")
        elif fmt == "tar":
            archive = _tar_archive(target, root, container)
            if archive:
                wanted = {f"{container}/{m}" for m in members}
                rewrite_archive(target, archive, lambda name: name in wanted)
        elif fmt == "webdataset":
            shard = f"{root}/{container}"
            if target.exists(shard):
                keys = {m.split(".", 1)[0] for m in members}
                rewrite_archive(target, shard, lambda name: name.rsplit("/", 1)[-1].split(".", 1)[0] in keys)
        else:
            raise BadInput(f"export {entry['path']} has an unknown format {fmt!r}")
    manifest = f"{root}/{MANIFEST}"
    temporary = f"{manifest}.purging"
    target.delete(temporary)
    with target.open_write(temporary, target.mode_of(manifest)) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        manifest_file.Writer(text).add_all(row for row in _read_manifest(target, root) if row["file"] not in removed)
        text.flush()
        text.detach()
    target.replace(temporary, manifest)
    return len(removed)
