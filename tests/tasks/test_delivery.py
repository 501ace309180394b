from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta

import pytest

from firstline.errors import NotificationError
from tasks._delivery import (
    REDACTED,
    Refusal,
    RetryPolicy,
    VendorCall,
    VendorReply,
    redact,
    send_with_retries,
)
from tests.tasks.notify_helpers import FAST_RETRY

CALL = VendorCall("Acme", "page the team", "Check the key.", ("s3cr3t-value",))


def reply(status_code: int, body: str = "", **headers: str) -> VendorReply:
    return VendorReply.build(status_code, headers.items(), body)


def judge(answer: VendorReply) -> Refusal | None:
    if answer.status_code == 202:
        return None
    return Refusal(f"HTTP {answer.status_code}", retryable=answer.status_code >= 500)


class TestRetryPolicy:
    def test_the_backoff_doubles_up_to_its_ceiling(self) -> None:
        policy = RetryPolicy(backoff_base_seconds=1, backoff_max_seconds=5)

        assert [policy.backoff_seconds(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 5]

    def test_zero_attempts_is_refused(self) -> None:
        with pytest.raises(ValueError, match="attempts"):
            RetryPolicy(attempts=0)


class TestRetryAfter:
    def test_delta_seconds_are_read(self) -> None:
        assert reply(429, **{"Retry-After": "7"}).retry_after_seconds() == 7.0

    def test_an_http_date_becomes_the_seconds_until_then(self) -> None:
        when = datetime.now(UTC) + timedelta(seconds=30)
        header = email.utils.format_datetime(when, usegmt=True)

        seconds = reply(429, **{"Retry-After": header}).retry_after_seconds()

        assert seconds is not None and 25 <= seconds <= 30

    def test_a_missing_or_unreadable_header_is_none(self) -> None:
        assert reply(429).retry_after_seconds() is None
        assert reply(429, **{"Retry-After": "soon"}).retry_after_seconds() is None


class TestRedact:
    def test_a_secret_value_is_masked(self) -> None:
        assert redact("key s3cr3t-value refused", ["s3cr3t-value"]) == (
            f"key {REDACTED} refused"
        )

    def test_the_path_of_a_secret_url_is_masked_when_quoted_alone(self) -> None:
        url = "https://hooks.example.com/services/T0001/B0002/AbCdEfGhIjKl"

        text = redact("POST /services/T0001/B0002/AbCdEfGhIjKl failed", [url])

        assert "AbCdEfGhIjKl" not in text
        assert REDACTED in text


class TestSendWithRetries:
    def test_a_final_refusal_is_raised_at_once_without_the_secret(self) -> None:
        answers = iter([reply(401, "bad key s3cr3t-value")])

        def send() -> VendorReply:
            return next(answers)

        def refuse(answer: VendorReply) -> Refusal:
            return Refusal(f"HTTP 401: {answer.body}", retryable=False)

        with pytest.raises(NotificationError) as caught:
            send_with_retries(CALL, send, refuse, FAST_RETRY)

        assert str(caught.value) == (
            f"Acme refused to page the team: HTTP 401: bad key {REDACTED}. "
            "Check the key."
        )

    def test_server_errors_are_retried_until_the_attempts_run_out(self) -> None:
        sent: list[int] = []

        def send() -> VendorReply:
            sent.append(1)
            return reply(503)

        with pytest.raises(NotificationError, match="after 4 attempts.*HTTP 503"):
            send_with_retries(CALL, send, judge, FAST_RETRY)

        assert len(sent) == 4

    def test_an_accepted_reply_is_returned(self) -> None:
        answers = iter([reply(500), reply(202, "ok")])

        def send() -> VendorReply:
            return next(answers)

        assert send_with_retries(CALL, send, judge, FAST_RETRY).body == "ok"
