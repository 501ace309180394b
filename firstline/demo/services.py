"""The processes the demo starts: one Prefect server and the runners serving it.

Each runs in a session of its own, with its log in the demo's run directory, so
that stopping it stops its children too and nothing else.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

from firstline.errors import FirstlineError

SERVER_START_TIMEOUT_SECONDS = 180.0
RUNNER_START_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 30.0
POLL_INTERVAL_SECONDS = 0.2
SERVING_LINE = "serving remediate-instance/on-alarm"
# Prefect's command line, with SQLite writers that queue (firstline.prefect_server).
PREFECT_COMMAND = (sys.executable, "-m", "firstline.prefect_server")

# How a runner process runs. glibc gives each busy thread a malloc arena of its
# own, and a fast runner starts threads for every run: in a 1,000-alarm storm its
# resident memory reached 369 MB with the default arenas and levelled off at
# about 300 MB with two. Set it in a production runner's environment too.
RUNNER_PROCESS_SETTINGS = {"MALLOC_ARENA_MAX": "2"}

# How long the embedded server may hold a task run's events before recording it.
TASK_RUN_FLUSH_SECONDS = 1

# How the embedded server runs. Services the demo never uses are off: fewer
# services, less load on the machine. So is the event persister, which stores
# every event: each incident makes about 22 (three per task run), with about seven
# resource rows each, and on SQLite that was a third of the server's work per
# incident. Runs, task runs, their states, logs and artifacts are stored as before,
# and automations still see every event as it passes; only the UI's event feed
# stays empty. Set it back to true (or move to PostgreSQL) to keep event history.
EMBEDDED_SERVER_SETTINGS = {
    "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_FOREMAN_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED": "false",
    # Task runs are recorded from their state events, by default one event per
    # transaction. Fifty at a time (or whatever came in the last second) cut the
    # server's CPU per incident by a quarter in a 1,000-alarm storm; a task run
    # then shows in the UI and the API up to a second after its state changed.
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "50",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": str(
        TASK_RUN_FLUSH_SECONDS
    ),
}


class DemoServiceError(FirstlineError):
    """A process the demo needs did not start; its log says why."""


def free_port() -> int:
    """A port of 127.0.0.1 that was free a moment ago (Prefect takes a number)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def prefect_environment(home: Path) -> dict[str, str]:
    """This environment without its Prefect settings, a home of its own, no
    telemetry."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("PREFECT_")
    }
    environment.update(
        {
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_HOME": str(home),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return environment


class ManagedProcess:
    """One child process in a session of its own, writing to a log file."""

    def __init__(self, name: str, log: Path) -> None:
        self.name = name
        self.log = log
        self._process: subprocess.Popen[bytes] | None = None

    def launch(self, command: list[str], environment: Mapping[str, str]) -> None:
        with self.log.open("ab") as log_file:
            self._process = subprocess.Popen(
                command,
                env=dict(environment),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def pid(self) -> int | None:
        """The process id, which is also its session's and group's, while it
        runs."""
        return None if self._process is None else self._process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_until(self, ready: Callable[[], bool], timeout_seconds: float) -> None:
        """Poll ``ready`` until it holds; raise if the process exits first."""
        deadline = time.monotonic() + timeout_seconds
        while not ready():
            process = self._process
            if process is None or process.poll() is not None:
                raise DemoServiceError(
                    f"{self.name} exited before it was ready; its log {self.log} "
                    f"ends:\n{self.output()[-3000:]}"
                )
            if time.monotonic() >= deadline:
                raise DemoServiceError(
                    f"{self.name} was not ready after {timeout_seconds:.0f} s; "
                    f"see its log {self.log}"
                )
            time.sleep(POLL_INTERVAL_SECONDS)

    def stop(self) -> None:
        """SIGTERM to its session, then SIGKILL if it lingers."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT_SECONDS)


class PrefectServer(ManagedProcess):
    """``prefect server start`` on 127.0.0.1, on SQLite unless given another
    database URL. It can be stopped and started again on the same port and
    database; ``extra_environment`` overrides any setting, and ``ui=False``
    leaves the UI out."""

    def __init__(
        self,
        home: Path,
        database_url: str | None = None,
        *,
        ui: bool = True,
        extra_environment: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__("the Prefect server", home / "server.log")
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_url = f"{self.url}/api"
        self.database_url = database_url or f"sqlite+aiosqlite:///{home / 'prefect.db'}"
        self.ui = ui
        self._extra_environment = dict(extra_environment or {})

    def environment(self) -> dict[str, str]:
        environment = prefect_environment(self.home)
        environment.update(
            {
                "PREFECT_API_DATABASE_CONNECTION_URL": self.database_url,
                "PREFECT_UI_ENABLED": "true" if self.ui else "false",
                "PREFECT_UI_API_URL": self.api_url,
                **EMBEDDED_SERVER_SETTINGS,
                **self._extra_environment,
            }
        )
        return environment

    def start(self) -> None:
        """Start the server and wait until it answers ``/api/health``; a server
        that does not is stopped again."""
        if self.pid is not None:
            raise RuntimeError(f"{self.name} on port {self.port} is already running")
        self.launch(
            [
                *PREFECT_COMMAND,
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            self.environment(),
        )
        try:
            self.wait_until(self._is_healthy, SERVER_START_TIMEOUT_SECONDS)
        except BaseException:
            self.stop()
            raise

    def _is_healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False


class Runner(ManagedProcess):
    """``python -m deployments.serve --mode fast``: the deployment served in
    threads of one process."""

    def __init__(self, home: Path, number: int) -> None:
        home.mkdir(parents=True, exist_ok=True)
        super().__init__(f"runner {number}", home / "runner.log")
        self.home = home

    def start(
        self,
        api_url: str,
        fleet_file: Path,
        aws_environment: Mapping[str, str],
        *,
        apply: bool,
    ) -> None:
        environment = prefect_environment(self.home)
        environment.update(aws_environment)
        environment.update(RUNNER_PROCESS_SETTINGS)
        environment["PREFECT_API_URL"] = api_url
        command = [
            sys.executable,
            "-m",
            "deployments.serve",
            "--fleet",
            str(fleet_file),
            "--mode",
            "fast",
            "--concurrency",
            "16",
        ]
        if not apply:
            command.append("--no-apply")
        self.launch(command, environment)

    def wait_until_serving(self) -> None:
        self.wait_until(
            lambda: SERVING_LINE in self.output(), RUNNER_START_TIMEOUT_SECONDS
        )
