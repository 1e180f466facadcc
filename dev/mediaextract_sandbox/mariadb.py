"""A private MariaDB instance under the sandbox root (never the system one)."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from . import (
    SandboxError, check_port, find_binary, pid_alive, running_pid, spawn, stop_pid, wait_until,
)

SCHEMA_PATH = Path(__file__).with_name("schema.sql")

# Small redo log: the 10.11 default (96 MB) is a lot for a tmp directory per test run.
_INNODB_OPTIONS = ["--innodb-log-file-size=8M", "--innodb-buffer-pool-size=64M"]


def schema_statements() -> list[str]:
    """Return the CREATE TABLE statements of schema.sql, one string each."""
    text = "\n".join(line for line in SCHEMA_PATH.read_text().splitlines()
                     if not line.lstrip().startswith("--"))
    return [statement.strip() for statement in text.split(";") if statement.strip()]


class MariaDB:
    """mariadbd with its data directory, socket and pid file under `home`."""

    what = "MariaDB"

    def __init__(self, home: Path, port: int, logs_dir: Path, run_dir: Path):
        self.home = home
        self.port = port
        self.datadir = home / "data"
        # The socket is the admin's way in (root, no password): it lives in the 0700 root.
        self.socket = home / "mariadb.sock"
        self.pid_file = run_dir / "mariadb.pid"
        self.log_file = logs_dir / "mariadb.log"

    # -- processes --------------------------------------------------------------------------------

    def _markers(self) -> list[str]:
        return [f"--datadir={self.datadir}", f"--port={self.port}"]

    def pid(self) -> int | None:
        """Return the pid of our mariadbd, or None."""
        return running_pid(self.pid_file, self._markers())

    def check_binaries(self) -> None:
        """Raise SandboxError when a MariaDB binary or pymysql is missing."""
        self.mariadbd = find_binary("mariadbd", "apt-get install mariadb-server")
        self.install_db = find_binary("mariadb-install-db", "apt-get install mariadb-server")
        try:
            import pymysql  # noqa: F401
        except ImportError:
            raise SandboxError("pymysql not found: pip install pymysql (requirements.txt)") from None
        if len(str(self.socket).encode()) > 100:
            raise SandboxError(f"sandbox root too long for a unix socket ({self.socket}): use a shorter --root")

    def check_ports(self) -> None:
        """Raise SandboxError if our port is taken (only when we are not already running)."""
        if self.pid() is None:
            check_port(self.port, self.what)

    def start(self) -> None:
        """Start mariadbd unless it is running; wait until it accepts the admin connection."""
        if self.pid() is not None:
            return
        self.home.mkdir(parents=True, exist_ok=True)
        user = ["--user=root"] if os.geteuid() == 0 else []  # mariadbd refuses root otherwise
        # A private tmpdir: the shared /tmp of a busy machine is no place for our temp files.
        tmpdir = self.home / "tmp"
        tmpdir.mkdir(parents=True, exist_ok=True)
        user = [*user, f"--tmpdir={tmpdir}"]
        if not (self.datadir / "mysql").is_dir():
            self.datadir.mkdir(parents=True, exist_ok=True)
            result = subprocess.run(
                [self.install_db, "--no-defaults", f"--datadir={self.datadir}",
                 "--auth-root-authentication-method=normal", "--skip-test-db", *user,
                 *_INNODB_OPTIONS],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                timeout=120,
            )
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_file, "ab") as log:
                log.write(result.stdout)
            if result.returncode != 0:
                raise SandboxError(f"mariadb-install-db failed (see {self.log_file})")
        self.socket.unlink(missing_ok=True)
        pid = spawn(
            [self.mariadbd, "--no-defaults", f"--datadir={self.datadir}",
             "--bind-address=127.0.0.1", f"--port={self.port}", f"--socket={self.socket}",
             f"--pid-file={self.home / 'mariadbd.pid'}", "--skip-name-resolve",
             "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
             f"--log-error={self.log_file}", *_INNODB_OPTIONS, *user],
            log_file=self.log_file, pid_file=self.pid_file, cwd=self.home,
        )
        wait_until(self._answers, what="mariadbd", alive=lambda: pid_alive(pid),
                   log_file=self.log_file)

    def stop(self) -> None:
        """Stop mariadbd (clean shutdown on SIGTERM); no-op when not running."""
        stop_pid(self.pid_file, self._markers(), timeout_s=30)

    def _answers(self) -> bool:
        try:
            self.connect_admin(None, timeout=1).close()
            return True
        except Exception:  # noqa: BLE001 - any failure means "not yet"
            return False

    def is_up(self) -> bool:
        """Return True when our mariadbd runs and answers."""
        return self.pid() is not None and self._answers()

    # -- SQL --------------------------------------------------------------------------------------

    def connect_admin(self, database: str | None, *, timeout: int = 5):
        """Return an autocommit pymysql connection as root over the unix socket."""
        import pymysql

        return pymysql.connect(unix_socket=str(self.socket), user="root", password="",
                               database=database, charset="utf8mb4", autocommit=True,
                               connect_timeout=timeout)

    def provision(self, user: str, password: str, database: str = "commonswiki") -> None:
        """Create the database, the schema and the read-only JDBC user (idempotent)."""
        conn = self.connect_admin(None)
        try:
            with conn.cursor() as cur:
                # install-db gives root passwordless TCP access too; the admin keeps the socket only.
                for host in ("127.0.0.1", "::1", socket.gethostname()):
                    cur.execute("DROP USER IF EXISTS 'root'@%s", (host,))
                cur.execute(f"CREATE DATABASE IF NOT EXISTS `{database}` DEFAULT CHARACTER SET binary")
                for host in ("127.0.0.1", "localhost"):
                    cur.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (user, host, password))
                    cur.execute("ALTER USER %s@%s IDENTIFIED BY %s", (user, host, password))
                    cur.execute(f"GRANT SELECT ON `{database}`.* TO %s@%s", (user, host))
                cur.execute("FLUSH PRIVILEGES")
                cur.execute(f"USE `{database}`")
                for statement in schema_statements():
                    cur.execute(statement)
        finally:
            conn.close()

    def recreate_tables(self, database: str = "commonswiki") -> None:
        """Drop and recreate the MediaWiki tables (a test may have altered them)."""
        conn = self.connect_admin(database)
        try:
            with conn.cursor() as cur:
                for table in ("filearchive", "image", "oldimage", "comment", "file", "filerevision", "filetypes"):
                    cur.execute(f"DROP TABLE IF EXISTS `{table}`")
                for statement in schema_statements():
                    cur.execute(statement)
        finally:
            conn.close()
