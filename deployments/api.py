"""The Prefect API calls a fast runner makes, each retried briefly when it may pass.

A SQLite-backed server answers 503 while its database is locked, and a server
being restarted refuses connections. Prefect's client retries both, but with
waits of 2, 4, 8, 16 and 32 s; a runner polling every quarter of a second turns
those retries off for its own calls (``PREFECT_CLIENT_MAX_RETRIES=0`` for the
thread that polls) and retries here, after 0.1, 0.2, 0.4 ... s, a bounded number
of times. Flow runs keep Prefect's own retries: they run in other threads.
Prefect's HTTP transport still retries a refused connection three times within
1.5 s, so each attempt against a stopped server takes that long.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import httpx
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas import OrchestrationResult
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterNextScheduledStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.responses import SetStateStatus
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectNotFound
from prefect.states import Pending

from firstline.errors import ConfigError, FirstlineError

logger = logging.getLogger("firstline.deployments.api")

PASSING_STATUS_CODES = frozenset({429, 502, 503, 504})

T = TypeVar("T")


class ApiUnavailableError(FirstlineError):
    """The Prefect API stayed unreachable or busy for every attempt of one call."""


@dataclass(frozen=True)
class ApiRetry:
    """How often a runner's call is tried: attempt n waits ``backoff_seconds *
    2 ** (n - 2)`` seconds first, at most ``max_backoff_seconds``."""

    max_attempts: int = 6
    backoff_seconds: float = 0.1
    max_backoff_seconds: float = 2.0

    def __post_init__(self) -> None:
        if not 1 <= self.max_attempts <= 20:
            raise ConfigError(f"max_attempts is {self.max_attempts}; use 1 to 20")
        if not 0 <= self.backoff_seconds <= self.max_backoff_seconds <= 60:
            raise ConfigError(
                f"backoff_seconds is {self.backoff_seconds} and max_backoff_seconds "
                f"{self.max_backoff_seconds}; use 0 <= backoff <= max backoff <= 60"
            )

    def delay_before_seconds(self, attempt: int) -> float:
        if attempt <= 1:
            return 0.0
        return float(
            min(self.backoff_seconds * 2 ** (attempt - 2), self.max_backoff_seconds)
        )


def may_pass(error: BaseException) -> bool:
    """Whether a failed call may succeed if tried again unchanged."""
    if isinstance(error, httpx.HTTPStatusError):
        return error.response.status_code in PASSING_STATUS_CODES
    return isinstance(error, httpx.TransportError)


class RunnerApi:
    """The calls of one runner, over one client whose own retries are off."""

    def __init__(
        self,
        client: SyncPrefectClient,
        retry: ApiRetry,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._retry = retry
        self._sleep = sleep

    def scheduled_runs(self, deployment_id: UUID, limit: int) -> list[FlowRun]:
        """Up to ``limit`` runs of the deployment due now, the earliest first."""
        return self._call(
            f"reading the scheduled runs of deployment {deployment_id}",
            lambda: self._client.read_flow_runs(
                deployment_filter=DeploymentFilter(
                    id=DeploymentFilterId(any_=[deployment_id])
                ),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])
                    ),
                    next_scheduled_start_time=FlowRunFilterNextScheduledStartTime(
                        before_=datetime.now(UTC)
                    ),
                ),
                sort=FlowRunSort.NEXT_SCHEDULED_START_TIME_ASC,
                limit=limit,
            ),
        )

    def mark_polled(self, deployment_id: UUID) -> None:
        """Poll the way Prefect's runners do, so the server marks the deployment
        ready; its answer is not used."""
        self._call(
            f"marking deployment {deployment_id} as polled",
            lambda: self._client.get_scheduled_flow_runs_for_deployments(
                deployment_ids=[deployment_id],
                scheduled_before=datetime.now(UTC),
                limit=1,
            ),
        )

    def claim(self, flow_run: FlowRun, claim_message: str) -> FlowRun | None:
        """Move the run from Scheduled to Pending; the claimed run, or None if the
        server refused (another runner or worker has it, or it was cancelled).

        The orchestration rule that aborts Pending -> Pending makes a claim
        exclusive. If an attempt's answer was lost and the retry is aborted, the
        run's state message tells whether the lost attempt was this runner's.
        """
        attempts = 0

        def propose() -> FlowRun | None:
            nonlocal attempts
            attempts += 1
            result: OrchestrationResult[Any] = self._client.set_flow_run_state(
                flow_run.id, Pending(message=claim_message)
            )
            if result.status is SetStateStatus.ACCEPT and result.state is not None:
                return flow_run.model_copy(update={"state": result.state})
            if attempts > 1 and result.status is SetStateStatus.ABORT:
                return self._claimed_by_lost_attempt(flow_run, claim_message)
            return None

        try:
            return self._call(f"claiming flow run {flow_run.id}", propose)
        except ObjectNotFound:
            return None

    def _claimed_by_lost_attempt(
        self, flow_run: FlowRun, claim_message: str
    ) -> FlowRun | None:
        current = self._client.read_flow_run(flow_run.id)
        state = current.state
        if state is not None and state.is_pending() and state.message == claim_message:
            return current
        return None

    def _call(self, what: str, call: Callable[[], T]) -> T:
        attempt = 1
        while True:
            try:
                return call()
            except (httpx.HTTPStatusError, httpx.TransportError) as error:
                if not may_pass(error):
                    raise
                if attempt == self._retry.max_attempts:
                    raise ApiUnavailableError(
                        f"{what} failed {attempt} times; the last attempt: "
                        f"{_describe(error)}. Check that the Prefect server in "
                        "PREFECT_API_URL is running"
                    ) from error
                delay_seconds = self._retry.delay_before_seconds(attempt + 1)
                logger.debug(
                    "%s failed on attempt %d/%d (%s); next attempt in %.2f s",
                    what,
                    attempt,
                    self._retry.max_attempts,
                    _describe(error),
                    delay_seconds,
                )
                self._sleep(delay_seconds)
                attempt += 1


def _describe(error: BaseException) -> str:
    if isinstance(error, httpx.HTTPStatusError):
        return f"HTTP {error.response.status_code}"
    return f"{type(error).__name__}: {error}"
