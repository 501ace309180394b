"""One pass of the three checks, run concurrently, as tasks or inside a task."""

from __future__ import annotations

import contextvars
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import task_run

from firstline.errors import FirstlineError
from firstline.logs import get_logger
from firstline.models import CheckPass, CheckResult, InstanceInfo
from firstline.settings import ChecksSettings
from tasks.route53 import check_route53_health
from tasks.ssh import check_ssh_handshake
from tasks.url import check_url


def run_first_pass(
    instance: InstanceInfo, checks: ChecksSettings, credentials_block: str | None
) -> CheckPass:
    """Submit the three check tasks at once and wait for all of them."""
    futures = [
        check_url.submit(instance, checks.url),
        check_route53_health.submit(instance, checks.route53, credentials_block),
        check_ssh_handshake.submit(instance, checks.ssh, credentials_block),
    ]
    return CheckPass(attempt=0, results=tuple(f.result() for f in futures))


def run_checks(
    instance: InstanceInfo,
    checks: ChecksSettings,
    attempt: int,
    credentials_block: str | None,
) -> CheckPass:
    """The same three checks as plain calls on threads (inside one task run)."""
    calls = [
        lambda: check_url.fn(instance, checks.url),
        lambda: check_route53_health.fn(instance, checks.route53, credentials_block),
        lambda: check_ssh_handshake.fn(instance, checks.ssh, credentials_block),
    ]
    # Each thread runs in a copy of this context, so the checks' log lines stay
    # attached to the run and reach the Prefect UI.
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(contextvars.copy_context().run, c) for c in calls]
        results: list[CheckResult] = [f.result() for f in futures]
    return CheckPass(attempt=attempt, results=tuple(results))


class ChecksStillFailing(FirstlineError):
    """Raised by a second-pass attempt so Prefect retries it."""


@task(
    name="verify-recovery",
    task_run_name="verify-recovery-{instance.instance_id}",
    cache_policy=NO_CACHE,
)
def verify_recovery(
    instance: InstanceInfo,
    checks: ChecksSettings,
    deadline_epoch_seconds: float,
    credentials_block: str | None = None,
) -> CheckPass:
    """Check again; fail (so Prefect retries) until all pass or the window is over.

    Each attempt is a retry of this task run, so the UI shows every try with its
    log lines. The last attempt before the deadline returns its pass either way.
    """
    attempt = int(task_run.get_run_count() or 1)
    check_pass = run_checks(instance, checks, attempt, credentials_block)
    if check_pass.all_clear or time.time() >= deadline_epoch_seconds:
        return check_pass

    remaining = deadline_epoch_seconds - time.time()
    get_logger().info(
        "second pass attempt %d on %s: %s still failing; %.0f s left in the window",
        attempt,
        instance.instance_id,
        ", ".join(r.check.value for r in check_pass.failed_checks) or "nothing clear",
        remaining,
    )
    raise ChecksStillFailing(
        f"attempt {attempt} at {datetime.now(UTC):%H:%M:%S}: "
        + "; ".join(f"{r.check.value}: {r.detail}" for r in check_pass.failed_checks)
    )
