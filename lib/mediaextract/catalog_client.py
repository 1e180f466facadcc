"""The catalog's MariaDB over pymysql, for what is no Spark JDBC read (no Spark here).

Two users: the driver's one small query for filearchive's partition bounds, and the executors'
label lookups (labels.attach), where each task asks for its own share of the keys in batches:
keys that stay in the executors never pass through the driver, whatever their number.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from typing import Iterable, Iterator

from .errors import CatalogUnreachable, MediaextractError


@dataclass(frozen=True)
class Login:
    """Where the catalog is and who we are there (picklable: a task carries it to an executor)."""

    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)  # never in a log line or a traceback's locals
    connect_timeout_s: float = 10.0

    def connect(self):
        """Return an open pymysql connection, or raise CatalogUnreachable (one line)."""
        import pymysql  # imported here: the driver's settings checks need no database driver

        try:
            return pymysql.connect(host=self.host, port=self.port, database=self.database,
                                   user=self.user, password=self.password,
                                   connect_timeout=self.connect_timeout_s,
                                   read_timeout=max(30, self.connect_timeout_s))
        except pymysql.err.OperationalError as error:
            code, message = (error.args + (None, ""))[:2]
            if code in (1044, 1045):
                raise CatalogUnreachable(f"catalog {self.host}:{self.port} refused user "
                                         f"{self.user!r}: {message}") from None
            raise CatalogUnreachable(f"catalog {self.host}:{self.port}/{self.database} unreachable: "
                                     f"{message or error}") from None


def batched(keys: Iterable, size: int) -> Iterator[list]:
    """Yield the keys in lists of at most size, in their order (streamed: a partition's keys are
    never all held at once)."""
    keys = iter(keys)
    while batch := list(islice(keys, size)):
        yield batch


def select_in(login: Login, query: str, keys: Iterable, size: int) -> Iterator[tuple]:
    """Yield the rows of `query` for the keys, one query per batch of at most size keys over one
    connection, opened at the first batch (none for no keys).

    query ends in `IN ({keys})`; the keys are sent as parameters, which pymysql escapes: no key is
    ever pasted into SQL text by us.
    """
    import pymysql

    connection = None
    try:
        for batch in batched(keys, size):
            if connection is None:
                connection = login.connect()
            try:
                with connection.cursor() as cursor:
                    cursor.execute(query.format(keys=", ".join(["%s"] * len(batch))), batch)
                    rows = cursor.fetchall()
            except (pymysql.err.OperationalError, pymysql.err.InterfaceError) as error:  # gone mid-run
                raise CatalogUnreachable(f"catalog {login.host}:{login.port}/{login.database} query failed: "
                                         f"{str(error).splitlines()[0] if str(error) else type(error).__name__}") from None
            yield from rows
    finally:
        if connection is not None:
            connection.close()


# How a task's CatalogUnreachable reads in the error Spark hands the driver: the task's Python
# traceback is in its text, ending in the exception's qualified name and its one line.
_TASK_UNREACHABLE = re.compile(r"\bCatalogUnreachable: ([^\r\n]+)")


def unreachable_in(error: BaseException) -> CatalogUnreachable | None:
    """Return the CatalogUnreachable a task raised, found in the error the driver got, or None."""
    match = _TASK_UNREACHABLE.search(str(error))
    return CatalogUnreachable(match.group(1).strip()) if match else None


@contextmanager
def tasks_reaching_the_catalog():
    """Run Spark jobs whose tasks ask the catalog (the label lookups): a task's CatalogUnreachable
    is the driver's own one-line error (exit 3), not a Spark failure that reads as a bug."""
    try:
        yield
    except MediaextractError:
        raise
    except Exception as error:
        unreachable = unreachable_in(error)
        if unreachable is None:
            raise
        raise unreachable from None


def text(value) -> str | None:
    """Return a catalog value as text: MediaWiki's text columns are bytes (UTF-8) on MariaDB."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return value
