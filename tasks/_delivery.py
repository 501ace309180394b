"""What the notifier clients share: bounded retries, vendor replies and redaction.

Every call to Slack or a pager goes through :func:`send_with_retries`:

- a reply the vendor's judge accepts is delivered;
- 429 waits for ``Retry-After`` (or the backoff when the header is absent) and
  tries again; 5xx and connection errors back off and try again, up to
  ``RetryPolicy.attempts`` tries in all;
- any other refusal (other 4xx, Slack's ``ok: false``) is a configuration problem
  and raises ``NotificationError`` at once, naming the vendor, the status, the
  vendor's message and what to fix.

A request that got no HTTP answer arrives as :class:`TransportError`, written in
firstline's words (``tasks._http``); the library's exception is dropped, because
its text may hold the URL, and a Slack webhook URL is a secret. Every text that
leaves this module is also scrubbed of the secret values the caller passes.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from firstline.errors import NotificationError
from firstline.logs import get_logger

REDACTED = "[redacted]"
_MIN_SECRET_FRAGMENT_CHARS = 8
_VENDOR_MESSAGE_CHARS = 300


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one delivery tries: attempts in all, backoff and timeouts."""

    attempts: int = 4
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 16.0
    retry_after_max_seconds: float = 60.0
    timeout_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {self.attempts}")
        if self.backoff_base_seconds < 0 or self.backoff_max_seconds < 0:
            raise ValueError("backoff seconds must not be negative")
        if self.timeout_seconds <= 0:
            raise ValueError(
                f"timeout_seconds must be positive: {self.timeout_seconds}"
            )

    def backoff_seconds(self, retry_number: int) -> float:
        """The pause before retry ``retry_number`` (1 is the first retry)."""
        return float(
            min(
                self.backoff_base_seconds * 2 ** (retry_number - 1),
                self.backoff_max_seconds,
            )
        )


@dataclass(frozen=True)
class VendorReply:
    """An HTTP answer from a vendor; header names are lower-case."""

    status_code: int
    headers: Mapping[str, str]
    body: str

    @classmethod
    def build(
        cls, status_code: int, headers: Iterable[tuple[str, Any]], body: str
    ) -> VendorReply:
        return cls(status_code, {k.lower(): str(v) for k, v in headers}, body)

    def json_object(self) -> Mapping[str, Any]:
        """The body as a JSON object, or an empty mapping when it is not one."""
        try:
            value = json.loads(self.body)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def retry_after_seconds(self) -> float | None:
        """``Retry-After`` in seconds (delta-seconds or an HTTP date), if given."""
        value = self.headers.get("retry-after", "").strip()
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())


@dataclass(frozen=True)
class Refusal:
    """Why a reply is not a delivery, and whether trying again may help."""

    reason: str
    retryable: bool
    fix: str = ""


Judge = Callable[[VendorReply], Refusal | None]


@dataclass(frozen=True)
class VendorCall:
    """One delivery as the messages name it; ``secrets`` are scrubbed from them."""

    vendor: str
    action: str
    fix_hint: str
    secrets: tuple[str, ...] = ()


class TransportError(Exception):
    """A request that got no HTTP answer; the message is safe to show."""


def judge_http_status(reply: VendorReply, vendor_message: str) -> Refusal | None:
    """The common rule: 2xx delivered, 429 and 5xx retryable, other codes final."""
    if 200 <= reply.status_code < 300:
        return None
    reason = f"HTTP {reply.status_code}"
    if vendor_message:
        reason = f"{reason}: {vendor_message}"
    retryable = reply.status_code == 429 or reply.status_code >= 500
    return Refusal(reason, retryable=retryable)


def send_with_retries(
    call: VendorCall,
    send: Callable[[], VendorReply],
    judge: Judge,
    policy: RetryPolicy,
) -> VendorReply:
    """Send until the judge accepts a reply, a refusal is final, or tries run out."""
    logger = get_logger()
    last_transport_error: TransportError | None = None
    problem = "no attempt was made"

    for attempt in range(1, policy.attempts + 1):
        retry_after: float | None = None
        try:
            reply = send()
        except TransportError as exc:
            # The original exception may name the URL; only our description is kept.
            exc.__context__ = None
            last_transport_error = exc
            problem = str(exc)
        else:
            last_transport_error = None
            refusal = judge(reply)
            if refusal is None:
                return reply
            problem = refusal.reason
            if not refusal.retryable:
                raise NotificationError(
                    redact(
                        f"{call.vendor} refused to {call.action}: {problem}. "
                        + " ".join(filter(None, (refusal.fix, call.fix_hint))),
                        call.secrets,
                    )
                )
            if reply.status_code == 429:
                retry_after = reply.retry_after_seconds()

        if attempt == policy.attempts:
            break
        if retry_after is not None and retry_after > policy.retry_after_max_seconds:
            raise NotificationError(
                redact(
                    f"{call.vendor} could not {call.action}: {problem}, and it asks "
                    f"to wait {retry_after:.0f} s, longer than firstline waits "
                    f"({policy.retry_after_max_seconds:.0f} s). Try again later.",
                    call.secrets,
                )
            )
        delay = policy.backoff_seconds(attempt) if retry_after is None else retry_after
        logger.warning(
            "%s: could not %s (attempt %d/%d): %s; next try in %.2f s",
            call.vendor,
            call.action,
            attempt,
            policy.attempts,
            redact(problem, call.secrets),
            delay,
        )
        time.sleep(delay)

    if last_transport_error is not None:
        hint = "Check that this worker reaches the vendor and the base URL is right."
    else:
        hint = "The vendor kept failing; check its status page and try again later."
    raise NotificationError(
        redact(
            f"{call.vendor} could not {call.action} after {policy.attempts} "
            f"attempts; the last one failed with: {problem}. {hint}",
            call.secrets,
        )
    ) from last_transport_error


def vendor_message(reply: VendorReply, *keys: str) -> str:
    """The vendor's own words from a JSON body's ``keys``, else the body's start."""
    payload = reply.json_object()
    parts = []
    for key in keys:
        value = payload.get(key)
        if value:
            parts.append(value if isinstance(value, str) else json.dumps(value))
    text = "; ".join(parts) if parts else reply.body.strip()
    return " ".join(text.split())[:_VENDOR_MESSAGE_CHARS]


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value, and the telling parts of a URL, masked."""
    for fragment in sorted(_secret_fragments(secrets), key=len, reverse=True):
        text = text.replace(fragment, REDACTED)
    return text


def _secret_fragments(secrets: Iterable[str]) -> set[str]:
    fragments: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        fragments.add(secret)
        parts = urlsplit(secret) if "://" in secret else None
        if parts is None or not parts.path.strip("/"):
            continue
        # A webhook URL is secret as a whole; error texts often quote only its path.
        fragments.add(parts.path)
        fragments.update(
            segment
            for segment in parts.path.split("/")
            if len(segment) >= _MIN_SECRET_FRAGMENT_CHARS
        )
        if parts.query:
            fragments.add(parts.query)
    return fragments
