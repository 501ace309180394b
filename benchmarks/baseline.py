"""The Step Functions design firstline replaces, for the benchmarks only.

That design ran the checks one after another (URL, then Route 53, then SSH) and
stopped at the first that failed; on a failure it rebooted the instance, waited
a fixed 120 s (a Wait state, no readiness polling), ran the checks once more the
same way, and paged if any failed. These functions do exactly that with
firstline's own check functions, so that only the orchestration differs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from firstline.models import CheckPass, CheckResult, InstanceInfo
from firstline.settings import ChecksSettings
from tasks.ec2 import reboot_instance
from tasks.route53 import run_route53_check
from tasks.ssh import run_ssh_check
from tasks.url import run_url_check

FIXED_WAIT_SECONDS = 120.0


class BaselineVerdict(StrEnum):
    HEALTHY = "healthy"
    RECOVERED = "recovered"
    ESCALATED = "escalated"


@dataclass(frozen=True)
class BaselineOutcome:
    """How one incident ended under the Step Functions design."""

    verdict: BaselineVerdict
    passes: tuple[CheckPass, ...]
    rebooted: bool

    @property
    def pages(self) -> bool:
        return self.verdict is BaselineVerdict.ESCALATED


def run_sequential_pass(
    instance: InstanceInfo,
    checks: ChecksSettings,
    attempt: int = 0,
    credentials_block: str | None = None,
) -> CheckPass:
    """URL, Route 53 and SSH one after another, stopping at the first failure."""
    calls: list[Callable[[], CheckResult]] = [
        lambda: run_url_check(instance, checks.url),
        lambda: run_route53_check(instance, checks.route53, credentials_block),
        lambda: run_ssh_check(instance, checks.ssh, credentials_block),
    ]
    results: list[CheckResult] = []
    for call in calls:
        result = call()
        results.append(result)
        if result.failed:
            break
    return CheckPass(attempt=attempt, results=tuple(results))


def run_baseline_incident(
    instance: InstanceInfo,
    checks: ChecksSettings,
    *,
    fixed_wait_seconds: float = FIXED_WAIT_SECONDS,
    credentials_block: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> BaselineOutcome:
    """Check; on a failure reboot, wait the fixed time, check once, page if failing.

    ``fixed_wait_seconds`` is in real seconds: pass 120 times the sandbox's
    ``time_scale`` to model the design's two minutes.
    """
    first = run_sequential_pass(instance, checks, 0, credentials_block)
    if not first.has_failure:
        return BaselineOutcome(BaselineVerdict.HEALTHY, (first,), rebooted=False)

    reboot_instance.fn(instance.region, instance.instance_id, credentials_block)
    sleep(fixed_wait_seconds)
    second = run_sequential_pass(instance, checks, 1, credentials_block)
    verdict = (
        BaselineVerdict.ESCALATED if second.has_failure else BaselineVerdict.RECOVERED
    )
    return BaselineOutcome(verdict, (first, second), rebooted=True)
