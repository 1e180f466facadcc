"""What `./spark-submit.sh --help` and `--version` print: the jobs, one line each, and the exit
codes (no Spark; run before any JVM starts).

    python -m mediaextract.usage help JOBS_DIR
    python -m mediaextract.usage version
    python -m mediaextract.usage stopped INT|TERM LOG
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from . import __version__
from .errors import EXIT_MEANINGS, STOPPED_BY, stopped_line

USAGE = "usage: ./spark-submit.sh [SPARK-SUBMIT OPTIONS] JOB [JOB OPTIONS]"


def job_lines(jobs_dir: Path) -> list[tuple[str, str]]:
    """Return (job, what it does) for each job script, from the first line of its docstring."""
    found = []
    for script in sorted(Path(jobs_dir).glob("*.py")):
        if script.name.startswith("_"):
            continue
        docstring = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
        job = script.stem.replace("_", "-")
        first = docstring.strip().splitlines()[0] if docstring.strip() else ""
        found.append((job, first.split(":", 1)[1].strip() if first.startswith(f"{job}:") else first))
    return found


def help_text(jobs_dir: Path) -> str:
    """Return the whole --help text."""
    jobs = job_lines(jobs_dir)
    width = max(len(job) for job, _ in jobs)
    lines = [USAGE, "",
             "Spark's options (--master, --deploy-mode, --conf k=v, ...) go before JOB; the job's own",
             "(--conf FILE, --set KEY=VALUE, ...) after it. `./spark-submit.sh JOB --help` lists a job's.",
             "", "jobs:"]
    lines += [f"  {job.ljust(width)}  {what}" for job, what in jobs]
    lines += ["", "exit codes:"]
    lines += [f"  {code:>3}  {meaning}" for code, meaning in sorted(EXIT_MEANINGS.items())]
    lines += ["", f"mediaextract {__version__}; README.md says more."]
    return "\n".join(lines)


def version_text() -> str:
    return f"mediaextract {__version__}"


def main(argv: list[str]) -> int:
    if argv[:1] == ["version"]:
        print(version_text())
        return 0
    if argv[:1] == ["help"] and len(argv) == 2:
        print(help_text(Path(argv[1])))
        return 0
    if argv[:1] == ["stopped"] and len(argv) == 3 and argv[1] in STOPPED_BY:
        print(stopped_line(argv[1], argv[2]), file=sys.stderr)
        return STOPPED_BY[argv[1]][0]
    print(__doc__.strip().splitlines()[-1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
