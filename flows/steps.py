"""The steps of one remediation, once the instance is resolved and locked."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from firstline.errors import AwsCallError
from firstline.fleet import Fleet
from firstline.logs import get_logger
from firstline.models import (
    AlarmContext,
    CheckPass,
    Hold,
    HoldKind,
    IncidentReport,
    InstanceInfo,
    Verdict,
)
from firstline.settings import InstanceSettings
from flows.approval import ask_for_approval
from flows.decision import NextStep, decide
from flows.guards import GuardOutcome, check_breaker, check_budget, check_maintenance
from flows.passes import run_checks, run_first_pass, verify_recovery
from tasks.ec2 import get_console_output_tail, reboot_instance, wait_until_ready
from tasks.guard_state import read_reboot_history, recent_alarms, record_reboot

FLOW_NAME = "remediate-instance"


@dataclass(frozen=True)
class Incident:
    """What a run knows before it looks at the instance."""

    instance_id: str
    region: str
    started_at: datetime
    alarm: AlarmContext | None
    dry_run: bool
    credentials_block: str | None
    flow_run_id: str | None
    flow_run_url: str | None

    @property
    def incident_id(self) -> str:
        """The alarm delivery this run answers; a rerun of it is the same incident."""
        if self.alarm is not None and self.alarm.event_id:
            return f"alarm-{self.alarm.event_id}"
        return f"run-{self.flow_run_id or self.started_at.isoformat()}"

    def report(self, verdict: Verdict, reason: str, **found: Any) -> IncidentReport:
        return IncidentReport(
            instance_id=self.instance_id,
            region=self.region,
            verdict=verdict,
            reason=reason,
            started_at=self.started_at,
            finished_at=datetime.now(UTC),
            alarm=self.alarm,
            dry_run=self.dry_run,
            flow_run_id=self.flow_run_id,
            flow_run_url=self.flow_run_url,
            incident_id=self.incident_id,
            **found,
        )


def remediate(
    incident: Incident, instance: InstanceInfo, settings: InstanceSettings, fleet: Fleet
) -> IncidentReport:
    """First pass, decision, guards, reboot, readiness and the second pass."""
    logger = get_logger()
    first = run_first_pass(instance, settings.checks, incident.credentials_block)
    decision = decide(first, dry_run=incident.dry_run)
    found: dict[str, Any] = {"instance": instance, "passes": (first,)}
    if first.has_failure:
        found["console_output_tail"] = _console(incident, settings)

    if decision.step is NextStep.FINISH:
        assert decision.verdict is not None
        if decision.verdict is Verdict.DRY_RUN:
            logger.warning(
                "decision for %s (%s): would reboot (dry run, nothing done); "
                "evidence: %s",
                incident.instance_id,
                incident.region,
                decision.reason,
            )
            found["actions"] = (f"would reboot {incident.instance_id} (dry run)",)
        return incident.report(decision.verdict, decision.reason, **found)

    history = read_reboot_history(incident.region, incident.instance_id)
    if any(r.incident == incident.incident_id for r in history):
        logger.warning(
            "decision for %s (%s): no second reboot; incident %s was already "
            "rebooted; next: verify recovery",
            incident.instance_id,
            incident.region,
            incident.incident_id,
        )
        found["actions"] = ("reboot already made for this incident; not repeated",)
        return _verify(incident, instance, settings, first, found, rebooted=False)

    hold = _guards(incident, instance, settings, fleet, [r.at for r in history])
    if hold is not None:
        logger.warning(
            "decision for %s (%s): hold the reboot (%s); evidence: %s; next: %s",
            incident.instance_id,
            incident.region,
            hold.kind.value,
            hold.reason,
            "page the on-call" if hold.page else "no page",
        )
        return incident.report(Verdict.HELD, hold.reason, hold=hold, **found)

    confirm = run_checks(instance, settings.checks, 0, incident.credentials_block)
    if not confirm.has_failure:
        reason = "the failing checks passed when looked at again before the reboot"
        logger.warning(
            "decision for %s (%s): no reboot; %s",
            incident.instance_id,
            incident.region,
            reason,
        )
        found["passes"] = (first, confirm)
        return incident.report(Verdict.HEALTHY, reason, **found)

    logger.warning(
        "decision for %s (%s): reboot; evidence: %s; next: wait up to %.0f s",
        incident.instance_id,
        incident.region,
        decision.reason,
        settings.recovery.window_seconds,
    )
    # Recorded before the call: if this worker dies mid-way, a resumed or rerun
    # incident must not reboot twice, even if that leaves one reboot unmade.
    record_reboot(incident.region, incident.instance_id, incident.incident_id)
    try:
        reboot_instance(
            incident.region, incident.instance_id, incident.credentials_block
        )
    except AwsCallError as exc:
        logger.warning(
            "decision for %s (%s): escalate; the reboot call failed: %s",
            incident.instance_id,
            incident.region,
            exc,
        )
        found["actions"] = (f"reboot of {incident.instance_id} refused by EC2",)
        reason = f"{decision.reason}; the reboot call failed: {exc}"
        return incident.report(Verdict.ESCALATED, reason, **found)

    found["actions"] = (f"rebooted {incident.instance_id} at {_now()} UTC",)
    return _verify(incident, instance, settings, first, found, rebooted=True)


def _guards(
    incident: Incident,
    instance: InstanceInfo,
    settings: InstanceSettings,
    fleet: Fleet,
    reboots: list[datetime],
) -> Hold | None:
    now = datetime.now(UTC)
    guards = settings.guards
    outcome = check_maintenance(instance.tags, now)
    if not outcome.allowed:
        return _hold(HoldKind.MAINTENANCE, outcome)
    outcome = check_budget(reboots, guards.reboot_budgets, now)
    if not outcome.allowed:
        return _hold(HoldKind.BUDGET, outcome)
    if guards.breaker.enabled:
        alarmed = recent_alarms(
            FLOW_NAME, incident.region, window_seconds=guards.breaker.window_seconds
        )
        managed = max(
            len([i for i in fleet.instances if i.region == incident.region]),
            len(alarmed),
        )
        outcome = check_breaker(alarmed, managed, guards.breaker, now)
        if not outcome.allowed:
            return _hold(HoldKind.BREAKER, outcome)
    if guards.approval.required:
        return ask_for_approval(incident.instance_id, incident.region, guards.approval)
    return None


def _hold(kind: HoldKind, outcome: GuardOutcome) -> Hold:
    return Hold(kind=kind, reason=outcome.reason, page=outcome.page)


def _verify(
    incident: Incident,
    instance: InstanceInfo,
    settings: InstanceSettings,
    first: CheckPass,
    found: dict[str, Any],
    *,
    rebooted: bool,
) -> IncidentReport:
    recovery = settings.recovery
    deadline = time.time() + recovery.window_seconds
    readiness = wait_until_ready(
        incident.region,
        incident.instance_id,
        timeout_seconds=recovery.window_seconds,
        poll_interval_seconds=recovery.ready_poll_interval_seconds,
        credentials_block=incident.credentials_block,
    )
    # When EC2 never reported ready, one attempt still records what the checks see.
    if not readiness.ready:
        deadline = time.time()
    retries = math.ceil(recovery.window_seconds / recovery.check_interval_seconds) + 2
    verify = verify_recovery.with_options(
        retries=retries, retry_delay_seconds=recovery.check_interval_seconds
    )
    after = verify(instance, settings.checks, deadline, incident.credentials_block)

    final = decide(first, after)
    assert final.verdict is not None
    if final.verdict is Verdict.ESCALATED:
        get_logger().warning(
            "decision for %s (%s): escalate; evidence: %s; next: page the on-call",
            incident.instance_id,
            incident.region,
            final.reason,
        )
    found["passes"] = (first, after)
    return incident.report(
        final.verdict, final.reason, rebooted=rebooted, readiness=readiness, **found
    )


def _console(incident: Incident, settings: InstanceSettings) -> str:
    return get_console_output_tail(
        incident.region,
        incident.instance_id,
        settings.recovery.console_output_lines,
        incident.credentials_block,
    )


def _now() -> str:
    return f"{datetime.now(UTC):%H:%M:%S}"
