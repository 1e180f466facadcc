"""Driver-side file operations on any Hadoop file system (HDFS, file://) through Spark's JVM.

Small files (reports, metadata, flags, locks) are written here; bulk data is written by Spark.
Paths without a scheme resolve against Hadoop's default file system, exactly as Spark's readers
and writers resolve them, so a path means the same thing to both.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FileInfo:
    path: str
    is_dir: bool
    size: int
    modified_ms: int
    mode: int


class HadoopFS:
    """File operations on the Hadoop file system that holds `path`s (driver only)."""

    def __init__(self, spark):
        self._jvm = spark.sparkContext._jvm
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _path(self, path: str):
        return self._jvm.org.apache.hadoop.fs.Path(path)

    def _fs(self, path: str):
        return self._path(path).getFileSystem(self._conf)

    def qualify(self, path: str) -> str:
        """Return the fully qualified form of path (scheme and absolute)."""
        jpath = self._path(path)
        return str(jpath.getFileSystem(self._conf).makeQualified(jpath).toString())

    def exists(self, path: str) -> bool:
        return bool(self._fs(path).exists(self._path(path)))

    def mkdirs(self, path: str, mode: int = 0o700) -> None:
        self._fs(path).mkdirs(self._path(path), self._permission(mode))
        self.set_mode(path, mode)

    def _permission(self, mode: int):
        return self._jvm.org.apache.hadoop.fs.permission.FsPermission(self._jvm.java.lang.Short(mode))

    def set_mode(self, path: str, mode: int) -> None:
        self._fs(path).setPermission(self._path(path), self._permission(mode))

    def write_bytes(self, path: str, data: bytes, mode: int = 0o600) -> None:
        """Write data to path, replacing it; the file never exists with a wider mode."""
        fs = self._fs(path)
        tmp = self._path(path + "._writing")
        stream = fs.create(tmp, self._permission(mode), True, 65536, fs.getDefaultReplication(tmp),
                           fs.getDefaultBlockSize(tmp), None)
        try:
            stream.write(bytearray(data))
        finally:
            stream.close()
        fs.setPermission(tmp, self._permission(mode))
        target = self._path(path)
        if fs.exists(target):
            fs.delete(target, False)
        if not fs.rename(tmp, target):
            raise OSError(f"could not move {tmp} to {path}")

    def write_text(self, path: str, text: str, mode: int = 0o600) -> None:
        self.write_bytes(path, text.encode("utf-8"), mode)

    def create_exclusive(self, path: str, data: bytes, mode: int = 0o600) -> bool:
        """Create path with data if it does not exist; return False if it already did."""
        fs = self._fs(path)
        try:
            stream = fs.create(self._path(path), False)
        except Exception as error:  # py4j wraps FileAlreadyExistsException
            if "FileAlreadyExists" in str(error) or "already exists" in str(error):
                return False
            raise
        try:
            stream.write(bytearray(data))
        finally:
            stream.close()
        fs.setPermission(self._path(path), self._permission(mode))
        return True

    def read_bytes(self, path: str) -> bytes:
        fs = self._fs(path)
        stream = fs.open(self._path(path))
        try:
            return bytes(self._jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
        finally:
            stream.close()

    def read_text(self, path: str) -> str:
        return self.read_bytes(path).decode("utf-8")

    def delete(self, path: str, recursive: bool = True) -> bool:
        return bool(self._fs(path).delete(self._path(path), recursive))

    def rename(self, source: str, target: str) -> bool:
        return bool(self._fs(source).rename(self._path(source), self._path(target)))

    def info(self, path: str) -> FileInfo:
        status = self._fs(path).getFileStatus(self._path(path))
        return self._info(status)

    @staticmethod
    def _info(status) -> FileInfo:
        return FileInfo(path=str(status.getPath().toString()), is_dir=bool(status.isDirectory()),
                        size=int(status.getLen()), modified_ms=int(status.getModificationTime()),
                        mode=int(status.getPermission().toShort()) & 0o7777)

    def list(self, path: str) -> list[FileInfo]:
        """Return the entries directly under path ([] when it does not exist)."""
        if not self.exists(path):
            return []
        return [self._info(s) for s in self._fs(path).listStatus(self._path(path))]

    def walk(self, path: str):
        """Yield every entry below path (directories before their contents)."""
        for entry in self.list(path):
            yield entry
            if entry.is_dir:
                yield from self.walk(entry.path)
