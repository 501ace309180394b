"""Creating a run of the remediation deployment for an alarm that fired.

With ``FIRSTLINE_PREFECT_DEPLOYMENT`` set, the relay starts the flow itself instead
of posting an event for a trigger to act on: a SQLite-backed server keeps up with
an alarm storm this way, where its triggers fall behind. The deployment's id is
looked up once (``GET /deployments/name/{flow}/{deployment}``), then each alarm
becomes ``POST /deployments/{id}/create_flow_run``.

The run's parameters are those the trigger in ``deployments/prefect.yaml`` builds
from the event, so the flow sees no difference. Its idempotency key derives from
the EventBridge event id: for a redelivered event, or an attempt repeated after
its answer was lost, the server answers 200 with the run it made the first time
instead of 201 with a new one.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from .alarm import AlarmFired
from .config import API_URL_VARIABLE, DEPLOYMENT_VARIABLE, RetryPolicy, split_deployment
from .errors import PrefectRejected
from .prefect_api import ApiAnswer, call_api
from .prefect_event import prefect_event_id
from .secret import Credential

IDEMPOTENCY_KEY_PREFIX = "firstline-alarm-"
CREATED = 201
ALREADY_CREATED = 200
NOT_FOUND = 404

_UUID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE
)

_HOW_TO_APPLY = (
    "apply it with `prefect deploy --prefect-file deployments/prefect.yaml --name "
    "on-alarm` or `python -m deployments.serve`, or correct "
    f"{DEPLOYMENT_VARIABLE}"
)


@dataclass(frozen=True)
class FlowRunCreated:
    """The run that stands for one alarm; ``already_created`` when the server had
    made it for an earlier delivery of the same EventBridge event."""

    flow_run_id: str
    already_created: bool
    deployment_id: str
    attempts: int


def idempotency_key(eventbridge_event_id: str) -> str:
    """The idempotency key of the run that stands for one EventBridge event."""
    return IDEMPOTENCY_KEY_PREFIX + str(prefect_event_id(eventbridge_event_id))


def build_flow_run_request(alarm: AlarmFired) -> dict[str, object]:
    """The body of ``POST /deployments/{id}/create_flow_run`` for ``alarm``.

    The parameters are what the trigger in ``deployments/prefect.yaml`` renders
    from the event ``prefect_event`` builds; the server adds the deployment's own
    (``dry_run``) and its tags in both cases.
    """
    parameters = {
        "instance_id": alarm.instance_id,
        "region": alarm.region,
        "alarm": {
            "alarm_name": alarm.alarm_name,
            "alarm_arn": alarm.alarm_arn,
            "state_timestamp": alarm.state_timestamp.isoformat(),
            "reason": alarm.state_reason,
            "account": alarm.account_id,
            "event_id": alarm.eventbridge_event_id,
        },
    }
    return {
        "parameters": parameters,
        "idempotency_key": idempotency_key(alarm.eventbridge_event_id),
        "tags": [alarm.instance_id, alarm.region],
    }


class DeploymentRuns:
    """Creates runs of one deployment; its id is looked up on first use and kept.

    Not safe for concurrent use; a Lambda execution environment handles one event
    at a time.
    """

    def __init__(
        self,
        prefect_api_url: str,
        deployment: str,
        retry: RetryPolicy,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        flow_name, deployment_name = split_deployment(deployment)
        self.deployment = deployment
        self._api_url = prefect_api_url.rstrip("/")
        self._lookup_url = (
            f"{self._api_url}/deployments/name/"
            f"{urllib.parse.quote(flow_name, safe='')}/"
            f"{urllib.parse.quote(deployment_name, safe='')}"
        )
        self._retry = retry
        self._sleep = sleep
        self._deployment_id: str | None = None

    def create_run(
        self, alarm: AlarmFired, credential: Credential | None
    ) -> FlowRunCreated:
        """Create the run for ``alarm``, or find the one already made for it.

        Raises:
            PrefectRejected: the deployment does not exist, the API answered 3xx
                or 4xx, or its answer holds no flow run id.
            PrefectUnavailable: the Prefect API stayed unreachable or 5xx.
        """
        body = build_flow_run_request(alarm)
        attempts = 0
        if self._deployment_id is None:
            self._deployment_id, attempts = self._look_up(credential)
        answer = self._create(self._deployment_id, body, credential)
        attempts += answer.attempts

        if answer.status_code == NOT_FOUND:
            # Deleted, or deleted and applied again under a new id, since the id
            # was looked up: look it up again and try once more.
            self._deployment_id = None
            self._deployment_id, lookup_attempts = self._look_up(credential)
            answer = self._create(self._deployment_id, body, credential)
            attempts += lookup_attempts + answer.attempts
            if answer.status_code == NOT_FOUND:
                self._deployment_id = None
                raise PrefectRejected(
                    f"the Prefect API {self._api_url} lost deployment "
                    f"{self.deployment!r} twice between looking it up and creating "
                    f"a run; it is being deleted or applied again. Once it is "
                    f"stable, {_HOW_TO_APPLY}",
                    NOT_FOUND,
                )

        return self._created(answer, self._deployment_id, attempts)

    def _look_up(self, credential: Credential | None) -> tuple[str, int]:
        answer = call_api(
            "GET",
            self._lookup_url,
            credential,
            self._retry,
            handled_statuses=frozenset({NOT_FOUND}),
            subject="deployment lookup",
            sleep=self._sleep,
        )
        if answer.status_code == NOT_FOUND:
            raise PrefectRejected(
                f"the Prefect API {self._api_url} has no deployment "
                f"{self.deployment!r} (named by {DEPLOYMENT_VARIABLE}; it answered "
                f"{answer.detail or 'HTTP 404'}): {_HOW_TO_APPLY} (and check that "
                f"{API_URL_VARIABLE} is the API root)",
                NOT_FOUND,
            )
        return _object_id(answer, self._lookup_url, "deployment"), answer.attempts

    def _create(
        self, deployment_id: str, body: dict[str, object], credential: Credential | None
    ) -> ApiAnswer:
        # Repeating the request is safe: the idempotency key makes the server
        # answer a second attempt with the run the first one created.
        return call_api(
            "POST",
            f"{self._api_url}/deployments/{deployment_id}/create_flow_run",
            credential,
            self._retry,
            body=body,
            handled_statuses=frozenset({NOT_FOUND}),
            subject="flow run",
            sleep=self._sleep,
        )

    def _created(
        self, answer: ApiAnswer, deployment_id: str, attempts: int
    ) -> FlowRunCreated:
        url = f"{self._api_url}/deployments/{deployment_id}/create_flow_run"
        if answer.status_code not in (CREATED, ALREADY_CREATED):
            raise PrefectRejected(
                f"the Prefect API {url} answered HTTP {answer.status_code}; expected "
                f"{CREATED} (run created) or {ALREADY_CREATED} (created before). "
                f"Check that {API_URL_VARIABLE} is a Prefect 3 API",
                answer.status_code,
            )
        return FlowRunCreated(
            flow_run_id=_object_id(answer, url, "flow run"),
            already_created=answer.status_code == ALREADY_CREATED,
            deployment_id=deployment_id,
            attempts=attempts,
        )


def _object_id(answer: ApiAnswer, url: str, what: str) -> str:
    """The ``id`` of the object ``answer`` holds, which must be a UUID."""
    document = answer.document
    found = document.get("id") if isinstance(document, dict) else None
    if isinstance(found, str) and _UUID.fullmatch(found):
        return found.lower()
    raise PrefectRejected(
        f"the Prefect API {url} answered HTTP {answer.status_code} without a "
        f"{what} id ({answer.detail or 'empty body'}); the relay cannot tell what "
        f"it did. Check that {API_URL_VARIABLE} is a Prefect 3 API",
        answer.status_code,
    )
