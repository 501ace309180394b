"""Durable guard records kept in Prefect itself, so every worker sees them.

- one remediation per instance: a strict global concurrency limit of 1 per
  instance, held with a lease that Prefect renews while the run lives and lets
  expire when its worker dies;
- reboot history per instance (budget and "never twice"): a Prefect Variable
  holding the incidents rebooted and when, written before the reboot call;
- alarms per region (fleet breaker): the flow runs Prefect recorded for the
  region, scheduled ones included.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
from prefect import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.context import SettingsContext
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.variables import Variable

from firstline.errors import FirstlineError
from firstline.logs import get_logger

HISTORY_KEEP_SECONDS = 7 * 86_400
LOCKED = 423
# A lease is renewed this many times over its length: it outlives two misses.
RENEWALS_PER_LEASE = 3
PAGE_SIZE = 200
MAX_RUNS_READ = 5000


def _key(region: str, instance_id: str) -> str:
    return f"{region}_{instance_id}"


def instance_lock_name(region: str, instance_id: str) -> str:
    return f"firstline-instance-{_key(region, instance_id)}"


def _ensure_limit(name: str) -> None:
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
            return
        except ObjectNotFound:
            pass
        with contextlib.suppress(ObjectAlreadyExists):
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=name, limit=1)
            )


def _take_slot(name: str, lease_seconds: float) -> UUID | None:
    """The lease on the limit's one slot; None when the limit does not exist."""
    with get_client(sync_client=True) as client:
        response = client.increment_concurrency_slots_with_lease(
            names=[name], slots=1, mode="concurrency", lease_duration=lease_seconds
        )
    body = response.json()
    if not body.get("limits"):
        return None
    return UUID(body["lease_id"])


@contextlib.contextmanager
def instance_lock(
    region: str, instance_id: str, *, lease_seconds: float
) -> Iterator[bool]:
    """Hold the instance's lock; yields False at once when another run holds it.

    The slot is taken with a lease that a thread renews while the run lives; if
    the worker dies, the lease runs out and the instance is free again.
    """
    name = instance_lock_name(region, instance_id)
    try:
        lease_id = _take_slot(name, lease_seconds)
        if lease_id is None:
            # A limit that does not exist grants nothing: create it, then take it.
            _ensure_limit(name)
            lease_id = _take_slot(name, lease_seconds)
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code != LOCKED:
            raise
        yield False
        return
    if lease_id is None:
        raise FirstlineError(
            f"the instance lock {name!r} could not be created in Prefect; nothing "
            f"was done to {instance_id} ({region}); check the server's health"
        )

    stop = threading.Event()
    renewer = threading.Thread(
        target=_renew,
        args=(lease_id, lease_seconds, stop, SettingsContext.get()),
        daemon=True,
    )
    renewer.start()
    try:
        yield True
    finally:
        stop.set()
        renewer.join()
        with get_client(sync_client=True) as client:
            client.release_concurrency_slots_with_lease(lease_id)


def _renew(
    lease_id: UUID,
    lease_seconds: float,
    stop: threading.Event,
    caller: SettingsContext | None,
) -> None:
    """Renew the lease until ``stop``; a renewal that fails is tried again at the
    next interval.

    A thread starts without its creator's Prefect context, so it would take the
    API from the environment: under ``temporary_settings`` (or any settings the
    caller entered) that is another server, which does not know the lease. The
    renewals use the caller's settings, on a client of their own.
    """
    settings = (
        SettingsContext(profile=caller.profile, settings=caller.settings)
        if caller is not None
        else contextlib.nullcontext()
    )
    with settings:
        while not stop.wait(lease_seconds / RENEWALS_PER_LEASE):
            try:
                with get_client(sync_client=True) as client:
                    client.renew_concurrency_lease(
                        lease_id, lease_duration=lease_seconds
                    )
            except httpx.HTTPError as exc:
                get_logger().warning(
                    "could not renew the instance lock %s: %s", lease_id, exc
                )


@dataclass(frozen=True)
class ActiveRun:
    flow_run_id: str
    name: str


def find_active_run(instance_id: str, *, exclude: str | None) -> ActiveRun | None:
    """Another running (or pending) run for the instance, for the duplicate link."""
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                tags=FlowRunFilterTags(all_=[instance_id]),
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(
                        any_=[StateType.RUNNING, StateType.PENDING, StateType.PAUSED]
                    )
                ),
            ),
            limit=5,
        )
    for run in runs:
        if str(run.id) != exclude:
            return ActiveRun(flow_run_id=str(run.id), name=run.name)
    return None


@dataclass(frozen=True)
class RebootRecord:
    incident: str
    at: datetime


def _history_name(region: str, instance_id: str) -> str:
    return f"firstline_reboots_{_key(region, instance_id)}".replace("-", "_")


def read_reboot_history(region: str, instance_id: str) -> list[RebootRecord]:
    raw: Any = Variable.get(_history_name(region, instance_id), default=None)
    if raw is None:
        return []
    try:
        return [
            RebootRecord(
                incident=str(e["incident"]), at=datetime.fromisoformat(e["at"])
            )
            for e in raw
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise FirstlineError(
            f"the reboot history of {instance_id} ({region}) in Prefect variable "
            f"{_history_name(region, instance_id)!r} is not readable; inspect or "
            "unset it (prefect variable unset NAME) before firstline reboots again"
        ) from exc


def record_reboot(
    region: str, instance_id: str, incident: str, at: datetime | None = None
) -> None:
    """Add a reboot to the history; call it under the instance lock."""
    at = at or datetime.now(UTC)
    keep_after = at - timedelta(seconds=HISTORY_KEEP_SECONDS)
    history = [r for r in read_reboot_history(region, instance_id) if r.at > keep_after]
    history.append(RebootRecord(incident=incident, at=at))
    Variable.set(
        _history_name(region, instance_id),
        [{"incident": r.incident, "at": r.at.isoformat()} for r in history[-50:]],
        tags=["firstline", "reboot-history", region, instance_id],
        overwrite=True,
    )


def recent_alarms(
    flow_name: str, region: str, *, window_seconds: float
) -> dict[str, datetime]:
    """Instances of ``region`` with a run of ``flow_name`` in the window."""
    since = datetime.now(UTC) - timedelta(seconds=window_seconds)
    runs: list[FlowRun] = []
    with get_client(sync_client=True) as client:
        # The API pages by 200; a region-wide storm is bounded by MAX_RUNS_READ.
        while len(runs) < MAX_RUNS_READ:
            page = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
                flow_run_filter=FlowRunFilter(
                    expected_start_time=FlowRunFilterExpectedStartTime(after_=since)
                ),
                limit=PAGE_SIZE,
                offset=len(runs),
            )
            runs.extend(page)
            if len(page) < PAGE_SIZE:
                break
    alarmed: dict[str, datetime] = {}
    for run in runs:
        params = run.parameters or {}
        if params.get("region") != region or not isinstance(
            params.get("instance_id"), str
        ):
            continue
        when = run.expected_start_time or run.created or datetime.now(UTC)
        instance_id = params["instance_id"]
        alarmed[instance_id] = max(when, alarmed.get(instance_id, when))
    return alarmed
