"""Where a job's own lines go, and whether it was interrupted (no Spark).

spark-submit.sh sends everything Spark, the JVM and Python print to a log file of the run, and
names two pipes it relays to its own stdout and stderr in MEDIAEXTRACT_CONSOLE_OUT /
MEDIAEXTRACT_CONSOLE_ERR (spark-submit merges a Python driver's two streams into its own
stdout, so the driver cannot reach the console through them). `CONSOLE.attach()` opens them: the job's
`print`s then reach the console's stdout and its one-line errors the console's stderr, while
tracebacks and warnings stay in the log. Run any other way (tests, `python jobs/x.py`), the
process's own streams are the console.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import TextIO

CONSOLE_OUT = "MEDIAEXTRACT_CONSOLE_OUT"
CONSOLE_ERR = "MEDIAEXTRACT_CONSOLE_ERR"
RUN_LOG = "MEDIAEXTRACT_RUN_LOG"
# The line spark-submit.sh looks for in the log to know the job has already said why it failed.
REPORTED = "mediaextract: reported exit {code} on the console"


class Console:
    """The console of a run: its error stream, the run's log, and whether Ctrl-C came."""

    def __init__(self) -> None:
        self._err: TextIO | None = None
        self.run_log: str | None = None
        self.interrupted = False

    @property
    def err(self) -> TextIO:
        """The stream for our one-line errors and progress (the process's stderr unless attached)."""
        return self._err if self._err is not None else sys.stderr

    @property
    def wrapped(self) -> bool:
        """True when spark-submit.sh started this run (it then reports an interruption itself)."""
        return self._err is not None

    def attach(self, environ=os.environ) -> None:
        """Speak to the console spark-submit.sh names, if it names one we can open; and note Ctrl-C."""
        self.watch_interrupts()
        out_path, err_path = environ.get(CONSOLE_OUT), environ.get(CONSOLE_ERR)
        if not (out_path and err_path):
            return
        try:
            out, err = _open_pipe(out_path), _open_pipe(err_path)
        except OSError:  # no relay at the other end: everything stays in the log
            return
        sys.stdout = out
        self._err = err
        self.run_log = environ.get(RUN_LOG) or None

    def note_reported(self, code: int) -> None:
        """Write in the run's log that the failure with `code` was reported on the console."""
        if self.run_log:
            try:
                with open(self.run_log, "a", encoding="utf-8") as log_file:
                    log_file.write(REPORTED.format(code=code) + "\n")
            except OSError:
                pass

    def watch_interrupts(self) -> None:
        """Note Ctrl-C before whatever SIGINT handler is in place runs (pyspark installs one that
        cancels Spark's jobs); whatever that handler raises, the job sees KeyboardInterrupt once."""
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGINT)
        if getattr(previous, "_mediaextract", False) or previous == signal.SIG_IGN:
            return  # already watched; or Ctrl-C is ignored here (nohup, a background job)

        def on_interrupt(signum, frame):
            first = not self.interrupted
            self.interrupted = True
            if not first:
                return
            try:
                if callable(previous):
                    previous(signum, frame)
            except KeyboardInterrupt:
                raise
            except Exception:  # pyspark's handler calls a JVM that is stopping too
                pass
            raise KeyboardInterrupt

        on_interrupt._mediaextract = True
        signal.signal(signal.SIGINT, on_interrupt)


def _open_pipe(path: str) -> TextIO:
    """Open a named pipe of spark-submit.sh for writing, line-buffered; fail (never block) when
    nothing reads it any more."""
    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "w", buffering=1, encoding="utf-8", errors="replace")


CONSOLE = Console()
