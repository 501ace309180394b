"""Sending a request and describing a failed one without quoting its URL.

A requests or urllib exception's text may hold the URL, and a Slack webhook URL is
a secret, so a request that gets no HTTP answer becomes a ``TransportError`` whose
message firstline writes itself: the host, and a reason such as "connection
refused" taken from the errno, never from the exception's text.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Mapping
from http.client import HTTPException
from typing import Any
from urllib.error import URLError
from urllib.parse import urlsplit

import requests

from tasks._delivery import (
    Judge,
    RetryPolicy,
    TransportError,
    VendorCall,
    VendorReply,
    send_with_retries,
)


def post_json(
    url: str,
    body: Mapping[str, Any],
    *,
    headers: Mapping[str, str],
    timeout_seconds: float,
    session: requests.Session | None = None,
) -> VendorReply:
    """POST a JSON body with requests; no HTTP answer becomes a TransportError."""
    poster = session if session is not None else requests
    try:
        response = poster.post(
            url,
            json=body,
            headers=dict(headers),
            timeout=timeout_seconds,
            allow_redirects=False,
        )
    except requests.Timeout:
        raise TransportError(
            f"no answer from {_host(url)} within {timeout_seconds:g} s"
        ) from None
    except requests.RequestException as exc:
        raise TransportError(
            f"could not reach {_host(url)}: {describe_os_error(exc)}"
        ) from None
    return VendorReply.build(
        response.status_code, response.headers.items(), response.text
    )


def post_json_with_retries(
    call: VendorCall,
    url: str,
    body: Mapping[str, Any],
    *,
    headers: Mapping[str, str],
    judge: Judge,
    retry: RetryPolicy,
    session: requests.Session | None = None,
) -> VendorReply:
    """``post_json`` under ``send_with_retries``: the same body until ``judge``
    accepts a reply, a refusal is final, or ``retry`` runs out."""

    def send() -> VendorReply:
        return post_json(
            url,
            body,
            headers=headers,
            timeout_seconds=retry.timeout_seconds,
            session=session,
        )

    return send_with_retries(call, send, judge, retry)


def transport_error_from(
    exc: BaseException, url: str, timeout_seconds: float
) -> TransportError:
    """Our description of a urllib-level failure (used with slack_sdk)."""
    if isinstance(exc, TimeoutError) or (
        isinstance(exc, URLError) and isinstance(exc.reason, TimeoutError)
    ):
        return TransportError(
            f"no answer from {_host(url)} within {timeout_seconds:g} s"
        )
    if isinstance(exc, OSError | HTTPException):
        return TransportError(f"could not reach {_host(url)}: {describe_os_error(exc)}")
    return TransportError(f"could not reach {_host(url)}: {type(exc).__name__}")


def describe_os_error(exc: BaseException) -> str:
    """A short reason like "connection refused", built without the exception text."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException) and id(reason) not in seen:
            current = reason
            continue
        if isinstance(current, socket.gaierror):
            return "the host name did not resolve"
        code = getattr(current, "errno", None)
        if isinstance(code, int) and code in errno.errorcode:
            return _ERRNO_WORDS.get(code, errno.errorcode[code])
        for inner in current.args:
            if isinstance(inner, BaseException):
                current = inner
                break
        else:
            current = current.__cause__ or current.__context__
    return f"{type(exc).__name__} (no further detail)"


_ERRNO_WORDS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.ETIMEDOUT: "connection timed out",
}


def _host(url: str) -> str:
    parts = urlsplit(url)
    if not parts.hostname:
        return "the vendor"
    return parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
