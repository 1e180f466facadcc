"""Before any JVM: what spark-submit.sh refuses in the Spark options it was given.

    python -m mediaextract.submit_check [SPARK-SUBMIT OPTIONS]

spark-submit.sh runs this before it builds dist/ or starts spark-submit: speculation asked for
(submit_options.refuse_speculation) and a Kerberized cluster without a ticket or keytab
(kerberos.check) are one line on stderr and exit 2, not minutes of Spark's retries or a
speculative task fetching objects twice.
"""

from __future__ import annotations

import os
import shutil
import sys

from . import kerberos
from .errors import MediaextractError
from .submit_options import parse, refuse_speculation


def main(argv: list[str]) -> int:
    try:
        refuse_speculation(parse(argv, os.environ))
        kerberos.check(argv, os.environ, shutil.which("klist"))
    except MediaextractError as error:
        print(f"mediaextract: error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
