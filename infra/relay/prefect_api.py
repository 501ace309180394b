"""Calling the Prefect API: one JSON request, tried again while its failure may pass.

``call_api`` sends one ``GET`` or ``POST`` (with a JSON body) and returns the status
and the parsed JSON answer. ``post_events`` posts events with it
(``POST {PREFECT_API_URL}/events``); ``flow_runs`` creates flow runs with it.

Failures that may pass (no connection, a timeout, 5xx, 429) are retried with the
``RetryPolicy``; SQLite-backed servers answer 503 while their database is locked and
send no ``Retry-After``. When every attempt failed, ``PrefectUnavailable`` is raised so
that Lambda retries the invocation. A 3xx or any other 4xx means a setting is wrong
and raises ``PrefectRejected`` at once, with what to fix, unless the caller handles
that status itself. Redirects are never followed: urllib would resend the
``Authorization`` header to the new host.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from .config import API_URL_VARIABLE, SECRET_ARN_VARIABLE, RetryPolicy
from .errors import PrefectRejected, PrefectUnavailable
from .secret import Credential

logger = logging.getLogger("firstline.relay.prefect_api")

USER_AGENT = "firstline-relay/0.1"
_MAX_DETAIL_LENGTH = 300
_MAX_ERROR_BODY_BYTES = 65536
# A deployment or flow run as Prefect 3.9 returns it is a few KiB.
_MAX_ANSWER_BYTES = 1024 * 1024

Method = Literal["GET", "POST"]


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


@dataclass(frozen=True)
class ApiAnswer:
    """The answer to one request: a 2xx, or a status the caller handles itself.

    ``document`` is the parsed JSON body, None when the body is empty or not JSON;
    ``detail`` is the start of the body as text, credential redacted, for messages.
    """

    status_code: int
    document: object
    detail: str
    attempts: int


class _PassingFailure(Exception):
    """An attempt failed in a way that may pass; never leaves this module."""

    def __init__(
        self, description: str, retry_after_seconds: float | None = None
    ) -> None:
        super().__init__(description)
        self.description = description
        self.retry_after_seconds = retry_after_seconds


def call_api(
    method: Method,
    url: str,
    credential: Credential | None,
    retry: RetryPolicy,
    *,
    body: object = None,
    handled_statuses: frozenset[int] = frozenset(),
    subject: str = "request",
    sleep: Callable[[float], None] = time.sleep,
) -> ApiAnswer:
    """Send one request, with ``body`` as JSON unless it is None, and return the
    answer once it is a 2xx or one of ``handled_statuses``.

    ``subject`` names what is sent (``event``, ``flow run``) in rejection messages.
    Only call it for requests that can be repeated: an attempt whose answer is
    lost is sent again.

    Raises:
        PrefectUnavailable: every attempt failed with a failure that may pass.
        PrefectRejected: the API answered 3xx or 4xx (other than 429) outside
            ``handled_statuses``, or a 2xx larger than the relay reads.
    """
    data = None
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    if body is not None:
        data = json.dumps(body, ensure_ascii=True).encode("ascii")
        headers["Content-Type"] = "application/json"
    if credential is not None:
        headers["Authorization"] = credential.authorization_header()
    request = _Request(method, url, data, headers, credential, subject)

    failure = _PassingFailure("no attempt made")
    for attempt in range(1, retry.max_attempts + 1):
        try:
            status_code, document, detail = request.send(
                retry.timeout_seconds, handled_statuses
            )
            return ApiAnswer(status_code, document, detail, attempt)
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
            "Prefect API %s %s failed on attempt %d/%d: %s; next attempt in %.2f s",
            method,
            url,
            attempt,
            retry.max_attempts,
            failure.description,
            delay_seconds,
        )
        sleep(delay_seconds)

    raise PrefectUnavailable(
        f"the Prefect API did not answer {method} {url} in {retry.max_attempts} "
        f"attempts; the last one failed: {failure.description}. Check that the "
        f"server is running and reachable from the relay ({API_URL_VARIABLE})"
    )


def post_events(
    events: Sequence[Mapping[str, object]],
    events_url: str,
    credential: Credential | None,
    retry: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Post ``events`` in one request and return the number of attempts it took.

    Posting again is safe: the server stores an event id once.

    Raises:
        PrefectUnavailable: every attempt failed with a failure that may pass.
        PrefectRejected: the API answered 3xx or 4xx (other than 429).
    """
    answer = call_api(
        "POST",
        events_url,
        credential,
        retry,
        body=list(events),
        subject="event",
        sleep=sleep,
    )
    return answer.attempts


@dataclass(frozen=True)
class _Request:
    method: Method
    url: str
    data: bytes | None
    headers: Mapping[str, str]
    credential: Credential | None
    subject: str

    def send(
        self, timeout_seconds: float, handled_statuses: frozenset[int]
    ) -> tuple[int, object, str]:
        """One attempt: the status, the parsed body and its detail text."""
        request = urllib.request.Request(
            self.url, data=self.data, headers=dict(self.headers), method=self.method
        )
        try:
            with _OPENER.open(request, timeout=timeout_seconds) as response:
                status_code: int = response.status
                raw: bytes = response.read(_MAX_ANSWER_BYTES + 1)
        except urllib.error.HTTPError as error:
            with error:
                raw = _read_error_body(error)
                status_code = error.code
                headers = error.headers
                retry_after = headers.get("Retry-After") if headers else None
                location = headers.get("Location", "") if headers else ""
            detail = self._detail(raw)
            if status_code in handled_statuses:
                return status_code, _parsed(raw), detail
            if status_code >= 500 or status_code == 429:
                raise _PassingFailure(
                    f"HTTP {status_code} {detail}".rstrip(), _seconds(retry_after)
                ) from None
            raise PrefectRejected(
                self._rejection_message(status_code, detail, location), status_code
            ) from None
        except (OSError, http.client.HTTPException) as error:
            # URLError (an OSError) wraps the socket's error in ``reason``.
            reason = error.reason if isinstance(error, urllib.error.URLError) else error
            if isinstance(reason, BaseException):
                raise _PassingFailure(f"{type(reason).__name__}: {reason}") from None
            raise _PassingFailure(str(reason)) from None

        if len(raw) > _MAX_ANSWER_BYTES:
            raise PrefectRejected(
                f"the Prefect API {self.method} {self.url} answered HTTP "
                f"{status_code} with more than {_MAX_ANSWER_BYTES} bytes; check that "
                f"{API_URL_VARIABLE} is the Prefect API root",
                status_code,
            )
        return status_code, _parsed(raw), self._detail(raw)

    def _detail(self, raw: bytes) -> str:
        text = raw.decode("utf-8", errors="replace").replace("\n", " ").strip()
        # Redact before cutting, so that no part of a secret survives at the cut.
        if self.credential is not None:
            text = self.credential.redact(text)
        return text[:_MAX_DETAIL_LENGTH]

    def _rejection_message(self, status_code: int, detail: str, location: str) -> str:
        prefix = f"the Prefect API {self.url} answered HTTP {status_code}"
        if status_code in (401, 403):
            return (
                f"{prefix}: it refused the relay's credential; store a valid "
                f'{{"api_key": ...}} or {{"basic_auth": "user:password"}} in the '
                f"secret named by {SECRET_ARN_VARIABLE} (or set that variable if the "
                "server requires authentication)"
            )
        if status_code == 404:
            return (
                f"{prefix}: there is no such endpoint there; set {API_URL_VARIABLE} "
                "to the API root, such as http://127.0.0.1:4200/api or "
                "https://api.prefect.cloud/api/accounts/<id>/workspaces/<id>"
            )
        if status_code == 422:
            return (
                f"{prefix}: it rejected the {self.subject}'s shape ({detail}); the "
                f"relay's {self.subject} does not match this server's schema"
            )
        if 300 <= status_code < 400:
            return (
                f"{prefix}: it redirects to {location[:200]!r}; set "
                f"{API_URL_VARIABLE} to the final address"
            )
        return f"{prefix} ({detail}); check {API_URL_VARIABLE} and the server's logs"


def _read_error_body(error: urllib.error.HTTPError) -> bytes:
    try:
        return error.read(_MAX_ERROR_BODY_BYTES)
    except (OSError, http.client.HTTPException):
        return b""


def _parsed(raw: bytes) -> object:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def _seconds(retry_after: str | None) -> float | None:
    if retry_after is None:
        return None
    try:
        seconds = float(retry_after.strip())
    except ValueError:
        return None
    return seconds if 0 <= seconds < 3600 else None
