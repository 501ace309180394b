"""Posting events to the Prefect API (``POST {PREFECT_API_URL}/events``).

Failures that may pass (no connection, a timeout, 5xx, 429) are retried with the
``RetryPolicy``; SQLite-backed servers answer 503 while their database is locked and
send no ``Retry-After``. When every attempt failed, ``PrefectUnavailable`` is raised so
that Lambda retries the invocation. A 3xx or any other 4xx means a setting is wrong
and raises ``PrefectRejected`` at once, with what to fix. Redirects are never
followed: urllib would resend the ``Authorization`` header to the new host.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence

from .config import API_URL_VARIABLE, SECRET_ARN_VARIABLE, RetryPolicy
from .errors import PrefectRejected, PrefectUnavailable
from .secret import Credential

logger = logging.getLogger("firstline.relay.prefect_api")

USER_AGENT = "firstline-relay/0.1"
_MAX_DETAIL_LENGTH = 300
_MAX_RESPONSE_BYTES = 65536


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: object,
        code: int,
        msg: str,
        headers: object,
        newurl: str,
    ) -> None:
        return None


_OPENER = urllib.request.build_opener(_RefuseRedirects)


class _PassingFailure(Exception):
    """An attempt failed in a way that may pass; never leaves this module."""

    def __init__(
        self, description: str, retry_after_seconds: float | None = None
    ) -> None:
        super().__init__(description)
        self.description = description
        self.retry_after_seconds = retry_after_seconds


def post_events(
    events: Sequence[Mapping[str, object]],
    events_url: str,
    credential: Credential | None,
    retry: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Post ``events`` in one request and return the number of attempts it took.

    Raises:
        PrefectUnavailable: every attempt failed with a failure that may pass.
        PrefectRejected: the API answered 3xx or 4xx (other than 429).
    """
    body = json.dumps(list(events), ensure_ascii=True).encode("ascii")
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
    }
    if credential is not None:
        headers["Authorization"] = credential.authorization_header()

    failure = _PassingFailure("no attempt made")
    for attempt in range(1, retry.max_attempts + 1):
        try:
            _post_once(events_url, body, headers, credential, retry.timeout_seconds)
            return attempt
        except _PassingFailure as passing:
            failure = passing
        if attempt == retry.max_attempts:
            break

        delay_seconds = retry.delay_before_seconds(attempt + 1)
        if failure.retry_after_seconds is not None:
            delay_seconds = min(
                max(delay_seconds, failure.retry_after_seconds),
                retry.max_backoff_seconds,
            )
        logger.warning(
            "Prefect API %s failed on attempt %d/%d: %s; next attempt in %.2f s",
            events_url,
            attempt,
            retry.max_attempts,
            failure.description,
            delay_seconds,
        )
        sleep(delay_seconds)

    raise PrefectUnavailable(
        f"could not post to the Prefect API {events_url} in {retry.max_attempts} "
        f"attempts; the last one failed: {failure.description}. Check that the "
        f"server is running and reachable from the relay ({API_URL_VARIABLE})"
    )


def _post_once(
    events_url: str,
    body: bytes,
    headers: Mapping[str, str],
    credential: Credential | None,
    timeout_seconds: float,
) -> None:
    request = urllib.request.Request(
        events_url, data=body, headers=dict(headers), method="POST"
    )
    try:
        with _OPENER.open(request, timeout=timeout_seconds) as response:
            response.read(_MAX_RESPONSE_BYTES)
    except urllib.error.HTTPError as error:
        with error:
            detail = _detail(error, credential)
            status_code = error.code
            retry_after = error.headers.get("Retry-After") if error.headers else None
        if status_code >= 500 or status_code == 429:
            raise _PassingFailure(
                f"HTTP {status_code} {detail}".rstrip(), _seconds(retry_after)
            ) from None
        raise PrefectRejected(
            _rejection_message(events_url, status_code, detail, error), status_code
        ) from None
    except (OSError, http.client.HTTPException) as error:
        # URLError (an OSError) wraps the socket's error in ``reason``.
        reason = error.reason if isinstance(error, urllib.error.URLError) else error
        if isinstance(reason, BaseException):
            raise _PassingFailure(f"{type(reason).__name__}: {reason}") from None
        raise _PassingFailure(str(reason)) from None


def _detail(error: urllib.error.HTTPError, credential: Credential | None) -> str:
    try:
        raw = error.read(_MAX_RESPONSE_BYTES)
    except (OSError, http.client.HTTPException):
        return ""
    text = raw.decode("utf-8", errors="replace").replace("\n", " ").strip()
    # Redact before cutting, so that no part of a secret survives at the cut.
    if credential is not None:
        text = credential.redact(text)
    return text[:_MAX_DETAIL_LENGTH]


def _rejection_message(
    events_url: str, status_code: int, detail: str, error: urllib.error.HTTPError
) -> str:
    prefix = f"the Prefect API {events_url} answered HTTP {status_code}"
    if status_code in (401, 403):
        return (
            f"{prefix}: it refused the relay's credential; store a valid "
            f'{{"api_key": ...}} or {{"basic_auth": "user:password"}} in the secret '
            f"named by {SECRET_ARN_VARIABLE} (or set that variable if the server "
            "requires authentication)"
        )
    if status_code == 404:
        return (
            f"{prefix}: there is no events endpoint there; set {API_URL_VARIABLE} to "
            "the API root, such as http://127.0.0.1:4200/api or "
            "https://api.prefect.cloud/api/accounts/<id>/workspaces/<id>"
        )
    if status_code == 422:
        return (
            f"{prefix}: it rejected the event's shape ({detail}); the relay's event "
            "does not match this server's Event schema"
        )
    if 300 <= status_code < 400:
        location = error.headers.get("Location", "") if error.headers else ""
        return (
            f"{prefix}: it redirects to {location[:200]!r}; set {API_URL_VARIABLE} "
            "to the final address"
        )
    return f"{prefix} ({detail}); check {API_URL_VARIABLE} and the server's logs"


def _seconds(retry_after: str | None) -> float | None:
    if retry_after is None:
        return None
    try:
        seconds = float(retry_after.strip())
    except ValueError:
        return None
    return seconds if 0 <= seconds < 3600 else None
