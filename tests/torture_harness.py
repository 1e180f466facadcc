"""The torture run of issue 10, shared by tests/integration/test_torture.py and bench/torture.py.

One seed: on a fresh copy of a pristine layout (below), start together two purges of different
names, an extract re-run, an export and an expire; SIGKILL one of them at a random checkpoint,
let the others finish, run the killed one again; then check what is left (`check_seed`).

Layout (built by the worker operation `setup`, then copied per seed):
    A = output.root   covers/            extract of the sandbox list album_covers
                      old/               a copy of covers whose _metadata.json expired long ago
                                         (registered in A's registry as a complete data set)
                      snap/              a catalog snapshot (written inside writers.writing,
                                         as jobs/snapshot.py does)
                      exports/covers-tar an export of covers (tar, originals)
    B = output.roots  covers-wds/        an export of covers (webdataset, thumbnails)
Both exports are registered wherever run_export registers them (today: the registry of the
data set's root, A); the checks read both roots' registries.
Registry entries hold qualified absolute paths, so a copy of the layout somewhere else would
point at the original. Each layout is therefore built at <slot>/run, copied aside to
<slot>/pristine, and every seed copies it back to the very same <slot>/run: every absolute
path stays true and no registry file is rewritten. bench/torture.py has two slots by default
(two layouts, each with roots of its own), so two seeds run at once: a seed is mostly a chain of
exclusive holds that keeps one core busy, the machine has two. The suite has one (its other
pytest worker keeps the second core busy).

Processes. Starting Spark costs ~10 s of JVM, so operations run in long-lived workers: plain
`python` children (start_new_session=True: each is its own process group, with its JVM), each
with one local[1] Spark session built once by session.build_session, taking JSON-line requests
on stdin and answering on a private copy of stdout (fd 1 itself is pointed at stderr, so
nothing Spark or the JVM prints can corrupt the channel). A request names the operation, its
arguments, its settings and where it dies: the worker calls faults.arm(crash_at,
checkpoint_log) (and sets faults' MEDIAEXTRACT_CRASH_ON name) first, and disarms after. The
worker's `faults` kills its whole process group (os.killpg(0, SIGKILL): the Python driver and
its JVM at the same instant, as a machine failure would) instead of the Python process alone,
so no orphaned JVM writes on after its driver died; the test side kills the group again to be
sure. A killed worker is replaced by a new one started in the background; the pool keeps one
spare, so the next seed does not wait for a JVM to start. Workers (and their Spark Python
workers, through PYTHONPATH) import mediaextract from a copy of lib/ taken when the run starts,
so a run of many minutes tests one version of the code even if the tree is edited meanwhile.

Crash points. A first round with nobody killed (the "unkilled round", seed None) logs every
operation's checkpoints (faults.arm(0, log)): their counts, and their distinct names, are what
a seed draws from. random.Random(seed) picks the two names to purge, the operation to kill, and
where: half the seeds at checkpoint 1..count (faults.arm(n)), half at the first checkpoint of
one of the operation's own step names, lock steps left out (MEDIAEXTRACT_CRASH_ON), because
under contention most numbered checkpoints are lock polls and the steps between them would
rarely be hit; then the order the five requests are sent in. Counts come from a concurrent round, so what a numbered
seed kills depends on that round's timing: a failure names the operation and the checkpoint
it died at (its log's last line), which is the reproduction. The operations are synchronised
only by the locks of the code under test: no sleeps, no timing assertions. An armed operation
that ends before its checkpoint is simply not killed; the result says so.

Checks (`check_seed`): the raw-byte scan of every file under both roots, report.html's inline
images decoded (`scan`, needles from `needles_for`); covers' rows and the snapshot's
(`check_items`); `old` gone; the audit logs (`check_audit`); the exports' manifests and
archives (`check_exports`); the registries (`check_registry`). Problems fail a seed; notes
(leftovers the next purge deletes, a registry entry of a copy that is gone, a second expire
line) are reported only.
"""

from __future__ import annotations

import base64
import binascii
import csv
import html
import json
import os
import queue
import random
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

REPO = Path(__file__).resolve().parent.parent
LIST = "album_covers"
# ok rows of album_covers, each with content no other row shares (tests/integration/test_governance.py
# purges the first three by name, sha1 and storage key); a seed purges two of them, by name.
CANDIDATES = ("Foo_bar.jpg", "Caf\u00e9_del_Mar.jpg", "Don't.jpg", "100%_pure.jpg", "Smile_\U0001F600_album.png")
OPS = ("purge1", "purge2", "extract", "export", "expire")


def draw(seed: int) -> tuple[random.Random, list[str], str]:
    """Return a seed's generator after its first draws, the two names to purge and the operation to kill."""
    rng = random.Random(seed)
    targets = rng.sample(CANDIDATES, 2)
    return rng, targets, rng.choice(OPS)

PURGES = ("purge1", "purge2")
BLOB_BYTES = 40_000
EXPIRED = "2001-01-01T00:00:00+00:00"
# Performance knobs only (results do not depend on them): one core, one shuffle partition, no
# adaptive re-planning or whole-stage code generation (compiling costs more than it saves on a
# few hundred rows), a JIT that stops at C1 and a serial GC (short jobs on 2 shared cores).
WORKER_CONF = {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "1",
               "spark.default.parallelism": "1", "spark.sql.adaptive.enabled": "false",
               "spark.sql.codegen.wholeStage": "false",
               "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}


# --- raw bytes ---------------------------------------------------------------------------------

def signatures(data: bytes, count: int = 12, width: int = 64) -> list[bytes]:
    """Return up to count distinct width-byte slices from around the middle of data (JPEG/PNG
    entropy-coded data is stored literally wherever it is copied); never a short slice."""
    if len(data) < width:
        return []
    span = min(131, max(1, (len(data) - width) // count))
    middle = len(data) // 2
    found = []
    for k in range(-count // 2, count // 2):
        start = min(max(0, middle + k * span), len(data) - width)
        piece = data[start:start + width]
        if piece not in found:
            found.append(piece)
    return found


_DATA_URI = re.compile(rb"data:[\w/+.-]+;base64,([A-Za-z0-9+/=]+)")


def blobs_under(roots: Iterable[Path]) -> Iterable[tuple[str, bytes]]:
    """Yield (where, bytes) of every file under the roots (hidden, checksum, lock, audit files
    included), and of every base64 data: URI inside them (report.html's inline images), decoded."""
    for root in roots:
        for directory, _, files in os.walk(root):
            for name in files:
                path = os.path.join(directory, name)
                try:
                    with open(path, "rb") as handle:
                        data = handle.read()
                except FileNotFoundError:
                    continue
                yield path, data
                if b";base64," in data:
                    for number, match in enumerate(_DATA_URI.finditer(data)):
                        try:
                            yield f"{path}#data-uri-{number}", base64.b64decode(match.group(1))
                        except (binascii.Error, ValueError):
                            continue


def scan(roots: Iterable[Path], needles: dict[str, bytes]) -> dict[str, list[str]]:
    """Return {needle label: [where it was found]} for every needle found under the roots."""
    hits: dict[str, list[str]] = {}
    for where, data in blobs_under(roots):
        for label, needle in needles.items():
            if needle and needle in data:
                hits.setdefault(label, []).append(where)
    return hits


def name_forms(name: str) -> set[bytes]:
    """Return the spellings of a name a file can hold: UTF-8, HTML-escaped, JSON-escaped, made safe."""
    from mediaextract.safe_names import safe_name

    written = name.replace("_", " ")  # as label texts name it ("Duplicate of [[File:Foo bar.jpg]]")
    forms = {name, html.escape(name), html.escape(name, quote=False), json.dumps(name)[1:-1], safe_name(name),
             written, html.escape(written), json.dumps(written)[1:-1]}
    return {form.encode("utf-8") for form in forms if form}


def needles_for(pristine: dict, targets: Iterable[str]) -> dict[str, bytes]:
    """Return the needles of removed names: names (every spelling, and the requested spellings
    of their rows), and signatures of their content, thumbnail and report.html sample image."""
    needles: dict[str, bytes] = {}
    for target in targets:
        for number, form in enumerate(sorted(name_forms(target))):
            needles[f"{target!r} name form {number} {form!r}"] = form
        for row in pristine["items"]:
            if row["name"] == target and row["requested_name"]:
                needles[f"{target!r} requested as {row['requested_name']!r}"] = row["requested_name"].encode("utf-8")
        for kind in ("content", "thumbnail", "sample"):
            for number, piece in enumerate(pristine["signatures"][target][kind]):
                needles[f"{target!r} {kind} signature {number}"] = bytes.fromhex(piece)
    return needles


# --- the worker (a child process) -------------------------------------------------------------

class _GroupKill:
    """faults' view of `os`: its SIGKILL takes the worker's whole process group (driver and JVM)."""

    def __getattr__(self, name):
        return getattr(os, name)

    @staticmethod
    def kill(pid, sig):
        os.killpg(0, sig)


def worker_main() -> None:
    """Serve requests (JSON lines on stdin) with one Spark session until stdin closes."""
    channel = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # whatever Spark, the JVM or a library prints goes to the log, not the channel
    sys.stdout = sys.stderr
    from mediaextract import faults

    faults.os = _GroupKill()
    # Every module an operation needs, loaded now: the worker runs one version of the code.
    import mediaextract.export  # noqa: F401
    import mediaextract.extract  # noqa: F401
    import mediaextract.governance.expire  # noqa: F401
    import mediaextract.governance.purge  # noqa: F401
    import mediaextract.report_html  # noqa: F401
    from mediaextract.config import load_settings
    from mediaextract.errors import MediaextractError
    from mediaextract.session import build_session

    startup = json.loads(sys.argv[1])
    spark = build_session(load_settings(None, overrides=startup["settings"], environ={}), "mediaextract-torture",
                          master="local[1]", extra=startup["conf"])
    spark.range(1).count()

    def send(message: dict) -> None:
        channel.write(json.dumps(message, default=str) + "\n")
        channel.flush()

    send({"ready": os.getpid()})
    for line in sys.stdin:
        request = json.loads(line)
        lines: list[str] = []
        started = time.monotonic()
        reply = {"op": request["op"], "pid": os.getpid()}
        faults.arm(int(request.get("crash_at") or 0), request.get("checkpoint_log"))
        # faults reads MEDIAEXTRACT_CRASH_ON once, at import, into _crash_on: set per request here.
        faults._crash_on = request.get("crash_on") or None
        try:
            settings = load_settings(None, overrides=request["settings"], environ={})
            reply["result"] = OPERATIONS[request["kind"]](spark, settings, request["args"], lines.append)
            reply["code"] = 0
        except MediaextractError as error:
            reply["code"], reply["error"] = error.exit_code, f"{type(error).__name__}: {error}"
        except Exception as error:  # noqa: BLE001 - reported to the test, which fails on it
            reply["code"], reply["error"] = 1, "".join(traceback.format_exception(error))
        finally:
            faults.arm(0)
            faults._crash_on = None
        reply["seconds"] = round(time.monotonic() - started, 2)
        reply["output"] = lines[-60:]
        send(reply)


def _op_purge(spark, settings, args, out):
    from mediaextract.governance import purge, rules

    result = purge.purge(spark, settings, rules.Selector(names=frozenset(args["names"])), args["request"], out=out)
    return {"rows": result.rows, "remaining": result.remaining, "unreachable": result.unreachable}


def _op_extract(spark, settings, args, out):
    from mediaextract.extract import run_extract

    built = run_extract(spark, settings, [args["list"]], args["output"], out=out)
    return {"totals": built.get("totals")}


def _op_export(spark, settings, args, out):
    from mediaextract.export import run_export

    entry = run_export(spark, settings, args["dataset"], args["to"], args["format"], what=args["what"], out=out)
    return {"files": entry["files"]}


def _op_expire(spark, settings, args, out):
    from mediaextract.governance import expire

    result = expire.expire(spark, settings, out=out)
    return {"deleted": result.deleted, "kept": result.kept}


def _originals_in_blobs(spark, data_set: str) -> dict[str, bytes]:
    """Return each original of a data set's blobs/ put together from its chunks in order (a chunk
    missing or doubled shows as a wrong sha1)."""
    if not os.path.isdir(f"{data_set}/blobs"):
        return {}
    parts: dict[str, list[tuple[int, bytes]]] = {}
    for row in spark.read.parquet(f"{data_set}/blobs").collect():
        parts.setdefault(row["sha1"], []).append((row["chunk"], bytes(row["bytes"])))
    return {sha1: b"".join(data for _, data in sorted(chunks)) for sha1, chunks in parts.items()}


def _facts(spark, a: str) -> dict:
    """Return the rows of covers' items (no bytes), the sha1s of the originals its blobs/ holds
    (each checked whole: {sha1: its bytes' sha1}) and the rows of the snapshot's filearchive."""
    from mediaextract import dataset
    from mediaextract.digest import sha1_base36

    items = [r.asDict() for r in dataset.read_items(spark, f"{a}/covers/items")
             .select("list", "line", "requested_name", "name", "status", "sha1", "sha1_hex", "fa_id",
                    "deleted_reason", "description", "live_duplicate_of", "content_in").collect()]
    blobs = {sha1: sha1_base36(data) for sha1, data in _originals_in_blobs(spark, f"{a}/covers").items()}
    snapshot = [{"fa_id": r["fa_id"], "name": bytes(r["name_bytes"]).decode("utf-8", "replace")
                 if r["name_bytes"] is not None else None, "sha1": r["sha1"]}
                for r in spark.read.parquet(f"{a}/snap/filearchive").select("fa_id", "name_bytes", "sha1").collect()]
    for row in snapshot:
        if isinstance(row["sha1"], (bytes, bytearray)):
            row["sha1"] = bytes(row["sha1"]).decode("utf-8", "replace")
    return {"items": items, "blobs": blobs, "snapshot": snapshot}


def _op_inspect(spark, settings, args, out):
    return _facts(spark, args["a"])


def _op_setup(spark, settings, args, out):
    """Build the pristine layout (see the module's docstring); return its facts and the signatures
    of every candidate's content, thumbnail and report.html sample image."""
    from mediaextract import catalog, dataset, export, report_html, statuses
    from mediaextract.extract import run_extract
    from mediaextract.governance import inventory as inv
    from mediaextract.governance import writers
    from mediaextract.hadoopfs import HadoopFS

    a, b = args["a"], args["b"]
    fs = HadoopFS(spark)
    run_extract(spark, settings, [args["list"]], f"{a}/covers", out=out)
    with writers.writing(fs, settings, inv.SNAPSHOT, f"{a}/snap", "snapshot"):
        catalog.write_snapshot(spark, settings, f"{a}/snap")
    export.run_export(spark, settings, f"{a}/covers", f"{a}/exports/covers-tar", "tar", what="originals", out=out)
    export.run_export(spark, settings, f"{a}/covers", f"{b}/covers-wds", "webdataset", what="thumbnails", out=out)
    shutil.copytree(f"{a}/covers", f"{a}/old", symlinks=True)
    metadata_path = Path(a, "old", "_metadata.json")
    metadata = json.loads(metadata_path.read_text())
    metadata["expires"] = EXPIRED
    # Written behind Hadoop's back: its checksum file would no longer match, so it goes.
    metadata_path.write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    (metadata_path.parent / f".{metadata_path.name}.crc").unlink(missing_ok=True)
    inv.Registry(fs, a).register(inv.DATASET, f"{a}/old", state=inv.COMPLETE, job="extract")

    from pyspark.sql import functions as F

    blobs = _originals_in_blobs(spark, f"{a}/covers")
    rows = {r["name"]: r for r in dataset.read_items(spark, f"{a}/covers/items")
            .where(F.col("status") == statuses.OK).collect()}
    found = {}
    for name in CANDIDATES:
        row = rows[name]
        uri = report_html.sample_image_uri(report_html.Sample(row["list"], row["line"], name, row["thumbnail_mime"],
                                                              bytes(row["thumbnail"])))
        sample = base64.b64decode(uri.split(",", 1)[1]) if uri else b""
        content = bytes(row["content"]) if row["content"] is not None else blobs[row["sha1"]]
        found[name] = {kind: [s.hex() for s in signatures(data)] for kind, data in
                       (("content", content), ("thumbnail", bytes(row["thumbnail"])), ("sample", sample))}
    return {**_facts(spark, a), "signatures": found}


OPERATIONS: dict[str, Callable] = {"purge": _op_purge, "extract": _op_extract, "export": _op_export,
                                   "expire": _op_expire, "inspect": _op_inspect, "setup": _op_setup}


def boot(lib: Path) -> str:
    """Return the worker's `python -c` program, importing mediaextract from lib."""
    return (f"import sys; sys.path[:0] = {[str(lib), str(REPO)]!r}; "
            "from tests.torture_harness import worker_main; worker_main()")


# --- the pool (the test's side) ----------------------------------------------------------------

class WorkerFailed(RuntimeError):
    pass


class Worker:
    """One worker process, its log, and a thread reading its answers."""

    def __init__(self, number: int, base_settings: dict, log_dir: Path, on_ready: Callable[["Worker"], None],
                 conf: dict | None = None, lib: Path = REPO / "lib"):
        self.number = number
        self.log_path = log_dir / f"worker-{number}.log"
        self._log = open(self.log_path, "ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAEXTRACT_")}
        env["SPARK_LOCAL_IP"] = "127.0.0.1"
        env["PYTHONPATH"] = str(lib)  # Spark's Python workers (the fetch tasks) import it from there too
        arguments = {"settings": base_settings, "conf": conf if conf is not None else WORKER_CONF}
        self.proc = subprocess.Popen([sys.executable, "-c", boot(lib), json.dumps(arguments)], cwd=REPO, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                                     start_new_session=True)
        self.replies: queue.Queue = queue.Queue()
        self.ready = False
        self.gone = False
        self._on_ready = on_ready
        threading.Thread(target=self._read, name=f"torture-worker-{number}", daemon=True).start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            if "ready" in message:
                self.ready = True
                self._on_ready(self)
            else:
                self.replies.put(message)
        self.gone = True
        self.replies.put(None)
        self._on_ready(self)  # wakes a pool waiting for it

    def call(self, request: dict, timeout_s: float) -> dict:
        """Return the worker's answer, {"killed": code} when it died, {"timeout": s} when it hung."""
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode("utf-8"))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass
        try:
            reply = self.replies.get(timeout=timeout_s)
        except queue.Empty:
            self.kill()
            return {"op": request["op"], "timeout": timeout_s}
        if reply is None:
            code = self.proc.wait()
            self.kill()
            return {"op": request["op"], "killed": code}
        return reply

    def kill(self) -> None:
        """SIGKILL the worker's process group (its JVM too) and reap it."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        self.gone = True

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_bytes()[-chars:].decode("utf-8", "replace")
        except OSError:
            return ""


class Pool:
    """Long-lived workers: `take` an idle one, `give` it back, `replace` a killed one."""

    def __init__(self, size: int, base_settings: dict, log_dir: Path, start_timeout_s: float = 600.0,
                 conf: dict | None = None, lib: Path = REPO / "lib"):
        self.base_settings, self.log_dir, self.start_timeout_s = base_settings, log_dir, start_timeout_s
        self.conf, self.lib = conf, lib
        self._cond = threading.Condition()
        self._idle: list[Worker] = []
        self._all: list[Worker] = []
        self._numbers = 0
        self._closed = False
        for _ in range(size):
            self._spawn()

    def _spawn(self) -> Worker | None:
        with self._cond:
            if self._closed:
                return None
            self._numbers += 1
            number = self._numbers
        worker = Worker(number, self.base_settings, self.log_dir, self._ready, self.conf, self.lib)
        with self._cond:
            closed = self._closed
            if not closed:
                self._all.append(worker)
        if closed:
            worker.kill()
            return None
        return worker

    def _ready(self, worker: Worker) -> None:
        with self._cond:
            if worker.ready and not worker.gone and worker not in self._idle:
                self._idle.append(worker)
            self._cond.notify_all()

    def take(self, count: int = 1) -> list[Worker]:
        """Return count idle workers, all at once (so two seeds never each hold half of what they need)."""
        deadline = time.monotonic() + self.start_timeout_s
        with self._cond:
            while True:
                if self._closed:
                    raise WorkerFailed("the pool is closed")
                for dead in [w for w in self._all if w.gone and not w.ready]:
                    self._all.remove(dead)
                    raise WorkerFailed(f"worker {dead.number} ended before it was ready:\n{dead.log_tail()}")
                self._idle = [w for w in self._idle if not w.gone]
                if len(self._idle) >= count:
                    taken, self._idle = self._idle[:count], self._idle[count:]
                    return taken
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WorkerFailed(f"{count} workers not ready within {self.start_timeout_s:.0f} s")
                self._cond.wait(min(left, 5.0))

    def give(self, worker: Worker) -> None:
        with self._cond:
            if not worker.gone and worker not in self._idle:
                self._idle.append(worker)
            self._cond.notify_all()

    def replace(self, worker: Worker) -> None:
        """Kill a worker (if it is not dead yet) and start another in the background."""
        worker.kill()
        with self._cond:
            if worker in self._all:
                self._all.remove(worker)
            if worker in self._idle:
                self._idle.remove(worker)
        self._spawn()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            workers = list(self._all)
            self._cond.notify_all()
        for worker in workers:
            try:
                worker.proc.stdin.close()
            except OSError:
                pass
            worker.kill()


# --- one seed ----------------------------------------------------------------------------------

@dataclass
class SeedResult:
    seed: int | None
    targets: list[str]
    victim: str | None
    crash_at: int = 0
    crash_on: str = ""                # or: the first checkpoint of this name
    killed: bool = False
    died_at: str = ""                 # "<n> <checkpoint name>" of the killed operation
    order: list[str] = field(default_factory=list)
    ops: dict = field(default_factory=dict)        # op -> the worker's answer
    reruns: dict = field(default_factory=dict)     # op -> the answer of its run after the others
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    check_seconds: float = 0.0
    kept: str = ""                    # where the layout of a failed seed was kept

    def summary(self) -> str:
        what = (f"killed {self.victim} at checkpoint {self.died_at}" if self.killed else
                f"{self.victim} armed at {self.crash_on or self.crash_at} but not killed" if self.victim
                else "nobody killed")
        status = "ok" if not self.problems else f"FAILED ({len(self.problems)} problems)"
        times = " ".join(f"{op} {a.get('seconds', '-')}" for op, a in self.ops.items())
        times += "".join(f" rerun {op} {a.get('seconds', '-')}" for op, a in self.reruns.items())
        return (f"seed {self.seed}: {status}; purged {', '.join(map(repr, self.targets))}; {what}; "
                f"{self.seconds:.0f} s ({times}; checks {self.check_seconds:.0f} s)")

    def report(self) -> str:
        lines = [self.summary(), f"  request order: {', '.join(self.order)}"]
        for label, answers in (("op", self.ops), ("re-run", self.reruns)):
            for op, answer in answers.items():
                state = ("killed" if "killed" in answer else "TIMEOUT" if "timeout" in answer
                         else f"exit {answer.get('code')}")
                lines.append(f"  {label} {op}: {state} ({answer.get('seconds', '?')} s)")
                if answer.get("error"):
                    lines.append("    " + answer["error"].strip().replace("\n", "\n    "))
        lines += [f"  problem: {p}" for p in self.problems] + [f"  note: {n}" for n in self.notes]
        if self.kept:
            lines.append(f"  layout kept in {self.kept}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {"seed": self.seed, "targets": self.targets, "victim": self.victim, "crash_at": self.crash_at,
                "crash_on": self.crash_on,
                "killed": self.killed, "died_at": self.died_at, "order": self.order, "seconds": round(self.seconds, 1),
                "ops": {op: {k: a.get(k) for k in ("code", "seconds", "killed", "timeout", "error")}
                        for op, a in self.ops.items()},
                "reruns": {op: {k: a.get(k) for k in ("code", "seconds", "error")} for op, a in self.reruns.items()},
                "problems": self.problems, "notes": self.notes, "kept": self.kept}


class Layout:
    """One slot's place: <base>/run (roots A and B, rebuilt per seed) and <base>/pristine."""

    def __init__(self, base: Path, sandbox_settings: dict, list_path: str):
        self.base = base
        self.run_dir, self.pristine_dir = base / "run", base / "pristine"
        self.a, self.b = self.run_dir / "A", self.run_dir / "B"
        # Originals over 40 kB go to blobs/ (two candidates, Foo_bar.jpg and Café_del_Mar.jpg, are
        # 59-61 kB): every operation meets chunks, in batches and in blobs/, wherever it dies.
        self.settings = {**sandbox_settings, "output.root": str(self.a), "output.roots": [str(self.b)],
                         "output.blob_bytes": BLOB_BYTES, "output.blob_chunk_bytes": 8192}
        self.list_path = list_path

    def export_dirs(self) -> dict[str, Path]:
        return {"A/exports/covers-tar": self.a / "exports" / "covers-tar", "B/covers-wds": self.b / "covers-wds"}

    def requests(self, targets: list[str], seed) -> dict[str, dict]:
        a, b = str(self.a), str(self.b)
        tag = "dry" if seed is None else str(seed)
        return {
            "purge1": {"kind": "purge", "args": {"names": [targets[0]], "request": f"T-{tag}-1"}},
            "purge2": {"kind": "purge", "args": {"names": [targets[1]], "request": f"T-{tag}-2"}},
            "extract": {"kind": "extract", "args": {"list": self.list_path, "output": f"{a}/covers"}},
            "export": {"kind": "export", "args": {"dataset": f"{a}/covers", "to": f"{b}/covers-wds",
                                                  "format": "webdataset", "what": "thumbnails"}},
            "expire": {"kind": "expire", "args": {}},
        }

    def fresh(self) -> None:
        """Put the pristine layout back in place (same absolute paths: the registries stay true)."""
        shutil.rmtree(self.run_dir, ignore_errors=True)
        shutil.copytree(self.pristine_dir, self.run_dir, symlinks=True)


class Torture:
    """The pool, the pristine layouts (one per slot: seeds of different slots run at the same
    time, on roots of their own), the crash-point counts, `run_seed`, `submit` and `result`."""

    def __init__(self, base: Path, sandbox_settings: dict, list_path: str, *, slots: int = 2,
                 workers: int | None = None, op_timeout_s: float = 420.0, keep_failed: bool = True,
                 snapshot_lib: bool = True, log: Callable[[str], None] = print):
        self.base = Path(base).resolve()
        self.logs = self.base / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.layouts = [Layout(self.base / f"slot-{k}", sandbox_settings, list_path) for k in range(slots)]
        self.settings = self.layouts[0].settings
        self.list_path = list_path
        # Five operations per slot at once, and one spare for the next seed while a killed
        # worker's replacement starts.
        self.workers = workers or len(OPS) * slots + 1
        self.op_timeout_s, self.keep_failed, self.log = op_timeout_s, keep_failed, log
        # Workers import mediaextract from a copy of lib/ taken at start(): a run of many minutes
        # tests one version of the code even when the tree is edited meanwhile.
        self.snapshot_lib = snapshot_lib
        self.pool: Pool | None = None
        self.pristine: dict = {}
        self.manifests: dict = {}
        self.counts: dict[str, int] = {}
        self.names: dict[str, list[str]] = {}   # op -> its distinct checkpoint names, in first-seen order
        self.dry: SeedResult | None = None
        self.timings: dict[str, float] = {}
        self._free: queue.Queue = queue.Queue()
        self._executor = None
        self._futures: dict = {}

    # -- set up --

    def start(self) -> None:
        """Start the workers, build every slot's pristine layout, run the unkilled round."""
        started = time.monotonic()
        lib = REPO / "lib"
        if self.snapshot_lib:
            lib = self.base / "code" / "lib"
            shutil.rmtree(lib, ignore_errors=True)
            shutil.copytree(REPO / "lib", lib, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        self.pool = Pool(self.workers, self.settings, self.logs, lib=lib)
        facts: dict[int, dict] = {}
        errors: list[str] = []

        def build(k: int) -> None:
            layout = self.layouts[k]
            try:
                (worker,) = self.pool.take()
                shutil.rmtree(layout.base, ignore_errors=True)
                layout.a.mkdir(parents=True)
                layout.b.mkdir(parents=True)
                answer = worker.call({"op": "setup", "kind": "setup", "settings": layout.settings,
                                      "args": {"a": str(layout.a), "b": str(layout.b), "list": self.list_path}},
                                     self.op_timeout_s * 2)
                if answer.get("code") != 0:
                    self.pool.replace(worker)
                    errors.append(f"setup of slot {k} failed: {answer}\n{worker.log_tail()}")
                    return
                self.pool.give(worker)
                facts[k] = answer["result"]
                shutil.copytree(layout.run_dir, layout.pristine_dir, symlinks=True)
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(f"setup of slot {k}: {type(error).__name__}: {error}")

        threads = [threading.Thread(target=build, args=(k,)) for k in range(len(self.layouts))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise WorkerFailed("; ".join(errors))
        self.timings["setup_s"] = time.monotonic() - started
        self.pristine = facts[0]
        for k, other in facts.items():
            for part in ("items", "snapshot", "signatures"):
                if _sorted(other[part]) != _sorted(self.pristine[part]):
                    raise WorkerFailed(f"slot {k}'s pristine {part} differ from slot 0's")
        names = {r["name"] for r in self.pristine["items"] if r["status"] == "ok"}
        missing = [c for c in CANDIDATES if c not in names]
        if missing:
            raise WorkerFailed(f"the sandbox has no ok rows for {missing}")
        if not self.pristine["blobs"] or set(self.pristine["blobs"].values()) != set(self.pristine["blobs"]):
            raise WorkerFailed(f"the pristine blobs/ ({self.pristine['blobs']}) is empty or not whole: the "
                               f"seeds would not meet chunks (output.blob_bytes {BLOB_BYTES})")
        self.manifests = {key: read_manifest(path) for key, path in self.layouts[0].export_dirs().items()}
        self._check_pristine(self.layouts[0])
        t = time.monotonic()
        self.dry = self.run_seed(None, self.layouts[0])
        self.timings["dry_run_s"] = time.monotonic() - t
        self.timings["start_s"] = time.monotonic() - started
        for layout in self.layouts:
            self._free.put(layout)
        self.log(f"torture: set up in {self.timings['start_s']:.0f} s ({len(self.layouts)} slots, {self.workers} "
                 f"workers; layouts {self.timings['setup_s']:.0f} s, unkilled round {self.timings['dry_run_s']:.0f} s);"
                 " checkpoints per operation: " + ", ".join(f"{op} {n}" for op, n in self.counts.items()))

    def _check_pristine(self, layout: Layout) -> None:
        """Fail unless every candidate's name, content and thumbnail (and its report.html sample)
        are found in the pristine layout: else the scan would prove nothing."""
        roots = [layout.pristine_dir / "A", layout.pristine_dir / "B"]
        problems = []
        for name in CANDIDATES:
            labels = " ".join(scan(roots, needles_for(self.pristine, [name])))
            for what in ("name form", "content signature", "thumbnail signature", "sample signature"):
                if what not in labels:
                    problems.append(f"{name!r}: no {what} found in the pristine layout")
        if problems:
            raise WorkerFailed("the raw-byte scan would prove nothing: " + "; ".join(problems))

    def close(self) -> None:
        if self._executor:
            self._executor.shutdown(wait=False, cancel_futures=True)
        if self.pool:
            self.pool.close()

    # -- seeds in the background, one per free slot --

    def submit(self, seeds: Iterable[int]) -> None:
        """Start running the seeds in the background, in order, as many at once as there are slots."""
        from concurrent.futures import ThreadPoolExecutor

        if self._executor is None:
            self._executor = ThreadPoolExecutor(len(self.layouts), thread_name_prefix="torture-seed")
        for seed in seeds:
            self._futures[seed] = self._executor.submit(self._run_in_a_free_slot, seed)

    def _run_in_a_free_slot(self, seed: int) -> SeedResult:
        layout = self._free.get()
        try:
            return self.run_seed(seed, layout)
        finally:
            self._free.put(layout)

    def result(self, seed: int, timeout_s: float | None = None) -> SeedResult:
        """Return a submitted seed's result (running it now when it was not submitted)."""
        if seed not in self._futures:
            self.submit([seed])
        return self._futures[seed].result(timeout=timeout_s)

    # -- a seed --

    def run_seed(self, seed: int | None, layout: Layout) -> SeedResult:
        """Run one seed (None: the unkilled round that counts checkpoints) on a layout."""
        started = time.monotonic()
        if seed is None:
            rng = random.Random("dry run")
            targets, victim, crash_at, crash_on = list(CANDIDATES[:2]), None, 0, ""
        else:
            rng, targets, victim = draw(seed)
            crash_at, crash_on = rng.randint(1, self.counts[victim]), ""
            if rng.random() < 0.5:  # half the seeds: the first checkpoint of one of its own steps
                steps = [n for n in self.names[victim] if not n.startswith("lock.")] or self.names[victim]
                crash_at, crash_on = 0, rng.choice(steps)
        order = rng.sample(OPS, len(OPS))
        result = SeedResult(seed, targets, victim, crash_at, crash_on, order=order)
        layout.fresh()
        seed_logs = self.logs / f"seed-{'dry' if seed is None else seed}"
        shutil.rmtree(seed_logs, ignore_errors=True)
        seed_logs.mkdir(parents=True)
        requests = layout.requests(targets, seed)
        for op in OPS:
            requests[op].update(op=op, settings=layout.settings, checkpoint_log=str(seed_logs / f"{op}.checkpoints"),
                                crash_at=crash_at if op == victim else 0, crash_on=crash_on if op == victim else "")

        workers = dict(zip(order, self.pool.take(len(order))))  # all five ready before any starts
        answers: dict[str, dict] = {}

        def run(op: str) -> None:
            answers[op] = workers[op].call(requests[op], self.op_timeout_s)

        threads = [threading.Thread(target=run, args=(op,), name=f"torture-{op}") for op in order]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        result.ops = answers
        for op, worker in workers.items():
            if "killed" in answers[op] or "timeout" in answers[op]:
                if "timeout" in answers[op]:
                    result.problems.append(f"{op} did not finish within {self.op_timeout_s:.0f} s "
                                           f"(worker log {worker.log_path})")
                self.pool.replace(worker)
            else:
                self.pool.give(worker)

        if seed is None:
            self.counts = {op: _lines(seed_logs / f"{op}.checkpoints") for op in OPS}
            self.names = {op: _names(seed_logs / f"{op}.checkpoints") for op in OPS}
            for op, count in self.counts.items():
                if count < 1:
                    result.problems.append(f"{op} reached no checkpoint in the unkilled round")

        for op in OPS:
            answer = answers[op]
            if "killed" in answer:
                if op != victim:
                    result.problems.append(f"{op} died (exit {answer['killed']}) though it was not armed")
                    continue
                result.killed = True
                result.died_at = _last_line(seed_logs / f"{op}.checkpoints") or f"{crash_on or crash_at} ?"
            elif "timeout" in answer:
                continue
            elif answer.get("code") != 0:
                result.problems.append(f"{op} (not killed) exited {answer.get('code')}: "
                                       f"{(answer.get('error') or '').strip().splitlines()[-1:]}")
            elif op == victim:
                result.notes.append(f"{op} ended before its checkpoint {crash_on or crash_at}: not killed this seed")

        if result.killed:
            (worker,) = self.pool.take()
            rerun = {**requests[victim], "crash_at": 0, "crash_on": "",
                     "checkpoint_log": str(seed_logs / f"{victim}.rerun.checkpoints")}
            answer = worker.call(rerun, self.op_timeout_s)
            result.reruns[victim] = answer
            if "killed" in answer or "timeout" in answer:
                result.problems.append(f"the re-run of {victim} " + ("died" if "killed" in answer else "hung"))
                self.pool.replace(worker)
            else:
                self.pool.give(worker)
                if answer.get("code") != 0:
                    result.problems.append(f"the re-run of {victim} exited {answer.get('code')}: "
                                           f"{(answer.get('error') or '').strip().splitlines()[-1:]}")

        checks_started = time.monotonic()
        if not any("timeout" in a for a in [*answers.values(), *result.reruns.values()]):
            (worker,) = self.pool.take()
            answer = worker.call({"op": "inspect", "kind": "inspect", "settings": layout.settings,
                                  "args": {"a": str(layout.a)}}, self.op_timeout_s)
            if "killed" in answer or "timeout" in answer:
                self.pool.replace(worker)
            else:
                self.pool.give(worker)
            if answer.get("code") != 0:
                result.problems.append(f"reading covers and the snapshot failed: {answer.get('error') or answer}")
            else:
                problems, notes = check_seed(self, layout, targets, answer["result"], result)
                result.problems += problems
                result.notes += notes
        result.check_seconds = time.monotonic() - checks_started
        result.seconds = time.monotonic() - started
        if result.problems and self.keep_failed:
            kept = self.base / "failed" / f"seed-{'dry' if seed is None else seed}"
            shutil.rmtree(kept, ignore_errors=True)
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(layout.run_dir, kept, symlinks=True)
            result.kept = str(kept)
        self.log(result.report() if result.problems or result.notes else result.summary())
        return result


def _sorted(value):
    return sorted(value, key=lambda v: json.dumps(v, sort_keys=True, default=str)) if isinstance(value, list) \
        else value


def _lines(path: Path) -> int:
    try:
        return len(path.read_text(encoding="utf-8").splitlines())
    except FileNotFoundError:
        return 0


def _names(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    return list(dict.fromkeys(line.split(" ", 1)[1] for line in lines if " " in line))


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return ""
    return lines[-1] if lines else ""


# --- the checks --------------------------------------------------------------------------------

def read_manifest(export_dir: Path) -> list[dict]:
    path = export_dir / "manifest.csv"
    if not path.exists():
        return []
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def audit_lines(root: Path) -> list[dict]:
    path = root / "_audit" / "purge.jsonl"
    if not path.exists():
        return []
    lines = []
    for text in path.read_text(encoding="utf-8").splitlines():
        try:
            lines.append(json.loads(text))
        except ValueError:
            lines.append({"unparsable": text})
    return lines


def _archive_members(export_dir: Path) -> dict[str, list[str]]:
    """Return {archive file name: member names} of every tar archive directly in an export."""
    members = {}
    for path in sorted(export_dir.glob("*.tar*")):
        with tarfile.open(path, "r:*") as archive:
            members[path.name] = [m.name for m in archive.getmembers() if m.isfile()]
    return members


def check_exports(torture: Torture, layout: Layout, targets: list[str]) -> list[str]:
    """Every export keeps exactly its pristine rows minus the removed ones, and its archives
    hold exactly what its manifest lists."""
    problems = []
    for key, directory in layout.export_dirs().items():
        rows = read_manifest(directory)
        if not rows:
            problems.append(f"export {key}: no manifest.csv (export gone)")
            continue
        fields = lambda r: (r["list"], r["line"], r["name"], r["sha1"])  # noqa: E731
        want = Counter(fields(r) for r in torture.manifests[key] if r["name"] not in targets)
        have = Counter(fields(r) for r in rows)
        if have != want:
            problems.append(f"export {key}: manifest rows {sorted((have - want).elements())} extra, "
                            f"{sorted((want - have).elements())} missing")
        members = _archive_members(directory)
        files = {r["file"] for r in rows}
        if key.endswith("tar"):
            held = {m for names in members.values() for m in names}
            if held != files:
                problems.append(f"export {key}: archives hold {sorted(held - files)} beyond the manifest, "
                                f"lack {sorted(files - held)}")
        else:
            held = {(shard, m.rsplit("/", 1)[-1].split(".", 1)[0]) for shard, names in members.items() for m in names}
            listed = {(f.split("/", 1)[0], f.split("/", 1)[1].split(".", 1)[0]) for f in files}
            if held != listed:
                problems.append(f"export {key}: shards hold samples {sorted(held - listed)} beyond the manifest, "
                                f"lack {sorted(listed - held)}")
    return problems


def check_items(pristine: dict, now: dict, targets: list[str]) -> list[str]:
    """covers keeps every row: the removed names' rows became `removed` rows (list and line
    kept), every other row is as it was; the snapshot lost exactly the removed names' rows."""
    problems = []
    before, after = pristine["items"], now["items"]
    if len(after) != len(before):
        problems.append(f"covers has {len(after)} rows, pristine {len(before)}")
    removed_lines = {(r["list"], r["line"]) for r in before if r["name"] in targets}
    key = lambda r: (r["list"], r["line"], r["name"], r["status"], r["sha1"])  # noqa: E731
    for row in after:
        if (row["list"], row["line"]) in removed_lines:
            if row["status"] != "removed" or any(row[c] is not None for c in ("name", "sha1", "sha1_hex", "requested_name", "fa_id")):
                problems.append(f"covers line {row['line']} should be a removed row: {row}")
        elif row["name"] in targets:
            problems.append(f"covers line {row['line']} still names a removed file")
    kept_before = Counter(key(r) for r in before if (r["list"], r["line"]) not in removed_lines)
    kept_after = Counter(key(r) for r in after if (r["list"], r["line"]) not in removed_lines)
    if kept_before != kept_after:
        problems.append(f"rows not targeted changed: {sorted((kept_before - kept_after).elements(), key=str)} -> "
                        f"{sorted((kept_after - kept_before).elements(), key=str)}")
    # Label texts stay as they were, but those naming a removed file, which are gone.
    from mediaextract.governance.rules import names_a_removed_file
    from mediaextract.rows import LABEL_COLUMNS

    removed = set(targets).__contains__
    labels_before = {(r["list"], r["line"]): tuple(None if names_a_removed_file(r[c], removed) else r[c]
                                                   for c in LABEL_COLUMNS)
                     for r in before if (r["list"], r["line"]) not in removed_lines}
    for row in after:
        want = labels_before.get((row["list"], row["line"]))
        if want is not None and tuple(row[c] for c in LABEL_COLUMNS) != want:
            problems.append(f"covers line {row['line']}: label texts {[row[c] for c in LABEL_COLUMNS]}, "
                            f"want {list(want)}")
    # blobs/ holds, whole, the originals of the ok rows kept there: the pristine ones but the removed.
    want_blobs = {r["sha1"] for r in before if r["status"] == "ok" and r.get("content_in") == "blobs"
                  and (r["list"], r["line"]) not in removed_lines}
    if now["blobs"] != {sha1: sha1 for sha1 in want_blobs}:
        problems.append(f"blobs/ holds {sorted(now['blobs'].items())}, want {sorted(want_blobs)} each whole")
    ok_sha1 = lambda rows: Counter(r["sha1"] for r in rows if r["status"] == "ok")  # noqa: E731
    removed_sha1 = Counter(r["sha1"] for r in before if r["status"] == "ok" and r["name"] in targets)
    if ok_sha1(after) != ok_sha1(before) - removed_sha1:
        problems.append("the multiset of ok rows' sha1 is not the pristine one minus the removed rows")
    snap_key = lambda r: (r["fa_id"], r["name"], r["sha1"])  # noqa: E731
    want = Counter(snap_key(r) for r in pristine["snapshot"] if r["name"] not in targets)
    have = Counter(snap_key(r) for r in now["snapshot"])
    if have != want:
        problems.append(f"snapshot rows: {sorted((have - want).elements(), key=str)} extra, "
                        f"{sorted((want - have).elements(), key=str)} missing")
    return problems


def check_audit(torture: Torture, layout: Layout, targets: list[str], result: SeedResult) -> tuple[list[str], list[str]]:
    """Root A's log: one complete line per purge request (a killed purge: its interrupted line,
    if any, and the re-run's complete line), rows removed, nothing remaining or unreachable;
    the rows removed from the snapshot add up to what it held. No journal is left anywhere."""
    problems, notes = [], []
    requests = layout.requests(targets, result.seed)
    snapshot_unit = f"file:{layout.a}/snap"
    covers_unit = f"file:{layout.a}/covers"
    lines = [line for line in audit_lines(layout.a) if line.get("action") == "purge"]
    for op in PURGES:
        request, name = requests[op]["args"]["request"], requests[op]["args"]["names"][0]
        mine = [line for line in lines if line.get("request") == request]
        complete = [line for line in mine if not line.get("interrupted")]
        interrupted = [line for line in mine if line.get("interrupted")]
        expected_snapshot = sum(1 for r in torture.pristine["snapshot"] if r["name"] == name)
        expected_covers = sum(1 for r in torture.pristine["items"] if r["name"] == name)
        removed_snapshot = sum(int(line.get("datasets", {}).get(snapshot_unit, 0)) for line in mine)
        killed = result.killed and result.victim == op
        if not killed:
            if len(mine) != 1 or len(complete) != 1:
                problems.append(f"audit of root A: {len(mine)} lines ({len(interrupted)} interrupted) for "
                                f"{request}, want one complete line")
                continue
            line = complete[0]
            if int(line.get("datasets", {}).get(covers_unit, 0)) < expected_covers:
                problems.append(f"audit of root A: {request} says {line.get('datasets', {}).get(covers_unit)} rows "
                                f"of covers, at least {expected_covers} were removed")
            if line.get("exports", {}).get(f"file:{layout.a}/exports/covers-tar") != 1:
                problems.append(f"audit of root A: {request} does not count the file removed from the tar export")
        else:
            if not complete or mine[-1].get("interrupted"):
                problems.append(f"audit of root A: the re-run of the killed {request} left no complete last line "
                                f"({len(mine)} lines)")
                continue
            if len(interrupted) > 1:
                problems.append(f"audit of root A: {len(interrupted)} interrupted lines for {request}")
            if len(complete) > 1:
                notes.append(f"audit of root A: {len(complete)} complete lines for the killed {request} "
                             f"(it died after writing its own)")
            line = mine[-1]
        if line.get("remaining") != 0 or line.get("unreachable"):
            problems.append(f"audit of root A: {request}'s last line has remaining={line.get('remaining')} "
                            f"unreachable={line.get('unreachable')}")
        if sum(int(l.get("rows_removed", 0)) for l in mine) <= 0:
            problems.append(f"audit of root A: {request}'s lines count no row removed")
        if removed_snapshot != expected_snapshot:
            problems.append(f"audit of root A: {request}'s lines count {removed_snapshot} rows removed from the "
                            f"snapshot, which held {expected_snapshot} rows of the name "
                            f"({[{k: l.get(k) for k in ('interrupted', 'rows_removed', 'datasets')} for l in mine]})")
    others = [line for line in lines if line.get("request") not in {requests[op]["args"]["request"] for op in PURGES}]
    if others:
        problems.append(f"audit of root A: purge lines of unknown requests: {others}")
    b_lines = [line for line in audit_lines(layout.b) if line.get("action") == "purge"]
    for op in PURGES:
        request = requests[op]["args"]["request"]
        complete = [line for line in b_lines if line.get("request") == request and not line.get("interrupted")]
        if not complete or complete[-1].get("remaining") != 0:
            problems.append(f"audit of root B: no complete line with nothing remaining for {request}")
    for root in (layout.a, layout.b):
        journals = sorted((root / "_audit" / "running").glob("*.json")) if (root / "_audit" / "running").exists() else []
        if journals:
            problems.append(f"journals of purges never logged are left: {[str(j) for j in journals]}")
    expires = [line for line in audit_lines(layout.a) if line.get("action") == "expire"]
    if not any(str(line.get("dataset", "")).endswith("/old") for line in expires):
        problems.append("audit of root A: no expire line for old (its deletion is in no audit log)")
    if len(expires) > 1:
        notes.append(f"audit of root A: {len(expires)} expire lines for old")
    return problems, notes


def check_registry(layout: Layout) -> tuple[list[str], list[str]]:
    """Every copy that is there is registered, complete; an entry naming a copy that is gone is
    noted (garbage the next purge drops), not a failure."""
    problems, notes = [], []
    want = {("dataset", f"file:{layout.a}/covers"), ("snapshot", f"file:{layout.a}/snap"),
            ("export", f"file:{layout.a}/exports/covers-tar"), ("export", f"file:{layout.b}/covers-wds")}
    have = set()
    for root in (layout.a, layout.b):
        for path in sorted((root / "_registry").glob("*.json")):
            try:
                entry = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                problems.append(f"unreadable registry entry {path}")
                continue
            have.add((entry.get("kind"), entry.get("path")))
            if entry.get("state") != "complete" and (entry.get("kind"), entry.get("path")) in want:
                problems.append(f"registry entry {path.name} ({entry.get('kind')} {entry.get('path')}) is "
                                f"{entry.get('state')}")
    if want - have:
        problems.append(f"registries lack {sorted(want - have)}")
    if have - want:
        notes.append(f"registry entries name copies that are gone: {sorted(have - want)}")
    return problems, notes


def check_seed(torture: Torture, layout: Layout, targets: list[str], now: dict,
               result: SeedResult) -> tuple[list[str], list[str]]:
    """Return (problems, notes) of a finished seed."""
    problems: list[str] = []
    hits = scan([layout.a, layout.b], needles_for(torture.pristine, targets))
    for label, where in sorted(hits.items()):
        problems.append(f"raw-byte scan: {label} found in {sorted(set(where))[:5]}")
    problems += check_items(torture.pristine, now, targets)
    for leftover in ("old", "old.expiring"):
        if (layout.a / leftover).exists():
            problems.append(f"the expired data set is still there: {layout.a / leftover}")
    found, noted = check_audit(torture, layout, targets, result)
    problems += found
    problems += check_exports(torture, layout, targets)
    found, registry_notes = check_registry(layout)
    problems += found
    noted += registry_notes
    leftovers = [str(p) for root in (layout.a, layout.b) for p in root.rglob("*")
                 if re.search(r"(\.staging-|\.exporting-|\.replaced-|\.expiring$|\.old$|^_temporary$|^_work$)", p.name)]
    notes = noted + ([f"leftovers of dead runs (garbage the next purge deletes): {leftovers}"] if leftovers else [])
    return problems, notes
