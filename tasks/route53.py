"""The Route 53 check: what the health checkers around the world last saw.

Each checker's ``StatusReport.Status`` starts with ``Success`` or ``Failure``. Under
policy ``any`` one failing checker fails the check; under ``majority`` more than
half of them must fail. An instance without a health check is skipped, never
passed. Route 53 is a global service, so its client always lives in us-east-1.
"""

from __future__ import annotations

from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError
from prefect import task
from prefect.cache_policies import NO_CACHE

from firstline.errors import CheckError
from firstline.models import CheckName, CheckResult, CheckStatus, InstanceInfo
from firstline.settings import Route53CheckSettings
from tasks._checks import CheckClock
from tasks.aws import aws_client

ROUTE53_REGION = "us-east-1"


def run_route53_check(
    instance: InstanceInfo,
    settings: Route53CheckSettings,
    credentials_block: str | None = None,
) -> CheckResult:
    """Ask Route 53 for the status of the instance's health check."""
    health_check_id = settings.health_check_id
    if not settings.enabled or health_check_id is None:
        clock = CheckClock(CheckName.ROUTE53, instance, "route53 (none)")
        if not settings.enabled:
            return clock.result(CheckStatus.SKIPPED, "the Route 53 check is disabled")
        return clock.result(CheckStatus.SKIPPED, "no Route 53 health check is set")
    clock = CheckClock(CheckName.ROUTE53, instance, f"route53 {health_check_id}")

    observations = _get_observations(instance, health_check_id, credentials_block)
    if not observations:
        raise CheckError(
            f"Route 53 health check {health_check_id} of {instance.instance_id} has "
            "no checker reports yet (new, or a calculated or CloudWatch-based check). "
            "Wait for reports, or point checks.route53.health_check_id at an "
            "endpoint health check."
        )

    statuses = [_status_of(observation) for observation in observations]
    failures = [status for status in statuses if status.startswith("Failure")]
    failed = fails_under_policy(statuses, settings.policy)
    summary = (
        f"{len(failures)} of {len(statuses)} checkers report failure "
        f"(policy {settings.policy})"
    )
    evidence = {
        "health_check_id": health_check_id,
        "policy": settings.policy,
        "checkers": str(len(statuses)),
        "failing_checkers": str(len(failures)),
    }
    if failures:
        evidence["first_failure"] = failures[0]
        summary = f"{summary}: {failures[0]}"
    status = CheckStatus.FAILED if failed else CheckStatus.PASSED
    return clock.result(status, summary, evidence)


def fails_under_policy(statuses: list[str], policy: Literal["any", "majority"]) -> bool:
    """Whether the checkers' statuses fail the check: under ``any`` one failure
    is enough, under ``majority`` more than half of the checkers must fail."""
    failures = sum(1 for status in statuses if status.startswith("Failure"))
    if policy == "any":
        return failures > 0
    return failures * 2 > len(statuses)


check_route53_health = task(
    name="check-route53-health",
    task_run_name="check-route53-health-{instance.instance_id}",
    cache_policy=NO_CACHE,
    retries=0,
)(run_route53_check)


def _get_observations(
    instance: InstanceInfo, health_check_id: str, credentials_block: str | None
) -> list[dict[str, Any]]:
    try:
        client = aws_client("route53", ROUTE53_REGION, credentials_block)
        response = client.get_health_check_status(HealthCheckId=health_check_id)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        raise CheckError(
            f"Failed to read Route 53 health check {health_check_id} of "
            f"{instance.instance_id}: {code}. {_remedy(code)}"
        ) from exc
    except BotoCoreError as exc:
        raise CheckError(
            f"Failed to reach Route 53 for health check {health_check_id} of "
            f"{instance.instance_id}: {exc}. Check the network path to Route 53 "
            "(or AWS_ENDPOINT_URL) and the AWS credentials."
        ) from exc
    observations: list[dict[str, Any]] = response.get("HealthCheckObservations", [])
    return observations


def _status_of(observation: dict[str, Any]) -> str:
    status: str = observation.get("StatusReport", {}).get("Status", "")
    return status


def _remedy(code: str) -> str:
    if code == "NoSuchHealthCheck":
        return (
            "Fix checks.route53.health_check_id in the fleet file, or remove it to "
            "skip this check."
        )
    if code in {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}:
        return "Allow route53:GetHealthCheckStatus for firstline's role."
    return "Retry later; if it persists, look at the health check in the console."
