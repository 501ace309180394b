"""What the three checks share: choosing the address, timing, and the result line."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal

from firstline.errors import CheckError
from firstline.logs import get_logger
from firstline.models import CheckName, CheckResult, CheckStatus, InstanceInfo


def instance_host(
    instance: InstanceInfo,
    check: CheckName,
    host: str | None,
    address: Literal["public", "private"],
) -> str:
    """The explicit host, else the instance's public or private IP."""
    if host is not None:
        return host
    ip = instance.public_ip if address == "public" else instance.private_ip
    if ip is None:
        raise CheckError(
            f"The {check} check of {instance.instance_id} ({instance.region}) has no "
            f"host: the instance has no {address} IP address. Set checks.{check}.host, "
            f"or checks.{check}.address to the kind of address the instance has."
        )
    return ip


class CheckClock:
    """Started when a check starts; turns the outcome into a logged result."""

    def __init__(self, check: CheckName, instance: InstanceInfo, target: str) -> None:
        self.check = check
        self.instance_id = instance.instance_id
        self.target = target
        self.started_at = datetime.now(UTC)
        self._start = time.monotonic()

    def elapsed_seconds(self) -> float:
        return time.monotonic() - self._start

    def result(
        self,
        status: CheckStatus,
        detail: str,
        evidence: Mapping[str, str] | None = None,
    ) -> CheckResult:
        """The check's result, logged as its one INFO line."""
        result = CheckResult(
            check=self.check,
            target=self.target,
            status=status,
            detail=detail,
            duration_seconds=self.elapsed_seconds(),
            started_at=self.started_at,
            evidence=dict(evidence or {}),
        )
        get_logger().info(
            "%s check of %s at %s %s: %s (%.2f s)",
            result.check,
            self.instance_id,
            result.target,
            result.status,
            result.detail,
            result.duration_seconds,
        )
        return result
