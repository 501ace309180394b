"""The notifier that routes a finished run to Slack and the pager.

Which messages go where, by verdict:

    recovered      a Slack message; first closes the instance's alert if one is open
    escalated      a page (open or re-trigger), then a Slack message saying so
    held           as escalated, for now
    healthy        with an open alert: close it, then a Slack "resolved" message;
                   without one: nothing
    not-checked    a Slack message saying why; nothing is paged
    dry-run        a Slack message describing what would have been done
    duplicate      nothing

In a dry run (the ``dry_run`` flag, or a report from a dry run) nothing is sent,
no secret is read and no open-alert record is changed: every delivery is written
to the log and returned with ``action="described"``.

A page or close that cannot be delivered is never silent: Slack is still told,
and then ``NotificationError`` is raised with the reason, so the flow run ends
Failed. Secrets are read (``tasks.secrets.read_secret``) only when a delivery is
about to be made, with the instance's region as the default AWS region.
"""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import SecretStr

from firstline.models import IncidentReport
from firstline.notify import Delivery, Notifier
from firstline.settings import NotifySettings, SecretRef
from tasks._delivery import RetryPolicy
from tasks._notifier import IncidentNotifier, SecretReader, Step, plan_steps
from tasks.alerts import OpenAlerts
from tasks.secrets import read_secret

__all__ = [
    "IncidentNotifier",
    "SecretReader",
    "Step",
    "build_notifier",
    "notify_outcome",
    "plan_steps",
    "send_notifications",
]


def build_notifier(
    settings: NotifySettings | None,
    *,
    dry_run: bool = False,
    retry: RetryPolicy | None = None,
    open_alerts: OpenAlerts | None = None,
    credentials_block: str | None = None,
) -> Notifier:
    """The notifier for one instance's NotifySettings (None: the defaults)."""

    def reader(ref: SecretRef, region: str) -> SecretStr:
        return read_secret(
            ref, default_region=region, credentials_block=credentials_block
        )

    return IncidentNotifier(
        settings or NotifySettings(),
        dry_run=dry_run,
        retry=retry,
        open_alerts=open_alerts,
        secret_reader=reader,
    )


def send_notifications(
    report: IncidentReport,
    settings: NotifySettings | None,
    *,
    dry_run: bool,
    credentials_block: str | None = None,
) -> tuple[Delivery, ...]:
    """Tell Slack and the pager what the run found (or, in a dry run, describe it)."""
    notifier = build_notifier(
        settings, dry_run=dry_run, credentials_block=credentials_block
    )
    return notifier.notify(report)


notify_outcome = task(
    name="notify-outcome",
    task_run_name="notify-{report.instance_id}",
    cache_policy=NO_CACHE,
    retries=0,
)(send_notifications)
