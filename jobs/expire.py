"""expire: delete every data set (and its exports) past the date its _metadata.json gives."""

from __future__ import annotations

import sys
from datetime import datetime, timezone

from mediaextract import cli
from mediaextract.governance.expire import expire
from mediaextract.errors import BadInput
from mediaextract.session import build_session


def parse_now(text: str | None) -> datetime | None:
    """Return --now as an aware UTC datetime (None: the clock)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"--now must be an ISO date or time, e.g. 2025-01-31T00:00:00Z, not {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def main(argv) -> int:
    parser = cli.job_parser("expire", "Delete data sets past their expiry date (audited).", lists=False)
    parser.add_argument("--root", action="append", default=[], metavar="PATH",
                        help="also look here (repeatable; every configured root always is)")
    parser.add_argument("--warn-days", type=float, metavar="N",
                        help="only list data sets expired or expiring within N days; delete nothing")
    parser.add_argument("--dry-run", action="store_true", help="list what would be deleted; change nothing")
    parser.add_argument("--now", metavar="ISO", help="the time to judge by (default: now; for schedulers and tests)")
    args = parser.parse_args(argv)
    cli.configure_logging(args.quiet, args.verbose)
    settings = cli.settings_from_args(args)
    now = parse_now(args.now)
    spark = build_session(settings, "mediaextract expire", args.master)
    expire(spark, settings, args.root, now=now, warn_days=args.warn_days, dry_run=args.dry_run,
                      out=lambda line: print(line, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
