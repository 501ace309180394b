"""Reports, secrets and a fast retry policy for the notifier tests."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from prefect.blocks.system import Secret

from firstline.models import (
    AlarmContext,
    CheckName,
    CheckPass,
    CheckResult,
    CheckStatus,
    IncidentReport,
    InstanceInfo,
    Readiness,
    Verdict,
)
from firstline.settings import SecretRef
from tasks._delivery import RetryPolicy

# Four tries in all, with pauses of 10, 20 and 40 ms between them.
FAST_RETRY = RetryPolicy(
    attempts=4,
    backoff_base_seconds=0.01,
    backoff_max_seconds=0.05,
    retry_after_max_seconds=5.0,
    timeout_seconds=2.0,
)
STARTED = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
FLOW_RUN_URL = "http://127.0.0.1:4200/runs/flow-run/3f2b0c1e-run"


def new_instance_id() -> str:
    """A fresh id, so that each test has its own dedup key and open-alert record."""
    return "i-" + secrets.token_hex(9)[:17]


def save_secret(value: str) -> SecretRef:
    """A Prefect Secret block holding ``value`` (needs the Prefect harness)."""
    name = "test-" + secrets.token_hex(6)
    Secret(value=value).save(name, overwrite=True)
    return SecretRef(prefect_secret=name)


def check(
    name: CheckName, status: CheckStatus, detail: str, **evidence: str
) -> CheckResult:
    return CheckResult(
        check=name,
        target=f"{name.value}-target",
        status=status,
        detail=detail,
        duration_seconds=0.25,
        started_at=STARTED,
        evidence=evidence,
    )


FAILING_PASS = CheckPass(
    0,
    (
        check(CheckName.URL, CheckStatus.FAILED, "HTTP 500", status_code="500"),
        check(CheckName.ROUTE53, CheckStatus.PASSED, "3 of 3 checkers healthy"),
        check(CheckName.SSH, CheckStatus.FAILED, "no banner within 5 s"),
    ),
)
CLEAR_PASS = CheckPass(
    3,
    (
        check(CheckName.URL, CheckStatus.PASSED, "HTTP 200"),
        check(CheckName.ROUTE53, CheckStatus.PASSED, "3 of 3 checkers healthy"),
        check(CheckName.SSH, CheckStatus.PASSED, "SSH-2.0-OpenSSH_9.6"),
    ),
)


def make_report(
    verdict: Verdict,
    instance_id: str | None = None,
    *,
    region: str = "eu-west-1",
    dry_run: bool = False,
    reason: str | None = None,
) -> IncidentReport:
    """A report as the flow would hand it over for ``verdict``."""
    instance_id = instance_id or new_instance_id()
    instance = InstanceInfo(
        instance_id, region, "running", "203.0.113.7", "10.0.0.7", {"Name": "web-1"}
    )
    rebooted = verdict in (Verdict.RECOVERED, Verdict.ESCALATED)
    passes: tuple[CheckPass, ...] = (FAILING_PASS,)
    if verdict is Verdict.RECOVERED:
        passes = (FAILING_PASS, CLEAR_PASS)
    elif verdict is Verdict.ESCALATED:
        passes = (FAILING_PASS, CheckPass(4, FAILING_PASS.results))
    elif verdict is Verdict.HEALTHY:
        passes = (CLEAR_PASS,)
    reasons = {
        Verdict.HEALTHY: "all checks pass",
        Verdict.RECOVERED: "all checks pass after the reboot (attempt 3)",
        Verdict.ESCALATED: "still failing after the reboot: url (HTTP 500)",
        Verdict.NOT_CHECKED: "instance is stopped; firstline checks running instances",
        Verdict.DRY_RUN: "would reboot: url (HTTP 500) failed (dry run: nothing done)",
        Verdict.HELD: "held: too many reboots in the last hour",
        Verdict.DUPLICATE: "another run is handling this instance",
    }
    return IncidentReport(
        instance_id=instance_id,
        region=region,
        verdict=verdict,
        reason=reason or reasons[verdict],
        started_at=STARTED,
        finished_at=STARTED + timedelta(minutes=4, seconds=12),
        alarm=AlarmContext(alarm_name=f"firstline-cpu-{instance_id}"),
        instance=instance,
        passes=passes,
        actions=(f"rebooted {instance_id} at 09:00:41 UTC",) if rebooted else (),
        rebooted=rebooted,
        console_output_tail="[  OK  ] Started nginx.service" if rebooted else "",
        readiness=Readiness(True, "running", "ok", "ok", 73.0, 12)
        if rebooted
        else None,
        dry_run=dry_run,
        flow_run_id="3f2b0c1e-run",
        flow_run_url=FLOW_RUN_URL,
    )
