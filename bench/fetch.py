"""Fetch throughput against the two limits that bound any fetcher, plus worker memory with big objects.

Starts a private sandbox (MariaDB + Swift on free loopback ports, in a temp dir), adds N small
synthetic objects and their `filearchive` rows, then measures in the same run:

- the server's capacity: items/s of a plain 32-thread boto3 pool GETting all N objects straight
  from Swift, no added latency;
- s0: service time of a lone GET straight to Swift (mean of 200 sequential GETs on one
  keep-alive client, no added latency), and the latency bound C/(L + s0);
- diagnostics: a lone GET through the proxy with no added latency (the proxy's own cost), and a
  plain C-thread boto3 pool through the proxy at latency L (what a simple fetcher gets here);
- mediaextract: `run_extract` (Spark local[2], output.content=originals, one batch of N) with the
  storage endpoint behind a FaultProxy adding L per request, connection cap C. The fetch phase is
  timed from the proxy's log (first GET start to last GET end); the whole run_extract is timed
  too, split into phases by the times of its progress lines;
- a sequential baseline (one SELECT and one GET per name, as the hand-made process did) on a
  subset, extrapolated to N;
- memory: a mix with big objects (--big-count of --big-mb MB: 3 x 200 MB by default, 2 x 2048 MB
  for issue 12's scenario) fetched by run_extract with output.content=thumbnails, then originals
  (at the default settings: over output.blob_bytes they go to blobs/ in chunks), in a child
  process with a Spark session of its own (an OutOfMemoryError in its JVM must not end the
  benchmark); peak RSS (VmHWM) of the Spark Python workers, read from /proc.

Prints its figures and writes them to <out>/fetch.txt and fetch.json. Never asserts: the targets
(>= 0.8 of the smaller limit; worker peak RSS < 300 MB) are reported as met or missed.

Run: .venv/bin/python bench/fetch.py [--objects 5000] [--latency 0.2] [--connections 8]
     [--skip-memory] [--out bench/results]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "lib")]
# Loopback only: Spark would otherwise bind to the machine's outward address.
os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"

from mediaextract.config import load_settings  # noqa: E402
from mediaextract.digest import hex_to_base36, sha1_base36, storage_key_for  # noqa: E402
from bench.frame import machine_facts, new_sandbox, record_failure, start_run, wind_down, write_results  # noqa: E402
from mediaextract_sandbox import S3_ACCESS_KEY, S3_REGION, S3_SECRET_KEY, Sandbox  # noqa: E402
from mediaextract_sandbox.proxy import FaultProxy  # noqa: E402

TARGET_RATIO = 0.8
TARGET_RSS_MB = 300
S0_REQUESTS = 200
S0_WARMUP = 10
CAPACITY_THREADS = 32
UPLOAD_THREADS = 8  # the all-in-one saturates 2 cores at about this many requests in flight
MB = 1024 * 1024
CHILDREN: list = []  # memory children still running (killed on the way out)


# --- small helpers -------------------------------------------------------------------------------

def make_client(endpoint: str, pool: int):
    """Gives a boto3 S3 client configured like mediaextract's S3Store (no retries, no checksums)."""
    import boto3.session
    from botocore.config import Config

    config = Config(signature_version="s3v4", s3={"addressing_style": "path"},
                    connect_timeout=5, read_timeout=60, max_pool_connections=pool,
                    retries={"total_max_attempts": 1},
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required")
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name=S3_REGION, aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET_KEY, config=config)


def location(sandbox: Sandbox, key: str) -> tuple[str, str]:
    return sandbox.bucket_for(key), sandbox.object_path(key)


def get_bytes(client, sandbox: Sandbox, key: str) -> bytes:
    bucket, path = location(sandbox, key)
    return client.get_object(Bucket=bucket, Key=path)["Body"].read()


# --- data ----------------------------------------------------------------------------------------

class Obj:
    __slots__ = ("name", "key", "sha1", "size", "media_type", "major", "minor", "width", "height")

    def __init__(self, name, key, sha1, size, media_type="BITMAP", major="image", minor="jpeg",
                 width=640, height=480):
        self.name, self.key, self.sha1, self.size = name, key, sha1, size
        self.media_type, self.major, self.minor = media_type, major, minor
        self.width, self.height = width, height


def insert_rows(sandbox: Sandbox, objects: list[Obj]) -> None:
    """Writes one filearchive row per object (latest and only version, not suppressed)."""
    rows = [(o.name.encode(), None, b"deleted", o.key.encode(), 101, b"20240102030405", 1001,
             o.size, o.width, o.height, b"", 8, o.media_type, o.major, o.minor.encode(), 2001, 301,
             b"20200102030405", 0, o.sha1.encode()) for o in objects]
    conn = sandbox.connect_db()
    try:
        with conn.cursor() as cur:
            for start in range(0, len(rows), 1000):
                cur.executemany(
                    "INSERT INTO filearchive (fa_name, fa_archive_name, fa_storage_group, "
                    "fa_storage_key, fa_deleted_user, fa_deleted_timestamp, fa_deleted_reason_id, "
                    "fa_size, fa_width, fa_height, fa_metadata, fa_bits, fa_media_type, "
                    "fa_major_mime, fa_minor_mime, fa_description_id, fa_actor, fa_timestamp, "
                    "fa_deleted, fa_sha1) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                    "%s, %s, %s, %s, %s, %s, %s, %s)", rows[start:start + 1000])
    finally:
        conn.close()


def create_buckets(sandbox: Sandbox, client, keys, pool: ThreadPoolExecutor) -> None:
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    wanted = sorted({sandbox.bucket_for(k) for k in keys} - existing)
    list(pool.map(lambda b: client.create_bucket(Bucket=b), wanted))


def add_small_objects(sandbox: Sandbox, count: int, rng: random.Random) -> list[Obj]:
    """Uploads `count` random 2-20 KB objects and their rows; gives them."""
    client = sandbox.s3_client()
    objects, payloads = [], []
    for i in range(count):
        data = os.urandom(rng.randint(2 * 1024, 20 * 1024))
        name = f"Bench_small_{i:06d}.jpg"
        key = storage_key_for(data, name)
        objects.append(Obj(name, key, sha1_base36(data), len(data)))
        payloads.append(data)
    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        create_buckets(sandbox, client, [o.key for o in objects], pool)

        def put(i):
            bucket, path = location(sandbox, objects[i].key)
            client.put_object(Bucket=bucket, Key=path, Body=payloads[i], ContentType="image/jpeg")

        list(pool.map(put, range(count)))
    insert_rows(sandbox, objects)
    return objects


def add_memory_mix(sandbox: Sandbox, work: Path, big_count: int, big_mb: int,
                   small_count: int, rng: random.Random) -> list[Obj]:
    """Uploads `big_count` random big_mb MB videos and `small_count` real JPEG photos; gives them."""
    from PIL import Image

    client = sandbox.s3_client()
    objects: list[Obj] = []
    sources: list[tuple[Obj, object]] = []
    for i in range(big_count):
        path = work / f"big-{i}.bin"
        hasher = hashlib.sha1()
        with open(path, "wb") as out:
            for _ in range(big_mb):
                chunk = os.urandom(MB)
                hasher.update(chunk)
                out.write(chunk)
        sha1 = hex_to_base36(hasher.hexdigest())
        name = f"Bench_big_{i:02d}.webm"
        obj = Obj(name, f"{sha1}.webm", sha1, big_mb * MB, "VIDEO", "video", "webm", 1920, 1080)
        objects.append(obj)
        sources.append((obj, path))
    for i in range(small_count):
        # A noisy photo-sized JPEG (1600 x 1200), so the thumbnails run decodes and resizes for real.
        base = Image.effect_noise((1600, 1200), 30 + i % 40).convert("RGB")
        tint = Image.new("RGB", base.size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
        image = Image.blend(base, tint, 0.5)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=85)
        data = buffer.getvalue()
        name = f"Bench_photo_{i:03d}.jpg"
        obj = Obj(name, storage_key_for(data, name), sha1_base36(data), len(data),
                  width=image.width, height=image.height)
        objects.append(obj)
        sources.append((obj, data))
    with ThreadPoolExecutor(4) as pool:
        create_buckets(sandbox, client, [o.key for o in objects], pool)

        def put(item):
            obj, source = item
            bucket, path = location(sandbox, obj.key)
            mime = f"{obj.major}/{obj.minor}"
            if isinstance(source, bytes):
                client.put_object(Bucket=bucket, Key=path, Body=source, ContentType=mime)
            else:
                with open(source, "rb") as body:
                    client.put_object(Bucket=bucket, Key=path, Body=body, ContentType=mime)
                os.unlink(source)

        list(pool.map(put, sources))
    insert_rows(sandbox, objects)
    return objects


def write_list(path: Path, objects: list[Obj]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{o.name}\n" for o in objects), encoding="utf-8")
    return str(path)


# --- memory sampling -----------------------------------------------------------------------------

def _status_kb(pid: int) -> dict[str, int]:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmHWM:", "VmRSS:")):
                    name, value = line.split(":", 1)
                    out[name] = int(value.split()[0])
    except OSError:
        pass
    return out


def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def _cpu_s(pid: int) -> float:
    """Gives user + system CPU seconds of a process (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def _machine_cpu_s() -> tuple[float, float]:
    """Gives (busy, total) CPU seconds of the whole host since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return (total - idle) / tick, total / tick


def _category(cmd: str) -> str | None:
    if "org.apache.spark.deploy.SparkSubmit" in cmd:
        return "spark jvm"
    if "pyspark" in cmd and ("daemon" in cmd or "worker" in cmd):
        return "pyspark workers"
    if "swift-" in cmd:
        return "swift"
    if "mariadbd" in cmd or "mysqld" in cmd:
        return "mariadb"
    if "memcached" in cmd:
        return "memcached"
    return None


CPU_CATEGORIES = ("swift", "spark jvm", "pyspark workers", "bench process", "mariadb", "memcached")


class PeakRss(threading.Thread):
    """Samples VmHWM/VmRSS of the Spark JVM and of its Python workers under one process tree.

    Only descendants of `root_pid` are looked at (other Spark jobs on the host are not ours).
    VmHWM is the kernel's high-water mark of a process's RSS, so a sample only has to land before
    the process exits; `reset()` clears the marks (/proc/PID/clear_refs 5) between scenarios.
    A sweep of /proc costs ~9 ms of CPU, hence the slow default interval: on 2 cores, and in the
    process that hosts the proxy, a fast sampler would slow down what it measures.
    """

    def __init__(self, root_pid: int, interval_s: float = 0.5):
        super().__init__(daemon=True, name="peak-rss")
        self.root_pid = root_pid
        self.interval_s = interval_s
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self.peaks: dict[int, dict] = {}
        self.cpu_series: list = []

    def _descendants(self) -> dict[int, int]:
        parents = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                ppid = _ppid(int(entry))
                if ppid is not None:
                    parents[int(entry)] = ppid
        children: dict[int, list[int]] = {}
        for pid, ppid in parents.items():
            children.setdefault(ppid, []).append(pid)
        found, frontier = {}, [self.root_pid]
        while frontier:
            parent = frontier.pop()
            for pid in children.get(parent, ()):
                if pid not in found:
                    found[pid] = parent
                    frontier.append(pid)
        return found

    def _sample_cpu(self, tree: dict[int, int]) -> None:
        per = dict.fromkeys(CPU_CATEGORIES, 0.0)
        per["bench process"] = _cpu_s(self.root_pid)
        for pid in tree:
            category = _category(_cmdline(pid))
            if category:
                per[category] += _cpu_s(pid)
        busy, total = _machine_cpu_s()
        with self._lock:
            self.cpu_series.append((time.monotonic(), per, busy, total))

    def cpu_between(self, start: float, end: float) -> dict:
        """Gives CPU seconds per category, and the host's busy share, between two monotonic times."""
        with self._lock:
            series = list(self.cpu_series)

        def at(moment):
            before = [s for s in series if s[0] <= moment]
            after = [s for s in series if s[0] >= moment]
            if not before or not after:
                return None
            a, b = before[-1], after[0]
            w = 0.0 if b[0] == a[0] else (moment - a[0]) / (b[0] - a[0])
            mix = lambda x, y: x + (y - x) * w  # noqa: E731
            return ({k: mix(a[1][k], b[1][k]) for k in a[1]}, mix(a[2], b[2]), mix(a[3], b[3]))

        first, last = at(start), at(end)
        if first is None or last is None:
            return {}
        per = {k: last[0][k] - first[0][k] for k in first[0]}
        busy, total = last[1] - first[1], last[2] - first[2]
        return {"cpu_s": per, "host_busy_s": busy, "host_cpu_s": total,
                "other_processes_s": max(0.0, busy - sum(per.values()))}

    def _targets(self, tree: dict[int, int] | None = None) -> dict[int, str]:
        tree = self._descendants() if tree is None else tree
        commands = {pid: _cmdline(pid) for pid in tree}
        roles = {}
        for pid, ppid in tree.items():
            cmd = commands[pid]
            if "org.apache.spark.deploy.SparkSubmit" in cmd:
                roles[pid] = "jvm"
            elif "pyspark" in cmd and ("daemon" in cmd or "worker" in cmd):
                parent = commands.get(ppid, "")
                roles[pid] = "worker" if "pyspark" in parent and "daemon" in parent else "daemon"
        return roles

    def sample(self) -> None:
        tree = self._descendants()
        self._sample_cpu(tree)
        for pid, role in self._targets(tree).items():
            kb = _status_kb(pid)
            if not kb:
                continue
            with self._lock:
                peak = self.peaks.setdefault(pid, {"role": role, "hwm_kb": 0, "rss_kb": 0})
                peak["hwm_kb"] = max(peak["hwm_kb"], kb.get("VmHWM", 0))
                peak["rss_kb"] = max(peak["rss_kb"], kb.get("VmRSS", 0))

    def reset(self) -> None:
        for pid in self._targets():
            try:
                with open(f"/proc/{pid}/clear_refs", "w") as f:
                    f.write("5")
            except OSError:
                pass
        with self._lock:
            self.peaks = {}

    def summary(self) -> dict:
        try:
            self.sample()
        except Exception:  # noqa: BLE001 - the tree may be gone already
            pass
        with self._lock:
            peaks = {pid: dict(p) for pid, p in self.peaks.items()}

        def top(role):
            return round(max((p["hwm_kb"] for p in peaks.values() if p["role"] == role), default=0) / 1024, 1)

        return {
            "worker_peak_rss_mb": top("worker"),
            "workers": {str(pid): round(p["hwm_kb"] / 1024, 1)
                        for pid, p in sorted(peaks.items()) if p["role"] == "worker"},
            "daemon_peak_rss_mb": top("daemon"),
            "jvm_peak_rss_mb": top("jvm"),
        }

    def run(self) -> None:
        self.sample()
        while not self._stop_event.wait(self.interval_s):
            try:
                self.sample()
            except Exception:  # noqa: BLE001 - a vanished process mid-read; next sample
                pass

    def stop(self) -> None:
        self._stop_event.set()


# --- measurements --------------------------------------------------------------------------------

def measure_s0(sandbox: Sandbox, objects: list[Obj], rng: random.Random, endpoint: str) -> dict:
    """Gives the time of a lone GET to `endpoint`: sequential, one keep-alive connection."""
    client = make_client(endpoint, 1)
    picks = rng.sample(objects, min(len(objects), S0_REQUESTS + S0_WARMUP))
    times = []
    for i, obj in enumerate(picks):
        started = time.perf_counter()
        get_bytes(client, sandbox, obj.key)
        if i >= S0_WARMUP:
            times.append(time.perf_counter() - started)
    return {"requests": len(times), "mean_s": statistics.fmean(times),
            "median_s": statistics.median(times), "p90_s": sorted(times)[int(0.9 * (len(times) - 1))]}


def measure_capacity(sandbox: Sandbox, objects: list[Obj], rng: random.Random) -> dict:
    """Gives items/s of a plain thread pool GETting every object straight from Swift."""
    client = make_client(f"http://127.0.0.1:{sandbox.swift_port}", CAPACITY_THREADS)
    order = objects[:]
    rng.shuffle(order)
    errors = []

    def get(obj):
        try:
            return len(get_bytes(client, sandbox, obj.key))
        except Exception as error:  # noqa: BLE001 - counted, not fatal
            errors.append(repr(error))
            return 0

    # Warm the pool's connections so connection setup is not in the figure.
    with ThreadPoolExecutor(CAPACITY_THREADS) as pool:
        list(pool.map(get, order[:CAPACITY_THREADS]))
        window = [time.monotonic()]
        started = time.perf_counter()
        total = sum(pool.map(get, order))
        elapsed = time.perf_counter() - started
        window.append(time.monotonic())
    return {"threads": CAPACITY_THREADS, "items": len(order), "seconds": elapsed, "window": window,
            "items_per_s": len(order) / elapsed, "mb_per_s": total / elapsed / 1e6,
            "errors": len(errors), "first_error": errors[0] if errors else None}


def measure_reference_pool(sandbox: Sandbox, proxy: FaultProxy, objects: list[Obj], connections: int,
                           count: int, rng: random.Random) -> dict:
    """Gives items/s of a plain C-thread boto3 pool through the latency proxy: an ideal simple fetcher."""
    client = make_client(proxy.endpoint, connections)
    subset = rng.sample(objects, min(count, len(objects)))
    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(lambda o: get_bytes(client, sandbox, o.key), subset[:connections]))  # warm the pool
        window = [time.monotonic()]
        started = time.perf_counter()
        list(pool.map(lambda o: get_bytes(client, sandbox, o.key), subset))
        elapsed = time.perf_counter() - started
        window.append(time.monotonic())
    gets = [r for r in proxy.log if r.method == "GET"][connections:]
    return {"threads": connections, "items": len(subset), "seconds": elapsed, "window": window,
            "items_per_s": len(subset) / elapsed,
            "mean_get_s_at_proxy": sum(r.end - r.start for r in gets) / max(1, len(gets))}


def measure_sequential(sandbox: Sandbox, proxy: FaultProxy, objects: list[Obj], count: int,
                       rng: random.Random) -> dict:
    """Gives the hand-made process's rate: per name one SELECT (TCP, job's user) and one GET via the proxy."""
    subset = rng.sample(objects, min(count, len(objects)))
    client = make_client(proxy.endpoint, 1)
    conn = sandbox.connect_jdbc_user()
    bad = 0
    try:
        with conn.cursor() as cur:
            started = time.perf_counter()
            for obj in subset:
                cur.execute("SELECT fa_storage_key, fa_sha1, fa_size FROM filearchive WHERE fa_name = %s "
                            "ORDER BY fa_deleted_timestamp DESC LIMIT 1", (obj.name.encode(),))
                key, sha1, _ = cur.fetchone()
                data = get_bytes(client, sandbox, key.decode())
                bad += sha1_base36(data) != sha1.decode()
            elapsed = time.perf_counter() - started
    finally:
        conn.close()
    rate = len(subset) / elapsed
    return {"names": len(subset), "seconds": elapsed, "items_per_s": rate,
            "extrapolated_s_for_all": len(objects) / rate, "sha1_mismatches": bad}


def extract_settings(sandbox: Sandbox, endpoint: str, content: str, connections: int,
                     batch_rows: int, output_root: Path):
    overrides = {**sandbox.settings(), "storage.endpoint": endpoint, "catalog.partitions": 2,
                 "output.content": content, "output.root": str(output_root),
                 "fetch.connections_per_executor": connections, "fetch.max_connections": connections,
                 "fetch.batch_rows": batch_rows}
    return load_settings(None, overrides=overrides, environ={})


def run_job(spark, settings, list_path: str, output: Path) -> tuple[dict, float, list[tuple[float, str]]]:
    """Runs run_extract; gives (report, wall seconds, its progress lines with time.monotonic())."""
    from mediaextract.extract import run_extract

    lines = []

    def say(line: str) -> None:
        if line.startswith(("extract ", "batch ")):
            lines.append((time.monotonic(), line))
            print(f"    | {line}", flush=True)

    started = time.perf_counter()
    built = run_extract(spark, settings, [list_path], str(output), out=say)
    return built, time.perf_counter() - started, lines


def statuses_of(built: dict) -> dict:
    totals = built.get("totals", {})
    return {k: v for k, v in totals.items()
            if isinstance(v, int) and v and k not in ("requested", "found", "bytes_found", "bytes_ok")}


def measure_extract(spark, sandbox: Sandbox, proxy: FaultProxy, list_path: str, args,
                    work: Path, sampler: PeakRss | None) -> dict:
    settings = extract_settings(sandbox, proxy.endpoint, "originals", args.connections,
                                max(args.objects, 1), work / "out")
    if sampler:
        sampler.reset()
    proxy.reset_stats()
    run_started = time.monotonic()
    built, wall, lines = run_job(spark, settings, list_path, work / "out" / "main")
    run_ended = time.monotonic()
    gets = [r for r in proxy.log if r.method == "GET"]
    ok_gets = [r for r in gets if r.status == 200]
    first_start = min(r.start for r in gets)
    last_end = max(r.end for r in gets)
    window = last_end - first_start
    busy = sum(r.end - r.start for r in gets)
    ends = sorted(r.end for r in gets)
    lo, hi = ends[int(0.05 * (len(ends) - 1))], ends[int(0.95 * (len(ends) - 1))]
    steady = (int(0.95 * (len(ends) - 1)) - int(0.05 * (len(ends) - 1))) / (hi - lo) if hi > lo else 0.0
    planned_at = next((t for t, line in lines if line.startswith("extract ")), first_start)
    batch_done_at = max((t for t, line in lines if line.startswith("batch ")), default=last_end)
    phases = {
        "plan: lists, catalog over JDBC, preflight, write planned, counts": planned_at - run_started,
        "batch start: read planned, repartition, start Python workers": first_start - planned_at,
        "fetch window: first GET start to last GET end": window,
        "batch end: write Parquet, commit, batch stats": batch_done_at - last_end,
        "finalize: previous results, final items, report, permissions": run_ended - batch_done_at,
    }
    return {
        "window": [first_start, last_end],
        "phases_s": phases,
        "settings": {"output.content": "originals", "fetch.connections_per_executor": args.connections,
                     "fetch.max_connections": args.connections, "fetch.batch_rows": max(args.objects, 1),
                     "master": "local[2]"},
        "progress": [line for _, line in lines],
        "statuses": statuses_of(built),
        "gets": len(gets), "gets_ok": len(ok_gets),
        "fetch_window_s": window, "fetch_items_per_s": len(ok_gets) / window,
        "steady_items_per_s": steady,
        "wall_s": wall, "wall_items_per_s": len(ok_gets) / wall,
        "before_first_get_s": first_start - run_started, "after_last_get_s": run_ended - last_end,
        "mean_get_s_at_proxy": busy / len(gets), "mean_in_flight": busy / window,
        "peak_in_flight": proxy.peak_in_flight, "proxy_requests": proxy.total_requests,
        "proxy_statuses": {str(k): v for k, v in sorted(proxy.status_counts.items())},
        "proxy_errors": list(proxy.errors),
        "memory": sampler.summary() if sampler else None,
    }


def measure_memory(sandbox: Sandbox, list_path: str, args, work: Path, contents: list[str],
                   mix_bytes: int) -> list[dict]:
    """Runs run_extract on the mix once per output.content, in a child process; gives one dict per run.

    A child, because a JVM that dies of OutOfMemoryError takes its Spark session with it. The
    child samples its own process tree (JVM, PySpark daemon, workers) and resets the marks
    between runs, so each figure belongs to one run even though workers are reused.
    """
    spec = {"settings": {**sandbox.settings(), "catalog.partitions": 2, "output.root": str(work / "out"),
                         "fetch.connections_per_executor": args.connections,
                         "fetch.max_connections": args.connections, "fetch.batch_rows": 100_000},
            "contents": contents, "list": list_path, "output": str(work / "out" / "memory")}
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--memory-child", json.dumps(spec)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    CHILDREN.append(proc)
    runs: list[dict] = []
    jvm_errors: list[str] = []
    tail: list[str] = []  # the child's last lines: why a run failed, or why it ended early
    try:
        for line in proc.stdout:
            if line.startswith("RESULT "):
                run = json.loads(line[len("RESULT "):])
                if run.get("error"):
                    run["child_tail"] = [t for t in tail if "WARN" not in t][-40:]
                tail = []
                if jvm_errors:
                    run["jvm_errors"] = jvm_errors
                    jvm_errors = []
                if "wall_s" in run:
                    run["mb_per_s"] = mix_bytes / run["wall_s"] / 1e6
                runs.append(run)
                print(f"    peak worker RSS {run['worker_peak_rss_mb']:.0f} MB", flush=True)
            elif line.startswith(("    | ", "memory: ")):
                print(line, end="", flush=True)
            elif "OutOfMemoryError" in line and len(jvm_errors) < 3:
                jvm_errors.append(line.strip()[:200])
            if not line.startswith("RESULT "):
                tail = [*tail[-199:], line.rstrip()]
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        CHILDREN.remove(proc)
    done = {run["content"] for run in runs}
    for content in contents:
        if content not in done:
            runs.append({"content": content, "error": f"not run: the child exited ({proc.returncode}) before it",
                         "worker_peak_rss_mb": 0, "workers": {}, "jvm_peak_rss_mb": 0,
                         "child_tail": [line for line in tail if "WARN" not in line][-15:]})
    return runs


def memory_child(spec_json: str) -> int:
    """The child of measure_memory: run_extract per content in one Spark session; prints RESULT json lines."""
    from mediaextract.session import build_session

    spec = json.loads(spec_json)
    sampler = PeakRss(os.getpid())
    sampler.start()
    spark = None
    for content in spec["contents"]:
        print(f"memory: run_extract output.content={content}", flush=True)
        settings = load_settings(None, overrides={**spec["settings"], "output.content": content}, environ={})
        result: dict = {"content": content}
        try:
            if spark is None:
                spark = build_session(settings, "mediaextract-bench-memory", master="local[2]")
            sampler.reset()
            started = time.monotonic()
            built, wall, lines = run_job(spark, settings, spec["list"], Path(f"{spec['output']}-{content}"))
            marks = [started] + [t for t, _ in lines] + [started + wall]
            names = ["plan", "fetch batch", "finalize"]
            result.update(statuses=statuses_of(built), wall_s=wall, progress=[line for _, line in lines],
                          phases_s={names[i] if i < len(names) else f"phase {i}": marks[i + 1] - marks[i]
                                    for i in range(len(marks) - 1)})
        except Exception as error:  # noqa: BLE001 - an OOM is a figure too
            result["error"] = f"{type(error).__name__}: {(str(error).splitlines() or [''])[0][:300]}"
        result.update(sampler.summary())
        print("RESULT " + json.dumps(result), flush=True)
        if "error" in result:
            break  # the JVM may be gone
    sampler.stop()
    try:
        if spark is not None:
            spark.stop()
    except Exception:  # noqa: BLE001 - the JVM may be dead already
        pass
    sys.stdout.flush()
    os._exit(0)


# --- report --------------------------------------------------------------------------------------

def fmt_rate(x: float) -> str:
    return f"{x:.1f} items/s"


def cpu_line(part: dict, items: int) -> str | None:
    cpu = part.get("cpu")
    if not cpu:
        return None
    shown = [(k, v) for k, v in cpu["cpu_s"].items() if v * 1000 / items >= 0.05]
    shown.append(("other processes on the host", cpu["other_processes_s"]))
    busy = cpu["host_busy_s"] / cpu["host_cpu_s"] if cpu["host_cpu_s"] else 0
    return ("CPU ms per item: " + ", ".join(f"{k} {v * 1000 / items:.1f}" for k, v in shown)
            + f"; host busy {busy:.0%}")


def build_text(r: dict) -> list[str]:
    cfg = r["config"]
    L, C = cfg["latency_s"], cfg["connections"]
    s0, cap, lim = r["s0"], r["capacity"], r["limits"]
    out = []
    add = out.append
    add(f"mediaextract fetch benchmark - {r['started']}")
    add(f"machine: {r['machine']['cpus']} CPUs, {r['machine']['platform']}; load average before: "
        f"{r['machine']['loadavg_before']}, after: {r['machine'].get('loadavg_after', '?')}")
    add(f"workload: N={cfg['objects']} small objects (2-20 KB random bytes, {r['data']['small_mb']:.1f} MB), "
        f"latency L={L * 1000:.0f} ms added per request by the proxy, connection cap C={C}")
    add(f"setup: sandbox up {r['timings']['sandbox_up_s']:.1f} s, seed {r['timings']['seed_s']:.1f} s, "
        f"upload {cfg['objects']} objects + rows {r['timings']['upload_s']:.1f} s, "
        f"Spark session {r['timings']['spark_start_s']:.1f} s; whole benchmark {r['timings']['total_s']:.0f} s")
    add("load average (1 min) before each measurement: "
        + ", ".join(f"{k} {v}" for k, v in r.get("load_1min", {}).items())
        + " (other jobs on this host share its 2 cores)")
    add("")
    add("limits (measured in this run, straight to Swift, no added latency)")
    add(f"  s0: lone GET, {s0['requests']} sequential, one keep-alive client   mean {s0['mean_s'] * 1000:.1f} ms, "
        f"median {s0['median_s'] * 1000:.1f} ms, p90 {s0['p90_s'] * 1000:.1f} ms")
    add(f"  latency bound C/(L+s0) = {C}/({L:.3f}+{s0['mean_s']:.4f})            {fmt_rate(lim['latency_bound'])}")
    add(f"  server capacity: {cap['threads']}-thread boto3 pool, all {cap['items']} objects   "
        f"{fmt_rate(cap['items_per_s'])} ({cap['seconds']:.1f} s, {cap['errors']} errors)")
    line = cpu_line(cap, cap["items"])
    if line:
        add(f"    {line}")
    add(f"  smaller limit                                               {fmt_rate(lim['smaller'])} ({lim['which']})")
    if r.get("reference_pool"):
        ref = r["reference_pool"]
        add(f"  (diagnostic) plain {ref['threads']}-thread boto3 pool via the proxy, {ref['items']} objects  "
            f"{fmt_rate(ref['items_per_s'])} (ratio {ref['ratio']:.2f}; mean GET at proxy "
            f"{ref['mean_get_s_at_proxy'] * 1000:.0f} ms): a simple fetcher at the same L and C")
        line = cpu_line(ref, ref["items"])
        if line:
            add(f"    {line}")
    if r.get("s0_via_proxy"):
        sp = r["s0_via_proxy"]
        add(f"  (diagnostic) lone GET through the proxy, L=0               mean {sp['mean_s'] * 1000:.1f} ms, "
            f"median {sp['median_s'] * 1000:.1f} ms: the proxy's own cost, not in the bound")
    add("")
    m = r.get("mediaextract")
    if m:
        add(f"mediaextract run_extract (local[2], output.content=originals, batch_rows={m['settings']['fetch.batch_rows']}, "
            f"proxy L={L * 1000:.0f} ms)")
        add(f"  fetch phase (first GET start -> last GET end, proxy log)     {m['gets_ok']} GETs ok in "
            f"{m['fetch_window_s']:.1f} s = {fmt_rate(m['fetch_items_per_s'])}")
        add(f"  ratio to the smaller limit                                  {m['ratio']:.2f}  "
            f"(target >= {TARGET_RATIO}: {'met' if m['ratio'] >= TARGET_RATIO else 'MISSED'})")
        add(f"  steady state (5%..95% of completions)                       {fmt_rate(m['steady_items_per_s'])} "
            f"(ratio {m['steady_items_per_s'] / lim['smaller']:.2f})")
        add(f"  whole run_extract wall time                                 {m['wall_s']:.1f} s = "
            f"{fmt_rate(m['wall_items_per_s'])} (ratio {m['wall_ratio']:.2f})")
        for phase, seconds in m["phases_s"].items():
            add(f"    {phase:<66} {seconds:6.1f} s")
        line = cpu_line(m, m["gets"])
        if line:
            add(f"  fetch window {line}")
        add(f"  peak requests in flight at the proxy                        {m['peak_in_flight']} "
            f"(cap {C}: {'held' if m['peak_in_flight'] <= C else 'EXCEEDED'})")
        add(f"  mean GET time at the proxy (incl. L) / mean in flight       {m['mean_get_s_at_proxy'] * 1000:.1f} ms / "
            f"{m['mean_in_flight']:.2f} of {C}")
        if r.get("reference_pool"):
            add(f"  vs the plain {C}-thread pool at the same L and C              "
                f"{m['fetch_items_per_s'] / r['reference_pool']['items_per_s']:.2f}")
        add(f"  statuses                                                    "
            + ", ".join(f"{k} {v}" for k, v in m["statuses"].items()))
        if m.get("memory"):
            add(f"  peak RSS: Python worker {m['memory']['worker_peak_rss_mb']:.0f} MB, "
                f"Spark JVM {m['memory']['jvm_peak_rss_mb']:.0f} MB")
        add("")
    seq = r.get("sequential")
    if seq:
        add(f"sequential baseline (per name: one SELECT over TCP, one GET via the proxy; {seq['names']} of "
            f"{cfg['objects']} names, extrapolated)")
        add(f"  {fmt_rate(seq['items_per_s'])} ({seq['seconds']:.1f} s for {seq['names']}) -> "
            f"{seq['extrapolated_s_for_all']:.0f} s for all {cfg['objects']} (extrapolated)")
        if m:
            add(f"  mediaextract vs sequential: {m['fetch_items_per_s'] / seq['items_per_s']:.1f}x "
                f"(fetch phase), {m['wall_items_per_s'] / seq['items_per_s']:.1f}x (whole run)")
        add("  (the SELECT gets no added latency: the catalog is local; a remote one flatters mediaextract more)")
        add("")
    mem = r.get("memory")
    if mem:
        mix = mem["mix"]
        add(f"memory: {mix['big_count']} x {mix['big_mb']} MB random video/webm + {mix['small_count']} JPEG photos "
            f"1600x1200 ({mix['total_mb']:.0f} MB), straight to Swift, C={C}")
        for run in mem["runs"]:
            peak = run["worker_peak_rss_mb"]
            if not peak:
                verdict = "not measured"
            elif peak >= TARGET_RSS_MB:
                verdict = "MISSED"
            else:
                verdict = "met" if not run.get("error") else "met until the run failed"
            add(f"  output.content={run['content']:<10}  peak RSS of a Python worker {peak:.0f} MB "
                f"(target < {TARGET_RSS_MB} MB: {verdict}); Spark JVM {run['jvm_peak_rss_mb']:.0f} MB")
            if run.get("error"):
                add(f"      run FAILED: {run['error']}")
                for line in run.get("child_tail", []):
                    add(f"      child: {line[:200]}")
                for line in run.get("jvm_errors", [])[:1]:
                    add(f"      JVM: {line}")
            else:
                add(f"      {run['wall_s']:.1f} s ({run['mb_per_s']:.1f} MB/s; "
                    + ", ".join(f"{k} {v:.1f} s" for k, v in run.get("phases_s", {}).items()) + "); "
                    + ", ".join(f"{k} {v}" for k, v in run["statuses"].items()))
            add("      per worker process: " + (", ".join(f"{v:.0f} MB" for v in run["workers"].values()) or "none seen"))
        for note in mem.get("notes", []):
            add(f"  note: {note}")
        add("")
    return out


def memory_notes(runs: list[dict], big_mb: int) -> list[str]:
    notes = []
    for run in runs:
        if run.get("jvm_errors"):
            notes.append(
                f"{run['content']}: the Spark JVM (local[2], default 1 GB heap) ran out of heap with {big_mb} MB "
                "objects; the worker figure is the peak until the JVM died.")
        if run.get("error"):
            notes.append(f"{run['content']}: {run['error']}")
        if run["worker_peak_rss_mb"] >= TARGET_RSS_MB:
            notes.append(f"{run['content']}: a Python worker peaked at {run['worker_peak_rss_mb']:.0f} MB, over the "
                         f"{TARGET_RSS_MB} MB target.")
    return notes


# --- main ----------------------------------------------------------------------------------------

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=5000, help="small objects (N)")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds added per request (L)")
    parser.add_argument("--connections", type=int, default=8, help="connection cap (C)")
    parser.add_argument("--sequential-names", type=int, default=100,
                        help="names for the sequential baseline (extrapolated to N)")
    parser.add_argument("--reference-objects", type=int, default=1000,
                        help="objects for the plain C-thread pool through the proxy (0: skip)")
    parser.add_argument("--skip-memory", action="store_true", help="skip the big-object memory scenario")
    parser.add_argument("--big-count", type=int, default=3)
    parser.add_argument("--big-mb", type=int, default=200)
    parser.add_argument("--small-count", type=int, default=50, help="photos in the memory mix")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=str(REPO / "bench" / "results"), help="where fetch.txt/json go")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)  # internal: see measure_memory
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.memory_child:
        return memory_child(args.memory_child)
    rng = random.Random(args.seed)
    out_dir, root = start_run(args.out, "mxfetch-")
    # Everything else temporary (spool files, the run's slot locks, Spark's local dirs) goes
    # under root too, so one rmtree removes all of it.
    tmp = root / "tmp"
    tmp.mkdir()
    os.environ["TMPDIR"] = str(tmp)
    tempfile.tempdir = str(tmp)
    os.environ["PYSPARK_SUBMIT_ARGS"] = (f"--conf spark.local.dir={tmp} --conf spark.ui.enabled=false "
                                         "pyspark-shell")
    results: dict = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": {"objects": args.objects, "latency_s": args.latency, "connections": args.connections,
                   "sequential_names": args.sequential_names, "reference_objects": args.reference_objects,
                   "big_count": args.big_count, "big_mb": args.big_mb, "small_count": args.small_count,
                   "skip_memory": args.skip_memory, "seed": args.seed},
        "machine": machine_facts(),
        "timings": {},
        "load_1min": {},
    }

    def note_load(phase: str) -> None:
        results["load_1min"][phase] = round(os.getloadavg()[0], 2)

    sandbox = spark = proxy = sampler = None
    code = 0
    bench_started = time.perf_counter()
    try:
        sandbox = new_sandbox(root)
        t = time.perf_counter()
        sandbox.up()
        results["timings"]["sandbox_up_s"] = time.perf_counter() - t
        t = time.perf_counter()
        sandbox.seed()
        results["timings"]["seed_s"] = time.perf_counter() - t
        # Peak RSS of Spark's processes and CPU per process kind, for the whole run.
        sampler = PeakRss(os.getpid())
        sampler.start()
        print(f"sandbox up ({results['timings']['sandbox_up_s']:.1f} s) and seeded "
              f"({results['timings']['seed_s']:.1f} s) in {root}", flush=True)

        t = time.perf_counter()
        objects = add_small_objects(sandbox, args.objects, rng)
        results["timings"]["upload_s"] = time.perf_counter() - t
        results["data"] = {"small_mb": sum(o.size for o in objects) / 1e6}
        list_path = write_list(root / "lists" / "bench.txt", objects)
        print(f"uploaded {len(objects)} objects and rows ({results['timings']['upload_s']:.1f} s)", flush=True)

        note_load("before capacity")
        cap = measure_capacity(sandbox, objects, rng)
        results["capacity"] = cap
        print(f"capacity: {fmt_rate(cap['items_per_s'])}", flush=True)
        s0 = measure_s0(sandbox, objects, rng, f"http://127.0.0.1:{sandbox.swift_port}")
        results["s0"] = s0
        latency_bound = args.connections / (args.latency + s0["mean_s"])
        smaller = min(latency_bound, cap["items_per_s"])
        results["limits"] = {"latency_bound": latency_bound, "capacity": cap["items_per_s"],
                             "smaller": smaller,
                             "which": "latency bound" if latency_bound <= cap["items_per_s"] else "server capacity"}
        print(f"s0: {s0['mean_s'] * 1000:.1f} ms mean -> latency bound {fmt_rate(latency_bound)}", flush=True)

        from mediaextract.session import build_session

        t = time.perf_counter()
        spark = build_session(load_settings(None, overrides=sandbox.settings(), environ={}),
                              "mediaextract-bench-fetch", master="local[2]")
        results["timings"]["spark_start_s"] = time.perf_counter() - t

        proxy = FaultProxy("127.0.0.1", sandbox.swift_port, latency_s=0.0).start()
        # Diagnostic: what the proxy itself adds to a lone request (not part of the bound).
        results["s0_via_proxy"] = measure_s0(sandbox, objects, rng, proxy.endpoint)
        proxy.latency_s = args.latency
        if args.reference_objects:
            note_load("before reference pool")
            proxy.reset_stats()
            ref = measure_reference_pool(sandbox, proxy, objects, args.connections, args.reference_objects, rng)
            ref["ratio"] = ref["items_per_s"] / smaller
            results["reference_pool"] = ref
            print(f"reference pool ({args.connections} threads via the proxy): {fmt_rate(ref['items_per_s'])}", flush=True)
        note_load("before mediaextract")
        print(f"mediaextract: run_extract through the proxy (L={args.latency} s, C={args.connections})", flush=True)
        m = measure_extract(spark, sandbox, proxy, list_path, args, root, sampler)
        m["ratio"] = m["fetch_items_per_s"] / smaller
        m["wall_ratio"] = m["wall_items_per_s"] / smaller
        results["mediaextract"] = m

        print(f"sequential baseline: {min(args.sequential_names, len(objects))} names", flush=True)
        proxy.reset_stats()
        note_load("before sequential")
        results["sequential"] = measure_sequential(sandbox, proxy, objects, args.sequential_names, rng)
        for part in ("capacity", "reference_pool", "mediaextract"):
            if results.get(part):
                window = results[part]["window"]
                results[part]["cpu"] = sampler.cpu_between(window[0], window[1])
        # The memory runs start Spark sessions of their own: free this one's cores and memory.
        sampler.stop()
        spark.stop()
        spark = None

        if not args.skip_memory:
            work = root / "big"
            work.mkdir()
            t = time.perf_counter()
            mix = add_memory_mix(sandbox, work, args.big_count, args.big_mb, args.small_count, rng)
            mix_bytes = sum(o.size for o in mix)
            mem_list = write_list(root / "lists" / "memory.txt", mix)
            print(f"memory mix uploaded ({time.perf_counter() - t:.1f} s)", flush=True)
            note_load("before memory")
            # thumbnails first: an originals run may kill its JVM (heap), ending the child.
            runs = measure_memory(sandbox, mem_list, args, root, ["thumbnails", "originals"], mix_bytes)
            results["memory"] = {"mix": {"big_count": args.big_count, "big_mb": args.big_mb,
                                         "small_count": args.small_count, "total_mb": mix_bytes / 1e6},
                                 "runs": runs, "notes": memory_notes(runs, args.big_mb)}
    except BaseException as error:
        code = record_failure(results, error)
    finally:
        for child in list(CHILDREN):
            try:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait(timeout=30)
            except Exception:  # noqa: BLE001 - already gone
                pass
        wind_down(results, bench_started, (lambda: sampler and sampler.stop(), lambda: proxy and proxy.close(),
                                           lambda: spark and spark.stop(), lambda: sandbox and sandbox.down()))
        shutil.rmtree(root, ignore_errors=True)

    try:
        text = build_text(results)
    except Exception:  # noqa: BLE001 - a partial run still writes its JSON
        traceback.print_exc()
        text = ["(run incomplete: see fetch.json)"]
    if results.get("error"):
        text.append(f"RUN FAILED: {results['error']}")
    write_results(out_dir, "fetch", text, results)
    return code


if __name__ == "__main__":
    sys.exit(main())
