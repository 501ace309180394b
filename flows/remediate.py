"""The remediation flow: check one instance, reboot it if it is in trouble, verify.

The flow resolves the instance, takes the instance's lock, runs the first pass,
asks ``decide`` what to do, passes the guards, reboots, waits for EC2 readiness,
checks again until the recovery window ends, and hands the ``IncidentReport`` to
the notifiers. Its final state is named after the verdict, and a markdown
artifact keeps every check of every pass.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from prefect import flow, get_client
from prefect.artifacts import create_markdown_artifact
from prefect.client.schemas.objects import State
from prefect.runtime import flow_run
from prefect.states import Completed

from firstline.errors import UnknownInstanceError
from firstline.fleet import Fleet, check_target, load_fleet, parse_fleet
from firstline.logs import get_logger
from firstline.models import AlarmContext, IncidentReport, InstanceInfo, Verdict
from firstline.report import render_report
from firstline.settings import InstanceSettings, NotifySettings
from flows.steps import Incident, remediate
from tasks.ec2 import describe_instance
from tasks.guard_state import find_active_run, instance_lock
from tasks.notify import notify_outcome

MANAGED_TAG = "firstline:managed"
NOT_CHECKED_STATES = {"pending", "stopping", "stopped", "shutting-down", "terminated"}


@flow(
    name="remediate-instance",
    flow_run_name="{instance_id}-{region}",
    persist_result=True,
)
def remediate_instance(
    instance_id: str,
    region: str,
    fleet_file: str | None = None,
    overrides: dict[str, Any] | None = None,
    dry_run: bool = False,
    alarm: dict[str, Any] | None = None,
    credentials_block: str | None = None,
) -> State[Any]:
    """Check one EC2 instance and reboot it if it is really in trouble."""
    check_target(region, instance_id)
    incident = Incident(
        instance_id=instance_id,
        region=region,
        started_at=datetime.now(UTC),
        alarm=_alarm(alarm),
        dry_run=dry_run,
        credentials_block=credentials_block,
        flow_run_id=flow_run.get_id(),
        flow_run_url=flow_run.get_flow_run_ui_url(),
    )
    _tag_run(instance_id, region)
    fleet = _fleet(fleet_file)

    instance = describe_instance(region, instance_id, credentials_block)
    if instance is None:
        return _conclude(
            incident.report(
                Verdict.NOT_CHECKED, f"{instance_id} not found in {region}"
            ),
            None,
        )
    try:
        settings = _settings(fleet, instance, overrides)
    except UnknownInstanceError as exc:
        get_logger().warning(
            "decision for %s (%s): no action; %s", instance_id, region, exc
        )
        report = incident.report(Verdict.NOT_CHECKED, str(exc), instance=instance)
        return _conclude(report, None)
    if instance.state in NOT_CHECKED_STATES:
        reason = (
            f"instance is {instance.state}; firstline checks running instances only"
        )
        report = incident.report(Verdict.NOT_CHECKED, reason, instance=instance)
        return _conclude(report, settings)

    lease = settings.guards.lock_lease_seconds
    with instance_lock(region, instance_id, lease_seconds=lease) as held:
        if held:
            report = remediate(incident, instance, settings, fleet)
        else:
            report = _duplicate(incident, instance)
    return _conclude(report, settings)


def _duplicate(incident: Incident, instance: InstanceInfo) -> IncidentReport:
    active = find_active_run(incident.instance_id, exclude=incident.flow_run_id)
    link = f"{active.name} ({active.flow_run_id})" if active else "another run"
    get_logger().warning(
        "decision for %s (%s): duplicate; %s is already remediating it; next: none",
        incident.instance_id,
        incident.region,
        link,
    )
    return incident.report(
        Verdict.DUPLICATE,
        f"{link} is already remediating this instance",
        instance=instance,
        active_run=active.flow_run_id if active else None,
    )


def _settings(
    fleet: Fleet, instance: InstanceInfo, overrides: Mapping[str, Any] | None
) -> InstanceSettings:
    return fleet.settings_for(
        instance.region,
        instance.instance_id,
        overrides,
        opted_in_by_tag=instance.tags.get(MANAGED_TAG) == "true",
    )


def _fleet(fleet_file: str | None) -> Fleet:
    path = fleet_file or os.environ.get("FIRSTLINE_FLEET_FILE")
    if not path:
        return parse_fleet({}, source="(no fleet file)")
    return load_fleet(path)


def _alarm(alarm: Mapping[str, Any] | None) -> AlarmContext | None:
    if not alarm:
        return None
    known = AlarmContext.__dataclass_fields__
    return AlarmContext(**{k: str(v) for k, v in alarm.items() if k in known})


def _tag_run(instance_id: str, region: str) -> None:
    """Tag the run with its instance and region, so the UI can filter by both."""
    run_id = flow_run.get_id()
    if run_id is None:
        return
    present = set(flow_run.get_tags())
    if {instance_id, region} <= present:
        # The relay tags the runs it creates; one API call less per alarm.
        return
    tags = sorted({*present, instance_id, region})
    with get_client(sync_client=True) as client:
        client.update_flow_run(UUID(run_id), tags=tags)


def _conclude(report: IncidentReport, settings: InstanceSettings | None) -> State[Any]:
    create_markdown_artifact(
        markdown=render_report(report),
        key=f"incident-{report.instance_id}",
        description=f"{report.verdict.value}: {report.instance_id} ({report.region})",
    )
    notify_settings = settings.notify if settings is not None else NotifySettings()
    notify_outcome(
        report,
        notify_settings,
        dry_run=report.dry_run,
        credentials_block=None,
    )
    return Completed(name=report.verdict.state_name, message=report.reason, data=report)
