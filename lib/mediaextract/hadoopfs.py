"""Driver-side file operations on any Hadoop file system (HDFS, file://) through Spark's JVM.

Small files (reports, metadata, flags, locks) are written here; bulk data is written by Spark.
Paths without a scheme resolve against Hadoop's default file system, exactly as Spark's readers
and writers resolve them, so a path means the same thing to both.
"""

from __future__ import annotations

import errno
import io
import os
import time
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class FileInfo:
    path: str
    is_dir: bool
    size: int
    modified_ms: int
    mode: int
    acl: bool = False  # extended ACL entries beyond the mode bits (HDFS)
    owner: str = ""


class HadoopFS:
    """File operations on the Hadoop file system that holds `path`s (driver only)."""

    def __init__(self, spark):
        self._jvm = spark.sparkContext._jvm
        self._gateway = spark.sparkContext._gateway
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()

    @classmethod
    def before_session(cls) -> "HadoopFS":
        """Return file operations on the JVM spark-submit started, before any Spark session (no
        SparkContext, no YARN application), with the Hadoop configuration a session would have
        (HADOOP_CONF_DIR and spark.hadoop.* settings)."""
        from pyspark import SparkContext

        SparkContext._ensure_initialized()  # joins spark-submit's JVM (PYSPARK_GATEWAY_PORT)
        fs = cls.__new__(cls)
        fs._jvm, fs._gateway = SparkContext._jvm, SparkContext._gateway
        spark_conf = fs._jvm.org.apache.spark.SparkConf()  # spark-submit's settings, from system properties
        fs._conf = fs._jvm.org.apache.spark.deploy.SparkHadoopUtil.get().newConfiguration(spark_conf)
        return fs

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
        """Create path with mode, and each missing parent with mode too.

        Hadoop gives the parents it creates its default permissions from the file system's own
        configuration, not the session's umask: under spark-submit the local file system was
        made (and cached) before our session, so they came out 0755.
        """
        fs = self._fs(path)
        missing, current = [], self._path(path)
        while current is not None and not fs.exists(current):
            missing.append(current)
            current = current.getParent()
        for directory in reversed(missing):
            fs.mkdirs(directory, self._permission(mode))
            fs.setPermission(directory, self._permission(mode))
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
        """Create path with data if it does not exist; return False if it already did.

        Atomic on HDFS (create without overwrite) and on a local disk, where Hadoop's own local
        file system only checks and then creates (two processes can both win): O_EXCL instead.
        """
        local = self._local_path(path)
        if local is not None:
            os.makedirs(os.path.dirname(local), 0o700, exist_ok=True)  # as Hadoop's create would
            try:
                fd = os.open(local, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
            except FileExistsError:
                return False
            _write_fd(fd, data, mode)
            return True
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
        """Move source to target; False when target exists (never overwritten) or source is gone.

        HDFS never overwrites; Hadoop's local file system replaces an existing file, so a local
        file is moved with link + unlink, which fails when the target exists.
        """
        local_source, local_target = self._local_path(source), self._local_path(target)
        if local_source is not None and local_target is not None and os.path.isfile(local_source) \
                and not os.path.islink(local_source):
            try:
                os.link(local_source, local_target)
            except (FileExistsError, FileNotFoundError):
                return False
            os.unlink(local_source)
            # Hadoop's checksum file goes along, as Hadoop's own rename would take it.
            crc = os.path.join(os.path.dirname(local_source), f".{os.path.basename(local_source)}.crc")
            if os.path.exists(crc):
                os.replace(crc, os.path.join(os.path.dirname(local_target), f".{os.path.basename(local_target)}.crc"))
            return True
        try:
            return bool(self._fs(source).rename(self._path(source), self._path(target)))
        except Exception as error:  # py4j: Hadoop's local file system raises where HDFS says false
            if "FileNotFoundException" in str(error):
                return False  # the source is gone (another run moved it first)
            raise

    def replace(self, source: str, target: str) -> None:
        """Move source over target, replacing it, in one step where the file system can.

        FileContext's rename with OVERWRITE is one namenode operation on HDFS: the target is
        either the old file or the new one, never missing, whenever the caller is killed.
        (FileSystem.rename never overwrites, and a delete before it would leave a gap.)
        """
        target_path = self._path(self.qualify(target))  # FileContext needs a scheme
        context = self._jvm.org.apache.hadoop.fs.FileContext.getFileContext(target_path.toUri(), self._conf)
        rename = self._jvm.org.apache.hadoop.fs.Options.Rename
        options = self._gateway.new_array(rename, 1)
        options[0] = rename.OVERWRITE
        context.rename(self._path(self.qualify(source)), target_path, options)

    def _local_path(self, path: str) -> str | None:
        """Return the OS path of a path on the local file system, None for any other."""
        parts = urlsplit(self.qualify(path))
        return unquote(parts.path) if parts.scheme == "file" else None

    def touch(self, path: str) -> None:
        """Set path's modification time to now (a lock's heartbeat); the access time is kept (-1)."""
        self._fs(path).setTimes(self._path(path), int(time.time() * 1000), -1)

    def info(self, path: str) -> FileInfo:
        status = self._fs(path).getFileStatus(self._path(path))
        return self._info(status)

    @staticmethod
    def _info(status) -> FileInfo:
        return FileInfo(path=str(status.getPath().toString()), is_dir=bool(status.isDirectory()),
                        size=int(status.getLen()), modified_ms=int(status.getModificationTime()),
                        mode=int(status.getPermission().toShort()) & 0o7777, acl=bool(status.hasAcl()),
                        owner=str(status.getOwner()))

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


    def open_write(self, path: str, mode: int = 0o600, buffer_bytes: int = 1 << 20) -> io.BufferedWriter:
        """Return a binary stream that writes path (replacing it), created with mode: bulk
        output (archives, exports) streams through the driver without being held whole."""
        fs = self._fs(path)
        jpath = self._path(path)
        stream = fs.create(jpath, self._permission(mode), True, 65536, fs.getDefaultReplication(jpath),
                           fs.getDefaultBlockSize(jpath), None)
        return io.BufferedWriter(_JavaOutput(stream, lambda: fs.setPermission(jpath, self._permission(mode))),
                                 buffer_bytes)

    def open_read(self, path: str, buffer_bytes: int = 1 << 20) -> io.BufferedReader:
        """Return a binary stream that reads path in chunks."""
        return io.BufferedReader(_JavaInput(self._fs(path).open(self._path(path))), buffer_bytes)

    def append_bytes(self, path: str, data: bytes, mode: int = 0o600) -> None:
        """Append data to path, creating it with mode when missing (never wider than mode)."""
        qualified = self.qualify(path)
        parts = urlsplit(qualified)
        if parts.scheme == "file":
            # Hadoop's local file system keeps a checksum beside each file and cannot append;
            # O_APPEND on the file itself is atomic per write, and no checksum file is made.
            local = unquote(parts.path)
            _write_fd(os.open(local, os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode), data, mode)
            return
        fs = self._fs(path)
        target = self._path(path)
        if not fs.exists(target):
            self.create_exclusive(path, b"", mode)
        stream = fs.append(target)
        try:
            stream.write(bytearray(data))
            stream.hflush()
        finally:
            stream.close()

    def user(self) -> str:
        """Return the Hadoop user this process acts as (short name)."""
        return str(self._jvm.org.apache.hadoop.security.UserGroupInformation.getCurrentUser().getShortUserName())

    def walk_all(self, path: str):
        """Yield every entry below path, including the checksum files a local file system hides."""
        fs = self._fs(path)
        try:
            fs = fs.getRawFileSystem()  # LocalFileSystem lists through a filter hiding .crc files
        except Exception:  # py4j: not a checksummed file system (HDFS); list it as it is
            pass
        pending = [self._path(path)]
        while pending:
            for status in fs.listStatus(pending.pop()):
                entry = self._info(status)
                yield entry
                if entry.is_dir:
                    pending.append(status.getPath())


def java_reason(error: Exception) -> str:
    """Return why a file system call failed, in one line: a missing file or a refusal in the
    words a local one uses, else the Java exception's own first line."""
    java = getattr(error, "java_exception", None)  # py4j's Py4JJavaError
    if java is None:
        return str(error).splitlines()[0] if str(error) else type(error).__name__
    name = str(java.getClass().getName())
    if name.endswith("FileNotFoundException"):
        return os.strerror(errno.ENOENT)
    if name.endswith("AccessControlException"):
        return os.strerror(errno.EACCES)
    message = str(java.getMessage() or "")
    return f"{name.rsplit('.', 1)[-1]}: {message.splitlines()[0] if message else ''}".rstrip(": ")


def _write_fd(fd: int, data: bytes, mode: int) -> None:
    """Write all of data to an open descriptor with the given mode, then close it."""
    try:
        os.fchmod(fd, mode)  # the umask may have narrowed, or an old file widened, the mode
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


class _JavaOutput(io.RawIOBase):
    """A Python raw stream over a Java OutputStream (each write is one py4j call)."""

    def __init__(self, stream, on_close):
        self._stream = stream
        self._on_close = on_close

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._stream.write(bytearray(data))
        return len(data)

    def close(self) -> None:
        if not self.closed:
            try:
                self._stream.close()
                self._on_close()  # the umask may have narrowed the mode asked for
            finally:
                super().close()


class _JavaInput(io.RawIOBase):
    """A Python raw stream over a Java InputStream (each read is one py4j call)."""

    def __init__(self, stream):
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._stream.readNBytes(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            try:
                self._stream.close()
            finally:
                super().close()
