"""The settings of a cluster-mode run, checked on the client before spark-submit (spark-submit.sh).

In YARN's cluster mode the driver runs in a container: a refusal there would only fail the
application, far from the user, without a line of ours. So the job's --conf and --set, and a
secrets file on Hadoop's file system, are checked here first: one line on stdout (spark-submit.sh
puts it on stderr, the JVM's own output aside) and the error's exit code. A secrets file named by
a plain path is not read: it is a file of the node the driver runs on, not of this machine.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from .config import load_values, on_hadoop, read_secrets_file
from .errors import EXIT_BUG, BadInput, MediaextractError


def settings_args(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """Return the --conf file and the --set pairs among a job's arguments (the rest is the job's);
    --files is catalog.files, as the job takes it (cli.settings_from_args)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    parser.add_argument("--conf")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--files")
    try:
        args, _ = parser.parse_known_args(list(argv))
    except argparse.ArgumentError as error:  # argparse would print its usage and exit: one line instead
        raise BadInput(str(error)) from None
    return args.conf, [*args.overrides, *([f"catalog.files={args.files}"] if args.files else [])]


def check(argv: Sequence[str]) -> None:
    """Raise MediaextractError when the job's settings, or its secrets file on Hadoop, are refused."""
    values = load_values(*settings_args(argv))
    if values["secrets_file"] and on_hadoop(values["secrets_file"]):
        read_secrets_file(values["secrets_file"])


def main(argv: Sequence[str]) -> int:
    try:
        check(argv)
    except MediaextractError as error:
        print(f"mediaextract: error: {error}", flush=True)
        return error.exit_code
    except Exception as error:  # the JVM would not start, or a bug: the driver will say more
        print(f"mediaextract: error: could not check the settings before submitting: {error}", flush=True)
        return EXIT_BUG
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
