"""What the deployment tests share: the sandbox fleet, runner processes, API reads.

``Runners`` starts ``python -m deployments.serve`` processes against the tests'
Prefect server, with the sandbox's AWS environment and fleet file, and keeps the
set a test asks for (``use``), so that tests do not depend on their order.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
)
from prefect.client.schemas.objects import FlowRun, State, StateType
from prefect.events.schemas.automations import Automation

from firstline.demo.services import prefect_environment
from sandbox import Sandbox, SandboxInstance
from sandbox.fleetfile import write_fleet_file
from tests.prefect_server import PrefectServer, wait_for

# The relay's Lambda handler as the ``relay`` fixture gives it.
RelayHandler = Callable[[dict[str, Any]], dict[str, str | bool | None]]

REPOSITORY = Path(__file__).resolve().parents[2]
DEPLOYMENT = "remediate-instance/on-alarm"
RUNNER_START_TIMEOUT_SECONDS = 90.0
RUNNER_STOP_TIMEOUT_SECONDS = 60.0
FINAL_STATES = {
    StateType.COMPLETED,
    StateType.FAILED,
    StateType.CRASHED,
    StateType.CANCELLED,
}
# Seconds in the sandbox's clock: a 600 s window lasts 6 s at time_scale 0.01.
FAST_FLEET_DEFAULTS = {
    "checks": {"url": {"timeout_seconds": 0.5}, "ssh": {"timeout_seconds": 0.5}},
    "recovery": {
        "window_seconds": 6,
        "check_interval_seconds": 0.3,
        "ready_poll_interval_seconds": 0.1,
    },
    "guards": {"breaker": {"enabled": False}},
}


class Fleet:
    """The sandbox's instances and the fleet file every runner reads."""

    def __init__(self, sandbox: Sandbox, path: Path) -> None:
        self.sandbox = sandbox
        self.path = path
        self.write()

    def write(self) -> None:
        write_fleet_file(
            self.path, self.sandbox.instances, defaults=FAST_FLEET_DEFAULTS
        )

    def add(self, name: str, **options: Any) -> SandboxInstance:
        """A new sandbox instance, written into the fleet file before it returns."""
        instance = self.sandbox.add_instance("eu-west-1", name, **options)
        self.write()
        return instance


@dataclass
class RunnerProcess:
    """One ``python -m deployments.serve`` process and its log."""

    mode: str
    arguments: tuple[str, ...]
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until_serving(self) -> None:
        def serving() -> bool | None:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the runner exited with {self.process.returncode}:\n"
                    f"{self.output()[-4000:]}"
                )
            return (
                True if "serving remediate-instance/on-alarm" in self.output() else None
            )

        wait_for(serving, RUNNER_START_TIMEOUT_SECONDS, "the runner was not serving")

    def signal(self, signum: int) -> None:
        os.killpg(self.process.pid, signum)

    def stop(self) -> int:
        """Stop the runner (SIGTERM, then SIGKILL) and return its exit status."""
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=RUNNER_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            return self.process.wait(timeout=RUNNER_STOP_TIMEOUT_SECONDS)


class Runners:
    """The runner processes serving the deployment for the tests."""

    def __init__(self, server: PrefectServer, fleet: Fleet, workdir: Path) -> None:
        self.server = server
        self.fleet = fleet
        self.workdir = workdir
        self.running: list[RunnerProcess] = []
        self._started = 0

    def environment(self, home: Path) -> dict[str, str]:
        environment = prefect_environment(home)
        environment.update(self.fleet.sandbox.aws_env())
        environment.update(
            {
                "PREFECT_API_URL": self.server.api_url,
                "PREFECT_RUNNER_POLL_FREQUENCY": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        return environment

    def use(self, *wanted: tuple[str, tuple[str, ...]]) -> list[RunnerProcess]:
        """Exactly the runners ``wanted`` ((mode, extra arguments) each), the first
        of them applying the deployment. Running ones that match a prefix of
        ``wanted`` are kept; the others are stopped and the missing ones started.
        """
        kept = 0
        for runner, (mode, arguments) in zip(self.running, wanted, strict=False):
            alive = runner.process.poll() is None
            if not alive or (runner.mode, runner.arguments) != (mode, arguments):
                break
            kept += 1
        while len(self.running) > kept:
            self.running.pop().stop()

        for index in range(kept, len(wanted)):
            mode, arguments = wanted[index]
            runner = self.start(mode, arguments, apply=index == 0)
            self.running.append(runner)
            # The others read the deployment the first one applies.
            if index == 0:
                runner.wait_until_serving()
        for runner in self.running[max(kept, 1) :]:
            runner.wait_until_serving()
        return list(self.running)

    def start(
        self, mode: str, arguments: Iterable[str] = (), *, apply: bool = True
    ) -> RunnerProcess:
        self._started += 1
        home = self.workdir / f"runner-{self._started}"
        home.mkdir()
        log = home / "runner.log"
        command = [
            sys.executable,
            "-m",
            "deployments.serve",
            "--fleet",
            str(self.fleet.path),
            "--mode",
            mode,
            *arguments,
        ]
        if not apply:
            command.append("--no-apply")
        with log.open("wb") as log_file:
            process = subprocess.Popen(
                command,
                cwd=REPOSITORY,
                env=self.environment(home),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return RunnerProcess(mode, tuple(arguments), process, log)

    def stop_all(self) -> None:
        while self.running:
            self.running.pop().stop()


class ApiReader:
    """Reads of the tests' Prefect server, through Prefect's own client."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url

    def client(self) -> SyncPrefectClient:
        return SyncPrefectClient(self.api_url)

    def deployment_id(self) -> UUID:
        with self.client() as client:
            return client.read_deployment_by_name(DEPLOYMENT).id

    def deployment_work_pool(self) -> str | None:
        with self.client() as client:
            return client.read_deployment_by_name(DEPLOYMENT).work_pool_name

    def automations(self, name: str) -> list[Automation]:
        with self.client() as client:
            return client.read_automations_by_name(name)

    def flow_runs(self) -> list[FlowRun]:
        with self.client() as client:
            return client.read_flow_runs(
                deployment_filter=DeploymentFilter(
                    id=DeploymentFilterId(any_=[self.deployment_id()])
                ),
                limit=200,
            )

    def runs_for_alarm(self, eventbridge_event_id: str) -> list[FlowRun]:
        return [
            run
            for run in self.flow_runs()
            if (run.parameters.get("alarm") or {}).get("event_id")
            == eventbridge_event_id
        ]

    def flow_run(self, flow_run_id: UUID) -> FlowRun:
        with self.client() as client:
            return client.read_flow_run(flow_run_id)

    def states(self, flow_run_id: UUID) -> list[State]:
        with self.client() as client:
            return client.read_flow_run_states(flow_run_id)

    def wait_until_final(self, flow_run_id: UUID, timeout_seconds: float) -> FlowRun:
        def final() -> FlowRun | None:
            run = self.flow_run(flow_run_id)
            return (
                run
                if run.state is not None and run.state.type in FINAL_STATES
                else None
            )

        return wait_for(final, timeout_seconds, f"flow run {flow_run_id} did not end")

    def wait_until_running(
        self, eventbridge_event_id: str, timeout_seconds: float
    ) -> FlowRun:
        """The run the alarm started, once it is Running."""

        def running() -> FlowRun | None:
            for run in self.runs_for_alarm(eventbridge_event_id):
                if run.state is not None and run.state.type is StateType.RUNNING:
                    return run
            return None

        return wait_for(
            running, timeout_seconds, f"no run for {eventbridge_event_id} was running"
        )

    def wait_for_alarm_run(
        self, eventbridge_event_id: str, timeout_seconds: float
    ) -> FlowRun:
        """The run the alarm started, once it has ended."""
        runs = wait_for(
            lambda: self.runs_for_alarm(eventbridge_event_id) or None,
            timeout_seconds,
            f"no run for the alarm {eventbridge_event_id} appeared",
        )
        return self.wait_until_final(runs[0].id, timeout_seconds)


def claim_messages(states: Iterable[State]) -> list[str]:
    return [state.message or "" for state in states if state.type is StateType.PENDING]


def running_count(states: Iterable[State]) -> int:
    return sum(1 for state in states if state.type is StateType.RUNNING)


def flow_run_id_from_cli(output: str) -> UUID:
    match = re.search(r"UUID: ([0-9a-f-]{36})", output)
    if match is None:
        raise AssertionError(f"no flow run UUID in the CLI's output:\n{output}")
    return UUID(match.group(1))
