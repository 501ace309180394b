"""The vocabulary of the sandbox: faults, reboot outcomes and what it records."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

_READ_ONLY_PREFIXES = ("Describe", "Get", "List")


class Fault(enum.Enum):
    """Something wrong with a sandbox instance. Several can hold at once."""

    HUNG = "hung"
    """The web server accepts and never answers; the SSH port accepts and stays
    silent. Takes precedence over the HTTP and SSH faults below."""
    HTTP_500 = "http_500"
    """The web server answers HTTP 500."""
    SSH_REFUSED = "ssh_refused"
    """Nothing listens on the SSH port. Takes precedence over SSH_BANNER_SILENCE."""
    SSH_BANNER_SILENCE = "ssh_banner_silence"
    """The SSH port sends an OpenSSH banner, then never answers key exchange."""
    ROUTE53_FAILURE = "route53_failure"
    """The Route 53 health check reports failure from every checker region, even
    while the web server is fine."""
    REBOOT_FAILS = "reboot_fails"
    """RebootInstances answers UnauthorizedOperation and nothing reboots."""


class AfterReboot(enum.Enum):
    """How a sandbox instance comes back from a reboot (or a start)."""

    HEALTHY = "healthy"
    """All faults are cleared."""
    BROKEN = "broken"
    """The faults are kept: the reboot did not help."""


@dataclass(frozen=True)
class ApiCall:
    """One AWS API call that reached the sandbox's moto server from a client."""

    service: str
    """The moto service name: ``ec2``, ``route53``, ``cloudwatch``, ``sts``..."""
    action: str
    """The API action as AWS spells it: ``RebootInstances``."""
    region: str

    @property
    def is_mutating(self) -> bool:
        """False for Describe*, Get* and List* calls, True for everything else."""
        return not self.action.startswith(_READ_ONLY_PREFIXES)


@dataclass(frozen=True)
class RebootRecord:
    """A reboot the sandbox modelled (a RebootInstances call that succeeded)."""

    instance_id: str
    requested_monotonic: float
    """``time.monotonic()`` when the reboot began."""
    requested_at: datetime
    """Wall-clock time (UTC) when the reboot began."""
    boot_seconds: float
    """Real seconds the boot lasts: the instance's boot_seconds times time_scale."""
    after_reboot: AfterReboot
