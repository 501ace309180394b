"""The CDK app's own settings, read from CDK context and checked before any stack.

The fleet file says which instances exist; these values say where and how the
infrastructure around them is deployed. Each is a CDK context key, given with
``cdk -c key=value`` or in ``infra/cdk.json``; the CLI hands every value over as
a string, so numbers, flags and lists are also accepted in their string form.

    fleet                        fleet file; else $FIRSTLINE_FLEET_FILE; else
                                 infra/fleet.example.yaml (relative paths are
                                 read from the directory the app runs in)
    account                      account of the region stacks; else
                                 $CDK_DEFAULT_ACCOUNT; else left to deploy time
    prefect_api_url              required: the Prefect API the relay calls
    prefect_secret_arn           complete ARN of an existing secret holding the
                                 Prefect credential, or {region: ARN}; regions
                                 without one get an empty secret of their own
    prefect_deployment           <flow>/<deployment> the relay creates a run of
                                 for each alarm (remediate-instance/on-alarm);
                                 empty: the relay posts events for a trigger or
                                 automation instead
    relay_max_event_age_seconds  how long Lambda keeps retrying one alarm event
    log_retention_days           retention of the relay's log group
    workers_region               region of the worker policy stack (IAM is global)
    worker_role                  also create the role the Prefect worker runs as
    worker_role_service          the AWS service that assumes that role
    fleet_accounts               accounts that get a role the worker may assume
    worker_account               account trusted by those roles; else ``account``
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from firstline.errors import ConfigError
from firstline.regions import AWS_REGIONS
from infra.relay.config import split_deployment
from infra.relay.errors import ConfigurationError

INFRA_DIR = Path(__file__).resolve().parent
EXAMPLE_FLEET = INFRA_DIR / "fleet.example.yaml"

ACCOUNT_PATTERN = r"^\d{12}$"
SECRET_ARN_PATTERN = (
    r"^arn:aws(?:-cn|-us-gov)?:secretsmanager:(?P<region>[a-z0-9-]+):\d{12}:"
    r"secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$"
)
SERVICE_PRINCIPAL_PATTERN = r"^[a-z0-9.-]+\.amazonaws\.com$"
DEFAULT_PREFECT_DEPLOYMENT = "remediate-instance/on-alarm"

# The values Lambda accepts for MaximumEventAgeInSeconds and CloudWatch Logs for
# a log group's retention.
EVENT_AGE_RANGE_SECONDS = (60, 21_600)
RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
    2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

ContextGetter = Callable[[str], Any]


@dataclass(frozen=True)
class InfraConfig:
    """Where and how the stacks are deployed; see the module docstring."""

    fleet_path: Path
    prefect_api_url: str
    account: str | None = None
    prefect_secret_arns: Mapping[str, str] = field(default_factory=dict)
    prefect_deployment: str | None = DEFAULT_PREFECT_DEPLOYMENT
    relay_max_event_age_seconds: int = 3600
    log_retention_days: int = 30
    workers_region: str = "us-east-1"
    worker_role: bool = False
    worker_role_service: str = "ec2.amazonaws.com"
    fleet_accounts: tuple[str, ...] = ()
    worker_account: str | None = None

    def secret_arn_for(self, region: str) -> str | None:
        """The imported secret for ``region``, or None: the stack creates one."""
        return self.prefect_secret_arns.get(region, self.prefect_secret_arns.get("*"))

    @classmethod
    def from_context(
        cls, get: ContextGetter, environ: Mapping[str, str] | None = None
    ) -> InfraConfig:
        """Read and check every key; a bad value raises ConfigError naming it."""
        environ = os.environ if environ is None else environ

        fleet = get("fleet") or environ.get("FIRSTLINE_FLEET_FILE") or EXAMPLE_FLEET
        account = _account(get("account") or environ.get("CDK_DEFAULT_ACCOUNT"))
        fleet_accounts = _accounts(get("fleet_accounts"))
        worker_account = _account(get("worker_account"), "worker_account") or account
        if fleet_accounts and worker_account is None:
            raise ConfigError(
                "context 'fleet_accounts' needs the account the worker runs in: "
                "set context 'worker_account' (or 'account')"
            )

        return cls(
            fleet_path=Path(fleet),
            prefect_api_url=_prefect_api_url(get("prefect_api_url")),
            account=account,
            prefect_secret_arns=_secret_arns(get("prefect_secret_arn")),
            prefect_deployment=_prefect_deployment(get("prefect_deployment")),
            relay_max_event_age_seconds=_integer(
                get("relay_max_event_age_seconds"),
                "relay_max_event_age_seconds",
                default=cls.relay_max_event_age_seconds,
                allowed=range(
                    EVENT_AGE_RANGE_SECONDS[0], EVENT_AGE_RANGE_SECONDS[1] + 1
                ),
            ),
            log_retention_days=_integer(
                get("log_retention_days"),
                "log_retention_days",
                default=cls.log_retention_days,
                allowed=RETENTION_DAYS,
            ),
            workers_region=_region(get("workers_region") or cls.workers_region),
            worker_role=_flag(get("worker_role"), "worker_role"),
            worker_role_service=_service(
                get("worker_role_service") or cls.worker_role_service
            ),
            fleet_accounts=tuple(a for a in fleet_accounts if a != worker_account),
            worker_account=worker_account,
        )


def _prefect_api_url(value: Any) -> str:
    if not value:
        raise ConfigError(
            "context 'prefect_api_url' is not set: give the Prefect API the relay "
            "calls, e.g. -c prefect_api_url=https://api.prefect.cloud/api/accounts/"
            "<account-id>/workspaces/<workspace-id>"
        )
    url = str(value)
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(
            f"context 'prefect_api_url' {url!r} is not an https:// URL: the relay "
            "sends the Prefect credential with each call, so it must go over TLS"
        )
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            "context 'prefect_api_url' carries a user name or password: remove it "
            "and put the credential in the Prefect secret (see infra/README.md)"
        )
    if parts.query or parts.fragment:
        raise ConfigError(
            f"context 'prefect_api_url' {url!r} has a query or fragment: give the "
            "API base only"
        )
    return url.rstrip("/")


def _prefect_deployment(value: Any) -> str | None:
    if value is None:
        return DEFAULT_PREFECT_DEPLOYMENT
    if not isinstance(value, str):
        raise ConfigError(
            f"context 'prefect_deployment' must be a string such as "
            f"{DEFAULT_PREFECT_DEPLOYMENT!r}, not {type(value).__name__}"
        )
    deployment = value.strip()
    if not deployment:
        return None
    try:
        split_deployment(deployment, setting="context 'prefect_deployment'")
    except ConfigurationError as exc:
        raise ConfigError(str(exc)) from exc
    return deployment


def _secret_arns(value: Any) -> dict[str, str]:
    if not value:
        return {}
    if isinstance(value, str):
        return {"*": _secret_arn(value, "prefect_secret_arn")}
    if not isinstance(value, Mapping):
        raise ConfigError(
            "context 'prefect_secret_arn' must be one secret ARN or a mapping of "
            "region to secret ARN"
        )
    arns = {}
    for region, arn in value.items():
        label = f"prefect_secret_arn.{region}"
        if region != "*" and region not in AWS_REGIONS:
            raise ConfigError(f"context '{label}': {region!r} is not an AWS region")
        arns[str(region)] = _secret_arn(arn, label)
    return arns


def _secret_arn(value: Any, label: str) -> str:
    if not isinstance(value, str) or not re.match(SECRET_ARN_PATTERN, value):
        raise ConfigError(
            f"context '{label}' {value!r} is not the complete ARN of a Secrets "
            "Manager secret (ending in the six-character suffix); copy it from "
            "'aws secretsmanager describe-secret --query ARN'"
        )
    return value


def _account(value: Any, label: str = "account") -> str | None:
    if value is None or value == "":
        return None
    text = str(value)
    if not re.match(ACCOUNT_PATTERN, text):
        raise ConfigError(f"context '{label}' {text!r} is not a 12-digit account id")
    return text


def _accounts(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ConfigError(
            "context 'fleet_accounts' must be a list of account ids or a "
            "comma-separated string of them"
        )
    accounts: list[str] = []
    for item in items:
        account = _account(str(item).strip(), "fleet_accounts")
        if account is not None and account not in accounts:
            accounts.append(account)
    return tuple(accounts)


def _region(value: Any) -> str:
    if value not in AWS_REGIONS:
        raise ConfigError(
            f"context 'workers_region' {value!r} is not an AWS region firstline "
            "knows; use a code such as 'us-east-1'"
        )
    return str(value)


def _service(value: Any) -> str:
    if not isinstance(value, str) or not re.match(SERVICE_PRINCIPAL_PATTERN, value):
        raise ConfigError(
            f"context 'worker_role_service' {value!r} is not a service principal "
            "such as 'ec2.amazonaws.com' or 'ecs-tasks.amazonaws.com'"
        )
    return value


def _flag(value: Any, label: str) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in {"true", "1", "yes"}:
        return True
    if text in {"false", "0", "no", ""}:
        return False
    raise ConfigError(f"context '{label}' {value!r} is not true or false")


def _integer(value: Any, label: str, *, default: int, allowed: Any) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(str(value))
    except ValueError:
        number = None
    if number is None or number not in allowed:
        hint = (
            f"between {allowed.start} and {allowed.stop - 1}"
            if isinstance(allowed, range)
            else "one of " + ", ".join(str(v) for v in allowed)
        )
        raise ConfigError(f"context '{label}' {value!r} must be a whole number {hint}")
    return number
