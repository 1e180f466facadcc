"""An HDFS + YARN minicluster for the tests that run the jobs on YARN (tests/cluster).

One JVM (dev/hadoop/MiniHadoop.java, built with its jars into .cache/hadoop by
scripts/hadoop_jars.sh) runs a NameNode, a DataNode, a ResourceManager and a NodeManager, every
port free and on 127.0.0.1, every file under `root`. Unlike the sandbox's services it lives only
as long as the process that started it: it stops when its stdin (a pipe held here) closes.

    hadoop = MiniHadoop(tmp / "hadoop")
    hadoop.up()                   # READY: HADOOP_CONF_DIR written
    env = {**os.environ, **hadoop.spark_env()}
    subprocess.run(["./spark-submit.sh", "--master", "yarn", *hadoop.submit_options(), "extract", ...], env=env)
    hadoop.down()                 # the launcher and every YARN container gone

With secure=True HDFS and YARN ask for Kerberos (a MiniKdc in the same JVM, realm EXAMPLE.COM): a
client then needs a ticket (kinit()) or spark-submit's --principal and --keytab (principal,
keytab), and spark_env() and submit_options() name the KDC's krb5.conf to MIT's tools and the JVMs.
"""

from __future__ import annotations

import getpass
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

from . import SandboxError, pid_alive, wait_until

REPO = Path(__file__).resolve().parent.parent.parent
CACHE = REPO / ".cache" / "hadoop"

START_TIMEOUT_S = 180.0  # about 11 s idle, 28 s measured while another test suite loaded the box
STOP_TIMEOUT_S = 30.0  # about 5 s after an application ran (YARN's stop is cut at 3 s)
LOCAL_IP = "127.0.0.1"


def java_home() -> str:
    """Return the JDK the launcher runs on and YARN's containers start ($JAVA_HOME/bin/java)."""
    home = os.environ.get("JAVA_HOME")
    if home and Path(home, "bin", "java").exists():
        return home
    java = shutil.which("java")
    if not java:
        raise SandboxError("java not found: install default-jdk-headless (scripts/bootstrap.sh)")
    return str(Path(java).resolve().parent.parent)


def spark_home() -> Path:
    """Return pyspark's directory (its jars/ are used in place by YARN's containers)."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise SandboxError("pyspark is not installed in this Python")
    return Path(spec.origin).parent


class MiniHadoop:
    """HDFS + YARN in one JVM under root; see the module's docstring."""

    def __init__(self, root: Path | str, *, nm_memory_mb: int = 6144, nm_vcores: int = 4,
                 java_options: tuple[str, ...] = ("-Xmx1g", "-XX:+UseSerialGC"),
                 start_timeout_s: float = START_TIMEOUT_S, stop_timeout_s: float = STOP_TIMEOUT_S,
                 secure: bool = False):
        # The NodeManager's memory is what YARN may hand out, not what it takes: a 2-core 24 GB box
        # runs an AM (512 MB + 384 MB overhead, rounded to 1 GB) and 2 executors of 1 GB (+384 MB,
        # 1.5 GB each) with room to spare, or a cluster-mode driver of 1 GB in place of the AM.
        self.root = Path(root).resolve()
        self.base = self.root / "base"
        self.conf_dir = self.root / "conf"
        self.log_file = self.root / "launcher.log"
        self.nm_memory_mb = nm_memory_mb
        self.nm_vcores = nm_vcores
        self.java_options = java_options
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.secure = secure
        self.user = getpass.getuser()
        self.started_s: float | None = None  # time to READY of the last up()
        self._process: subprocess.Popen | None = None
        self._said: list[str] = []

    # -- starting and stopping ------------------------------------------------------------------

    def up(self) -> None:
        """Start the cluster and return once it is READY; raise SandboxError with the log's tail."""
        if self._process is not None and self._process.poll() is None:
            return
        launcher = CACHE / "classes" / "MiniHadoop.class"
        if not launcher.exists():
            raise SandboxError(f"no {launcher}: run scripts/hadoop_jars.sh")
        if self.base.exists():
            shutil.rmtree(self.base)
        shutil.rmtree(self.conf_dir, ignore_errors=True)
        (self.base / "jtmp").mkdir(parents=True)
        self.conf_dir.mkdir(parents=True)
        home = java_home()
        argv = [str(Path(home, "bin", "java")), *self.java_options,
                f"-Djava.io.tmpdir={self.base / 'jtmp'}", f"-Dtest.build.data={self.base / 'test-data'}",
                f"-Dlog4j.configuration=file:{REPO / 'dev' / 'hadoop' / 'log4j.properties'}",
                "-cp", f"{CACHE / 'classes'}:{CACHE / 'lib'}/*", "MiniHadoop",
                "--base", str(self.base), "--conf-dir", str(self.conf_dir),
                "--nm-mem-mb", str(self.nm_memory_mb), "--nm-vcores", str(self.nm_vcores),
                *(["--secure"] if self.secure else [])]
        # JAVA_HOME: the NodeManager starts containers with its own $JAVA_HOME/bin/java.
        env = {**os.environ, "JAVA_HOME": home}
        for name in ("HADOOP_CONF_DIR", "HADOOP_USER_NAME", "CLASSPATH"):
            env.pop(name, None)
        self._said = []
        started = time.monotonic()
        with open(self.log_file, "wb") as log:
            # MiniYARNCluster writes under relative target/ paths too: cwd is base. Its own session,
            # so that down() can signal the whole group; stdin stays open until down().
            self._process = subprocess.Popen(argv, cwd=self.base, env=env, stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, stderr=log, start_new_session=True)
        threading.Thread(target=self._read_stdout, args=(self._process,), daemon=True).start()
        try:
            wait_until(lambda: bool(self._said), what="the Hadoop minicluster", timeout_s=self.start_timeout_s,
                       alive=lambda: self._process.poll() is None or bool(self._said), log_file=self.log_file)
            if self._said[0] != "READY" or not (self.conf_dir / "yarn-site.xml").exists():
                raise SandboxError(f"the Hadoop minicluster said {self._said[0]!r} (see {self.log_file})")
        except SandboxError as error:
            self.down()
            raise SandboxError(f"{error}\n{self.log_tail()}") from None
        self.started_s = time.monotonic() - started

    def _read_stdout(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            self._said.append(line.decode(errors="replace").strip())

    def down(self) -> None:
        """Stop the cluster: stdin closed, then SIGTERM, then SIGKILL to its process group; then
        any YARN container left (containers run in sessions of their own) is killed too."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                try:
                    process.stdin.close()
                except OSError:
                    pass
                try:
                    process.wait(self.stop_timeout_s)
                except subprocess.TimeoutExpired:
                    self._signal_group(process.pid, signal.SIGTERM)
                    try:
                        process.wait(10)
                    except subprocess.TimeoutExpired:
                        self._signal_group(process.pid, signal.SIGKILL)
                        process.wait(10)
            # Whatever else ran in the launcher's group (nothing, normally).
            self._signal_group(process.pid, signal.SIGKILL)
        self.kill_leftovers()

    @staticmethod
    def _signal_group(pgid: int, sig: int) -> None:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def leftovers(self) -> list[int]:
        """Return the pids of processes still working under base: YARN containers (their working
        directory is in the NodeManager's local dirs) or anything they started."""
        found = []
        base = str(self.base)
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cwd = os.readlink(entry / "cwd")
            except OSError:
                continue
            if (cwd == base or cwd.startswith(base + "/")) and pid_alive(int(entry.name)):
                found.append(int(entry.name))
        return found

    def kill_leftovers(self) -> None:
        """Kill the process group of every leftover (TERM, then KILL) and wait until none is left.

        Tried by SIGKILLing the launcher while a cluster-mode application ran: its AM and executor
        JVMs and their Python workers (12 processes, in sessions of their own) went on running,
        and this killed them all."""
        pids = self.leftovers()
        if not pids:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in pids:
                try:
                    group = os.getpgid(pid)
                    if group == os.getpgrp():  # started by us, in our group: never signal ourselves
                        os.kill(pid, sig)
                    else:
                        self._signal_group(group, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 5
            while self.leftovers() and time.monotonic() < deadline:
                time.sleep(0.1)
            pids = self.leftovers()
            if not pids:
                return
        raise SandboxError(f"processes left under {self.base} after the minicluster stopped: {pids}")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- what clients need ------------------------------------------------------------------------

    def _site(self, name: str) -> dict[str, str]:
        tree = ET.parse(self.conf_dir / name)
        return {p.findtext("name"): p.findtext("value") for p in tree.getroot().iter("property")}

    @property
    def default_fs(self) -> str:
        """Return the NameNode's URI, hdfs://127.0.0.1:PORT (core-site.xml's fs.defaultFS)."""
        return self._site("core-site.xml")["fs.defaultFS"]

    @property
    def home(self) -> str:
        """Return the HDFS home directory of the user running the tests (made by the launcher)."""
        return f"{self.default_fs}/user/{self.user}"

    def spark_env(self) -> dict[str, str]:
        """Return the environment spark-submit needs for --master yarn on this cluster."""
        if not (self.conf_dir / "yarn-site.xml").exists():
            # Without it spark-submit retries 0.0.0.0:8032 for about 10 minutes, saying nothing.
            raise SandboxError(f"no {self.conf_dir / 'yarn-site.xml'}: is the minicluster up?")
        env = {"HADOOP_CONF_DIR": str(self.conf_dir), "SPARK_LOCAL_IP": LOCAL_IP, "JAVA_HOME": java_home()}
        if self.secure:
            # The KDC's krb5.conf, not /etc/krb5.conf: for the spark-submit JVM (a client-mode
            # driver) and for MIT's kinit and klist. The containers get it from submit_options().
            # Added to the caller's options (the tests' JIT option), not in their place.
            submit_opts = " ".join(filter(None, (os.environ.get("SPARK_SUBMIT_OPTS"), self.krb5_java_option)))
            env.update(SPARK_SUBMIT_OPTS=submit_opts, KRB5_CONFIG=str(self.krb5_conf))
        return env

    def submit_options(self) -> list[str]:
        """Return the spark-submit options for a small application on this cluster (before JOB):
        one executor of 2 cores (each executor is a JVM and a Python daemon to start, on a 2-core
        machine; a test that needs two names them after these, which spark-submit lets win)."""
        confs = {
            # Containers use pyspark's jars in place (same machine) instead of a 460 MB upload.
            "spark.yarn.jars": f"local:{spark_home()}/jars/*",
            "spark.yarn.am.memory": "512m",
            "spark.yarn.maxAppAttempts": "1",
            # Else the AM, the executors and a cluster-mode driver bind the machine's outward address.
            "spark.yarn.appMasterEnv.SPARK_LOCAL_IP": LOCAL_IP,
            "spark.executorEnv.SPARK_LOCAL_IP": LOCAL_IP,
            "spark.ui.enabled": "false",
            # As the tests' local session: the default 200 makes each shuffle of a few dozen rows
            # 200 tasks (about 1,200 tasks for one extract of the sandbox's lists, most of the run).
            "spark.sql.shuffle.partitions": "4",
            "spark.yarn.submit.waitAppCompletion": "true",
        }
        # The containers' JVMs (application master, executors, a cluster-mode driver) compile with
        # C1 only, as the tests' spark-submit JVMs do (tests/conftest.py): each lives for one small
        # application on a 2-core machine, and C2 would spend much of its CPU compiling. Speed only.
        java_options = " ".join(filter(None, ("-XX:TieredStopAtLevel=1", self.krb5_java_option if self.secure else "")))
        for role in ("driver", "executor", "yarn.am"):
            confs[f"spark.{role}.extraJavaOptions"] = java_options
        return ["--num-executors", "1", "--executor-cores", "2", "--executor-memory", "1g",
                "--driver-memory", "1g", *[a for k, v in confs.items() for a in ("--conf", f"{k}={v}")]]

    # -- Kerberos (secure=True) ----------------------------------------------------------------------

    @property
    def realm(self) -> str:
        return self._site("core-site.xml")["minihadoop.kdc.realm"]

    @property
    def keytab(self) -> Path:
        """Return the launcher's keytab: the user's principal and the services' (user/localhost, HTTP/localhost)."""
        return Path(self._site("core-site.xml")["minihadoop.kdc.keytab"])

    @property
    def principal(self) -> str:
        """Return the principal of the user running the tests, as a person would kinit (user@REALM)."""
        return f"{self.user}@{self.realm}"

    @property
    def krb5_conf(self) -> Path:
        return self.conf_dir / "krb5.conf"

    @property
    def krb5_java_option(self) -> str:
        # Java reads neither KRB5_CONFIG nor the KDC's file unless told.
        return f"-Djava.security.krb5.conf={self.krb5_conf}"

    def kinit(self, ccache: Path | str, *, lifetime: str | None = None) -> subprocess.CompletedProcess:
        """Get a ticket for principal from the keytab into the ticket cache ccache (MIT kinit -kt)."""
        kinit = shutil.which("kinit")
        if not kinit:
            raise SandboxError("kinit not found: install krb5-user (scripts/bootstrap.sh)")
        env = {**os.environ, "KRB5_CONFIG": str(self.krb5_conf), "KRB5CCNAME": str(ccache)}
        lifetime_args = ["-l", lifetime] if lifetime else []
        return subprocess.run([kinit, *lifetime_args, "-kt", str(self.keytab), self.principal], env=env,
                              capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)

    def _rest(self, path: str) -> dict:
        address = self._site("yarn-site.xml")["yarn.resourcemanager.webapp.address"]
        with urllib.request.urlopen(f"http://{address}/ws/v1/cluster/{path}", timeout=30) as answer:
            return json.load(answer)

    def applications(self) -> list[dict]:
        """Return the ResourceManager's applications (its REST API: id, name, state, finalStatus...)."""
        apps = self._rest("apps").get("apps") or {}
        return apps.get("app") or []

    def application(self, app_id: str) -> dict:
        """Return the ResourceManager's whole report of one application (REST API apps/<id>)."""
        return self._rest(f"apps/{app_id}")["app"]

    def put(self, local: Path | str, uri: str, *, umask: str | None = None,
            ccache: Path | str | None = None) -> None:
        """Copy a local file to uri on this cluster's HDFS, its directory made first; with umask
        (e.g. "077") the copy is created with those bits off, never readable before a chmod."""
        umask_option = ("-D", f"fs.permissions.umask-mode={umask}") if umask else ()
        for args in (("-mkdir", "-p", uri.rsplit("/", 1)[0]), (*umask_option, "-put", "-f", str(local), uri)):
            done = self.fs_shell(*args, ccache=ccache)
            if done.returncode != 0:
                raise SandboxError(f"hadoop fs {' '.join(args)}: {done.stderr.strip()[-2000:]}")

    def fs_shell(self, *args: str, user: str | None = None, ccache: Path | str | None = None,
                 timeout: float = 120) -> subprocess.CompletedProcess:
        """Run `hadoop fs ARGS` (Hadoop's FsShell) against this cluster, as `user` if given; on a
        secure cluster with the ticket in ccache if given (else in no cache at all)."""
        env = {k: v for k, v in os.environ.items() if k not in ("CLASSPATH", "HADOOP_USER_NAME", "KRB5CCNAME")}
        env.update(HADOOP_CONF_DIR=str(self.conf_dir), JAVA_HOME=java_home(),
                   KRB5CCNAME=str(ccache or self.root / "no-ticket"))
        if user:
            env["HADOOP_USER_NAME"] = user
        krb5 = [self.krb5_java_option] if self.secure else []
        argv = [str(Path(java_home(), "bin", "java")), "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", *krb5,
                f"-Dlog4j.configuration=file:{REPO / 'dev' / 'hadoop' / 'log4j.properties'}",
                "-cp", f"{self.conf_dir}:{CACHE / 'lib'}/*", "org.apache.hadoop.fs.FsShell", *args]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
