"""Slack: one Block Kit message per notified run, by bot token or incoming webhook.

With a bot token, ``chat.postMessage`` posts to the configured channel through
``slack_sdk.WebClient`` (the base URL is configurable, which is how the tests
reach a local server). With an incoming-webhook URL, ``slack_sdk``'s
``WebhookClient`` posts to the channel the webhook was made for; its replies never
raise, so the status and body are checked here.

slack_sdk's own retry handlers are switched off: the retries are firstline's
(``tasks._delivery``), the same for Slack as for the pagers. slack_sdk gets a
logger that is silent, because its webhook client writes the webhook URL (a
secret) into DEBUG and INFO lines.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import replace
from http.client import HTTPException
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.webhook import WebhookClient

from firstline.errors import NotificationError
from firstline.notify import Delivery
from firstline.settings import SlackRoute
from tasks._delivery import (
    Refusal,
    RetryPolicy,
    TransportError,
    VendorCall,
    VendorReply,
    judge_http_status,
    send_with_retries,
    vendor_message,
)
from tasks._http import transport_error_from
from tasks._slack_message import SlackMessage, build_message

__all__ = ["SlackMessage", "SlackPoster", "build_message"]

# Slack's own words for a request that may succeed when sent again.
_RETRYABLE_ERRORS = {
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
}
_FIXES = {
    "channel_not_found": "Check notify.slack.channel, and invite the bot to a "
    "private channel.",
    "not_in_channel": "Invite the bot to the channel (/invite @bot).",
    "is_archived": "The channel is archived; choose another notify.slack.channel.",
    "invalid_auth": "The bot token is not valid.",
    "not_authed": "No token reached Slack.",
    "token_revoked": "The bot token was revoked; issue a new one.",
    "account_inactive": "The bot's account is deactivated; reinstall the app.",
    "missing_scope": "Add the chat:write scope to the Slack app and reinstall it.",
    "no_service": "The webhook URL is unknown or was revoked.",
    "invalid_token": "The webhook URL is not valid.",
    "channel_is_archived": "The webhook's channel is archived; make a new webhook.",
    "invalid_payload": "Slack did not accept the message body.",
}

_QUIET_LOGGER = logging.getLogger("firstline.slack_sdk_silenced")
_QUIET_LOGGER.addHandler(logging.NullHandler())
_QUIET_LOGGER.setLevel(logging.CRITICAL + 1)
_QUIET_LOGGER.propagate = False


class SlackPoster:
    """Posts messages to one Slack route with bounded retries."""

    def __init__(
        self,
        route: SlackRoute,
        *,
        token: SecretStr | None = None,
        webhook_url: SecretStr | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        if (token is None) == (webhook_url is None):
            raise ValueError("give exactly one of a bot token or a webhook URL")
        if token is not None and not route.channel:
            raise ValueError("posting with a bot token needs notify.slack.channel")
        self._route = route
        self._token = token
        self._webhook_url = webhook_url
        self._retry = retry or RetryPolicy()

    @property
    def target(self) -> str:
        if self._token is not None:
            return str(self._route.channel)
        return "incoming webhook"

    def post(self, message: SlackMessage, *, dedup_key: str | None = None) -> Delivery:
        secret = self._secret().get_secret_value()
        label = self._secret_label()
        call = VendorCall(
            vendor="Slack",
            action=f"post to {self.target}",
            fix_hint=f"Check {label}.",
            secrets=(secret,),
        )
        send = self._send_by_token if self._token is not None else self._send_by_webhook
        judge = _judge_web_api if self._token is not None else _judge_webhook

        def attempt() -> VendorReply:
            return send(secret, message)

        reply = send_with_retries(call, attempt, judge, self._retry)
        ts = reply.json_object().get("ts")
        return Delivery(
            channel="slack",
            action="message",
            target=self.target,
            detail=f"posted (ts {ts})" if ts else "posted",
            dedup_key=dedup_key,
        )

    def _send_by_token(self, token: str, message: SlackMessage) -> VendorReply:
        client = WebClient(
            token=token,
            base_url=self._route.base_url,
            timeout=math.ceil(self._retry.timeout_seconds),
            logger=_QUIET_LOGGER,
            retry_handlers=[],
        )
        url = client.base_url + "chat.postMessage"
        try:
            response = client.chat_postMessage(
                channel=str(self._route.channel),
                text=message.text,
                blocks=[dict(b) for b in message.blocks],
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as exc:
            return _reply_from(
                exc.response.status_code, exc.response.headers, exc.response.data
            )
        except (OSError, HTTPException) as exc:
            raise transport_error_from(exc, url, self._retry.timeout_seconds) from None
        return _reply_from(response.status_code, response.headers, response.data)

    def _send_by_webhook(self, webhook_url: str, message: SlackMessage) -> VendorReply:
        if urlsplit(webhook_url).scheme not in ("http", "https"):
            raise NotificationError(
                f"The Slack webhook URL in {self._secret_label()} is not an "
                "http(s) URL."
            )
        client = WebhookClient(
            url=webhook_url,
            timeout=math.ceil(self._retry.timeout_seconds),
            logger=_QUIET_LOGGER,
            retry_handlers=[],
        )
        try:
            response = client.send(
                text=message.text,
                blocks=[dict(b) for b in message.blocks],
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackRequestError:
            raise TransportError("slack_sdk refused the webhook request") from None
        except (OSError, HTTPException) as exc:
            raise transport_error_from(
                exc, webhook_url, self._retry.timeout_seconds
            ) from None
        return VendorReply.build(
            response.status_code, dict(response.headers).items(), response.body
        )

    def _secret(self) -> SecretStr:
        secret = self._token if self._token is not None else self._webhook_url
        assert secret is not None
        return secret

    def _secret_label(self) -> str:
        ref = self._route.token if self._token is not None else self._route.webhook_url
        what = "the bot token" if self._token is not None else "the webhook URL"
        return f"{what} in {ref.describe()}" if ref is not None else what


def _judge_web_api(reply: VendorReply) -> Refusal | None:
    payload = reply.json_object()
    error = str(payload.get("error") or "")
    if reply.status_code == 200 and payload.get("ok") is True:
        return None
    if reply.status_code == 200:
        return Refusal(
            f"ok: false, error {error or 'unknown'}",
            retryable=error in _RETRYABLE_ERRORS,
            fix=_FIXES.get(error, ""),
        )
    refusal = judge_http_status(
        reply, f"error {error}" if error else vendor_message(reply)
    )
    return _with_fix(refusal, error)


def _judge_webhook(reply: VendorReply) -> Refusal | None:
    body = reply.body.strip()
    if reply.status_code == 200 and body == "ok":
        return None
    if reply.status_code == 200:
        return Refusal(f"HTTP 200 with body {body[:100]!r}", retryable=False)
    refusal = judge_http_status(reply, f"error {body[:100]}" if body else "")
    return _with_fix(refusal, body)


def _with_fix(refusal: Refusal | None, error: str) -> Refusal | None:
    if refusal is None or refusal.retryable or error not in _FIXES:
        return refusal
    return replace(refusal, fix=_FIXES[error])


def _reply_from(status_code: int, headers: Any, data: Any) -> VendorReply:
    body = json.dumps(data) if isinstance(data, dict) else str(data or "")
    items = headers.items() if hasattr(headers, "items") else ()
    return VendorReply.build(status_code, items, body)
