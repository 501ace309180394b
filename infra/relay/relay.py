"""The relay: one alarm event in, at most one Prefect event or flow run out.

``Relay.handle`` reads the event, drops what it does not understand, ignores what it
does not act on, and hands the rest to Prefect: as an event (``prefect_event``,
``prefect_api``) or, with a deployment configured, as a run of that deployment
(``flow_runs``). It writes exactly one structured (JSON) log line per event, saying
what it saw, what it decided and why.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

from .alarm import AlarmFired, AlarmIgnored, read_alarm_event
from .config import Delivery, RelayConfig
from .errors import InvalidEvent, PrefectRejected, RelayError
from .fields import show
from .flow_runs import DeploymentRuns, FlowRunCreated
from .prefect_api import post_events
from .prefect_event import build_prefect_event, prefect_event_id
from .secret import Credential, read_credential

logger = logging.getLogger("firstline.relay")

_SHOWN_EVENT_ID_LENGTH = 128


@dataclass(frozen=True)
class Decision:
    """What the relay did with one event.

    ``delivery`` is how the relay hands alarms to Prefect. A ``posted`` alarm
    delivered as a ``flow-run`` has its ``flow_run_id``, and ``already_created`` is
    True when the run had been made for an earlier delivery of the same event.
    """

    decision: Literal["posted", "dropped", "ignored"]
    reason: str
    eventbridge_event_id: str | None = None
    prefect_event_id: str | None = None
    delivery: Delivery = "event"
    flow_run_id: str | None = None
    already_created: bool | None = None

    def as_dict(self) -> dict[str, str | bool | None]:
        """The decision as the Lambda handler returns it."""
        return asdict(self)


class Relay:
    """Turns CloudWatch alarm events into Prefect events or flow runs for one
    configuration.

    The credential is read from Secrets Manager on the first call to the API and
    kept for the life of the object, which in Lambda is one execution environment,
    unless the API refuses it (401 or 403): then it is read again for the next
    event. The deployment's id, in flow-run delivery, is kept likewise.
    """

    def __init__(
        self,
        config: RelayConfig,
        *,
        credential: Credential | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if credential is not None:
            config.check_credential_transport()
        self.config = config
        self._credential = credential
        self._sleep = sleep
        self._runs: DeploymentRuns | None = None
        if config.deployment is not None:
            self._runs = DeploymentRuns(
                config.prefect_api_url, config.deployment, config.retry, sleep=sleep
            )

    @classmethod
    def for_api_url(
        cls,
        prefect_api_url: str,
        credential: Credential | None = None,
        deployment: str | None = None,
    ) -> Relay:
        """A relay calling ``prefect_api_url`` with default retries; it creates runs
        of ``deployment`` (``<flow name>/<deployment name>``) if one is given, else
        posts events."""
        config = RelayConfig(prefect_api_url=prefect_api_url, deployment=deployment)
        return cls(config, credential=credential)

    def handle(self, event: object) -> Decision:
        """Decide on ``event`` and hand it to Prefect if it is an alarm that fired.

        Raises:
            ConfigurationError: a setting is wrong, or the API answered 3xx or
                4xx, or 2xx without the flow run id.
            CredentialError: the secret could not be read or used.
            PrefectUnavailable: the Prefect API stayed unreachable or 5xx.
        """
        try:
            alarm = read_alarm_event(event)
        except InvalidEvent as error:
            dropped = Decision(
                "dropped",
                str(error),
                _shown_event_id(event),
                delivery=self.config.delivery,
            )
            _log_decision(logging.WARNING, dropped, _envelope_seen(event))
            return dropped
        if isinstance(alarm, AlarmIgnored):
            ignored = Decision(
                "ignored",
                alarm.reason,
                alarm.eventbridge_event_id,
                delivery=self.config.delivery,
            )
            _log_decision(logging.INFO, ignored, _ignored_seen(alarm))
            return ignored

        event_id = str(prefect_event_id(alarm.eventbridge_event_id))
        seen = _fired_seen(alarm)
        if self.config.deployment is not None:
            seen["deployment"] = self.config.deployment
        try:
            created, attempts = self._deliver(alarm)
        except RelayError as error:
            if isinstance(error, PrefectRejected) and error.status_code in (401, 403):
                self._forget_credential()
            failed: dict[str, object] = {
                "decision": "failed",
                "reason": str(error),
                "eventbridge_event_id": alarm.eventbridge_event_id,
                "prefect_event_id": event_id,
                "delivery": self.config.delivery,
            }
            _log_line(logging.ERROR, {**failed, **seen})
            raise

        posted = Decision(
            "posted",
            f"{alarm.alarm_name} entered ALARM for {alarm.instance_id}",
            alarm.eventbridge_event_id,
            event_id,
            delivery=self.config.delivery,
            flow_run_id=created.flow_run_id if created else None,
            already_created=created.already_created if created else None,
        )
        if created is not None:
            seen["deployment_id"] = created.deployment_id
        _log_decision(logging.INFO, posted, {**seen, "attempts": attempts})
        return posted

    def _deliver(self, alarm: AlarmFired) -> tuple[FlowRunCreated | None, int]:
        """Post the alarm's event, or create its run: the run and the attempts."""
        credential = self._read_credential()
        if self._runs is not None:
            created = self._runs.create_run(alarm, credential)
            return created, created.attempts
        attempts = post_events(
            [build_prefect_event(alarm)],
            self.config.events_url,
            credential,
            self.config.retry,
            sleep=self._sleep,
        )
        return None, attempts

    def _read_credential(self) -> Credential | None:
        if self._credential is None and self.config.secret_arn is not None:
            self._credential = read_credential(self.config.secret_arn)
        return self._credential

    def _forget_credential(self) -> None:
        # A refused credential from Secrets Manager may have been rotated since it
        # was read: the next event (Lambda's retry of this one) reads it again.
        if self.config.secret_arn is not None:
            self._credential = None


def _log_decision(level: int, decision: Decision, seen: dict[str, object]) -> None:
    _log_line(level, {**decision.as_dict(), **seen})


def _log_line(level: int, fields: dict[str, object]) -> None:
    logger.log(level, "%s", json.dumps(fields, ensure_ascii=True))


def _shown_event_id(event: object) -> str | None:
    if isinstance(event, dict) and isinstance(event.get("id"), str):
        return str(event["id"])[:_SHOWN_EVENT_ID_LENGTH]
    return None


def _envelope_seen(event: object) -> dict[str, object]:
    if not isinstance(event, dict):
        return {"seen": show(event)}
    return {
        "source": show(event.get("source")),
        "detail_type": show(event.get("detail-type")),
        "region": show(event.get("region")),
        "account": show(event.get("account")),
    }


def _ignored_seen(alarm: AlarmIgnored) -> dict[str, object]:
    return {
        "alarm_name": alarm.alarm_name,
        "alarm_arn": alarm.alarm_arn,
        "state_value": alarm.state_value,
        "child_alarms": list(alarm.child_alarms),
    }


def _fired_seen(alarm: AlarmFired) -> dict[str, object]:
    return {
        "alarm_name": alarm.alarm_name,
        "alarm_arn": alarm.alarm_arn,
        "state_value": alarm.state_value,
        "instance_id": alarm.instance_id,
        "region": alarm.region,
        "account_id": alarm.account_id,
        "state_timestamp": alarm.state_timestamp.isoformat(),
    }
