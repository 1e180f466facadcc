"""scheduled: the extract of one period's deletions, for oozie-style schedulers (see README).

Exit codes: 0 done, or skipped because the period is done (_SUCCESS); 6 another run holds the
period's lock; otherwise extract's codes (2 bad input, 3 catalog, 4 credentials, 5 storage down),
with <output>/_FAILED saying why.
"""

from __future__ import annotations

import sys
from datetime import timedelta

from mediaextract import cli, schedule
from mediaextract.catalog import DeletionWindow
from mediaextract.errors import BadInput, MediaextractError
from mediaextract.extract import dry_run, run_extract
from mediaextract.hadoopfs import HadoopFS
from mediaextract.pipeline import Selection
from mediaextract.sampling import SampleSpec
from mediaextract.session import build_session


def main(argv) -> int:
    parser = cli.job_parser("scheduled", "Extract one period's deletions (scheduler entry point).")
    parser.add_argument("--nominal-time", required=True, help="the scheduler's nominal time (UTC)")
    parser.add_argument("--frequency", required=True, choices=schedule.FREQUENCIES)
    parser.add_argument("--output-root", required=True, help="periods go to <root>/snapshot=<period>/")
    parser.add_argument("--force", action="store_true", help="run a period even if it is done")
    parser.add_argument("--lock-stale-hours", type=float, default=48.0,
                        help="a lock older than this is stale (default 48)")
    parser.add_argument("--dry-run", action="store_true",
                        help="count what the period's extract would fetch; take no lock, write nothing")
    args = parser.parse_args(argv)
    cli.configure_logging(args.quiet, args.verbose)
    settings = cli.settings_from_args(args)
    period = schedule.period_before(cli.parse_utc(args.nominal_time, "--nominal-time"), args.frequency)
    selection = _selection(args, period, settings)  # before any work: its refusals are bad input
    spark = build_session(settings, f"mediaextract scheduled {period.label}", args.master)
    fs = HadoopFS(spark)
    root = args.output_root.rstrip("/")
    output = f"{root}/snapshot={period.label}"
    if fs.exists(f"{output}/_SUCCESS") and not args.force:
        print(f"{period.label}: already done ({output}/_SUCCESS); nothing to do")
        return 0
    say = (lambda line: None) if args.quiet else (lambda line: print(line, flush=True))
    if args.dry_run:
        dry_run(spark, settings, args.lists, output, args.column, out=say, selection=selection)
        return 0
    fs.mkdirs(f"{root}/_locks", 0o700)
    lock = schedule.PeriodLock(fs, f"{root}/_locks/snapshot={period.label}.lock",
                               timedelta(hours=args.lock_stale_hours))
    note = lock.acquire()
    if note:
        cli.log.warning("%s: %s", period.label, note)
    try:
        if fs.exists(f"{output}/_FAILED"):
            fs.delete(f"{output}/_FAILED")
        run_extract(spark, settings, args.lists, output, args.column, out=say, selection=selection)
    except BaseException as error:
        reason = str(error) if isinstance(error, MediaextractError) else f"{type(error).__name__}: {error}"
        fs.mkdirs(output, 0o700)
        fs.write_text(f"{output}/_FAILED", reason + "\n")
        raise
    finally:
        lock.release()
    return 0


def _selection(args, period, settings) -> Selection:
    """Return the period's deletion window (and any samples) as the pipeline's selection."""
    if settings["catalog.files"] != "deleted" or args.uploaded_since or args.uploaded_until:
        raise BadInput("scheduled selects deleted files by their deletion in a period: --files, "
                       "--uploaded-since and --uploaded-until are for extract and plan")
    return Selection(
        window=DeletionWindow(period.start, period.end,
                              tuple(m for v in args.media_type for m in v.split(",") if m),
                              tuple(m for v in args.mime for m in v.split(",") if m)),
        window_list=args.name or "deleted", samples=tuple(SampleSpec.parse(s) for s in args.sample),
        seed=args.seed)


if __name__ == "__main__":
    sys.exit(cli.run(main))
