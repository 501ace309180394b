"""The relay's settings, read from its Lambda environment.

``PREFECT_API_URL``
    The Prefect API root, e.g. ``http://127.0.0.1:4200/api`` or
    ``https://api.prefect.cloud/api/accounts/<id>/workspaces/<id>``. Required.
``FIRSTLINE_PREFECT_SECRET_ARN``
    The ARN of the Secrets Manager secret holding the Prefect credential. Unset or
    empty: the relay posts without credentials.
``FIRSTLINE_PREFECT_DEPLOYMENT``
    The deployment whose runs the relay creates, as ``<flow name>/<deployment
    name>``, e.g. ``remediate-instance/on-alarm``: one run per alarm, created with
    ``POST /deployments/{id}/create_flow_run`` (see ``flow_runs``). Unset or empty:
    the relay posts a ``firstline.alarm.fired`` event instead, for a deployment
    trigger or a Prefect Cloud automation to act on.
``FIRSTLINE_RELAY_MAX_ATTEMPTS``, ``FIRSTLINE_RELAY_TIMEOUT_SECONDS``,
``FIRSTLINE_RELAY_BACKOFF_SECONDS``
    How hard the relay tries to reach the Prefect API; see ``RetryPolicy``.
"""

from __future__ import annotations

import ipaddress
import math
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from .errors import ConfigurationError
from .regions import PARTITION_OF_REGION

API_URL_VARIABLE = "PREFECT_API_URL"
SECRET_ARN_VARIABLE = "FIRSTLINE_PREFECT_SECRET_ARN"
DEPLOYMENT_VARIABLE = "FIRSTLINE_PREFECT_DEPLOYMENT"
MAX_ATTEMPTS_VARIABLE = "FIRSTLINE_RELAY_MAX_ATTEMPTS"
TIMEOUT_VARIABLE = "FIRSTLINE_RELAY_TIMEOUT_SECONDS"
BACKOFF_VARIABLE = "FIRSTLINE_RELAY_BACKOFF_SECONDS"

Delivery = Literal["event", "flow-run"]
"""How the relay hands an alarm to Prefect: an event, or a run it creates."""

DEPLOYMENT_EXAMPLE = "remediate-instance/on-alarm"
MAX_DEPLOYMENT_LENGTH = 255
# Characters Prefect refuses in flow and deployment names, besides the separator.
_NAME_BANNED_CHARACTERS = "%&<>"

# Keeps the relay's worst case for one request well inside a Lambda timeout of a
# minute or two. Creating a flow run takes two requests when the deployment's id
# is not yet known, and four when the deployment was re-created meanwhile; this
# bound does not add them up. If they outlast the Lambda timeout, Lambda retries
# the invocation, and the run's idempotency key keeps the retry from making a
# second run.
MAX_WORST_CASE_SECONDS = 60.0

_SECRET_ARN = re.compile(
    r"arn:(?P<partition>[a-z-]+):secretsmanager:(?P<region>[a-z0-9-]+):"
    r"[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}"
)


@dataclass(frozen=True)
class RetryPolicy:
    """How often, and how patiently, the relay tries one request to the Prefect API.

    Attempt n (from 2) starts ``backoff_seconds * 2 ** (n - 2)`` seconds after the
    previous one failed, at most ``max_backoff_seconds``. A server that queues its
    writers (SQLite under a storm) can take several seconds to create a run; a
    shorter timeout would only make it do the work twice.
    """

    max_attempts: int = 3
    timeout_seconds: float = 10.0
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 4.0

    def __post_init__(self) -> None:
        if not 1 <= self.max_attempts <= 10:
            raise ConfigurationError(
                f"{MAX_ATTEMPTS_VARIABLE} is {self.max_attempts}; use 1 to 10"
            )
        if not 0.1 <= self.timeout_seconds <= 30:
            raise ConfigurationError(
                f"{TIMEOUT_VARIABLE} is {self.timeout_seconds}; use 0.1 to 30 seconds"
            )
        if not 0 <= self.backoff_seconds <= self.max_backoff_seconds <= 30:
            raise ConfigurationError(
                f"{BACKOFF_VARIABLE} is {self.backoff_seconds}; use 0 to "
                f"{self.max_backoff_seconds} seconds"
            )
        if self.worst_case_seconds > MAX_WORST_CASE_SECONDS:
            raise ConfigurationError(
                f"the relay could spend {self.worst_case_seconds:.1f} s on one "
                f"request, more than {MAX_WORST_CASE_SECONDS:.0f} s; lower "
                f"{MAX_ATTEMPTS_VARIABLE} or {TIMEOUT_VARIABLE}"
            )

    def delay_before_seconds(self, attempt: int) -> float:
        """How long to wait before attempt ``attempt`` (1 for the first)."""
        if attempt <= 1:
            return 0.0
        return float(
            min(self.backoff_seconds * 2 ** (attempt - 2), self.max_backoff_seconds)
        )

    @property
    def worst_case_seconds(self) -> float:
        """The longest time one request can take, every attempt timing out."""
        waits = sum(
            self.delay_before_seconds(attempt)
            for attempt in range(1, self.max_attempts + 1)
        )
        return self.max_attempts * self.timeout_seconds + waits


@dataclass(frozen=True)
class RelayConfig:
    """Where the relay posts, with which credential, and whether it posts an event
    (``deployment`` None) or creates a run of ``deployment``."""

    prefect_api_url: str
    secret_arn: str | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    deployment: str | None = None

    def __post_init__(self) -> None:
        not_a_url = ConfigurationError(
            f"{API_URL_VARIABLE} is {self.prefect_api_url!r}; expected an http(s) "
            "URL such as http://127.0.0.1:4200/api"
        )
        try:
            url = urllib.parse.urlsplit(self.prefect_api_url)
            url.port  # noqa: B018 - parsing the port validates it
        except ValueError:
            raise not_a_url from None
        if url.scheme not in ("http", "https") or not url.hostname:
            raise not_a_url
        if url.username is not None or url.password is not None:
            raise ConfigurationError(
                f"{API_URL_VARIABLE} contains a user or password; put the credential "
                f"in the secret named by {SECRET_ARN_VARIABLE} instead"
            )
        if url.query or url.fragment:
            raise ConfigurationError(
                f"{API_URL_VARIABLE} is {self.prefect_api_url!r}; remove its query "
                "or fragment"
            )
        if self.secret_arn is not None:
            _check_secret_arn(self.secret_arn)
            self.check_credential_transport()
        if self.deployment is not None:
            split_deployment(self.deployment)

    def check_credential_transport(self) -> None:
        """Refuse to send a credential in clear text beyond this machine."""
        url = urllib.parse.urlsplit(self.prefect_api_url)
        if url.scheme == "http" and not _is_loopback(url.hostname or ""):
            raise ConfigurationError(
                f"{API_URL_VARIABLE} is {self.prefect_api_url!r}: the relay sends its "
                "credential only over https (or to a loopback address)"
            )

    @property
    def events_url(self) -> str:
        """The URL of the Prefect API's ``POST /events`` endpoint."""
        return self.prefect_api_url.rstrip("/") + "/events"

    @property
    def delivery(self) -> Delivery:
        """``flow-run`` when a deployment is set, else ``event``."""
        return "event" if self.deployment is None else "flow-run"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> RelayConfig:
        """The settings held by the environment ``environ``.

        Raises:
            ConfigurationError: a variable is missing or out of bounds.
        """
        api_url = environ.get(API_URL_VARIABLE, "").strip()
        if not api_url:
            raise ConfigurationError(
                f"{API_URL_VARIABLE} is not set; set it to the Prefect API root"
            )
        secret_arn = environ.get(SECRET_ARN_VARIABLE, "").strip() or None
        deployment = environ.get(DEPLOYMENT_VARIABLE, "").strip() or None
        defaults = RetryPolicy()
        retry = RetryPolicy(
            max_attempts=int(
                _number(environ, MAX_ATTEMPTS_VARIABLE, defaults.max_attempts)
            ),
            timeout_seconds=_number(
                environ, TIMEOUT_VARIABLE, defaults.timeout_seconds
            ),
            backoff_seconds=_number(
                environ, BACKOFF_VARIABLE, defaults.backoff_seconds
            ),
        )
        return cls(
            prefect_api_url=api_url,
            secret_arn=secret_arn,
            retry=retry,
            deployment=deployment,
        )


def split_deployment(
    deployment: str, setting: str = DEPLOYMENT_VARIABLE
) -> tuple[str, str]:
    """The flow name and the deployment name of ``<flow name>/<deployment name>``.

    Both names must be free of whitespace, control characters and the characters
    Prefect refuses in names; the whole is at most ``MAX_DEPLOYMENT_LENGTH`` long.

    Raises:
        ConfigurationError: ``deployment`` is not such a name; the message names
            ``setting`` (the variable, or the CDK context key that fills it),
            shows the value and gives an example.
    """
    flow_name, _, deployment_name = deployment.partition("/")
    problem = None
    if len(deployment) > MAX_DEPLOYMENT_LENGTH:
        problem = f"it is longer than {MAX_DEPLOYMENT_LENGTH} characters"
    elif deployment.count("/") != 1:
        problem = f"it has {deployment.count('/')} '/'; it needs exactly one"
    elif not flow_name or not deployment_name:
        problem = "the flow name or the deployment name is empty"
    elif any(char.isspace() or not char.isprintable() for char in deployment):
        problem = "it contains whitespace or control characters"
    elif any(char in _NAME_BANNED_CHARACTERS for char in deployment):
        problem = f"Prefect names cannot contain any of {_NAME_BANNED_CHARACTERS}"
    if problem is not None:
        raise ConfigurationError(
            f"{setting} is {deployment[:200]!r}: {problem}; expected "
            f"<flow name>/<deployment name>, such as {DEPLOYMENT_EXAMPLE!r}, or "
            "nothing to post events instead"
        )
    return flow_name, deployment_name


def _number(environ: Mapping[str, str], name: str, default: float) -> float:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigurationError(f"{name} is {text!r}; expected a number") from None
    if not math.isfinite(value):
        raise ConfigurationError(f"{name} is {text!r}; expected a finite number")
    if isinstance(default, int) and not value.is_integer():
        raise ConfigurationError(f"{name} is {text!r}; expected a whole number")
    return value


def _check_secret_arn(secret_arn: str) -> None:
    match = _SECRET_ARN.fullmatch(secret_arn)
    if match is None or (
        PARTITION_OF_REGION.get(match["region"]) != match["partition"]
    ):
        raise ConfigurationError(
            f"{SECRET_ARN_VARIABLE} is {secret_arn[:200]!r}; expected a Secrets "
            "Manager secret ARN such as "
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prefect-AbCdEf"
        )


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False
