"""What Route 53's checkers would report about a sandbox instance's web server.

moto always reports success. The sandbox instead answers from the instance's
state: the ``ROUTE53_FAILURE`` fault fails the check outright; otherwise the
report follows the web server's mode (an error page, a hang, or nothing
listening while the instance is stopped or booting all fail), as a real HTTP
health check pointed at that server would. Every checker region agrees.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sandbox.faults import Fault
from sandbox.httpd import HttpMode

CHECKER_REGIONS = (
    "us-east-1",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "sa-east-1",
)
_RESOLVED_IP = "127.0.0.1"

SUCCESS = f"Success: HTTP Status Code 200, OK. Resolved IP: {_RESOLVED_IP}"
FAILURE_HTTP_500 = (
    f"Failure: HTTP Status Code 500, Internal Server Error. Resolved IP: {_RESOLVED_IP}"
)
FAILURE_TIMEOUT = (
    "Failure: Connection timed out. The endpoint or the internet connection is "
    "down, or requests are being blocked by your firewall."
)
FAILURE_REFUSED = (
    "Failure: Connection refused. The endpoint is not accepting connections "
    f"on its port. Resolved IP: {_RESOLVED_IP}"
)


def status_for(http_mode: HttpMode, faults: frozenset[Fault]) -> str:
    if Fault.ROUTE53_FAILURE in faults:
        return FAILURE_HTTP_500
    return {
        "ok": SUCCESS,
        "error": FAILURE_HTTP_500,
        "hung": FAILURE_TIMEOUT,
        "down": FAILURE_REFUSED,
    }[http_mode]


def observations(http_mode: HttpMode, faults: frozenset[Fault]) -> list[dict[str, Any]]:
    """``HealthCheckObservations`` as GetHealthCheckStatus returns them."""
    status = status_for(http_mode, faults)
    checked_time = datetime.now(UTC)
    return [
        {
            "Region": region,
            # Route 53 reports each checker's own address; these are from the
            # documentation range, one per checker region.
            "IPAddress": f"192.0.2.{10 + index}",
            "StatusReport": {"Status": status, "CheckedTime": checked_time},
        }
        for index, region in enumerate(CHECKER_REGIONS)
    ]
