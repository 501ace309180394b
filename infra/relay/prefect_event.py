"""The Prefect event the relay posts for an alarm that fired.

Its ``id`` is a UUID5 of the EventBridge event id in a namespace fixed for this
project, so a redelivered EventBridge event becomes the same Prefect event and the
server stores it once.
"""

from __future__ import annotations

import uuid

from .alarm import AlarmFired

EVENT_NAME = "firstline.alarm.fired"

# uuid5(NAMESPACE_URL, "https://github.com/firstline-ops/firstline#relay-events"),
# written out so that no later edit of that expression can change every event id.
EVENT_ID_NAMESPACE = uuid.UUID("cb0dbbad-27df-5c4a-b5bc-d958af938f75")

INSTANCE_RESOURCE_PREFIX = "aws.ec2.instance."
INSTANCE_ID_LABEL = "aws.ec2.instance-id"
REGION_LABEL = "aws.region"
ACCOUNT_ID_LABEL = "aws.account-id"
ALARM_ROLE = "alarm"


def prefect_event_id(eventbridge_event_id: str) -> uuid.UUID:
    """The Prefect event id that stands for one EventBridge event."""
    return uuid.uuid5(EVENT_ID_NAMESPACE, eventbridge_event_id)


def build_prefect_event(alarm: AlarmFired) -> dict[str, object]:
    """The body of one event for ``POST /events`` (Prefect's ``Event`` schema)."""
    resource = {
        "prefect.resource.id": INSTANCE_RESOURCE_PREFIX + alarm.instance_id,
        "prefect.resource.name": alarm.instance_id,
        INSTANCE_ID_LABEL: alarm.instance_id,
        REGION_LABEL: alarm.region,
        ACCOUNT_ID_LABEL: alarm.account_id,
    }
    related_alarm = {
        "prefect.resource.id": alarm.alarm_arn,
        "prefect.resource.role": ALARM_ROLE,
        "prefect.resource.name": alarm.alarm_name,
    }
    payload = {
        "alarm_name": alarm.alarm_name,
        "alarm_arn": alarm.alarm_arn,
        "state_value": alarm.state_value,
        "state_reason": alarm.state_reason,
        "state_timestamp": alarm.state_timestamp.isoformat(),
        "eventbridge_event_id": alarm.eventbridge_event_id,
        "instance_id": alarm.instance_id,
        "region": alarm.region,
        "account_id": alarm.account_id,
    }
    return {
        "occurred": alarm.state_timestamp.isoformat(),
        "event": EVENT_NAME,
        "resource": resource,
        "related": [related_alarm],
        "payload": payload,
        "id": str(prefect_event_id(alarm.eventbridge_event_id)),
    }
