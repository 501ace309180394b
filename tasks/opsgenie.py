"""OpsGenie and Jira Service Management ops alerts: one client, two base URLs.

Both speak the OpsGenie Alert API v2 with ``Authorization: GenieKey <key>``:

- OpsGenie: ``POST {base}/v2/alerts``, base ``https://api.opsgenie.com`` (US) or
  ``https://api.eu.opsgenie.com`` (EU);
- Jira Service Management operations: ``POST {base}/jsm/ops/integration/v2/alerts``,
  base ``https://api.atlassian.com``, with the API key of a JSM integration. This
  is the way off OpsGenie: set ``pager.kind: jsm`` and a JSM key.

OpsGenie stops working on 2027-04-05 (Atlassian ends the product and moves its
customers to Jira Service Management). Using the ``opsgenie`` kind logs a WARNING
once per process saying so.

An alert is opened with its alias set to firstline's dedup key, so OpsGenie
deduplicates a repeat (the open alert's count goes up instead of a second alert
being created); it is closed by alias with a note. Both calls answer 202: the
request is queued, not yet applied, so a close of an alias that is already
closed is accepted too.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

import requests
from pydantic import SecretStr

from firstline.logs import get_logger
from firstline.notify import Delivery
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

OpsGenieKind = Literal["opsgenie", "jsm"]

OPSGENIE_US_BASE_URL = "https://api.opsgenie.com"
OPSGENIE_EU_BASE_URL = "https://api.eu.opsgenie.com"
JSM_BASE_URL = "https://api.atlassian.com"
OPSGENIE_END_OF_LIFE = "2027-04-05"

MESSAGE_CHARS = 130
DESCRIPTION_CHARS = 15_000
NOTE_CHARS = 25_000
ALIAS_CHARS = 512
TAG_CHARS = 50
MAX_TAGS = 20
DETAIL_VALUE_CHARS = 8_000

_DEFAULT_BASE_URLS: dict[OpsGenieKind, str] = {
    "opsgenie": OPSGENIE_US_BASE_URL,
    "jsm": JSM_BASE_URL,
}
_ALERTS_PATHS: dict[OpsGenieKind, str] = {
    "opsgenie": "/v2/alerts",
    "jsm": "/jsm/ops/integration/v2/alerts",
}
_VENDOR_NAMES: dict[OpsGenieKind, str] = {
    "opsgenie": "OpsGenie",
    "jsm": "Jira Service Management",
}

_end_of_life_warned = False
_end_of_life_lock = threading.Lock()


class OpsGenieClient:
    """A ``Pager`` for OpsGenie or JSM ops alerts."""

    def __init__(
        self,
        *,
        kind: OpsGenieKind,
        api_key: SecretStr,
        key_label: str,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self._kind: OpsGenieKind = kind
        self._api_key = api_key
        self._key_label = key_label
        self._alerts_url = (base_url or _DEFAULT_BASE_URLS[kind]).rstrip("/") + (
            _ALERTS_PATHS[kind]
        )
        self._retry = retry or RetryPolicy()
        self._session = session
        if kind == "opsgenie":
            _warn_end_of_life_once()

    @property
    def vendor(self) -> str:
        return self._kind

    def open(self, alert: Alert) -> Delivery:
        body = alert_body(alert)
        reply = self._post(self._alerts_url, body, f"open alert {alert.dedup_key}")
        target = f"team {alert.team}" if alert.team else "default routing"
        return Delivery(
            channel=self._kind,
            action="open",
            target=target,
            detail=f"{alert.priority} alert accepted ({_request_id(reply)})",
            dedup_key=alert.dedup_key,
        )

    def close(self, dedup_key: str, note: str) -> Delivery:
        url = (
            f"{self._alerts_url}/{quote(dedup_key, safe='')}/close?identifierType=alias"
        )
        body = {
            "source": "firstline",
            "user": "firstline",
            "note": truncate(note, NOTE_CHARS),
        }
        reply = self._post(url, body, f"close alert {dedup_key}")
        return Delivery(
            channel=self._kind,
            action="close",
            target=f"alias {dedup_key}",
            detail=f"close accepted ({_request_id(reply)})",
            dedup_key=dedup_key,
        )

    def _post(self, url: str, body: Mapping[str, Any], action: str) -> VendorReply:
        secret = self._api_key.get_secret_value()
        call = VendorCall(
            vendor=_VENDOR_NAMES[self._kind],
            action=action,
            fix_hint=(
                f"Check the API key in {self._key_label} (an API integration key with "
                "create and close rights), the base URL and the team name."
            ),
            secrets=(secret,),
        )
        return post_json_with_retries(
            call,
            url,
            body,
            headers={"Authorization": f"GenieKey {secret}"},
            judge=_judge,
            retry=self._retry,
            session=self._session,
        )


def alert_body(alert: Alert) -> dict[str, Any]:
    """The Alert API ``POST /v2/alerts`` body for ``alert``, within its limits."""
    if len(alert.dedup_key) > ALIAS_CHARS:
        raise ValueError(
            f"alias longer than {ALIAS_CHARS} characters: {alert.dedup_key!r}"
        )
    body: dict[str, Any] = {
        "message": truncate(alert.summary, MESSAGE_CHARS),
        "alias": alert.dedup_key,
        "description": truncate(alert.description, DESCRIPTION_CHARS),
        "tags": [truncate(tag, TAG_CHARS) for tag in alert.tags[:MAX_TAGS]],
        "details": {
            k: truncate(v, DETAIL_VALUE_CHARS) for k, v in alert.details.items()
        },
        "entity": alert.source,
        "source": "firstline",
        "priority": alert.priority,
    }
    if alert.team:
        body["responders"] = [{"name": alert.team, "type": "team"}]
    return body


def _judge(reply: VendorReply) -> Refusal | None:
    return judge_http_status(reply, vendor_message(reply, "message", "errors"))


def _request_id(reply: VendorReply) -> str:
    request_id = reply.json_object().get("requestId")
    return f"request {request_id}" if request_id else f"HTTP {reply.status_code}"


def _warn_end_of_life_once() -> None:
    global _end_of_life_warned
    with _end_of_life_lock:
        if _end_of_life_warned:
            return
        _end_of_life_warned = True
    get_logger().warning(
        "pager kind 'opsgenie': OpsGenie stops working on %s; move to Jira Service "
        "Management ops alerts (pager kind 'jsm') before then",
        OPSGENIE_END_OF_LIFE,
    )
