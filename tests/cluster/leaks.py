"""Where a secret could show during and after a run on the minicluster, looked at for its values.

During the run a thread polls what any local user can see of the run's processes (the command
lines, as `ps` shows them, of the submit's session and of the YARN containers: not of every process
on the machine, where any command line may hold a short string such as the sandbox's key) and
what the containers were given (each container process's environment, each
`launch_container.sh` while it exists); after it, every file of the application's container
logs, the ResourceManager's report of the application and Spark's event log are read.
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import yaml

# The catalog user is a name, not a credential on its own, and the sandbox's is `mediaextract`,
# the project's own name in every path: only the values that open something are looked for.
SCANNED_SECRETS = ("catalog.password", "storage.access_key", "storage.secret_key")


def secret_values(credentials: Path) -> dict[str, str]:
    """Return {secret name: value} of a secrets file, for the secrets scanned."""
    tree = yaml.safe_load(credentials.read_text())
    flat = {f"{section}.{key}": str(value) for section, keys in tree.items() for key, value in keys.items()}
    return {name: flat[name] for name in SCANNED_SECRETS}


def found_in(text: str | bytes, secrets: dict[str, str]) -> list[str]:
    """Return the names of the secrets whose value is in text."""
    data = text.encode() if isinstance(text, str) else text
    return [name for name, value in secrets.items() if value.encode() in data]


class Watch(threading.Thread):
    """Polls ps and the containers until stop(); `seen` holds (where, secret name) of each find."""

    def __init__(self, hadoop, secrets: dict[str, str]):
        super().__init__(daemon=True)
        self.hadoop, self.secrets = hadoop, secrets
        self.seen: set[tuple[str, str]] = set()
        self.samples = 0             # ps listings looked at
        self.session: int | None = None  # the submit's session id (submit_on_yarn sets it)
        self.session_lines = 0       # command lines of the submit's session looked at
        self.container_pids: set[int] = set()
        self.launch_scripts: set[str] = set()
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            self.look()
            self._stopping.wait(0.2)  # the polling interval, not a synchronisation

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=60)
        self.look()  # once more after the last poll

    def look(self) -> None:
        # The processes working in a container's directory (not the launcher, whose is base).
        containers = {pid for pid in self.hadoop.leftovers() if pid != self.hadoop.pid}
        listing = subprocess.run(["ps", "-eo", "pid=,sid=,args="], capture_output=True, text=True).stdout
        self.samples += 1
        for line in listing.splitlines():
            pid, sid, _ = (line.split(None, 2) + ["", ""])[:3]
            if int(sid) == self.session:
                self.session_lines += 1
            if int(sid) == self.session or int(pid) in containers:
                self._note(f"ps: {line.strip()[:200]}", line)
        for pid in containers:
            self.container_pids.add(pid)
            self._note_file(f"environment of container process {pid}", Path(f"/proc/{pid}/environ"))
        for local in nm_dirs(self.hadoop, "local"):
            for script in local.glob("usercache/*/appcache/*/container_*/launch_container.sh"):
                self.launch_scripts.add(str(script))
                self._note_file(str(script), script)

    def _note_file(self, where: str, path: Path) -> None:
        try:
            self._note(where, path.read_bytes())
        except OSError:
            pass  # gone between listing and reading: the container ended

    def _note(self, where: str, text: str | bytes) -> None:
        self.seen.update((where, name) for name in found_in(text, self.secrets))


def nm_dirs(hadoop, kind: str) -> list[Path]:
    """Return the NodeManager's `local` or `log` dirs (MiniYARNCluster's, under test.build.data)."""
    return list(hadoop.base.glob(f"test-data/*/*/*-{kind}Dir-nm-*"))


def container_log_files(hadoop, app_id: str) -> list[Path]:
    """Return every file of an application's container logs (the NodeManager's log dirs)."""
    return [p for d in nm_dirs(hadoop, "log") for p in (d / app_id).rglob("*") if p.is_file()]


def files_holding(paths: list[Path], secrets: dict[str, str]) -> list[tuple[str, str]]:
    """Return (file, secret name) for each secret value found in each file."""
    return [(str(p), name) for p in paths for name in found_in(p.read_bytes(), secrets)]
