"""`plan` end to end against the plain Spark JDBC join of the same names, at two list sizes.

Starts a private MariaDB (the sandbox's, on a free loopback port, in a temp dir, its buffer pool
raised to 1 GB; Swift is stopped at once: plan reads no storage), fills `filearchive` by LOAD
DATA with R generated rows (default 1,000,000: realistic Unicode names, about 5% of rows older
versions of a name, about 4% suppressed, fa_deleted = 15) and writes L names (default 600,000) into 5 list files as people
write them (spaces or underscores, some with `File:`), about 95% of them present, a few
repeated. Then, alternating, each in a fresh process started the way a user starts it:

- plan: `./spark-submit.sh --master local[2] plan --conf <the sandbox's settings> <5 lists>`;
- the plain join: a standalone PySpark script (this file, --baseline-child) through the same
  spark-submit, master, driver memory, JDBC jar and settings (partitions, bounds, fetch size):
  spark.read.text of the 5 lists, `File:` cut and spaces made underscores, cast to binary; a
  partitioned JDBC read of filearchive (fa_id between the table's MIN and MAX, as plan reads it);
  an inner join on the binary name; count.

Each run is timed as a whole (process start to exit) and its process tree sampled every 0.2 s
for VmHWM: the driver is the Spark JVM plus the Python driver, the workers are the PySpark
worker processes (if any start). The same is done again at 4x the names (the 1x lists plus 3x
more lines each; filearchive stays at R rows, so a present name is then on more lists). Spark's
event log of every run (on for both sides alike) splits a run into launch, Spark SQL queries,
driver work between them and stage time by kind (JDBC read, PySpark workers, list files,
shuffles), and gives the driver JVM's heap peak and GC time.

With --labels, a third side runs in the same alternation: what extract does with the plan before
it fetches (this file, --labels-child, through the same spark-submit): plan the lists, look up
the labels of the found rows (labels.attach: comment texts by id, live files by sha1, in the
executors) and write the labelled plan as Parquet. Its driver's peak RSS at 4x against 1x says
whether the label keys pass through the driver.

Prints its figures and writes them to <out>/plan.txt and plan.json. Never asserts: the targets
(plan <= 1.2x the plain join at 1x; the driver's peak RSS at 4x within 1.2x of that at 1x;
time linear in names, i.e. t(4x) <= 4 t(1x): no negative fixed part) are reported as met or missed.

Run: .venv/bin/python bench/plan.py [--rows 1000000] [--names 600000] [--repeat 2] [--labels]
     [--out bench/results] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "lib"), str(REPO), str(REPO / "dev")]

from bench.frame import machine_facts, new_sandbox, record_failure, start_run, wind_down, write_results  # noqa: E402

TARGET_TIME_RATIO = 1.2      # plan / plain join at 1x
TARGET_RSS_RATIO = 1.2       # driver peak RSS at 4x / at 1x
NAMES_FACTOR = 4             # the second point
LISTS = ("copyvio", "no_source", "no_permission", "out_of_scope", "duplicates")
OLD_VERSION_SHARE = 0.05     # of the rows: older versions of a name deleted with it
SUPPRESSED_SHARE = 0.04      # of the names (so about as much of the rows): fa_deleted = 15
PRESENT_SHARE = 0.95         # of the list lines: names with a filearchive row
DUPLICATE_SHARE = 0.002      # of the list lines: a name already on the same list
SAMPLE_S = 0.2
MB = 1024 * 1024
# The sandbox's 64 MB buffer pool is made for a few seed rows: a catalog replica keeps its hot
# table in memory, and with 64 MB the load (five secondary indexes) crawls.
BUFFER_POOL_BYTES = 1 << 30
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
SPARK_SUBMIT = REPO / ".venv" / "bin" / "spark-submit"
JDBC_JAR = "/usr/share/java/mariadb-java-client.jar"
CHILDREN: list[subprocess.Popen] = []  # runs in progress (killed on the way out)


# --- names ---------------------------------------------------------------------------------------

ASCII_WORDS = (
    "Church", "Bridge", "River", "Castle", "Station", "Portrait", "Map", "Logo", "Flag", "Street",
    "Market", "Harbour", "Mountain", "Lake", "Tower", "Museum", "Garden", "Library", "School",
    "Festival", "Train", "Tram", "Bus", "Airport", "Beach", "Forest", "Village", "Old", "New",
    "North", "South", "Main", "Saint", "Royal", "National", "Park", "View", "Panorama", "Interior",
    "Facade", "Detail", "Statue", "Monument", "Fountain", "Cathedral", "Temple", "Mosque", "Palace",
    "House", "Farm", "Mill", "Lighthouse", "Dam", "Canal", "Road", "Square", "Hall", "Gate",
    "Wall", "Window", "Album", "Cover", "Poster", "Screenshot", "Diagram", "Chart", "Coat_of_arms",
    "Signature", "Book", "Page", "Scan", "Photo", "Game", "Team", "Match", "Concert", "Band",
)
LATIN_WORDS = (
    "Église", "Château", "Zürich", "São_Paulo", "Kraków", "Łódź", "Ærøskøbing", "Málaga",
    "Göteborg", "Dvořák", "Škoda", "Çanakkale", "Ñandú", "Øresund", "Bucureşti", "Reykjavík",
    "Île-de-France", "Straße", "Façade", "Crème_brûlée", "Ålesund", "Hà_Nội", "Kōbe", "Düsseldorf",
)
CJK_WORDS = ("東京", "北京", "大阪城", "富士山", "寺院", "風景", "서울", "한국어", "京都", "桜", "長城", "上海駅")
OTHER_WORDS = ("Москва", "Київ", "Αθήνα", "القاهرة", "ירושלים", "भारत", "ไทย", "Ереван", "Тбилиси")
EMOJI = ("🌸", "🐱", "🎉", "😀", "🚂", "🌍", "🏰", "📷")
# (extension, weight, media type, major, minor, bits)
EXTENSIONS = (
    ("jpg", 60, "BITMAP", "image", "jpeg", 8),
    ("png", 15, "BITMAP", "image", "png", 8),
    ("svg", 10, "DRAWING", "image", "svg+xml", 0),
    ("pdf", 8, "OFFICE", "application", "pdf", 0),
    ("webm", 7, "VIDEO", "video", "webm", 0),
)
BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
# A sha1 in base 36 is 31 digits; a first digit below 29 ('t') keeps it under 2^160, so
# sha1_hex (which plan computes for every found row) has a real value to compute.
SHA1_FIRST = BASE36[:29]
BASE36_TABLE = bytes(ord(BASE36[i % 36]) for i in range(256))


class NameMaker:
    """Makes file names already in DB-key form (underscores, first letter upper-case, no
    character MediaWiki refuses), so normalize_title gives them back unchanged."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.exts = [e[0] for e in EXTENSIONS]
        self.weights = [e[1] for e in EXTENSIONS]

    def __call__(self) -> str:
        r, pick = self.rng.random(), self.rng.choice
        year, n = self.rng.randint(1880, 2025), self.rng.randint(1, 9999)
        if r < 0.35:
            stem = f"{pick(ASCII_WORDS)}_{pick(ASCII_WORDS).lower()}_{year}"
        elif r < 0.45:
            stem = f"IMG_{year}{self.rng.randint(101, 1231):04d}_{self.rng.randint(0, 235959):06d}"
        elif r < 0.60:
            stem = f"{pick(LATIN_WORDS)}_-_{pick(ASCII_WORDS)}_({n})"
        elif r < 0.70:
            stem = f"{pick(CJK_WORDS)}{pick(CJK_WORDS)}_{n}"
        elif r < 0.80:
            stem = f"{pick(OTHER_WORDS)}_{pick(ASCII_WORDS).lower()}_{year}"
        elif r < 0.85:
            stem = f"{pick(ASCII_WORDS)}_{pick(EMOJI)}_{n}"
        else:
            stem = f"{pick(ASCII_WORDS)}_of_{pick(LATIN_WORDS)}_-_{pick(CJK_WORDS)}_{year}_{n}"
        return f"{stem}.{self.rng.choices(self.exts, self.weights)[0]}"


def unique_names(make: NameMaker, count: int, taken: set[str]) -> list[str]:
    """Gives `count` new names not in `taken` (added to it); a clash gets a number, as uploaders do."""
    out = []
    while len(out) < count:
        name = make()
        if name in taken:
            stem, ext = name.rsplit(".", 1)
            k = 2
            while f"{stem}_({k}).{ext}" in taken:
                k += 1
            name = f"{stem}_({k}).{ext}"
        taken.add(name)
        out.append(name)
    return out


def check_names(names: list[str], rng: random.Random) -> None:
    """Raises when a sample of generated names is not in DB-key form (the lists would not match)."""
    from mediaextract.names import normalize_title

    for name in rng.sample(names, min(len(names), 2000)):
        if normalize_title(name).key != name:
            raise RuntimeError(f"generated name {name!r} is not a DB key ({normalize_title(name)})")


# --- the catalog ---------------------------------------------------------------------------------

# (comment_id, text): the few texts every row points at (production stores each text once).
REASONS = ((1, "Copyright violation: https://example.org/photo"), (2, "No source since 1 May 2024"),
           (3, "No permission since 2 June 2024"), (4, "Out of project scope"),
           (5, "Duplicate of [[File:Example.jpg]]"), (6, ""))
DESCRIPTIONS = ((11, "Own work"), (12, "Photo taken on holiday"), (13, "{{Information|description=Scan}}"),
                (14, "Uploaded with UploadWizard"))
FA_COLUMNS = ("fa_id", "fa_name", "fa_archive_name", "fa_storage_group", "fa_storage_key", "fa_deleted_user",
              "fa_deleted_timestamp", "fa_deleted_reason_id", "fa_size", "fa_width", "fa_height", "fa_metadata",
              "fa_bits", "fa_media_type", "fa_major_mime", "fa_minor_mime", "fa_description_id", "fa_actor",
              "fa_timestamp", "fa_deleted", "fa_sha1")
DELETED_FROM = 1262304000    # 2010-01-01: fa_id grows with the deletion time, as in MediaWiki
DELETED_UNTIL = 1735689600   # 2025-01-01


def stamp(t: float) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(t))


def sha1_base36(rng: random.Random) -> str:
    raw = rng.randbytes(31)
    return SHA1_FIRST[raw[0] % 29] + raw[1:].translate(BASE36_TABLE).decode()


def write_catalog_tsv(path: Path, rows: int, rng: random.Random) -> dict:
    """Writes `rows` filearchive rows as a TSV for LOAD DATA; gives the names' facts.

    Gives {"names": [distinct names, in fa_id order], "versions": {name: rows}, "suppressed":
    {names}}. Older versions are deleted with their current version (same fa_deleted_timestamp,
    adjacent fa_ids, older uploads); a suppressed name has all its rows suppressed.
    """
    old_rows = round(rows * OLD_VERSION_SHARE)
    distinct = rows - old_rows
    make = NameMaker(rng)
    names = unique_names(make, distinct, set())
    check_names(names, rng)
    # Spread the older versions over about 4% of the names, one to three each.
    extra: Counter[int] = Counter()
    left = old_rows
    while left > 0:
        add = min(left, rng.choice((1, 1, 1, 1, 1, 1, 2, 2, 3)))
        extra[rng.randrange(distinct)] += add
        left -= add
    ext_facts = {e[0]: e for e in EXTENSIONS}
    versions: dict[str, int] = {}
    suppressed: set[str] = set()
    step = (DELETED_UNTIL - DELETED_FROM) / max(1, distinct)
    fa_id = 0
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        for i, name in enumerate(names):
            count = 1 + extra.get(i, 0)
            versions[name] = count
            hidden = rng.random() < SUPPRESSED_SHARE
            if hidden:
                suppressed.add(name)
            deleted = DELETED_FROM + i * step + rng.random() * step
            uploaded = deleted - rng.randint(86400, 8 * 365 * 86400)
            ext, _, media, major, minor, bits = ext_facts[name.rsplit(".", 1)[1]]
            reason = str(rng.choice(REASONS)[0])
            lines = []
            for v in range(count):  # v = 0: the current version; then older and older ones
                fa_id += 1
                up = stamp(uploaded - v * rng.randint(3600, 400 * 86400))
                archive = r"\N" if v == 0 else f"{up}!{name}"
                sha1 = sha1_base36(rng)
                if media == "BITMAP":
                    width, height = rng.randint(320, 6000), rng.randint(240, 4500)
                elif media == "DRAWING":
                    width, height = 512, rng.randint(256, 1024)
                elif media == "OFFICE":
                    width, height = 1240, 1754
                else:
                    width, height = 1920, 1080
                size = min(int(rng.lognormvariate(13, 1.4)), 4 << 30)
                lines.append("\t".join((
                    str(fa_id), name, archive, "deleted", f"{sha1}.{ext}", str(rng.randint(1, 5000)),
                    stamp(deleted), reason, str(size), str(width), str(height), "", str(bits), media, major,
                    minor, str(rng.choice(DESCRIPTIONS)[0]), str(rng.randint(1, 200000)), up,
                    "15" if hidden else "0", sha1)))
            out.write("\n".join(lines) + "\n")
    return {"names": names, "versions": versions, "suppressed": suppressed, "rows": fa_id,
            "old_version_rows": old_rows,
            "suppressed_rows": sum(versions[n] for n in suppressed)}


def load_catalog(sandbox, tsv: Path) -> None:
    """Loads the TSV into filearchive and the comments into comment (root, over the socket)."""
    import pymysql

    conn = pymysql.connect(unix_socket=str(sandbox.mariadb.socket), user="root", password="",
                           database="commonswiki", charset="utf8mb4", autocommit=True, local_infile=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SET GLOBAL innodb_buffer_pool_size = %s", (BUFFER_POOL_BYTES,))
            cur.executemany("INSERT INTO comment (comment_id, comment_hash, comment_text) VALUES (%s, %s, %s)",
                            [(cid, cid, text.encode()) for cid, text in (*REASONS, *DESCRIPTIONS)])
            cur.execute(f"LOAD DATA LOCAL INFILE %s INTO TABLE filearchive CHARACTER SET binary "
                        f"FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' ({', '.join(FA_COLUMNS)})",
                        (str(tsv),))
            cur.execute("ANALYZE TABLE filearchive")
    finally:
        conn.close()


# --- the lists -----------------------------------------------------------------------------------

def written(name: str, rng: random.Random) -> str:
    """Gives a name as a person writes it: often with spaces, sometimes with `File:`."""
    text = name.replace("_", " ") if rng.random() < 0.6 else name
    return f"File:{text}" if rng.random() < 0.15 else text


def list_lines(rng: random.Random, present: list[str], absent: list[str], dup_count: int,
               already: list[str] = ()) -> list[tuple[str, str]]:
    """Gives (key, line) pairs: present and absent names shuffled, then `dup_count` names of the
    list (`already` or these) written again, among the last tenth of the lines; whichever of two
    lines of a name comes later is the duplicate (expected_counts reads the final order)."""
    entries = [(name, written(name, rng)) for name in (*present, *absent)]
    rng.shuffle(entries)
    pool = list(already) + [key for key, _ in entries]
    for _ in range(dup_count):
        key = rng.choice(pool)
        at = rng.randint(len(entries) - (len(entries) // 10), len(entries))
        entries.insert(at, (key, written(key, rng)))
    return entries


def write_lists(root: Path, catalog: dict, total_names: int, rng: random.Random, taken: set[str]) -> dict:
    """Writes the 1x lists under root/lists-1x and the 4x lists (1x lines + 3x more) under
    root/lists-4x; gives their paths and the counts plan should find. `taken` holds every name
    made so far (the catalog's), so that an absent name is absent."""
    make = NameMaker(rng)
    names = catalog["names"]
    per_list = [total_names // len(LISTS) + (1 if i < total_names % len(LISTS) else 0) for i in range(len(LISTS))]
    # Present names are distinct across the 1x lists, and within each 4x list.
    need = max(total_names, max(per_list) * NAMES_FACTOR) * PRESENT_SHARE
    if need > len(names):
        raise SystemExit(f"--names {total_names} needs {need:.0f} distinct present names, filearchive has "
                         f"{len(names)}: raise --rows or lower --names")
    order = names[:]
    rng.shuffle(order)
    points = {"1x": {"dir": root / "lists-1x", "keys": []}, "4x": {"dir": root / "lists-4x", "keys": []}}
    cursor = 0
    for list_name, lines in zip(LISTS, per_list):
        # 1x: present names disjoint across the lists.
        n_present = round(lines * PRESENT_SHARE)
        n_dup = round(lines * DUPLICATE_SHARE)
        present = order[cursor:cursor + n_present]
        cursor += n_present
        absent = unique_names(make, lines - n_present - n_dup, taken)
        first = list_lines(rng, present, absent, n_dup)
        # 4x: the same lines, then 3x more: names not on this list yet (so on other lists too).
        more = lines * (NAMES_FACTOR - 1)
        on_list = set(present)
        pool = [n for n in names if n not in on_list]
        m_present = round(more * PRESENT_SHARE)
        m_dup = round(more * DUPLICATE_SHARE)
        added = list_lines(rng, rng.sample(pool, m_present), unique_names(make, more - m_present - m_dup, taken),
                           m_dup, already=[k for k, _ in first])
        for point, entries in (("1x", first), ("4x", first + added)):
            folder = points[point]["dir"]
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{list_name}.txt"
            path.write_text("".join(f"{line}\n" for _, line in entries), encoding="utf-8")
            points[point]["keys"].append([k for k, _ in entries])
    out = {}
    for point, facts in points.items():
        out[point] = {"lists": [str(facts["dir"] / f"{n}.txt") for n in LISTS],
                      "bytes": sum((facts["dir"] / f"{n}.txt").stat().st_size for n in LISTS),
                      "expected": expected_counts(facts["keys"], catalog)}
    return out


def expected_counts(lists: list[list[str]], catalog: dict) -> dict:
    """Gives what plan should count (totals) and how many rows the plain join should match."""
    versions, suppressed = catalog["versions"], catalog["suppressed"]
    counts = Counter()
    join_rows = 0
    for keys in lists:
        seen = set()
        for key in keys:
            counts["requested"] += 1
            join_rows += versions.get(key, 0)
            if key in seen:
                counts["duplicate"] += 1
                continue
            seen.add(key)
            if key not in versions:
                counts["not_in_filearchive"] += 1
            elif key in suppressed:
                counts["suppressed"] += 1
            else:
                counts["found"] += 1
    return {**counts, "join_rows": join_rows}


# --- memory sampling -----------------------------------------------------------------------------

def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    """Gives the child processes of pid (every thread's: the JVM forks from any of them)."""
    out = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        out.extend(int(x) for x in _read(f"/proc/{pid}/task/{tid}/children").split())
    return out


def _hwm_kb(pid: int) -> int:
    for line in _read(f"/proc/{pid}/status").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class TreePeaks(threading.Thread):
    """Samples VmHWM of the processes under one run every SAMPLE_S seconds, by role.

    Roles: the driver's JVM (SparkSubmit), the Python driver (the JVM's Python child that is
    not PySpark's daemon), PySpark's daemon and its forked workers. VmHWM is the kernel's
    high-water mark of a process's RSS, so a peak is seen as long as one sample lands after it
    and before the process exits. Only the run's own tree is walked (/proc/PID/task/*/children),
    a few hundred small reads per sample.
    """

    def __init__(self, root_pid: int):
        super().__init__(daemon=True, name="tree-peaks")
        self.root_pid = root_pid
        self.stop_event = threading.Event()
        self.peaks: dict[int, dict] = {}  # pid -> {"role", "hwm_kb"}

    @staticmethod
    def _role(pid: int, parent_role: str) -> str:
        cmd = _read(f"/proc/{pid}/cmdline").replace("\0", " ")
        program = cmd.split(" ", 1)[0]
        # Not spark-class's short-lived launcher JVM (org.apache.spark.launcher.Main), which
        # names SparkSubmit too.
        if program.endswith("java") and "org.apache.spark.deploy.SparkSubmit" in cmd and "launcher.Main" not in cmd:
            return "driver_jvm"
        if "pyspark" in cmd and ("daemon" in cmd or "worker" in cmd):
            return "worker" if parent_role in ("daemon", "worker") else "daemon"
        if parent_role == "driver_jvm" and "python" in program:
            return "driver_python"
        return "other"  # bash, spark-class's launcher JVM, the console relays

    def sample(self) -> None:
        # The root too: spark-submit execs the driver JVM in the process it was started as.
        roles = {self.root_pid: self._role(self.root_pid, "")}
        frontier = [self.root_pid]
        while frontier:
            parent = frontier.pop()
            for pid in _children(parent):
                if pid not in roles:
                    roles[pid] = self._role(pid, roles[parent])
                    frontier.append(pid)
        for pid, role in roles.items():
            if role == "other":
                continue
            kb = _hwm_kb(pid)
            peak = self.peaks.setdefault(pid, {"role": role, "hwm_kb": 0})
            peak["hwm_kb"] = max(peak["hwm_kb"], kb)

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.sample()
            except Exception:  # noqa: BLE001 - a process gone mid-read; next sample
                pass
            self.stop_event.wait(SAMPLE_S)

    def summary(self) -> dict:
        def top(role):
            return round(max((p["hwm_kb"] for p in self.peaks.values() if p["role"] == role), default=0) / 1024, 1)

        workers = [p["hwm_kb"] / 1024 for p in self.peaks.values() if p["role"] == "worker"]
        return {"driver_jvm_mb": top("driver_jvm"), "driver_python_mb": top("driver_python"),
                "driver_mb": round(top("driver_jvm") + top("driver_python"), 1),
                "daemon_mb": top("daemon"), "worker_peak_mb": round(max(workers, default=0), 1),
                "workers": len(workers), "workers_sum_mb": round(sum(workers), 1)}


# --- the runs ------------------------------------------------------------------------------------

def spark_options(work: Path) -> list[str]:
    """spark-submit options both sides get besides spark-submit.sh's own: master, event log."""
    return ["--master", "local[2]", "--conf", "spark.eventLog.enabled=true",
            "--conf", f"spark.eventLog.dir=file://{work / 'events'}", "--conf", "spark.eventLog.compress=false",
            "--conf", "spark.eventLog.rolling.enabled=false",
            # Peaks of the driver JVM's heap and its GC time per stage: what its RSS cannot tell.
            "--conf", "spark.eventLog.logStageExecutorMetrics=true"]


def run_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAEXTRACT_")}
    # Logs, the console pipes and Spark's scratch space under the temp dir: nothing left behind.
    env.update(MEDIAEXTRACT_LOG_DIR=str(work / "logs"), TMPDIR=str(work / "tmp"),
               SPARK_LOCAL_DIRS=str(work / "tmp"), SPARK_LOCAL_IP="127.0.0.1")
    return env


def plan_command(work: Path, conf: Path, lists: list[str], output: Path) -> list[str]:
    return [str(REPO / "spark-submit.sh"), *spark_options(work), "plan", "--conf", str(conf),
            "--output", str(output), *lists]


def child_command(work: Path, spec: Path, kind: str) -> list[str]:
    """The plain join (kind "baseline") or plan + labels ("labels"): this file as a PySpark script,
    launched as spark-submit.sh launches a job (its console options and jar)."""
    return [str(SPARK_SUBMIT), *spark_options(work), "--conf", "spark.ui.showConsoleProgress=false",
            "--driver-java-options", f"-Dlog4j2.configurationFile=file:{REPO / 'conf' / 'log4j2.properties'}",
            *(["--jars", JDBC_JAR] if os.path.exists(JDBC_JAR) else []),
            str(Path(__file__).resolve()), f"--{kind}-child", str(spec)]


def timed_run(kind: str, command: list[str], work: Path, tag: str, timeout_s: float) -> dict:
    """Runs one command in a fresh process group; gives wall time, exit code, peaks, output.
    A run past timeout_s is killed (its whole group) and counted as failed."""
    env = run_env(work)
    if kind in ("baseline", "labels"):
        env.update(PYSPARK_PYTHON=str(VENV_PYTHON), PYSPARK_DRIVER_PYTHON=str(VENV_PYTHON),
                   PYTHONPATH=f"{REPO / 'lib'}:{REPO}:{REPO / 'dev'}")
    events, logs = work / "events", work / "logs"
    before, logs_before = set(events.iterdir()), set(logs.iterdir())
    out_path, err_path = work / "runs" / f"{tag}.out", work / "runs" / f"{tag}.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started_epoch = time.time()
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        CHILDREN.append(proc)
        peaks = TreePeaks(proc.pid)
        peaks.start()
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait()
            err.write(f"\nbench: killed after {timeout_s:.0f} s (--run-timeout)\n".encode())
        finally:
            wall = time.perf_counter() - started
            peaks.stop_event.set()
            peaks.join()
            CHILDREN.remove(proc)
    new_logs = sorted(set(events.iterdir()) - before)
    result = {"kind": kind, "tag": tag, "wall_s": wall, "exit_code": code, **peaks.summary(),
              "phases": event_phases(new_logs[0], started_epoch, started_epoch + wall) if new_logs else {}}
    if code != 0:
        # spark-submit.sh names its run log (the traceback) on stderr, in the temp dir: keep its tail.
        run_logs = sorted(set(logs.iterdir()) - logs_before)
        result["error_tail"] = (out_path.read_text(errors="replace")[-1500:]
                                + err_path.read_text(errors="replace")[-1500:]
                                + "".join(f.read_text(errors="replace")[-3000:] for f in run_logs))
    return result


# What a Spark stage spends its time on, told by the RDDs it runs (first match wins).
STAGE_KINDS = (("JDBCRDD", "JDBC read of filearchive"), ("PythonRDD", "rows through PySpark workers"),
               ("FileScanRDD", "reading list files"), ("", "shuffles: join, window, aggregate"))


def event_phases(path: Path, started: float, ended: float) -> dict:
    """Splits a run by its Spark event log: launch (process start to SparkContext start), up to
    the first SQL query (session, settings, JVM warm-up), the top-level SQL queries (each with
    its description), driver work between and after them, and shut-down; plus the stages'
    time by what they run (STAGE_KINDS; stages overlap, so these add up to more than the wall)."""
    app_start = app_end = None
    starts, ends = {}, {}
    stages: dict[str, dict] = {}
    heap_peak = gc_ms = 0
    files = sorted(path.iterdir()) if path.is_dir() else [path]  # a rolling log is a directory
    for line in (line for f in files if f.name.startswith(("events_", "app", "local")) for line in
                 f.read_text(errors="replace").splitlines()):
        try:
            event = json.loads(line)
        except ValueError:
            continue
        kind = event.get("Event", "")
        if kind == "SparkListenerApplicationStart":
            app_start = event["Timestamp"] / 1000
        elif kind == "SparkListenerApplicationEnd":
            app_end = event["Timestamp"] / 1000
        elif kind.endswith("SparkListenerSQLExecutionStart"):
            if event.get("rootExecutionId", event["executionId"]) == event["executionId"]:
                starts[event["executionId"]] = (event["time"] / 1000, event.get("description", ""))
        elif kind.endswith("SparkListenerSQLExecutionEnd"):
            ends[event["executionId"]] = event["time"] / 1000
        elif kind == "SparkListenerStageExecutorMetrics" and event.get("Executor ID") == "driver":
            metrics = event.get("Executor Metrics", {})
            heap_peak = max(heap_peak, metrics.get("JVMHeapMemory", 0))
            gc_ms = max(gc_ms, metrics.get("MinorGCTime", 0) + metrics.get("MajorGCTime", 0))
        elif kind == "SparkListenerStageCompleted":
            info = event["Stage Info"]
            rdds = " ".join(r["Name"] for r in info.get("RDD Info", []))
            what = next(label for marker, label in STAGE_KINDS if marker in rdds)
            task_ms = sum(a.get("Value", 0) for a in info.get("Accumulables", [])
                          if a.get("Name") == "internal.metrics.executorRunTime")
            entry = stages.setdefault(what, {"stages": 0, "wall_s": 0.0, "task_s": 0.0})
            entry["stages"] += 1
            entry["wall_s"] += (info.get("Completion Time", 0) - info.get("Submission Time", 0)) / 1000
            entry["task_s"] += float(task_ms) / 1000
    if app_start is None:
        return {}
    queries = []
    for eid, (t0, description) in sorted(starts.items()):
        if eid in ends:
            queries.append({"description": description.split("\n")[0][:90], "start_s": t0 - started,
                            "seconds": ends[eid] - t0})
    in_queries = sum(q["seconds"] for q in queries)
    last = app_end or ended
    first = min((q["start_s"] + started for q in queries), default=last)
    return {"launch_s": app_start - started, "to_first_query_s": first - app_start,
            "queries": queries, "queries_s": in_queries,
            "driver_between_queries_s": max(0.0, last - first - in_queries),
            "shutdown_s": max(0.0, ended - last), "stages": stages,
            "jvm_heap_peak_mb": round(heap_peak / MB, 1), "jvm_gc_s": gc_ms / 1000}


def plan_totals(output: Path) -> dict:
    try:
        report = json.loads((output / "report.json").read_text())
    except (OSError, ValueError):
        return {}
    keys = ("requested", "invalid_name", "duplicate", "not_in_filearchive", "suppressed", "no_storage_key", "found")
    return {k: report["totals"].get(k) for k in keys}


def baseline_child(spec_path: str) -> int:
    """The plain join (run by spark-submit): prints RESULT {"rows": matched rows, "seconds": ...}."""
    import pymysql
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    spec = json.loads(Path(spec_path).read_text())
    started = time.perf_counter()
    spark = SparkSession.builder.appName("bench plain join").getOrCreate()
    # The same bounds as plan: one small query for MIN/MAX(fa_id), as catalog.fa_id_bounds does.
    db = pymysql.connect(host=spec["host"], port=spec["port"], user=spec["user"], password=spec["password"],
                         database=spec["database"])
    try:
        with db.cursor() as cur:
            cur.execute("SELECT MIN(fa_id), MAX(fa_id) FROM filearchive")
            low, high = cur.fetchone()
    finally:
        db.close()
    names = (spark.read.text(spec["lists"])
             .select(F.translate(F.regexp_replace("value", "^File:", ""), " ", "_").cast("binary").alias("name")))
    filearchive = (spark.read.format("jdbc")
                   .option("url", spec["url"]).option("driver", spec["driver"])
                   .option("user", spec["user"]).option("password", spec["password"])
                   .option("fetchsize", spec["fetch_size"]).option("dbtable", "filearchive")
                   .option("partitionColumn", "fa_id").option("lowerBound", low).option("upperBound", high + 1)
                   .option("numPartitions", spec["partitions"] if high > low else 1)
                   .load().select(F.col("fa_name").alias("name"), "fa_id"))
    rows = names.join(filearchive, on="name").count()
    print("RESULT " + json.dumps({"rows": rows, "seconds": time.perf_counter() - started}), flush=True)
    spark.stop()
    return 0


def labels_child(spec_path: str) -> int:
    """Plan the lists, attach the labels and write the labelled plan (run by spark-submit): prints
    RESULT {"rows": rows written, "seconds": ...}. The lookups run in the write's tasks."""
    from mediaextract import labels, pipeline
    from mediaextract.config import load_settings
    from mediaextract.session import build_session

    spec = json.loads(Path(spec_path).read_text())
    started = time.perf_counter()
    settings = load_settings(spec["conf"], environ={})
    spark = build_session(settings, "bench plan and labels")
    planned = pipeline.planned(spark, settings, spec["lists"]).persist()
    labels.attach(spark, settings, planned).write.mode("overwrite").parquet(spec["output"])
    rows = spark.read.parquet(spec["output"]).count()
    print("RESULT " + json.dumps({"rows": rows, "seconds": time.perf_counter() - started}), flush=True)
    spark.stop()
    return 0


def baseline_rows(work: Path, tag: str) -> int | None:
    for line in (work / "runs" / f"{tag}.out").read_text(errors="replace").splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])["rows"]
    return None


def write_conf(sandbox, work: Path) -> Path:
    """Writes the settings file plan runs with: the sandbox's settings, output under the temp dir."""
    import yaml

    tree: dict = {}
    for key, value in {**sandbox.settings(), "output.root": str(work / "out")}.items():
        *sections, leaf = key.split(".")
        node = tree
        for section in sections:
            node = node.setdefault(section, {})
        node[leaf] = value
    path = work / "bench.yaml"
    path.write_text(yaml.safe_dump(tree, sort_keys=True), encoding="utf-8")
    return path


def write_baseline_spec(settings, work: Path, lists: list[str], point: str) -> Path:
    """The plain join's inputs, from the same settings plan resolves (password: 0600 file)."""
    from mediaextract.catalog import jdbc_url, parse_jdbc_url

    target = parse_jdbc_url(settings["catalog.url"])
    spec = {"lists": lists, "conf": str(work / "bench.yaml"), "output": str(work / "plans" / f"labelled-{point}"),
            "url": jdbc_url(settings), "driver": settings["catalog.driver"],
            "user": settings["catalog.user"], "password": settings["catalog.password"] or "",
            "host": target.host, "port": target.port, "database": target.database,
            "fetch_size": settings["catalog.fetch_size"], "partitions": settings["catalog.partitions"]}
    path = work / f"baseline-{point}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(spec, f)
    return path


def measure_point(point: str, facts: dict, conf: Path, spec: Path, work: Path, repeat: int,
                  timeout_s: float, kinds: tuple[str, ...] = ("baseline", "plan")) -> dict:
    """Alternates the plain join and plan (and plan with labels) `repeat` times each at one list
    size; gives every run."""
    runs = []
    for i in range(1, repeat + 1):
        for kind in kinds:
            tag = f"{point}-{kind}-{i}"
            print(f"  {tag} ...", end="", flush=True)
            if kind == "plan":
                output = work / "plans" / tag
                run = timed_run(kind, plan_command(work, conf, facts["lists"], output), work, tag, timeout_s)
                run["totals"] = plan_totals(output)
            else:
                run = timed_run(kind, child_command(work, spec, kind), work, tag, timeout_s)
                run["rows"] = baseline_rows(work, tag)
            runs.append(run)
            print(f" {run['wall_s']:.1f} s, driver {run['driver_mb']:.0f} MB"
                  + ("" if run["exit_code"] == 0 else f", EXIT {run['exit_code']}"), flush=True)
    return summarize(runs, facts)


def summarize(runs: list[dict], facts: dict) -> dict:
    out = {"runs": runs, "expected": facts["expected"], "list_bytes": facts["bytes"]}
    for kind in ("baseline", "plan", "labels"):
        mine = [r for r in runs if r["kind"] == kind and r["exit_code"] == 0]
        if not mine:
            continue
        out[kind] = {"median_s": statistics.median(r["wall_s"] for r in mine),
                     "walls_s": [round(r["wall_s"], 1) for r in mine],
                     **{k: max(r[k] for r in mine) for k in ("driver_mb", "driver_jvm_mb", "driver_python_mb",
                                                               "worker_peak_mb", "daemon_mb", "workers")}}
    if "plan" in out and "baseline" in out:
        out["ratio"] = out["plan"]["median_s"] / out["baseline"]["median_s"]
    return out


# --- report --------------------------------------------------------------------------------------

def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def phase_lines(run: dict) -> list[str]:
    p = run.get("phases") or {}
    if not p:
        return ["      (no event log)"]
    lines = [f"      launch {p['launch_s']:.1f} s, to the first query {p['to_first_query_s']:.1f} s, "
             f"SQL queries {p['queries_s']:.1f} s, driver between queries {p['driver_between_queries_s']:.1f} s, "
             f"shut-down {p['shutdown_s']:.1f} s"]
    if p.get("jvm_heap_peak_mb"):
        lines.append(f"        driver JVM: heap used at most {p['jvm_heap_peak_mb']:.0f} MB (at heartbeats, every 10 s), "
                     f"GC {p['jvm_gc_s']:.1f} s until its last stage")
    for q in sorted(p["queries"], key=lambda q: -q["seconds"])[:3]:
        lines.append(f"        query at +{q['start_s']:5.1f} s {q['seconds']:6.1f} s  {q['description']}")
    for what, st in sorted(p.get("stages", {}).items(), key=lambda kv: -kv[1]["task_s"]):
        lines.append(f"        stages: {what:<36} {st['stages']:3d} stages, {st['wall_s']:6.1f} s wall, "
                     f"{st['task_s']:6.1f} s task time")
    return lines


def failure(run: dict) -> str:
    """Gives the line that says why a run failed: the exception of its traceback if there is one."""
    lines = [line.strip() for line in run.get("error_tail", "").splitlines() if line.strip()]
    raised = [line for line in lines if ("Error" in line or "Exception" in line) and not line.startswith("File ")]
    return (raised or lines or ["no output"])[-1][:300]


def build_text(r: dict) -> list[str]:
    cfg, data = r["config"], r.get("data", {})
    out = []
    add = out.append
    add(f"mediaextract plan benchmark - {r['started']}")
    add(f"machine: {r['machine']['cpus']} CPUs, {r['machine']['platform']}; load average before: "
        f"{r['machine']['loadavg_before']}, after: {r['machine'].get('loadavg_after', '?')}")
    if data:
        add(f"filearchive: {data['rows']} rows, {data['distinct_names']} names, {data['old_version_rows']} older "
            f"versions ({data['old_version_rows'] / data['rows']:.1%}), {data['suppressed_rows']} rows suppressed "
            f"({data['suppressed_rows'] / data['rows']:.1%}), {data['table_mb']:.0f} MB in InnoDB")
    t = r["timings"]
    if "generate_s" in t:
        add(f"setup: sandbox up {t['sandbox_up_s']:.1f} s; generate {cfg['rows']} rows + TSV {t['generate_s']:.1f} s, "
            f"LOAD DATA + ANALYZE {t['load_s']:.1f} s; lists {t['lists_s']:.1f} s; "
            f"setup total {t['setup_s']:.1f} s")
    add(f"runs: local[2], default driver memory, catalog.partitions={cfg.get('partitions')}, "
        f"catalog.fetch_size={cfg.get('fetch_size')}; alternating plain join / plan, {cfg['repeat']}x each per point; "
        "Spark event log on for both")
    add("")
    points = r.get("points", {})
    for point, label in (("1x", cfg["names"]), ("4x", cfg["names"] * NAMES_FACTOR)):
        p = points.get(point)
        if not p:
            continue
        e = p["expected"]
        add(f"{point}: {label} list lines in {len(LISTS)} lists ({p['list_bytes'] / MB:.1f} MB); filearchive {cfg['rows']} rows")
        add(f"  generated: {e['found']} found, {e['suppressed']} suppressed, {e['not_in_filearchive']} not in "
            f"filearchive, {e['duplicate']} duplicate; {e['join_rows']} join rows")
        for kind, name in (("baseline", "plain join"), ("plan", "plan"), ("labels", "+ labels")):
            s = p.get(kind)
            if kind == "labels" and not s and not any(run["kind"] == kind for run in p["runs"]):
                continue  # not asked for (--labels)
            if not s:
                add(f"  {name:<10} no successful run")
                continue
            add(f"  {name:<10} median {s['median_s']:6.1f} s (runs {', '.join(f'{w:.1f}' for w in s['walls_s'])}); "
                f"driver peak RSS {s['driver_mb']:.0f} MB (JVM {s['driver_jvm_mb']:.0f} + Python {s['driver_python_mb']:.0f}); "
                + (f"workers {s['workers']}, peak {s['worker_peak_mb']:.0f} MB" if s["workers"]
                   else "no PySpark worker started"))
        for run in p["runs"]:
            if run["kind"] == "plan" and run.get("totals"):
                tot = run["totals"]
                same = all(tot.get(k) == e.get(k) for k in ("found", "suppressed", "not_in_filearchive", "duplicate"))
                add(f"  plan counted: {tot['found']} found, {tot['suppressed']} suppressed, {tot['not_in_filearchive']} "
                    f"not in filearchive, {tot['duplicate']} duplicate, {tot['invalid_name']} invalid "
                    f"({'as generated' if same else 'NOT as generated'})")
                break
        for run in p["runs"]:
            if run["kind"] == "baseline" and run.get("rows") is not None:
                add(f"  plain join matched {run['rows']} rows "
                    f"({'as generated' if run['rows'] == e['join_rows'] else 'NOT as generated'})")
                break
        for run in p["runs"]:
            if run["kind"] == "labels" and run.get("rows") is not None:
                add(f"  plan + labels wrote {run['rows']} rows "
                    f"({'one per list line' if run['rows'] == e['requested'] else 'NOT one per list line'})")
                break
        if "ratio" in p:
            add(f"  plan / plain join: {p['ratio']:.2f}" + (f"  (target <= {TARGET_TIME_RATIO}: "
                                                             f"{verdict(p['ratio'] <= TARGET_TIME_RATIO)})"
                                                             if point == "1x" else ""))
        for kind in ("baseline", "plan", "labels"):
            last = [run for run in p["runs"] if run["kind"] == kind]
            if last:
                add(f"    where the last {dict(baseline='plain join', labels='plan + labels').get(kind, kind)} run spent its "
                    f"{last[-1]['wall_s']:.1f} s:")
                out.extend(phase_lines(last[-1]))
        for run in p["runs"]:
            if run["exit_code"] != 0:
                add(f"  {run['tag']} FAILED (exit {run['exit_code']}) after {run['wall_s']:.1f} s: {failure(run)}")
        add("")
    one, four = points.get("1x", {}), points.get("4x", {})
    if one.get("plan") and four.get("plan"):
        t1, t4 = one["plan"]["median_s"], four["plan"]["median_s"]
        rss = four["plan"]["driver_mb"] / one["plan"]["driver_mb"]
        per_name = (t4 - t1) / ((NAMES_FACTOR - 1) * cfg["names"])
        fixed = t1 - per_name * cfg["names"]
        add("targets")
        add(f"  plan <= {TARGET_TIME_RATIO}x the plain join at 1x:        {one.get('ratio', float('nan')):.2f}  "
            f"{verdict(one.get('ratio', 99) <= TARGET_TIME_RATIO)}")
        add(f"  driver peak RSS 4x / 1x <= {TARGET_RSS_RATIO}:          {rss:.2f}  ({four['plan']['driver_mb']:.0f} MB / "
            f"{one['plan']['driver_mb']:.0f} MB)  {verdict(rss <= TARGET_RSS_RATIO)}")
        add(f"  time linear in names (t4x <= {NAMES_FACTOR} t1x):         {t4 / t1:.2f}  (fit t = {fixed:.1f} s "
            f"{per_name * 1e6:+.1f} us x names)  {verdict(t4 <= NAMES_FACTOR * t1)}")
        if one.get("labels") and four.get("labels"):
            l1, l4 = one["labels"]["driver_mb"], four["labels"]["driver_mb"]
            add(f"  plan + labels: driver peak RSS 4x / 1x <= {TARGET_RSS_RATIO}: {l4 / l1:.2f}  ({l4:.0f} MB / "
                f"{l1:.0f} MB; Python {four['labels']['driver_python_mb']:.0f} / "
                f"{one['labels']['driver_python_mb']:.0f} MB)  {verdict(l4 / l1 <= TARGET_RSS_RATIO)}")
        if one.get("baseline") and four.get("baseline"):
            b1, b4 = one["baseline"]["median_s"], four["baseline"]["median_s"]
            add(f"  (plain join 4x / 1x: {b4 / b1:.2f}; plan / plain join at 4x: {four.get('ratio', float('nan')):.2f})")
    return out


# --- main ----------------------------------------------------------------------------------------

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="filearchive rows (R)")
    parser.add_argument("--names", type=int, default=600_000, help="list lines at the first point (L)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each side per point")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--run-timeout", type=float, default=1800, help="seconds one run may take (then killed)")
    parser.add_argument("--out", default=str(REPO / "bench" / "results"), help="where plan.txt/json go")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (data, lists, logs, event logs)")
    parser.add_argument("--labels", action="store_true",
                        help="also time plan + label lookups + write (what extract does before it fetches)")
    parser.add_argument("--baseline-child", help=argparse.SUPPRESS)  # internal: the plain join
    parser.add_argument("--labels-child", help=argparse.SUPPRESS)  # internal: plan and labels
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.baseline_child:
        return baseline_child(args.baseline_child)
    if args.labels_child:
        return labels_child(args.labels_child)
    rng = random.Random(args.seed)
    out_dir, root = start_run(args.out, "mxplan-")
    work = root / "work"
    for sub in ("events", "logs", "tmp", "runs", "plans", "out"):
        (work / sub).mkdir(parents=True)
    results: dict = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": {"rows": args.rows, "names": args.names, "repeat": args.repeat, "seed": args.seed,
                   "labels": args.labels},
        "machine": machine_facts(),
        "timings": {},
        "points": {},
    }
    sandbox = None
    code = 0
    bench_started = time.perf_counter()
    try:
        sandbox = new_sandbox(root)
        t = time.perf_counter()
        sandbox.up()
        sandbox.swift.stop()  # plan reads no storage: its idle servers take nothing from the run
        results["timings"]["sandbox_up_s"] = time.perf_counter() - t
        print(f"MariaDB up ({results['timings']['sandbox_up_s']:.1f} s) in {root}", flush=True)

        t = time.perf_counter()
        tsv = work / "filearchive.tsv"
        catalog = write_catalog_tsv(tsv, args.rows, rng)
        results["timings"]["generate_s"] = time.perf_counter() - t
        print(f"generated {catalog['rows']} rows ({results['timings']['generate_s']:.1f} s)", flush=True)
        t = time.perf_counter()
        load_catalog(sandbox, tsv)
        results["timings"]["load_s"] = time.perf_counter() - t
        tsv.unlink()
        conn = sandbox.connect_db()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT COUNT(*) FROM filearchive")
                loaded = cur.fetchone()[0]
                cur.execute("SELECT (data_length + index_length) / 1048576 FROM information_schema.tables "
                            "WHERE table_schema = 'commonswiki' AND table_name = 'filearchive'")
                table_mb = float(cur.fetchone()[0])
        finally:
            conn.close()
        if loaded != catalog["rows"]:
            raise RuntimeError(f"LOAD DATA loaded {loaded} of {catalog['rows']} rows")
        results["data"] = {"rows": loaded, "distinct_names": len(catalog["names"]),
                           "old_version_rows": catalog["old_version_rows"],
                           "suppressed_rows": catalog["suppressed_rows"], "table_mb": table_mb}
        print(f"loaded ({results['timings']['load_s']:.1f} s, {table_mb:.0f} MB)", flush=True)

        t = time.perf_counter()
        lists = write_lists(work, catalog, args.names, rng, set(catalog["names"]))
        results["timings"]["lists_s"] = time.perf_counter() - t
        results["timings"]["setup_s"] = time.perf_counter() - bench_started
        del catalog
        print(f"lists written ({results['timings']['lists_s']:.1f} s)", flush=True)

        from mediaextract.config import load_settings

        conf = write_conf(sandbox, work)
        settings = load_settings(conf, environ={})
        results["config"].update(partitions=settings["catalog.partitions"], fetch_size=settings["catalog.fetch_size"])
        for point in ("1x", "4x"):
            spec = write_baseline_spec(settings, work, lists[point]["lists"], point)
            print(f"{point}: {lists[point]['expected']['requested']} list lines", flush=True)
            results["points"][point] = measure_point(point, lists[point], conf, spec, work, args.repeat,
                                                       args.run_timeout,
                                                       ("baseline", "plan", "labels") if args.labels
                                                       else ("baseline", "plan"))
    except BaseException as error:
        code = record_failure(results, error)
    finally:
        for child in list(CHILDREN):
            try:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait(timeout=30)
            except Exception:  # noqa: BLE001 - already gone
                pass
        wind_down(results, bench_started, (lambda: sandbox and sandbox.down(),))
        if args.keep:
            print(f"kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    try:
        text = build_text(results)
    except Exception:  # noqa: BLE001 - a partial run still writes its JSON
        traceback.print_exc()
        text = ["(run incomplete: see plan.json)"]
    text.append(f"whole benchmark: {results['timings'].get('total_s', 0):.0f} s")
    if results.get("error"):
        text.append(f"RUN FAILED: {results['error']}")
    write_results(out_dir, "plan", text, results)
    return code


if __name__ == "__main__":
    sys.exit(main())
