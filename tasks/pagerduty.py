"""PagerDuty Events API v2: trigger and resolve by dedup key.

``POST https://events.pagerduty.com/v2/enqueue`` with the integration's routing
key in the body. PagerDuty answers 202 ``{"status": "success", "dedup_key": ...}``,
400 ``{"status": "invalid event", "errors": [...]}`` for a malformed event or an
unknown key, and 429 when the integration is rate limited.

A trigger with the dedup key of an open incident adds to that incident rather
than opening a second one. A resolve carries no note in this API, so the run's
findings reach people through the Slack message and the flow run's log.
"""

from __future__ import annotations

from typing import Any

import requests
from pydantic import SecretStr

from firstline.notify import Delivery
from firstline.settings import PagerPriority
from tasks._delivery import (
    Refusal,
    RetryPolicy,
    VendorCall,
    VendorReply,
    judge_http_status,
    vendor_message,
)
from tasks._http import post_json_with_retries
from tasks._incident_text import truncate
from tasks.alerts import Alert

PAGERDUTY_EVENTS_BASE_URL = "https://events.pagerduty.com"
ENQUEUE_PATH = "/v2/enqueue"
SUMMARY_CHARS = 1024
DEDUP_KEY_CHARS = 255

SEVERITY_BY_PRIORITY: dict[PagerPriority, str] = {
    "P1": "critical",
    "P2": "error",
    "P3": "warning",
    "P4": "info",
    "P5": "info",
}


class PagerDutyClient:
    """A ``Pager`` for one PagerDuty Events API v2 integration."""

    def __init__(
        self,
        *,
        routing_key: SecretStr,
        key_label: str,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self._routing_key = routing_key
        self._key_label = key_label
        self._url = (base_url or PAGERDUTY_EVENTS_BASE_URL).rstrip("/") + ENQUEUE_PATH
        self._retry = retry or RetryPolicy()
        self._session = session

    @property
    def vendor(self) -> str:
        return "pagerduty"

    def open(self, alert: Alert) -> Delivery:
        reply = self._enqueue(trigger_event(alert), f"trigger {alert.dedup_key}")
        return Delivery(
            channel="pagerduty",
            action="open",
            target="routing key " + self._key_label,
            detail=f"{SEVERITY_BY_PRIORITY[alert.priority]} event accepted: "
            + _message(reply),
            dedup_key=alert.dedup_key,
        )

    def close(self, dedup_key: str, note: str) -> Delivery:
        # The Events API has no field for a note on resolve; see the module docstring.
        event = {"event_action": "resolve", "dedup_key": dedup_key}
        reply = self._enqueue(event, f"resolve {dedup_key}")
        return Delivery(
            channel="pagerduty",
            action="close",
            target="routing key " + self._key_label,
            detail="resolve accepted: " + _message(reply),
            dedup_key=dedup_key,
        )

    def _enqueue(self, event: dict[str, Any], action: str) -> VendorReply:
        secret = self._routing_key.get_secret_value()
        call = VendorCall(
            vendor="PagerDuty",
            action=action,
            fix_hint=(
                f"Check the routing key in {self._key_label} (the Integration Key of "
                "an Events API v2 integration on the service) and the event fields."
            ),
            secrets=(secret,),
        )
        return post_json_with_retries(
            call,
            self._url,
            {"routing_key": secret, **event},
            headers={},
            judge=_judge,
            retry=self._retry,
            session=self._session,
        )


def trigger_event(alert: Alert) -> dict[str, Any]:
    """The Events API v2 trigger for ``alert``, without the routing key."""
    if len(alert.dedup_key) > DEDUP_KEY_CHARS:
        raise ValueError(
            f"dedup key longer than {DEDUP_KEY_CHARS} characters: {alert.dedup_key!r}"
        )
    event: dict[str, Any] = {
        "event_action": "trigger",
        "dedup_key": alert.dedup_key,
        "client": "firstline",
        "payload": {
            "summary": truncate(alert.summary, SUMMARY_CHARS),
            "source": alert.source,
            "severity": SEVERITY_BY_PRIORITY[alert.priority],
            "component": alert.source,
            "group": alert.team or "firstline",
            "class": "ec2-instance-unhealthy",
            "custom_details": {
                **alert.details,
                "priority": alert.priority,
                "tags": ", ".join(alert.tags),
                "evidence": alert.description,
            },
        },
    }
    if alert.link_url:
        event["client_url"] = alert.link_url
        event["links"] = [{"href": alert.link_url, "text": "Prefect flow run"}]
    return event


def _judge(reply: VendorReply) -> Refusal | None:
    refusal = judge_http_status(reply, vendor_message(reply, "message", "errors"))
    if refusal is None and reply.json_object().get("status") not in (None, "success"):
        return Refusal(
            f"HTTP {reply.status_code}: {vendor_message(reply, 'status', 'message')}",
            retryable=False,
        )
    return refusal


def _message(reply: VendorReply) -> str:
    return str(reply.json_object().get("message") or f"HTTP {reply.status_code}")
