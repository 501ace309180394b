"""How long an alarm takes to reach its first check, measured on a live server.

``measure_alarm_latency`` hands EventBridge events to the relay one at a time
and, for each, reads from the Prefect API when the alarm's flow run was created
and when its first check task (URL, Route 53 or SSH) started. The relay creates
the run of ``deployment`` itself; with ``deployment=None`` it posts an event and
the deployment's trigger creates the run. The clock starts just before the relay
is called, so a sample covers the relay's call, (the server's trigger and action,)
the runner's poll and claim, the flow's start and its describe-instance call.
The times come from the server's records, not from this module's polling, so
polling often does not make them shorter.

The deployment must be applied and served (``python -m deployments.serve``)
against ``api_url``, and every event must name an instance its runner can check:
the sandbox's, for the benchmarks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterId,
)
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.sorting import FlowRunSort

from deployments.spec import FULL_DEPLOYMENT_NAME
from firstline.errors import FirstlineError
from infra.relay.relay import Relay

FLOW_NAME = "remediate-instance"
CHECK_TASK_NAMES = ("check-url-", "check-route53-health-", "check-ssh-handshake-")
# Runs whose expected start is this long before the relay call are not looked at.
CLOCK_SLACK = timedelta(seconds=5)


class LatencyTimeoutError(FirstlineError):
    """An alarm's run, or its first check, did not show up in time."""


@dataclass(frozen=True)
class AlarmLatency:
    """One alarm's way from the relay to its first check."""

    eventbridge_event_id: str
    flow_run_id: UUID
    to_flow_run_seconds: float
    to_first_check_seconds: float


@dataclass(frozen=True)
class LatencyReport:
    """Every sample of one measurement, with nearest-rank percentiles."""

    samples: tuple[AlarmLatency, ...]

    def percentile_seconds(self, percent: float) -> float:
        """The nearest-rank ``percent`` percentile of the time to the first check."""
        if not self.samples:
            raise ValueError("no sample was measured")
        ordered = sorted(s.to_first_check_seconds for s in self.samples)
        rank = max(1, math.ceil(percent / 100 * len(ordered)))
        return ordered[rank - 1]

    @property
    def p50_seconds(self) -> float:
        return self.percentile_seconds(50)

    @property
    def p95_seconds(self) -> float:
        return self.percentile_seconds(95)


def measure_alarm_latency(
    api_url: str,
    events: Iterable[Mapping[str, Any]],
    *,
    timeout_seconds: float = 60.0,
    poll_interval_seconds: float = 0.1,
    deployment: str | None = FULL_DEPLOYMENT_NAME,
) -> LatencyReport:
    """Post each event, wait for its first check, and time it.

    Raises:
        LatencyTimeoutError: a run or its first check did not start in time.
        RelayError: the relay could not post an event (from ``Relay.handle``).
    """
    relay = Relay.for_api_url(api_url, deployment=deployment)
    samples: list[AlarmLatency] = []
    with SyncPrefectClient(api_url) as client:
        for event in events:
            event_id = str(event["id"])
            posted_at = datetime.now(UTC)
            relay.handle(dict(event))
            samples.append(
                _wait_for_first_check(
                    client, event_id, posted_at, timeout_seconds, poll_interval_seconds
                )
            )
    return LatencyReport(tuple(samples))


def _wait_for_first_check(
    client: SyncPrefectClient,
    event_id: str,
    posted_at: datetime,
    timeout_seconds: float,
    poll_interval_seconds: float,
) -> AlarmLatency:
    deadline = time.monotonic() + timeout_seconds
    flow_run: FlowRun | None = None
    while time.monotonic() < deadline:
        flow_run = flow_run or _run_for_alarm(client, event_id, posted_at)
        if flow_run is not None:
            first_check = _first_check_start(client, flow_run.id)
            if first_check is not None and flow_run.created is not None:
                return AlarmLatency(
                    eventbridge_event_id=event_id,
                    flow_run_id=flow_run.id,
                    to_flow_run_seconds=(flow_run.created - posted_at).total_seconds(),
                    to_first_check_seconds=(first_check - posted_at).total_seconds(),
                )
        time.sleep(poll_interval_seconds)

    found = f"its run {flow_run.id} started no check" if flow_run else "no run"
    raise LatencyTimeoutError(
        f"the alarm {event_id} has {found} after {timeout_seconds:.0f} s; check "
        "that a runner serves remediate-instance/on-alarm and that the instance "
        "is in its fleet file"
    )


def _run_for_alarm(
    client: SyncPrefectClient, event_id: str, posted_at: datetime
) -> FlowRun | None:
    runs = client.read_flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME])),
        flow_run_filter=FlowRunFilter(
            expected_start_time=FlowRunFilterExpectedStartTime(
                after_=posted_at - CLOCK_SLACK
            )
        ),
        sort=FlowRunSort.EXPECTED_START_TIME_DESC,
        limit=50,
    )
    for run in runs:
        if (run.parameters.get("alarm") or {}).get("event_id") == event_id:
            return run
    return None


def _first_check_start(client: SyncPrefectClient, flow_run_id: UUID) -> datetime | None:
    task_runs = client.read_task_runs(
        flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    )
    starts = [
        task_run.start_time
        for task_run in task_runs
        if task_run.name.startswith(CHECK_TASK_NAMES) and task_run.start_time
    ]
    return min(starts) if starts else None
