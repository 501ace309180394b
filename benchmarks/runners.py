"""``python -m deployments.serve`` processes for the benchmarks, and their memory.

A runner gets the sandbox's AWS environment, a Prefect home of its own and the
API URL it is given; its output goes to ``runner.log`` in its home.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firstline.demo.services import RUNNER_PROCESS_SETTINGS, prefect_environment

REPOSITORY = Path(__file__).resolve().parents[1]
START_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 90.0
SERVING_MARK = "serving remediate-instance/on-alarm"


@dataclass
class RunnerProcess:
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until_serving(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while SERVING_MARK not in self.output():
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the runner exited with {self.process.returncode}:\n"
                    f"{self.output()[-3000:]}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the runner was not serving after {START_TIMEOUT_SECONDS:.0f} s"
                )
            time.sleep(0.2)

    def rss_bytes(self) -> int:
        """Resident memory of the runner and its children, 0 once it has exited."""
        return sum(_rss_bytes(pid) for pid in _process_tree(self.pid))

    def stop(self) -> int:
        """SIGTERM (the runner drains), then SIGKILL; the exit status."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait(timeout=STOP_TIMEOUT_SECONDS)


def start_runner(
    home: Path,
    api_url: str,
    sandbox: Any,
    fleet_file: Path,
    arguments: tuple[str, ...] = (),
) -> RunnerProcess:
    home.mkdir(parents=True, exist_ok=True)
    environment = prefect_environment(home)
    environment.update(sandbox.aws_env())
    environment.update(RUNNER_PROCESS_SETTINGS)
    environment.update({"PREFECT_API_URL": api_url, "PREFECT_LOGGING_LEVEL": "WARNING"})
    log = home / "runner.log"
    command = [
        sys.executable,
        "-m",
        "deployments.serve",
        "--fleet",
        str(fleet_file),
        *arguments,
    ]
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=REPOSITORY,
            env=environment,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return RunnerProcess(process, log)


class MemorySampler:
    """Samples the runners' resident memory every 0.5 s; keeps the peak of their
    sum and each one's own peak. ``runners`` may still grow until ``start``."""

    def __init__(self, runners: list[RunnerProcess]) -> None:
        self.runners = runners
        self.peak_bytes = 0
        self.peak_bytes_each: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def start(self) -> None:
        self.peak_bytes_each = [0] * len(self.runners)
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling; harmless if sampling never started."""
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            each = [runner.rss_bytes() for runner in self.runners]
            self.peak_bytes = max(self.peak_bytes, sum(each))
            self.peak_bytes_each = [
                max(peak, now)
                for peak, now in zip(self.peak_bytes_each, each, strict=True)
            ]
            self._stop.wait(0.5)


def _process_tree(pid: int) -> list[int]:
    pids = [pid]
    for child_pid in _children(pid):
        pids += _process_tree(child_pid)
    return pids


def _children(pid: int) -> list[int]:
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    children: list[int] = []
    for thread in tasks:
        try:
            text = Path(f"/proc/{pid}/task/{thread}/children").read_text()
        except OSError:
            continue
        children += [int(part) for part in text.split()]
    return children


def _rss_bytes(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0
