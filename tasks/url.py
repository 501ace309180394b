"""The URL check: one HTTP request to the instance, judged by status and body.

An answer outside the expected status range, a timeout, a refused connection, a TLS
error or a body without the expected text is a failed check. Only a configuration
that names no host the instance can be reached at raises ``CheckError``.
"""

from __future__ import annotations

import requests
import urllib3
from prefect import task
from prefect.cache_policies import NO_CACHE

from firstline.errors import CheckError
from firstline.models import CheckName, CheckResult, CheckStatus, InstanceInfo
from firstline.settings import UrlCheckSettings
from tasks._checks import CheckClock, instance_host

BODY_LIMIT_BYTES = 1024 * 1024
_CHUNK_BYTES = 16 * 1024


def build_check_url(instance: InstanceInfo, settings: UrlCheckSettings) -> str:
    """The configured URL, or one built from the host or the instance's IP."""
    if settings.url is not None:
        return settings.url

    host = instance_host(instance, CheckName.URL, settings.host, settings.address)
    if ":" in host:
        host = f"[{host}]"
    port = "" if settings.port is None else f":{settings.port}"
    return f"{settings.scheme}://{host}{port}{settings.path}"


def run_url_check(instance: InstanceInfo, settings: UrlCheckSettings) -> CheckResult:
    """Request the instance's URL once and judge the answer."""
    if not settings.enabled:
        clock = CheckClock(CheckName.URL, instance, "url (disabled)")
        return clock.result(CheckStatus.SKIPPED, "the URL check is disabled")
    if settings.body_contains is not None and settings.method == "HEAD":
        raise CheckError(
            f"The URL check of {instance.instance_id} asks for body text, but a HEAD "
            "request has no body. Use method GET, or drop checks.url.body_contains."
        )
    url = build_check_url(instance, settings)
    clock = CheckClock(CheckName.URL, instance, url)
    evidence = {"url": url, "method": settings.method}

    try:
        with requests.request(
            settings.method,
            url,
            timeout=settings.timeout_seconds,
            verify=settings.verify_tls,
            allow_redirects=False,
            stream=True,
        ) as response:
            evidence["status_code"] = str(response.status_code)
            status, detail = _judge_response(response, settings)
    except requests.exceptions.InvalidURL as exc:
        raise CheckError(
            f"The URL check of {instance.instance_id} has an invalid URL {url!r}: "
            f"{exc}. Fix checks.url in the fleet file."
        ) from exc
    except requests.RequestException as exc:
        detail = _describe_request_error(exc, settings.timeout_seconds)
        return clock.result(CheckStatus.FAILED, detail, evidence)
    return clock.result(status, detail, evidence)


check_url = task(
    name="check-url",
    task_run_name="check-url-{instance.instance_id}",
    cache_policy=NO_CACHE,
    retries=0,
)(run_url_check)


def _judge_response(
    response: requests.Response, settings: UrlCheckSettings
) -> tuple[CheckStatus, str]:
    answer = f"HTTP {response.status_code} {response.reason}"
    expected = settings.expected_status
    if response.status_code not in expected:
        return CheckStatus.FAILED, f"{answer}, expected {expected.low}-{expected.high}"
    if settings.body_contains is None:
        return CheckStatus.PASSED, answer
    if not _body_contains(response, settings.body_contains):
        return CheckStatus.FAILED, f"{answer}, body lacks {settings.body_contains!r}"
    return CheckStatus.PASSED, f"{answer}, body contains {settings.body_contains!r}"


def _body_contains(response: requests.Response, text: str) -> bool:
    """Read at most BODY_LIMIT_BYTES of the body, stopping once ``text`` is seen.

    The timeout bounds each read, not the whole body: a server that trickles its
    body a byte at a time can hold the check for longer than ``timeout_seconds``.
    """
    body = b""
    for chunk in response.iter_content(_CHUNK_BYTES):
        body += chunk
        if text in body.decode(response.encoding or "utf-8", errors="replace"):
            return True
        if len(body) >= BODY_LIMIT_BYTES:
            return False
    return False


def _describe_request_error(
    exc: requests.RequestException, timeout_seconds: float
) -> str:
    """A short reason for a request that got no usable answer."""
    chain = _exception_chain(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS error: {chain[-1]}"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"connection timed out after {timeout_seconds:g} s"
    # A timeout while reading the body arrives as a ConnectionError around it.
    if isinstance(exc, requests.exceptions.ReadTimeout) or any(
        isinstance(e, urllib3.exceptions.ReadTimeoutError) for e in chain
    ):
        return f"no answer within {timeout_seconds:g} s"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "connection refused"
    return f"request failed: {type(chain[-1]).__name__}: {chain[-1]}"


def _exception_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it wraps, innermost last."""
    chain = [exc]
    while True:
        inner = exc.__cause__ or exc.__context__
        if inner is None and exc.args and isinstance(exc.args[0], BaseException):
            inner = exc.args[0]
        if inner is None or any(inner is e for e in chain):
            return chain
        chain.append(inner)
        exc = inner
