"""The settings of one managed instance, validated with units and bounds.

The fleet file (see ``firstline.fleet``) merges defaults, region defaults and the
instance's own entry into one mapping, which these models validate. Every field
names its unit; every model refuses keys it does not know, so a typo is an error
rather than a silently ignored setting.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

INSTANCE_ID_PATTERN = r"^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$"
HEALTH_CHECK_ID_PATTERN = r"^[0-9a-fA-F-]{1,64}$"

Port = Annotated[int, Field(ge=1, le=65535)]
Seconds = Annotated[float, Field(gt=0, le=86_400)]


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SecretRef(_Settings):
    """Where a secret lives; the value itself is never written in the fleet file."""

    prefect_secret: str | None = Field(
        None, description="Name of a Prefect Secret block.", min_length=1
    )
    aws_secret: str | None = Field(
        None, description="ARN or name of an AWS Secrets Manager secret.", min_length=1
    )
    aws_region: str | None = Field(
        None, description="Region of the AWS secret, if not the instance's."
    )
    json_key: str | None = Field(
        None, description="Key to read when the secret holds a JSON object."
    )

    @model_validator(mode="after")
    def _exactly_one_source(self) -> SecretRef:
        if (self.prefect_secret is None) == (self.aws_secret is None):
            raise ValueError("give exactly one of 'prefect_secret' or 'aws_secret'")
        return self

    def describe(self) -> str:
        """A label safe to log: names where the secret is, never its value."""
        if self.prefect_secret is not None:
            return f"prefect-secret:{self.prefect_secret}"
        return f"aws-secret:{self.aws_secret}"


class StatusRange(_Settings):
    low: int = Field(200, ge=100, le=599)
    high: int = Field(399, ge=100, le=599)

    @model_validator(mode="after")
    def _ordered(self) -> StatusRange:
        if self.low > self.high:
            raise ValueError(f"status range {self.low}-{self.high} is empty")
        return self

    def __contains__(self, status_code: object) -> bool:
        return isinstance(status_code, int) and self.low <= status_code <= self.high


class UrlCheckSettings(_Settings):
    enabled: bool = True
    url: str | None = Field(None, description="Full URL; wins over the parts below.")
    scheme: Literal["http", "https"] = "http"
    host: str | None = Field(None, description="Explicit host instead of an IP.")
    address: Literal["public", "private"] = Field(
        "public", description="Which instance IP to use when no host is given."
    )
    port: Port | None = None
    path: str = "/"
    method: Literal["GET", "HEAD", "POST"] = "GET"
    expected_status: StatusRange = StatusRange()
    body_contains: str | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 3.0
    verify_tls: bool = True

    @field_validator("expected_status", mode="before")
    @classmethod
    def _parse_status(cls, value: object) -> object:
        if isinstance(value, int):
            return {"low": value, "high": value}
        if isinstance(value, str):
            match = re.fullmatch(r"\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?", value)
            if match is None:
                raise ValueError("write a status code like 200 or a range like 200-399")
            low = int(match.group(1))
            return {"low": low, "high": int(match.group(2) or low)}
        return value

    @field_validator("url")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an absolute http:// or https:// URL")
        return value

    @field_validator("path")
    @classmethod
    def _rooted_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value


class Route53CheckSettings(_Settings):
    enabled: bool = True
    health_check_id: str | None = Field(
        None, pattern=HEALTH_CHECK_ID_PATTERN, description="None: recorded as skipped."
    )
    policy: Literal["any", "majority"] = Field(
        "any", description="Fail when any checker, or a majority, reports failure."
    )


class SshAuthSettings(_Settings):
    """Optional authenticated mode: log in with a key and run one command."""

    username: str = Field(min_length=1, max_length=64)
    private_key: SecretRef
    command: str = "uptime"
    known_host_keys: tuple[str, ...] = Field(
        min_length=1,
        description="Pinned host keys ('ssh-ed25519 AAAA...'); never auto-added.",
    )
    command_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 10.0


class SshCheckSettings(_Settings):
    enabled: bool = True
    host: str | None = None
    address: Literal["public", "private"] = "public"
    port: Port = 22
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 5.0
    auth: SshAuthSettings | None = None


class ChecksSettings(_Settings):
    url: UrlCheckSettings = UrlCheckSettings()
    route53: Route53CheckSettings = Route53CheckSettings()
    ssh: SshCheckSettings = SshCheckSettings()


class RecoverySettings(_Settings):
    window_seconds: Seconds = Field(
        600.0, description="How long after the reboot the instance may take."
    )
    check_interval_seconds: Seconds = Field(
        10.0, description="Pause between second-pass attempts."
    )
    ready_poll_interval_seconds: Seconds = Field(
        5.0, description="Pause between EC2 readiness polls after the reboot."
    )
    console_output_lines: int = Field(50, ge=0, le=2000)


class SlackRoute(_Settings):
    enabled: bool = True
    channel: str | None = None
    token: SecretRef | None = Field(None, description="Bot token (chat.postMessage).")
    webhook_url: SecretRef | None = Field(None, description="Incoming-webhook URL.")
    base_url: str = "https://slack.com/api/"

    @model_validator(mode="after")
    def _one_way_to_post(self) -> SlackRoute:
        if self.token is not None and self.webhook_url is not None:
            raise ValueError("give either 'token' (with 'channel') or 'webhook_url'")
        if self.token is not None and not self.channel:
            raise ValueError("'token' needs a 'channel' to post to")
        return self


PagerPriority = Literal["P1", "P2", "P3", "P4", "P5"]


class PagerRoute(_Settings):
    kind: Literal["none", "opsgenie", "jsm", "pagerduty"] = "none"
    key: SecretRef | None = Field(
        None, description="GenieKey / JSM API key / PagerDuty routing key."
    )
    base_url: str | None = Field(None, description="Vendor API base; None: default.")
    team: str | None = None
    priority: PagerPriority = "P2"
    tags: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _key_when_paging(self) -> PagerRoute:
        if self.kind != "none" and self.key is None:
            raise ValueError(f"pager kind {self.kind!r} needs a 'key' secret")
        return self


class NotifySettings(_Settings):
    slack: SlackRoute = SlackRoute(enabled=False)
    pager: PagerRoute = PagerRoute()
    prefect_ui_url: str | None = Field(
        None, description="Base of links to flow runs, e.g. http://127.0.0.1:4200."
    )


class ExtraAlarm(_Settings):
    metric_name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,255}$")
    statistic: Literal["Average", "Maximum", "Minimum", "Sum", "SampleCount"] = (
        "Maximum"
    )
    threshold: float = 1.0
    comparison: Literal[
        "GreaterThanOrEqualToThreshold",
        "GreaterThanThreshold",
        "LessThanThreshold",
        "LessThanOrEqualToThreshold",
    ] = "GreaterThanOrEqualToThreshold"
    period_seconds: int = Field(60, ge=10, le=86_400)
    evaluation_periods: int = Field(1, ge=1, le=100)


class AlarmSettings(_Settings):
    """The CloudWatch alarms the CDK app creates for the instance."""

    cpu_threshold_percent: float = Field(100.0, gt=0, le=100)
    period_seconds: int = Field(300, ge=10, le=86_400)
    evaluation_periods: int = Field(1, ge=1, le=100)
    treat_missing_data: Literal["missing", "notBreaching", "breaching", "ignore"] = (
        "missing"
    )
    extra: tuple[ExtraAlarm, ...] = ()


class RebootBudget(_Settings):
    """At most ``max_reboots`` reboots of one instance within ``window_seconds``."""

    max_reboots: int = Field(ge=0, le=100)
    window_seconds: Seconds


class BreakerSettings(_Settings):
    """Stop rebooting in a region when too many of its instances alarm at once."""

    enabled: bool = True
    max_instances: int = Field(
        3, ge=1, description="Open when more than this many instances alarm."
    )
    max_percent: float = Field(
        30.0,
        gt=0,
        le=100,
        description="Or when more than this share of the region's"
        " managed instances alarm.",
    )
    window_seconds: Seconds = Field(600.0, description="How far back alarms count.")


class ApprovalSettings(_Settings):
    """Pause before rebooting until a person approves in the Prefect UI."""

    required: bool = False
    timeout_seconds: Seconds = Field(900.0, description="No answer: page instead.")


class GuardSettings(_Settings):
    reboot_budgets: tuple[RebootBudget, ...] = (
        RebootBudget(max_reboots=1, window_seconds=1800),
        RebootBudget(max_reboots=3, window_seconds=86_400),
    )
    breaker: BreakerSettings = BreakerSettings()
    approval: ApprovalSettings = ApprovalSettings()
    lock_lease_seconds: float = Field(
        60.0,
        ge=60,
        le=3600,
        description="How long an instance lock outlives a worker that died "
        "(Prefect's leases last at least 60 s).",
    )


class InstanceSettings(_Settings):
    """Everything firstline knows about one managed instance."""

    instance_id: str = Field(pattern=INSTANCE_ID_PATTERN)
    region: str
    name: str | None = Field(None, max_length=255)
    checks: ChecksSettings = ChecksSettings()
    recovery: RecoverySettings = RecoverySettings()
    notify: NotifySettings = NotifySettings()
    alarms: AlarmSettings = AlarmSettings()
    guards: GuardSettings = GuardSettings()

    @property
    def label(self) -> str:
        return f"{self.instance_id} ({self.region})"
