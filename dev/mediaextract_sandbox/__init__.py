"""A local MariaDB + Swift all-in-one for `make demo` and the integration tests.

Everything lives under one root directory (data, configs, logs, pid files) and listens on
loopback only. Services are started detached (their own session), so they outlive the process
that started them and are stopped through their pid files.

    sandbox = Sandbox(".sandbox")
    sandbox.up()            # MariaDB, memcached, Swift (account, container, object, proxy)
    truth = sandbox.seed()  # schema + rows + objects + lists/ + ground_truth.json
    sandbox.down()

Development tooling only: this package sits in dev/, outside lib/mediaextract, so it is never in
the zip shipped to executors (scripts/dist.sh). scripts/bootstrap.sh puts dev/ on the venv's path.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_WIKI_ID = "wikipedia-commons"
DATABASE = "commonswiki"
JDBC_USER = "mediaextract"
S3_ACCESS_KEY = "test:tester"
S3_SECRET_KEY = "testing"
S3_REGION = "us-east-1"

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0


class SandboxError(Exception):
    """A problem the user can act on; str() is one line."""


# --- low-level helpers shared by the service modules (defined before they are imported) ---------

def find_binary(name: str, hint: str, *, venv_first: bool = False) -> str:
    """Return the path of an executable, or raise SandboxError naming the package to install."""
    candidates = []
    if venv_first:
        candidates.append(Path(sys.executable).parent / name)
        candidates.append(Path(sys.prefix) / "bin" / name)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if found:
        return found
    raise SandboxError(f"{name} not found: {hint}")


def port_is_free(port: int) -> bool:
    """Return True when nothing listens on 127.0.0.1:port and we could bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # The servers set SO_REUSEADDR too: a port in TIME_WAIT after `down` is not "taken".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# Ports handed out by free_ports stay reserved this long (a file each in the temporary directory's
# mediaextract-ports-<uid>/): long enough for the server given the port to bind it, after which
# the port is simply taken.
PORT_RESERVATION_S = 600.0
# Below the kernel's ephemeral range when it can't be read (Linux's default is 32768-60999).
DEFAULT_EPHEMERAL_LOW = 32768
LOWEST_PORT = 10000


def ephemeral_port_low() -> int:
    """Return the first port the kernel may hand out by itself (to a connect() or a bind to port 0)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return DEFAULT_EPHEMERAL_LOW


def _reserve(base: int, count: int, reservations: Path) -> bool:
    """Claim ports base..base+count-1 for PORT_RESERVATION_S, atomically per port (O_EXCL files).

    Other processes calling free_ports (the other pytest worker, a bench) skip claimed ports; a
    claim older than PORT_RESERVATION_S is stale (its holder bound the port or went away)."""
    claimed = []
    for port in range(base, base + count):
        marker = reservations / str(port)
        try:
            if time.time() - marker.stat().st_mtime > PORT_RESERVATION_S:
                marker.unlink(missing_ok=True)
        except FileNotFoundError:
            pass
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            for done in claimed:
                done.unlink(missing_ok=True)
            return False
        claimed.append(marker)
    return True


def free_ports(count: int = 1) -> int:
    """Return the first of `count` consecutive free loopback ports, reserved for this caller.

    Chosen at random below the kernel's ephemeral range: a port in that range can be handed to any
    connect() or bind to port 0 (a client socket, the other worker's Hadoop daemons) between this
    check and the server's own bind, which once made a Swift server exit while starting. Ports are
    reserved across processes (PORT_RESERVATION_S), so two sandboxes starting at once never pick the
    same block."""
    reservations = Path(tempfile.gettempdir()) / f"mediaextract-ports-{os.getuid()}"
    reservations.mkdir(mode=0o700, exist_ok=True)
    high = ephemeral_port_low() - count
    if high <= LOWEST_PORT:
        raise SandboxError(f"no room for {count} ports below the ephemeral range")
    pick = random.SystemRandom()
    for _ in range(200):
        base = pick.randrange(LOWEST_PORT, high)
        if all(port_is_free(base + i) for i in range(count)) and _reserve(base, count, reservations):
            return base
    raise SandboxError(f"no block of {count} free loopback ports")


def check_port(port: int, what: str) -> None:
    """Raise SandboxError when `port` (used for `what`) is taken or invalid."""
    if not 0 < port < 65536:
        raise SandboxError(f"port {port} ({what}) is not a valid TCP port")
    if not port_is_free(port):
        raise SandboxError(f"port {port} ({what}) is already taken: free it or choose another port")


def port_accepts(port: int) -> bool:
    """Return True when something accepts TCP connections on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _process_state(pid: int) -> str | None:
    """Return the /proc state letter of pid (R, S, Z, ...) or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm may contain spaces and parentheses: the state follows the last ')'.
    return stat.rsplit(")", 1)[1].split()[0]


def _reap(pid: int) -> None:
    # Servers we started in this process are our children: reap them so they don't stay zombies.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def pid_alive(pid: int) -> bool:
    """Return True when pid is a live (not zombie) process."""
    _reap(pid)
    state = _process_state(pid)
    return state is not None and state not in ("Z", "X")


def cmdline(pid: int) -> list[str]:
    """Return the argv of a process (empty when unreadable)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def read_pid(pid_file: Path) -> int | None:
    """Return the pid stored in pid_file, or None."""
    try:
        return int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def running_pid(pid_file: Path, markers: list[str]) -> int | None:
    """Return the pid from pid_file when that process is alive and its argv holds every marker."""
    pid = read_pid(pid_file)
    if pid is None or not pid_alive(pid):
        return None
    args = " ".join(cmdline(pid))
    if all(marker in args for marker in markers):
        return pid
    return None  # pid reused by something else


def spawn(argv: list[str], *, log_file: Path, pid_file: Path, cwd: Path,
          executable: str | None = None) -> int:
    """Start argv detached (own session, no terminal), output appended to log_file; return its pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            argv, executable=executable, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
        )
    pid_file.write_text(f"{proc.pid}\n")
    return proc.pid


def stop_pid(pid_file: Path, markers: list[str], *, timeout_s: float = STOP_TIMEOUT_S) -> bool:
    """Stop the process of pid_file (TERM, then KILL after timeout_s); return True if one was running."""
    pid = running_pid(pid_file, markers)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 5
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    pid_file.unlink(missing_ok=True)
    return True


def wait_until(condition, *, what: str, timeout_s: float = START_TIMEOUT_S, alive=None,
               log_file: Path | None = None) -> None:
    """Poll condition() until it is true; raise SandboxError after timeout_s or if alive() fails."""
    deadline = time.monotonic() + timeout_s
    while True:
        if condition():
            return
        if alive is not None and not alive():
            where = f" (see {log_file})" if log_file else ""
            raise SandboxError(f"{what} exited while starting{where}")
        if time.monotonic() > deadline:
            where = f" (see {log_file})" if log_file else ""
            raise SandboxError(f"{what} not ready after {timeout_s:.0f} s{where}")
        time.sleep(0.05)


# --- the sandbox ---------------------------------------------------------------------------------

from .mariadb import MariaDB  # noqa: E402  (needs the helpers above)
from .swift import Swift  # noqa: E402


class Sandbox:
    """A local MariaDB + memcached + Swift all-in-one under one root directory."""

    def __init__(self, root: Path | str, mariadb_port: int = 13306, swift_port: int = 18080,
                 memcached_port: int = 11311, wiki_id: str = DEFAULT_WIKI_ID):
        self.root = Path(root).expanduser().resolve()
        self.mariadb_port = int(mariadb_port)
        self.swift_port = int(swift_port)
        self.memcached_port = int(memcached_port)
        self.wiki_id = wiki_id
        self.lists_dir = self.root / "lists"
        self.ground_truth_path = self.root / "ground_truth.json"
        self.credentials_path = self.root / "credentials.yaml"
        self.logs_dir = self.root / "logs"
        self.run_dir = self.root / "run"
        self._state_path = self.run_dir / "sandbox.json"
        self.mariadb = MariaDB(self.root / "mariadb", self.mariadb_port, self.logs_dir, self.run_dir)
        self.swift = Swift(self.root / "swift", self.swift_port, self.memcached_port,
                           self.logs_dir, self.run_dir)

    # -- lifecycle --------------------------------------------------------------------------------

    def up(self) -> None:
        """Start what is not running (reuse what is), wait until ready, provision the database."""
        self._make_root()
        self._check_same_ports()
        self.mariadb.check_binaries()
        self.swift.check_binaries()
        # Every port check happens before anything starts: a taken port starts nothing.
        self.mariadb.check_ports()
        self.swift.check_ports()
        self._write_state()
        self.mariadb.start()
        self.swift.start()
        password = self._jdbc_password()
        self.mariadb.provision(JDBC_USER, password)
        self.swift.wait_s3_ready(self.s3_client())

    def seed(self) -> dict:
        """Reset tables, containers and lists to the seed data; return the ground truth."""
        from . import seed as seed_module

        status = self.status()
        if not all(status.values()):
            stopped = ", ".join(name for name, ok in status.items() if not ok)
            raise SandboxError(f"sandbox not running ({stopped}): run `python -m mediaextract_sandbox up` first")
        return seed_module.seed(self)

    def status(self) -> dict[str, bool]:
        """Return which services are running and answering."""
        return {
            "mariadb": self.mariadb.is_up(),
            "memcached": self.swift.memcached_is_up(),
            "swift": self.swift.is_up(),
        }

    def down(self) -> None:
        """Stop every service of this root (idempotent); data stays."""
        self.swift.stop()
        self.mariadb.stop()

    def pids(self) -> dict[str, int | None]:
        """Return the pid of every service (None when not running)."""
        return {"mariadb": self.mariadb.pid(), **self.swift.pids()}

    def stop_object_server(self) -> None:
        """Stop only the Swift object server (fault tests: storage failing mid-run)."""
        self.swift.stop_object_server()

    def start_object_server(self) -> None:
        """Start the Swift object server again and wait until it answers."""
        self.swift.start_object_server()

    # -- what clients need ------------------------------------------------------------------------

    # Where test runs may write (output.root); None leaves the settings' own root.
    output_root: str | None = None

    def settings(self) -> dict[str, object]:
        """Return dotted setting overrides that point the job at this sandbox."""
        values: dict[str, object] = {
            "catalog.url": f"jdbc:mysql://127.0.0.1:{self.mariadb_port}/{DATABASE}",
            "storage.endpoint": f"http://127.0.0.1:{self.swift_port}",
            "wiki.id": self.wiki_id,
            "secrets_file": str(self.credentials_path),
        }
        if self.output_root:
            values["output.root"] = self.output_root
        return values

    def connect_db(self):
        """Return a pymysql connection as the admin (root over the socket) to commonswiki, autocommit."""
        return self.mariadb.connect_admin(DATABASE)

    def connect_jdbc_user(self):
        """Return a pymysql connection over TCP as the job's read-only user."""
        import pymysql

        return pymysql.connect(host="127.0.0.1", port=self.mariadb_port, user=JDBC_USER,
                               password=self._jdbc_password(), database=DATABASE,
                               charset="utf8mb4", connect_timeout=5)

    def s3_client(self, secret_key: str = S3_SECRET_KEY):
        """Return a boto3 S3 client for the sandbox (path style, s3v4, us-east-1)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=f"http://127.0.0.1:{self.swift_port}",
            aws_access_key_id=S3_ACCESS_KEY, aws_secret_access_key=secret_key,
            region_name=S3_REGION,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                          retries={"max_attempts": 2, "mode": "standard"},
                          connect_timeout=5, read_timeout=30),
        )

    def bucket_for(self, storage_key: str) -> str:
        """Return the deleted-zone container of a storage key (`<wiki>-local-deleted.<key[0:2]>`)."""
        return f"{self.wiki_id}-local-deleted.{storage_key[0:2]}"

    @staticmethod
    def object_path(storage_key: str) -> str:
        """Return the object name of a storage key in the deleted zone (`a/b/c/key`)."""
        return f"{storage_key[0]}/{storage_key[1]}/{storage_key[2]}/{storage_key}"

    # -- internals --------------------------------------------------------------------------------

    def _make_root(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)  # holds the credentials file and the admin socket
        for path in (self.logs_dir, self.run_dir):
            path.mkdir(exist_ok=True)

    def _ports(self) -> dict[str, int]:
        return {"mariadb": self.mariadb_port, "swift": self.swift_port,
                "memcached": self.memcached_port}

    def _check_same_ports(self) -> None:
        """Refuse to start a second set of services with other ports on a root that is running."""
        try:
            previous = json.loads(self._state_path.read_text())
        except (FileNotFoundError, ValueError):
            return
        if previous == self._ports():
            return
        if any(self.pids().values()):
            running = ", ".join(f"{name} {port}" for name, port in sorted(previous.items()))
            raise SandboxError(f"sandbox {self.root} is running with other ports ({running}): "
                               "run `down` before changing ports")

    def _write_state(self) -> None:
        self._state_path.write_text(json.dumps(self._ports()) + "\n")

    def _jdbc_password(self) -> str:
        """Return the JDBC user's password from credentials.yaml, creating the file if needed."""
        import secrets

        import yaml

        if self.credentials_path.exists():
            try:
                data = yaml.safe_load(self.credentials_path.read_text()) or {}
                password = data["catalog"]["password"]
                if isinstance(password, str) and password:
                    os.chmod(self.credentials_path, 0o600)
                    return password
            except (yaml.YAMLError, KeyError, TypeError):
                pass  # unreadable: write a fresh one below
        password = secrets.token_hex(16)
        text = (
            "# Local sandbox credentials (loopback only). Written by `python -m mediaextract_sandbox up`.\n"
            f'catalog: {{user: {JDBC_USER}, password: "{password}"}}\n'
            f'storage: {{access_key: "{S3_ACCESS_KEY}", secret_key: {S3_SECRET_KEY}}}\n'
        )
        tmp = self.credentials_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, text.encode())
        finally:
            os.close(fd)
        os.replace(tmp, self.credentials_path)
        return password


__all__ = ["Sandbox", "SandboxError"]
