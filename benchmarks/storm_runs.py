"""Waiting for a storm's flow runs to reach their verdicts, and reading them.

A run has a verdict once it is Completed (recovered, escalated or held); Failed
and Crashed runs are counted apart, since nobody was told about their alarm.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

VERDICT_TARGET_SECONDS = 300.0
FINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def wait_for_verdicts(
    api_url: str, storm_start: datetime, event_ids: set[str], last_alarm: datetime
) -> dict[str, Any]:
    """Wait until every run has ended and every alarm has a run, then read them.

    While waiting it only counts runs, which costs the server little; reading a
    thousand runs every few seconds would slow the very server being measured.
    """
    from prefect.client.orchestration import SyncPrefectClient

    deadline = time.monotonic() + VERDICT_TARGET_SECONDS + 60.0
    quiet_since = time.monotonic()
    with SyncPrefectClient(api_url) as client:
        while True:
            total, unfinished = _counts(client, storm_start)
            if unfinished == 0 and total >= len(event_ids):
                runs = read_runs(client, storm_start)
                if event_ids <= _event_ids(runs):
                    break
            if unfinished:
                quiet_since = time.monotonic()
            # Every run finished, some alarms never made one: wait a while for late
            # runs, then count them lost.
            if time.monotonic() - quiet_since > 60.0 or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        runs = read_runs(client, storm_start)
    seen = _event_ids(runs)
    done = [r for r in runs if r.state_type and r.state_type.value in FINAL_STATES]
    ends = [r.end_time for r in runs if r.end_time is not None]
    last_verdict = max(ends) if ends else last_alarm
    return {
        "runs": [
            {
                "state_name": r.state_name or "unknown",
                "event": r.parameters.get("alarm"),
            }
            for r in runs
        ],
        "lost": len(event_ids - seen),
        "unfinished": len(runs) - len(done),
        "without_verdict": sum(
            1 for r in done if r.state_type.value in {"FAILED", "CRASHED"}
        ),
        "last_verdict_seconds": (last_verdict - storm_start).total_seconds(),
    }


def _event_ids(runs: list[Any]) -> set[str | None]:
    return {(r.parameters.get("alarm") or {}).get("event_id") for r in runs}


def _counts(client: Any, since: datetime) -> tuple[int, int]:
    """How many storm runs there are, and how many have not ended."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    flow_filter, since_filter = _filters(since)
    total = client.count_flow_runs(
        flow_filter=flow_filter, flow_run_filter=FlowRunFilter(**since_filter)
    )
    unfinished = client.count_flow_runs(
        flow_filter=flow_filter,
        flow_run_filter=FlowRunFilter(
            **since_filter,
            state=FlowRunFilterState(
                type=FlowRunFilterStateType(
                    not_any_=[StateType(name) for name in FINAL_STATES]
                )
            ),
        ),
    )
    return int(total), int(unfinished)


def _filters(since: datetime) -> tuple[Any, dict[str, Any]]:
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilterExpectedStartTime,
    )

    return (
        FlowFilter(name=FlowFilterName(any_=["remediate-instance"])),
        {
            "expected_start_time": FlowRunFilterExpectedStartTime(
                after_=since - timedelta(seconds=5)
            )
        },
    )


def read_runs(client: Any, since: datetime) -> list[Any]:
    from prefect.client.schemas.filters import FlowRunFilter

    flow_filter, since_filter = _filters(since)
    runs: list[Any] = []
    offset = 0
    while True:
        page = client.read_flow_runs(
            flow_filter=flow_filter,
            flow_run_filter=FlowRunFilter(**since_filter),
            limit=200,
            offset=offset,
        )
        runs += page
        if len(page) < 200:
            return runs
        offset += 200
