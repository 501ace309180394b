"""Reading an EventBridge "CloudWatch Alarm State Change" event.

``read_alarm_event`` is pure: it returns ``AlarmFired`` when a metric alarm on one EC2
instance entered ``ALARM``, ``AlarmIgnored`` for a well-formed event the relay does not
act on (a composite alarm, an ``OK`` or ``INSUFFICIENT_DATA`` state), and raises
``InvalidEvent`` for everything else. The instance, region and account come from the
event alone; nothing missing or odd is replaced by a default.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

from .errors import InvalidEvent
from .fields import (
    ACCOUNT_ID,
    EVENTBRIDGE_EVENT_ID,
    as_list,
    as_object,
    as_text,
    as_timestamp,
    matching,
    member,
    show,
    text_member,
)
from .metrics import read_instance_id
from .regions import PARTITION_OF_REGION, is_known_region

SOURCE = "aws.cloudwatch"
DETAIL_TYPE = "CloudWatch Alarm State Change"
STATE_VALUES = ("ALARM", "OK", "INSUFFICIENT_DATA")

# EventBridge refuses entries above 256 KiB. The field limits are CloudWatch's API
# limits (alarm name 255, alarm ARN 1600, alarm rule 10240) or, for the reason texts
# CloudWatch writes itself and whose length it does not document, several times
# SetAlarmState's limits (1023 and 4000).
MAX_EVENT_BYTES = 256 * 1024
MAX_ALARM_NAME_LENGTH = 255
MAX_ALARM_ARN_LENGTH = 1600
MAX_REASON_LENGTH = 4096
MAX_REASON_DATA_LENGTH = 16384
MAX_ALARM_RULE_LENGTH = 10240
MAX_CHILD_ALARMS = 100

_ALARM_REFERENCE = re.compile(
    r"\b(?:ALARM|OK|INSUFFICIENT_DATA)\(\s*(?:\"([^\"]+)\"|([^\s()\"]+))\s*\)"
)


@dataclass(frozen=True)
class AlarmFired:
    """A metric alarm on one EC2 instance entered ``ALARM``."""

    eventbridge_event_id: str
    alarm_name: str
    alarm_arn: str
    state_value: str
    state_reason: str
    state_timestamp: datetime
    instance_id: str
    region: str
    account_id: str


@dataclass(frozen=True)
class AlarmIgnored:
    """A well-formed alarm event the relay logs and does not act on."""

    eventbridge_event_id: str
    alarm_name: str
    alarm_arn: str
    state_value: str
    reason: str
    child_alarms: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Envelope:
    eventbridge_event_id: str
    account_id: str
    region: str
    alarm_arn: str
    detail: dict[str, object]


def read_alarm_event(event: object) -> AlarmFired | AlarmIgnored:
    """Validate an EventBridge alarm event and say what it asks for.

    Raises:
        InvalidEvent: the event is malformed, oversized, not a CloudWatch alarm state
            change, or names zero or several instances.
    """
    envelope = _read_envelope(event)
    detail = envelope.detail

    alarm_name = text_member(detail, "alarmName", "detail", MAX_ALARM_NAME_LENGTH)
    _check_alarm_arn(envelope, alarm_name)

    state = as_object(member(detail, "state", "detail"), "detail.state")
    state_value = text_member(state, "value", "detail.state", 32)
    if state_value not in STATE_VALUES:
        raise InvalidEvent(
            f"detail.state.value is {show(state_value)}; expected one of "
            + ", ".join(STATE_VALUES)
        )
    state_reason = text_member(
        state,
        "reason",
        "detail.state",
        MAX_REASON_LENGTH,
        allow_empty=True,
        allow_line_breaks=True,
    )
    state_timestamp = as_timestamp(
        member(state, "timestamp", "detail.state"), "detail.state.timestamp"
    )
    if "reasonData" in state:
        _check_reason_data(state["reasonData"])

    configuration = as_object(
        member(detail, "configuration", "detail"), "detail.configuration"
    )
    if "metrics" not in configuration:
        return AlarmIgnored(
            eventbridge_event_id=envelope.eventbridge_event_id,
            alarm_name=alarm_name,
            alarm_arn=envelope.alarm_arn,
            state_value=state_value,
            reason="composite alarm: firstline acts on the metric alarms it names",
            child_alarms=_read_composite_children(configuration),
        )
    if "alarmRule" in configuration:
        raise InvalidEvent(
            "detail.configuration has both metrics and alarmRule; an alarm is "
            "either a metric alarm or a composite alarm"
        )
    if state_value != "ALARM":
        return AlarmIgnored(
            eventbridge_event_id=envelope.eventbridge_event_id,
            alarm_name=alarm_name,
            alarm_arn=envelope.alarm_arn,
            state_value=state_value,
            reason=f"state {state_value}: firstline acts only on ALARM",
        )

    instance_id = read_instance_id(configuration["metrics"], envelope.account_id)
    return AlarmFired(
        eventbridge_event_id=envelope.eventbridge_event_id,
        alarm_name=alarm_name,
        alarm_arn=envelope.alarm_arn,
        state_value=state_value,
        state_reason=state_reason,
        state_timestamp=state_timestamp,
        instance_id=instance_id,
        region=envelope.region,
        account_id=envelope.account_id,
    )


def _read_envelope(event: object) -> _Envelope:
    envelope = as_object(event, "the event")
    try:
        size_bytes = len(json.dumps(envelope, ensure_ascii=False).encode("utf-8"))
    except (TypeError, ValueError, RecursionError, UnicodeEncodeError):
        raise InvalidEvent("the event cannot be written back as JSON") from None
    if size_bytes > MAX_EVENT_BYTES:
        raise InvalidEvent(
            f"the event is {size_bytes} bytes; the limit is {MAX_EVENT_BYTES}"
        )

    source = member(envelope, "source", "event")
    if source != SOURCE:
        raise InvalidEvent(f"event.source is {show(source)}; expected {SOURCE!r}")
    detail_type = member(envelope, "detail-type", "event")
    if detail_type != DETAIL_TYPE:
        raise InvalidEvent(
            f"event.detail-type is {show(detail_type)}; expected {DETAIL_TYPE!r}"
        )
    version = member(envelope, "version", "event")
    if version != "0":
        raise InvalidEvent(f"event.version is {show(version)}; expected '0'")

    event_id = matching(
        text_member(envelope, "id", "event", 64),
        EVENTBRIDGE_EVENT_ID,
        "event.id",
        "an EventBridge event id",
    )
    account_id = matching(
        text_member(envelope, "account", "event", 12),
        ACCOUNT_ID,
        "event.account",
        "a 12-digit AWS account id",
    )
    region = member(envelope, "region", "event")
    if not is_known_region(region):
        raise InvalidEvent(
            f"event.region is {show(region)}, not a region in infra/relay/regions.py"
        )
    as_timestamp(member(envelope, "time", "event"), "event.time")

    resources = as_list(member(envelope, "resources", "event"), "event.resources", 1)
    alarm_arn = as_text(resources[0], "event.resources[0]", MAX_ALARM_ARN_LENGTH)
    detail = as_object(member(envelope, "detail", "event"), "event.detail")
    return _Envelope(event_id, account_id, region, alarm_arn, detail)


def _check_alarm_arn(envelope: _Envelope, alarm_name: str) -> None:
    expected = ":".join(
        (
            "arn",
            PARTITION_OF_REGION[envelope.region],
            "cloudwatch",
            envelope.region,
            envelope.account_id,
            "alarm",
            alarm_name,
        )
    )
    if envelope.alarm_arn != expected:
        raise InvalidEvent(
            f"event.resources[0] is {show(envelope.alarm_arn)}; expected "
            f"{show(expected)}, the ARN of detail.alarmName in the event's region "
            "and account"
        )


def _check_reason_data(reason_data: object) -> None:
    text = as_text(reason_data, "detail.state.reasonData", MAX_REASON_DATA_LENGTH)
    try:
        decoded = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidEvent(
            f"detail.state.reasonData is not JSON: {show(text)}"
        ) from None
    as_object(decoded, "detail.state.reasonData")


def _read_composite_children(configuration: dict[str, object]) -> tuple[str, ...]:
    if "alarmRule" not in configuration:
        raise InvalidEvent(
            "detail.configuration has neither metrics (metric alarm) nor alarmRule "
            "(composite alarm)"
        )
    rule = as_text(
        configuration["alarmRule"],
        "detail.configuration.alarmRule",
        MAX_ALARM_RULE_LENGTH,
    )
    names: dict[str, None] = {}
    for match in _ALARM_REFERENCE.finditer(rule):
        names[match.group(1) or match.group(2)] = None
    return tuple(names)[:MAX_CHILD_ALARMS]
