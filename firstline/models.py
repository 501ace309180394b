"""Results that firstline's tasks and flows hand to each other.

Every result is a frozen dataclass with a closed set of outcomes, so a report, a
notifier or a test can rely on exactly these fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Verdict(StrEnum):
    """How one remediation run ended."""

    HEALTHY = "healthy"
    RECOVERED = "recovered"
    ESCALATED = "escalated"
    NOT_CHECKED = "not-checked"
    DRY_RUN = "dry-run"
    HELD = "held"
    DUPLICATE = "duplicate"

    @property
    def state_name(self) -> str:
        """The Prefect state name that shows this verdict in the UI."""
        return self.value.replace("-", " ").title().replace(" ", "-")


class CheckStatus(StrEnum):
    """Outcome of one check: skipped means it was not configured to run."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


class CheckName(StrEnum):
    URL = "url"
    ROUTE53 = "route53"
    SSH = "ssh"


@dataclass(frozen=True)
class CheckResult:
    """What one check saw of one target."""

    check: CheckName
    target: str
    status: CheckStatus
    detail: str
    duration_seconds: float
    started_at: datetime
    evidence: Mapping[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status is CheckStatus.PASSED

    @property
    def failed(self) -> bool:
        return self.status is CheckStatus.FAILED


@dataclass(frozen=True)
class CheckPass:
    """One round of the checks; ``attempt`` 0 is the first pass."""

    attempt: int
    results: tuple[CheckResult, ...]

    @property
    def failed_checks(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if r.failed)

    @property
    def has_failure(self) -> bool:
        return any(r.failed for r in self.results)

    @property
    def checked_anything(self) -> bool:
        return any(r.status is not CheckStatus.SKIPPED for r in self.results)

    @property
    def all_clear(self) -> bool:
        """No check failed and at least one check actually ran."""
        return self.checked_anything and not self.has_failure


@dataclass(frozen=True)
class InstanceInfo:
    """An EC2 instance as ``describe_instances`` reported it."""

    instance_id: str
    region: str
    state: str
    public_ip: str | None
    private_ip: str | None
    tags: Mapping[str, str]

    @property
    def name(self) -> str | None:
        return self.tags.get("Name")

    @property
    def is_running(self) -> bool:
        return self.state == "running"


@dataclass(frozen=True)
class Readiness:
    """What polling the instance after a reboot found."""

    ready: bool
    state: str
    instance_status: str
    system_status: str
    waited_seconds: float
    polls: int


@dataclass(frozen=True)
class AlarmContext:
    """The alarm that started the run, as the relay described it."""

    alarm_name: str
    alarm_arn: str | None = None
    state_timestamp: str | None = None
    reason: str | None = None
    account: str | None = None
    event_id: str | None = None


class HoldKind(StrEnum):
    """Why a guard held a reboot."""

    MAINTENANCE = "maintenance"
    BUDGET = "budget"
    BREAKER = "breaker"
    APPROVAL_DECLINED = "approval-declined"
    APPROVAL_TIMEOUT = "approval-timeout"


@dataclass(frozen=True)
class Hold:
    """A reboot a guard did not allow; ``page`` says whether a person is paged."""

    kind: HoldKind
    reason: str
    page: bool


@dataclass(frozen=True)
class IncidentReport:
    """Everything one run found and did, handed to the report and the notifiers."""

    instance_id: str
    region: str
    verdict: Verdict
    reason: str
    started_at: datetime
    finished_at: datetime
    alarm: AlarmContext | None = None
    instance: InstanceInfo | None = None
    passes: tuple[CheckPass, ...] = ()
    actions: tuple[str, ...] = ()
    rebooted: bool = False
    console_output_tail: str = ""
    readiness: Readiness | None = None
    dry_run: bool = False
    flow_run_id: str | None = None
    flow_run_url: str | None = None
    hold: Hold | None = None
    incident_id: str | None = None
    active_run: str | None = None

    @property
    def pages(self) -> bool:
        """Whether this verdict calls for a page."""
        if self.verdict is Verdict.HELD:
            return self.hold is not None and self.hold.page
        return self.verdict is Verdict.ESCALATED

    @property
    def name(self) -> str:
        if self.instance is not None and self.instance.name:
            return self.instance.name
        return self.instance_id

    @property
    def seconds_to_verdict(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def first_pass(self) -> CheckPass | None:
        return self.passes[0] if self.passes else None

    @property
    def last_pass(self) -> CheckPass | None:
        return self.passes[-1] if self.passes else None

    @property
    def dedup_key(self) -> str:
        """One alert key per instance, stable across runs; one per region for an
        open fleet breaker, so a region-wide outage is one page."""
        if self.hold is not None and self.hold.kind is HoldKind.BREAKER:
            return f"firstline-{self.region}-fleet-breaker"
        return f"firstline-{self.region}-{self.instance_id}"
