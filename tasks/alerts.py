"""The alert lifecycle: what a page says, the pager interface, and open alerts.

One alert per instance: its dedup key is ``firstline-<region>-<instance id>``,
stable across runs. An escalated run opens (or re-triggers) the alert for that
key; a later healthy or recovered run closes it. The vendors deduplicate by the
key too (OpsGenie and JSM by alias, PagerDuty by ``dedup_key``), so a repeat
never opens a second alert.

Which alerts firstline opened is kept where every worker sees it: one Prefect
Variable per dedup key, named ``open-alert-<dedup key>``, whose value records the
vendor, when the alert was opened, the flow run that opened it, the last flow run
that re-triggered it, and how many runs have triggered it. The record is written
after the vendor accepted the page and removed after the vendor accepted the
close, so a failed close is tried again by the next healthy run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol, get_args

import httpx
from prefect import get_client
from prefect.client.schemas.actions import VariableCreate, VariableUpdate
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound, PrefectException

from firstline.errors import NotificationError
from firstline.models import IncidentReport
from firstline.notify import Delivery
from firstline.settings import PagerPriority, PagerRoute
from tasks._incident_text import evidence_text, headline, truncate

PAGER_PRIORITIES: tuple[str, ...] = get_args(PagerPriority)
VARIABLE_PREFIX = "open-alert-"
VARIABLE_TAGS = ["firstline", "open-alert"]
_VARIABLE_NAME_CHARS = 255
_SUMMARY_CHARS = 1024


@dataclass(frozen=True)
class Alert:
    """One page, in firstline's words; each pager maps it to its vendor's fields."""

    dedup_key: str
    summary: str
    description: str
    source: str
    priority: PagerPriority
    team: str | None = None
    tags: tuple[str, ...] = ()
    details: Mapping[str, str] = field(default_factory=dict)
    link_url: str | None = None

    def __post_init__(self) -> None:
        if self.priority not in PAGER_PRIORITIES:
            raise ValueError(
                f"alert priority {self.priority!r} is not one of {PAGER_PRIORITIES}"
            )
        if not self.dedup_key:
            raise ValueError("an alert needs a dedup key")


class Pager(Protocol):
    """Opens and closes the one alert of an instance at a paging vendor."""

    @property
    def vendor(self) -> str:
        """``opsgenie``, ``jsm`` or ``pagerduty``."""
        ...

    def open(self, alert: Alert) -> Delivery:
        """Open the alert, or re-trigger it when one with its key is open."""
        ...

    def close(self, dedup_key: str, note: str) -> Delivery:
        """Close (resolve) the alert with this key, saying why."""
        ...


def build_alert(
    report: IncidentReport, route: PagerRoute, *, flow_run_url: str | None
) -> Alert:
    """The page for an escalated (or held) run, routed by the instance's settings."""
    summary = f"firstline {headline(report)}: {report.reason}"
    details = {
        "instance_id": report.instance_id,
        "region": report.region,
        "verdict": report.verdict.value,
        "rebooted": "yes" if report.rebooted else "no",
    }
    if report.alarm is not None:
        details["alarm"] = report.alarm.alarm_name
    if flow_run_url:
        details["flow_run_url"] = flow_run_url
    return Alert(
        dedup_key=report.dedup_key,
        summary=truncate(summary, _SUMMARY_CHARS),
        description=evidence_text(report),
        source=report.instance_id,
        priority=route.priority,
        team=route.team,
        tags=("firstline", report.region, *route.tags),
        details=details,
        link_url=flow_run_url,
    )


def close_note(report: IncidentReport, *, flow_run_url: str | None) -> str:
    """What the run found, as the note on the closed alert."""
    note = f"firstline closed this alert: {headline(report)}: {report.reason}."
    if report.flow_run_id:
        note += f" Flow run {report.flow_run_id}"
        note += f" ({flow_run_url})." if flow_run_url else "."
    return note


@dataclass(frozen=True)
class OpenAlert:
    """firstline's record of an alert it opened and has not closed yet."""

    dedup_key: str
    vendor: str
    opened_at: datetime
    flow_run_id: str | None
    last_flow_run_id: str | None = None
    triggers: int = 1

    def retriggered(self, flow_run_id: str | None) -> OpenAlert:
        return replace(self, last_flow_run_id=flow_run_id, triggers=self.triggers + 1)

    def to_value(self) -> dict[str, Any]:
        return {
            "dedup_key": self.dedup_key,
            "vendor": self.vendor,
            "opened_at": self.opened_at.isoformat(),
            "flow_run_id": self.flow_run_id,
            "last_flow_run_id": self.last_flow_run_id,
            "triggers": self.triggers,
        }

    @classmethod
    def from_value(cls, value: object) -> OpenAlert:
        if not isinstance(value, dict):
            raise ValueError(f"expected a JSON object, found {type(value).__name__}")
        try:
            return cls(
                dedup_key=str(value["dedup_key"]),
                vendor=str(value["vendor"]),
                opened_at=datetime.fromisoformat(str(value["opened_at"])),
                flow_run_id=_optional_str(value.get("flow_run_id")),
                last_flow_run_id=_optional_str(value.get("last_flow_run_id")),
                triggers=int(value.get("triggers", 1)),
            )
        except KeyError as exc:
            raise ValueError(f"the field {exc.args[0]!r} is missing") from exc


class OpenAlerts:
    """The open-alert records, one Prefect Variable per dedup key.

    Uses the synchronous Prefect client, so it behaves the same inside and
    outside a running event loop. Any failure to reach the Prefect API raises
    ``NotificationError`` naming the Variable.
    """

    def get(self, dedup_key: str) -> OpenAlert | None:
        name = variable_name(dedup_key)
        try:
            with get_client(sync_client=True) as client:
                variable = client.read_variable_by_name(name)
        except (httpx.HTTPError, PrefectException) as exc:
            raise _memory_error("read", name, exc) from exc
        if variable is None:
            return None
        try:
            return OpenAlert.from_value(variable.value)
        except ValueError as exc:
            raise NotificationError(
                f"The open-alert record {name!r} is not understood ({exc}). Fix or "
                "delete that Prefect Variable; firstline recreates it on the next page."
            ) from exc

    def remember(self, alert: OpenAlert) -> None:
        name = variable_name(alert.dedup_key)
        value = alert.to_value()
        update = VariableUpdate(name=name, value=value, tags=VARIABLE_TAGS)
        try:
            with get_client(sync_client=True) as client:
                if client.read_variable_by_name(name) is not None:
                    client.update_variable(update)
                    return
                try:
                    client.create_variable(
                        VariableCreate(name=name, value=value, tags=VARIABLE_TAGS)
                    )
                except ObjectAlreadyExists:
                    # Several runs held by one fleet breaker page the same region
                    # key at once; the one that lost the race to create updates.
                    client.update_variable(update)
        except (httpx.HTTPError, PrefectException) as exc:
            raise _memory_error("write", name, exc) from exc

    def forget(self, dedup_key: str) -> bool:
        """Remove the record; False when there was none."""
        name = variable_name(dedup_key)
        try:
            with get_client(sync_client=True) as client:
                client.delete_variable_by_name(name)
        except ObjectNotFound:
            return False
        except (httpx.HTTPError, PrefectException) as exc:
            raise _memory_error("delete", name, exc) from exc
        return True


def variable_name(dedup_key: str) -> str:
    """A Prefect Variable name (lower-case letters, digits, - and _) for the key."""
    name = VARIABLE_PREFIX + re.sub(r"[^a-z0-9_-]", "-", dedup_key.lower())
    if len(name) > _VARIABLE_NAME_CHARS:
        raise ValueError(
            f"the dedup key {dedup_key!r} makes a Variable name longer than "
            f"{_VARIABLE_NAME_CHARS} characters"
        )
    return name


def _memory_error(verb: str, name: str, exc: Exception) -> NotificationError:
    return NotificationError(
        f"Could not {verb} the open-alert record {name!r} through the Prefect API "
        f"({type(exc).__name__}: {exc}). Check that this worker reaches the Prefect "
        "server (PREFECT_API_URL)."
    )


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)
