"""A real Prefect server for tests: ``prefect server start`` on 127.0.0.1, SQLite,
set up as the demo's embedded server (``EMBEDDED_SERVER_SETTINGS``).

The server runs in a session of its own, with a ``PREFECT_HOME`` and database of
its own, and can be stopped and started again on the same port and database.
Starting takes 10 to 80 s on a loaded machine: start one per module or package.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from firstline.demo.services import (
    EMBEDDED_SERVER_SETTINGS,
    PREFECT_COMMAND,
    prefect_environment,
)

STARTUP_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 20.0
POLL_INTERVAL_SECONDS = 0.2

T = TypeVar("T")


def free_port() -> int:
    """A port of 127.0.0.1 free a moment ago (Prefect takes a number, not 0)."""
    # The kernel's pick is free again once this socket closes; another process
    # might take it first, which the server's start then reports.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


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


class PrefectServer:
    """One ``prefect server start`` process, which can be stopped and restarted."""

    def __init__(
        self, home: Path, extra_environment: Mapping[str, str] | None = None
    ) -> None:
        self.home = home
        self.port = free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.log = home / "server.log"
        self._extra_environment = dict(extra_environment or {})
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The server's process id, which is also its process group's, while it
        runs."""
        return None if self._process is None else self._process.pid

    def environment(self) -> dict[str, str]:
        environment = prefect_environment(self.home)
        environment.update(
            {
                "PREFECT_API_DATABASE_CONNECTION_URL": (
                    f"sqlite+aiosqlite:///{self.home / 'prefect.db'}"
                ),
                "PREFECT_UI_ENABLED": "false",
                "PREFECT_UI_API_URL": self.api_url,
                "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "0.2",
                **EMBEDDED_SERVER_SETTINGS,
                **self._extra_environment,
            }
        )
        return environment

    def start(self) -> None:
        """Start the server and wait until it answers ``/api/health``."""
        if self._process is not None:
            raise RuntimeError("this Prefect server is already running")
        with self.log.open("ab") as log_file:
            self._process = subprocess.Popen(
                [
                    *PREFECT_COMMAND,
                    "server",
                    "start",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                env=self.environment(),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_for(
                self._is_healthy,
                STARTUP_TIMEOUT_SECONDS,
                f"the Prefect server on port {self.port} did not answer /api/health",
            )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server (its whole process group) and wait for it to exit."""
        process, self._process = self._process, None
        if process is None:
            return
        # The server was started in a session of its own: its group is only its
        # own processes.
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT_SECONDS)

    def _is_healthy(self) -> bool | None:
        process = self._process
        if process is None or process.poll() is not None:
            raise AssertionError(
                f"prefect server exited early:\n{self.log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as answer:
                return True if answer.status == 200 else None
        except (urllib.error.URLError, OSError):
            return None


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
