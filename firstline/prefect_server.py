"""``prefect`` with SQLite writers that queue instead of failing.

    python -m firstline.prefect_server server start --host 127.0.0.1 --port 4200

runs Prefect's own command line, after one change to how its server opens
transactions on SQLite. Prefect opens most of them ``BEGIN DEFERRED``: a
transaction reads first and asks for the write lock only at its first write. In
WAL mode, if another writer committed in between, SQLite refuses that upgrade at
once (``SQLITE_BUSY_SNAPSHOT``) without waiting out its busy timeout, and the API
answers 503 "database is locked". Under an alarm storm most writes fail this way
and every client falls back on its retries. Here every transaction on SQLite
starts ``BEGIN IMMEDIATE``, as Prefect already does for its state changes: a
writer waits in line for the lock (up to the 60 s busy timeout Prefect sets)
and then cannot be refused. Reading inside a transaction now waits for the lock
too; reads outside one, most of the API's, do not.

The change touches a method of Prefect's server (``AioSqliteConfiguration.
begin_transaction``) checked to behave so in the Prefect release this project
pins. If that method no longer takes ``with_for_update``, the server starts
unchanged and says so on standard error. A PostgreSQL server is never changed.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Any

PATCHED_MARK = "_firstline_immediate"


def make_sqlite_writers_queue() -> bool:
    """Open every SQLite transaction of this process's Prefect server IMMEDIATE.

    Returns whether the change was made (or had been made before).
    """
    from prefect.server.database.configurations import AioSqliteConfiguration

    original: Callable[..., Any] = AioSqliteConfiguration.begin_transaction
    if getattr(original, PATCHED_MARK, False):
        return True
    if "with_for_update" not in inspect.signature(original).parameters:
        return False

    def begin_immediate(
        self: AioSqliteConfiguration, session: Any, with_for_update: bool = False
    ) -> Any:
        return original(self, session, with_for_update=True)

    setattr(begin_immediate, PATCHED_MARK, True)
    AioSqliteConfiguration.begin_transaction = begin_immediate  # type: ignore[method-assign]
    return True


def main(argv: list[str] | None = None) -> int:
    if not make_sqlite_writers_queue():
        print(
            "firstline: this Prefect release opens SQLite transactions differently; "
            "starting it unchanged (expect 503 'database is locked' under load)",
            file=sys.stderr,
        )
    from prefect.cli import app

    sys.argv = ["prefect", *(sys.argv[1:] if argv is None else argv)]
    # Prefect's command line ends the process itself with its own exit status.
    app()
    return 0


if __name__ == "__main__":
    sys.exit(main())
