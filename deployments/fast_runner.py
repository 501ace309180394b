"""Run a deployment's flow runs in threads of this process, one Python for all.

``FastRunner.serve`` polls the API for the deployment's Scheduled runs every
``poll_interval_seconds``, claims each by proposing Pending, and runs it with
Prefect's flow engine (``prefect.flow_engine.run_flow``, which resolves the run's
parameters and then calls ``run_flow_sync``) in a thread of its own, at most
``concurrency`` runs at once. The server's orchestration aborts a second
Pending -> Pending proposal, so a run claimed by another runner, or by a worker,
is skipped: several runners may serve one deployment and no run executes twice.

Compared with Prefect's ``Runner`` (``flow.serve``), a run starts without a new
Python process (on a busy 2-CPU machine, p50 3.0 s instead of 6.5 s from alarm to
first check), and pays for it:

- runs share one interpreter: a run that hangs in C code or leaks memory affects
  the others, and a crash of the process ends every run in it (the server keeps
  them Running until someone marks them);
- cancelling a run in the UI moves it to Cancelling but does not interrupt its
  thread; the run goes on to its own end;
- a flow with retries would pass through a Scheduled (AwaitingRetry) state that a
  runner could claim again; ``remediate-instance`` declares no retries, and no
  other flow should be served this way without checking that first.

On ``stop`` the runner claims nothing more and waits up to
``shutdown_grace_seconds`` for its runs to end; a run still going after that (or
after a second ``stop``) is reported Crashed with a message saying why, so that
nobody waits on it, and the process must then end at once: a thread cannot be
stopped, and one left running through the interpreter's shutdown fails and
reports its run Failed over the Crashed state. Between the report and the end of
the process, a run that finishes on its own can still record its verdict. While
the API is unreachable, a stop waits for the call in progress to give up first:
about 12 s with the default ``ApiRetry``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

import httpx
from prefect import Flow, get_client
from prefect.client.schemas.objects import FlowRun, State
from prefect.flow_engine import run_flow
from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings
from prefect.states import Crashed

from deployments.api import ApiRetry, ApiUnavailableError, RunnerApi
from firstline.errors import ConfigError

logger = logging.getLogger("firstline.deployments.fast_runner")


@dataclass(frozen=True)
class FastRunnerSettings:
    """How a fast runner polls, how many runs it holds, and how it stops."""

    concurrency: int = 8
    poll_interval_seconds: float = 0.25
    shutdown_grace_seconds: float = 60.0
    mark_polled_interval_seconds: float = 10.0
    retry: ApiRetry = field(default_factory=ApiRetry)

    def __post_init__(self) -> None:
        if not 1 <= self.concurrency <= 64:
            raise ConfigError(f"concurrency is {self.concurrency}; use 1 to 64")
        if not 0.05 <= self.poll_interval_seconds <= 60:
            raise ConfigError(
                f"poll_interval_seconds is {self.poll_interval_seconds}; "
                "use 0.05 to 60 seconds"
            )
        if not 0 <= self.shutdown_grace_seconds <= 3600:
            raise ConfigError(
                f"shutdown_grace_seconds is {self.shutdown_grace_seconds}; "
                "use 0 to 3600 seconds"
            )
        if not 1 <= self.mark_polled_interval_seconds <= 300:
            raise ConfigError(
                f"mark_polled_interval_seconds is {self.mark_polled_interval_seconds}"
                "; use 1 to 300 seconds"
            )


class FastRunner:
    """Serves one deployment of ``flow`` from this process; see the module."""

    def __init__(
        self,
        flow: Flow[..., Any],
        deployment_id: UUID,
        settings: FastRunnerSettings | None = None,
        *,
        name: str | None = None,
    ) -> None:
        self.flow = flow
        self.deployment_id = deployment_id
        self.settings = settings or FastRunnerSettings()
        self.name = name or f"{socket.gethostname()}/{os.getpid()}/{uuid4().hex[:8]}"
        self.claim_message = f"Claimed by firstline fast runner {self.name}"
        self._stopping = threading.Event()
        self._abandoning = threading.Event()
        self._lock = threading.Lock()
        self._run_ended = threading.Condition(self._lock)
        self._in_flight: dict[UUID, FlowRun] = {}

    @property
    def in_flight(self) -> int:
        """How many runs this runner is executing now."""
        with self._lock:
            return len(self._in_flight)

    def stop(self) -> None:
        """Stop claiming runs; called a second time, stop waiting for them too."""
        if self._stopping.is_set():
            self._abandoning.set()
        self._stopping.set()

    def serve(self) -> int:
        """Poll, claim and run until ``stop``; then wait for the runs in flight.

        Returns how many runs were still going when the wait ended; they were
        reported Crashed, and their threads still run: the caller should end the
        process at once (``os._exit``), before one of them changes its run's
        state again.
        """
        with (
            temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: 0}),
            get_client(sync_client=True) as client,
        ):
            self._poll_until_stopped(RunnerApi(client, self.settings.retry))
        return self._drain()

    def _poll_until_stopped(self, api: RunnerApi) -> None:
        next_mark_at = 0.0
        failing_since: float | None = None
        while not self._stopping.is_set():
            try:
                if time.monotonic() >= next_mark_at:
                    api.mark_polled(self.deployment_id)
                    next_mark_at = (
                        time.monotonic() + self.settings.mark_polled_interval_seconds
                    )
                self._claim_and_start(api)
            except ApiUnavailableError as exc:
                if failing_since is None:
                    logger.warning("%s; the runner keeps polling", exc)
                failing_since = failing_since or time.monotonic()
            except httpx.HTTPError:
                if failing_since is None:
                    logger.exception(
                        "polling deployment %s failed; the runner keeps polling",
                        self.deployment_id,
                    )
                failing_since = failing_since or time.monotonic()
            else:
                if failing_since is not None:
                    logger.info(
                        "polling deployment %s works again after %.1f s",
                        self.deployment_id,
                        time.monotonic() - failing_since,
                    )
                    failing_since = None
            self._stopping.wait(self.settings.poll_interval_seconds)

    def _claim_and_start(self, api: RunnerApi) -> None:
        free_slots = self.settings.concurrency - self.in_flight
        if free_slots <= 0:
            return
        for flow_run in api.scheduled_runs(self.deployment_id, free_slots):
            if self._stopping.is_set():
                return
            claimed = api.claim(flow_run, self.claim_message)
            if claimed is None:
                logger.debug("flow run %s was claimed elsewhere", flow_run.id)
                continue
            self._start(claimed)

    def _start(self, flow_run: FlowRun) -> None:
        logger.info(
            "claimed flow run %s (%s); running it in this process",
            flow_run.name,
            flow_run.id,
        )
        with self._lock:
            self._in_flight[flow_run.id] = flow_run
        thread = threading.Thread(
            target=self._execute,
            args=(flow_run,),
            name=f"flow-run-{flow_run.id}",
            daemon=True,
        )
        thread.start()

    def _execute(self, flow_run: FlowRun) -> None:
        try:
            state = run_flow(self.flow, flow_run=flow_run, return_type="state")
        except Exception as exc:
            # The engine turns the flow's own errors into a Failed state; what
            # arrives here broke the engine itself.
            logger.exception("flow run %s crashed in the fast runner", flow_run.id)
            _report_crashed(flow_run, f"the fast runner's engine failed: {exc!r}")
        else:
            logger.info(
                "flow run %s (%s) ended %s",
                flow_run.name,
                flow_run.id,
                state.name if isinstance(state, State) else "without a state",
            )
        finally:
            with self._lock:
                self._in_flight.pop(flow_run.id, None)
                self._run_ended.notify_all()

    def _drain(self) -> int:
        deadline = time.monotonic() + self.settings.shutdown_grace_seconds
        with self._lock:
            while self._in_flight and not self._abandoning.is_set():
                remaining_seconds = deadline - time.monotonic()
                if remaining_seconds <= 0:
                    break
                self._run_ended.wait(min(remaining_seconds, 0.5))
            left = list(self._in_flight.values())

        for flow_run in left:
            logger.warning(
                "flow run %s (%s) is still running as the fast runner %s stops; "
                "reporting it Crashed",
                flow_run.name,
                flow_run.id,
                self.name,
            )
            _report_crashed(
                flow_run,
                f"the fast runner {self.name} stopped before this run ended; the "
                "instance may be part-way through remediation: check it, then run "
                "the deployment again by hand",
            )
        return len(left)


def _report_crashed(flow_run: FlowRun, message: str) -> None:
    try:
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(flow_run.id, Crashed(message=message))
    except httpx.HTTPError:
        logger.exception(
            "could not report flow run %s Crashed; it stays in its last state",
            flow_run.id,
        )
