"""An OpenStack Swift all-in-one (one node, one replica) plus its memcached, under the sandbox root.

Ports: proxy = swift_port, account = +1, container = +2, object = +3. The proxy speaks the
native Swift API (tempauth) and S3 (s3api); tokens live in memcached, started first.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from . import (
    S3_ACCESS_KEY, S3_REGION, S3_SECRET_KEY, SandboxError, check_port, find_binary, pid_alive,
    port_accepts, running_pid, spawn, stop_pid, wait_until,
)

PIP_HINT = "pip install swift (requirements-dev.txt)"
BACKENDS = ("account", "container", "object")  # started in this order, before the proxy

_PROXY_PIPELINE = (
    "catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl "
    "ratelimit s3api tempauth copy container-quotas account-quotas slo dlo versioned_writes "
    "proxy-logging proxy-server"
)

# Built in a child process: importing swift pulls in eventlet, which has no business in ours.
_RING_SCRIPT = r"""
import json, sys
from swift.common.ring import RingBuilder
swift_dir, ports = sys.argv[1], json.loads(sys.argv[2])
for kind, port in ports.items():
    builder = RingBuilder(8, 1, 1)
    builder.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": port,
                     "device": "d1", "weight": 100, "meta": ""})
    builder.rebalance()
    builder.save(f"{swift_dir}/{kind}.builder")
    builder.get_ring().save(f"{swift_dir}/{kind}.ring.gz")
"""


class Swift:
    """memcached + Swift account/container/object servers + proxy, configs in `home`."""

    def __init__(self, home: Path, port: int, memcached_port: int, logs_dir: Path, run_dir: Path):
        self.home = home
        self.port = port
        self.memcached_port = memcached_port
        self.logs_dir = logs_dir
        self.run_dir = run_dir
        self.devices = home / "node"
        self.ports = {"proxy": port, "account": port + 1, "container": port + 2, "object": port + 3}

    # -- names ------------------------------------------------------------------------------------

    def _conf(self, server: str) -> Path:
        return self.home / f"{server}-server.conf"

    def _pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def _log_file(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def _markers(self, server: str) -> list[str]:
        return [str(self._conf(server))]

    def _memcached_markers(self) -> list[str]:
        return ["memcached", f"-p {self.memcached_port}"]

    def pids(self) -> dict[str, int | None]:
        """Return the pid of memcached and of every Swift server (None when not running)."""
        result = {"memcached": running_pid(self._pid_file("memcached"), self._memcached_markers())}
        for server in (*BACKENDS, "proxy"):
            result[f"swift-{server}"] = running_pid(self._pid_file(f"swift-{server}"),
                                                    self._markers(server))
        return result

    # -- checks -----------------------------------------------------------------------------------

    def check_binaries(self) -> None:
        """Raise SandboxError when memcached or a Swift server script is missing."""
        self.memcached = find_binary("memcached", "apt-get install memcached")
        self.binaries = {
            server: find_binary(f"swift-{server}-server", PIP_HINT, venv_first=True)
            for server in (*BACKENDS, "proxy")
        }
        # The ring builder runs with the interpreter of the proxy script (the venv's).
        self.python = _script_python(self.binaries["proxy"])
        try:
            import boto3  # noqa: F401
        except ImportError:
            raise SandboxError("boto3 not found: pip install boto3 (requirements.txt)") from None

    def check_ports(self) -> None:
        """Raise SandboxError for the first taken port among services that are not running."""
        pids = self.pids()
        if pids["memcached"] is None:
            check_port(self.memcached_port, "memcached")
        for server in (*BACKENDS, "proxy"):
            if pids[f"swift-{server}"] is None:
                check_port(self.ports[server], f"Swift {server} server")

    # -- start / stop -----------------------------------------------------------------------------

    def start(self) -> None:
        """Write configs and rings if needed, start what is not running, wait until ready."""
        self.home.mkdir(parents=True, exist_ok=True)
        (self.devices / "d1").mkdir(parents=True, exist_ok=True)
        pids = self.pids()
        self._write_swift_conf()
        self._write_rings()
        self._start_memcached(pids["memcached"])
        started = {}
        for server in (*BACKENDS, "proxy"):
            if pids[f"swift-{server}"] is None:
                self._write_server_conf(server)
                started[server] = self._spawn_server(server)
        for server, pid in started.items():
            self._wait_server(server, pid)

    def _start_memcached(self, pid: int | None) -> None:
        if pid is not None:
            return
        user = ["-u", "root"] if os.geteuid() == 0 else []  # memcached refuses root otherwise
        pid = spawn([self.memcached, "-l", "127.0.0.1", "-p", str(self.memcached_port), "-U", "0",
                     "-m", "32", "-c", "256", *user],
                    log_file=self._log_file("memcached"), pid_file=self._pid_file("memcached"),
                    cwd=self.home)
        wait_until(lambda: port_accepts(self.memcached_port), what="memcached",
                   alive=lambda: pid_alive(pid), log_file=self._log_file("memcached"))

    def _spawn_server(self, server: str) -> int:
        # -v: log to the console too (our log file); there is no syslog on this kind of machine.
        return spawn([self.binaries[server], str(self._conf(server)), "-v"],
                     log_file=self._log_file(f"swift-{server}"),
                     pid_file=self._pid_file(f"swift-{server}"), cwd=self.home)

    def _wait_server(self, server: str, pid: int) -> None:
        log_file = self._log_file(f"swift-{server}")
        check = self._proxy_healthy if server == "proxy" else (lambda: port_accepts(self.ports[server]))
        wait_until(check, what=f"swift-{server}-server", alive=lambda: pid_alive(pid),
                   log_file=log_file)

    def stop(self) -> None:
        """Stop the proxy, the backends, then memcached (idempotent)."""
        for server in ("proxy", *reversed(BACKENDS)):
            stop_pid(self._pid_file(f"swift-{server}"), self._markers(server))
        stop_pid(self._pid_file("memcached"), self._memcached_markers())

    def stop_object_server(self) -> None:
        """Stop only the object server."""
        stop_pid(self._pid_file("swift-object"), self._markers("object"))

    def start_object_server(self) -> None:
        """Start the object server if it is not running and wait until it accepts connections."""
        if running_pid(self._pid_file("swift-object"), self._markers("object")) is not None:
            return
        check_port(self.ports["object"], "Swift object server")
        self._write_server_conf("object")
        self._wait_server("object", self._spawn_server("object"))

    # -- health -----------------------------------------------------------------------------------

    def _proxy_healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthcheck", timeout=2) as r:
                return r.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def memcached_is_up(self) -> bool:
        """Return True when our memcached runs and accepts connections."""
        return (running_pid(self._pid_file("memcached"), self._memcached_markers()) is not None
                and port_accepts(self.memcached_port))

    def is_up(self) -> bool:
        """Return True when all four Swift servers run and the proxy answers its healthcheck."""
        pids = self.pids()
        if any(pids[f"swift-{server}"] is None for server in (*BACKENDS, "proxy")):
            return False
        return (all(port_accepts(self.ports[server]) for server in BACKENDS)
                and self._proxy_healthy())

    def wait_s3_ready(self, client) -> None:
        """Poll an S3 call until the whole chain (proxy, auth, account server) answers."""
        def answers() -> bool:
            try:
                client.list_buckets()
                return True
            except Exception:  # noqa: BLE001 - any failure means "not yet"
                return False

        wait_until(answers, what="Swift S3 API", timeout_s=30,
                   log_file=self._log_file("swift-proxy"))

    # -- configuration ----------------------------------------------------------------------------

    def _write_swift_conf(self) -> None:
        path = self.home / "swift.conf"
        if path.exists():
            return  # the hash prefix/suffix must never change under existing data
        path.write_text(
            "[swift-hash]\n"
            f"swift_hash_path_prefix = {secrets.token_hex(8)}\n"
            f"swift_hash_path_suffix = {secrets.token_hex(8)}\n\n"
            "[storage-policy:0]\nname = Policy-0\ndefault = yes\n"
        )

    def _write_rings(self) -> None:
        ports = {kind: self.ports[kind] for kind in BACKENDS}
        stamp = self.home / "rings.json"
        rings = [self.home / f"{kind}.ring.gz" for kind in BACKENDS]
        try:
            if json.loads(stamp.read_text()) == ports and all(r.exists() for r in rings):
                return
        except (FileNotFoundError, ValueError):
            pass
        result = subprocess.run([self.python, "-c", _RING_SCRIPT, str(self.home), json.dumps(ports)],
                                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=120)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise SandboxError(f"building Swift rings failed: {last}")
        stamp.write_text(json.dumps(ports) + "\n")

    def _write_server_conf(self, server: str) -> None:
        user = getpass.getuser()
        common = (
            "[DEFAULT]\n"
            f"bind_ip = 127.0.0.1\nbind_port = {self.ports[server]}\nworkers = 0\n"
            f"user = {user}\nswift_dir = {self.home}\n"
            f"log_name = swift-{server}\nlog_level = INFO\n"
        )
        if server == "proxy":
            text = common + (
                "\n[pipeline:main]\n"
                f"pipeline = {_PROXY_PIPELINE}\n\n"
                "[app:proxy-server]\nuse = egg:swift#proxy\n"
                "account_autocreate = true\nallow_account_management = true\n"
                # Short error suppression: fault tests stop and restart the object server.
                "error_suppression_interval = 1\nconn_timeout = 0.5\nnode_timeout = 10\n\n"
                "[filter:tempauth]\nuse = egg:swift#tempauth\n"
                f"user_{S3_ACCESS_KEY.replace(':', '_')} = {S3_SECRET_KEY} .admin\n\n"
                f"[filter:s3api]\nuse = egg:swift#s3api\nlocation = {S3_REGION}\n\n"
                "[filter:cache]\nuse = egg:swift#memcache\n"
                f"memcache_servers = 127.0.0.1:{self.memcached_port}\n\n"
                "[filter:catch_errors]\nuse = egg:swift#catch_errors\n\n"
                "[filter:gatekeeper]\nuse = egg:swift#gatekeeper\n\n"
                "[filter:healthcheck]\nuse = egg:swift#healthcheck\n\n"
                "[filter:proxy-logging]\nuse = egg:swift#proxy_logging\n\n"
                "[filter:listing_formats]\nuse = egg:swift#listing_formats\n\n"
                "[filter:bulk]\nuse = egg:swift#bulk\n\n"
                "[filter:tempurl]\nuse = egg:swift#tempurl\n\n"
                "[filter:ratelimit]\nuse = egg:swift#ratelimit\n\n"
                "[filter:copy]\nuse = egg:swift#copy\n\n"
                "[filter:container-quotas]\nuse = egg:swift#container_quotas\n\n"
                "[filter:account-quotas]\nuse = egg:swift#account_quotas\n\n"
                "[filter:slo]\nuse = egg:swift#slo\n\n"
                "[filter:dlo]\nuse = egg:swift#dlo\n\n"
                "[filter:versioned_writes]\nuse = egg:swift#versioned_writes\n"
            )
        else:
            text = common + (
                f"devices = {self.devices}\nmount_check = false\ndisable_fallocate = true\n\n"
                f"[pipeline:main]\npipeline = {server}-server\n\n"
                f"[app:{server}-server]\nuse = egg:swift#{server}\n\n"
                f"[{server}-replicator]\n\n[{server}-auditor]\n\n"
            )
            if server != "account":
                text += f"[{server}-updater]\n\n"
        self._conf(server).write_text(text)


def _script_python(script: str) -> str:
    """Return the interpreter named in a console script's shebang (else this one)."""
    try:
        with open(script, "rb") as f:
            first = f.readline().decode(errors="replace").strip()
    except OSError:
        return sys.executable
    if first.startswith("#!"):
        candidate = first[2:].strip().split()[0]
        if os.path.exists(candidate) and "env" not in os.path.basename(candidate):
            return candidate
    return sys.executable
