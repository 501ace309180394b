"""The one interface through which a finished run tells people what happened.

A notifier receives the ``IncidentReport`` and returns what it delivered (or, in a
dry run, what it would have delivered). It raises ``NotificationError`` when a
delivery failed after its retries, so the flow run can end Failed with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from firstline.logs import get_logger
from firstline.models import IncidentReport

DeliveryAction = Literal["message", "open", "close", "described", "skipped"]


@dataclass(frozen=True)
class Delivery:
    """One message or page sent (or, for a dry run, described)."""

    channel: str
    action: DeliveryAction
    target: str
    detail: str
    dedup_key: str | None = None


class Notifier(Protocol):
    def notify(self, report: IncidentReport) -> tuple[Delivery, ...]: ...


class LoggingNotifier:
    """Writes what it would send to the log; sends nothing."""

    def notify(self, report: IncidentReport) -> tuple[Delivery, ...]:
        logger = get_logger()
        logger.info(
            "notify %s: verdict %s for %s (%s): %s",
            "log",
            report.verdict.value,
            report.instance_id,
            report.region,
            report.reason,
        )
        return (
            Delivery(
                channel="log",
                action="described",
                target="log",
                detail=f"{report.verdict.value}: {report.reason}",
                dedup_key=report.dedup_key,
            ),
        )
