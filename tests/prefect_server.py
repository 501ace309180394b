"""A real Prefect server for tests: the demo's embedded server
(``firstline.demo.services.PrefectServer``) without its UI.

The server runs in a session of its own, with a ``PREFECT_HOME`` and database of
its own, and can be stopped and started again on the same port and database.
Starting takes 10 to 80 s on a loaded machine: start one per module or package.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from firstline.demo import services

POLL_INTERVAL_SECONDS = 0.2
# Tests that turn the event persister on read the events soon after.
TEST_SERVER_SETTINGS = {"PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "0.2"}

T = TypeVar("T")


def wait_for(condition: Callable[[], T | None], timeout_seconds: float, what: str) -> T:
    """The first result of ``condition`` that is not None, polled until a deadline.

    ``what`` completes "AssertionError: <what> within N s".
    """
    deadline = time.monotonic() + timeout_seconds
    while True:
        result = condition()
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} within {timeout_seconds:.0f} s")
        time.sleep(POLL_INTERVAL_SECONDS)


class PrefectServer(services.PrefectServer):
    """The demo's server on SQLite, without the UI; ``extra_environment`` may
    point it at another database."""

    def __init__(
        self, home: Path, extra_environment: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(
            home,
            ui=False,
            extra_environment={**TEST_SERVER_SETTINGS, **(extra_environment or {})},
        )


@contextmanager
def running_prefect_server(
    home: Path, extra_environment: Mapping[str, str] | None = None
) -> Iterator[PrefectServer]:
    """A started ``PrefectServer``, stopped on exit."""
    server = PrefectServer(home, extra_environment)
    server.start()
    try:
        yield server
    finally:
        server.stop()
