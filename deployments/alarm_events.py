"""EventBridge "CloudWatch Alarm State Change" events, as AWS sends them.

``cpu_alarm_event`` builds the event of a CPU alarm on one instance entering
``ALARM``, shaped like the stored samples in ``tests/infra/relay/events/``, for
the sandbox's instances: the relay accepts it and posts ``firstline.alarm.fired``.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

THRESHOLD_PERCENT = 90.0


def cpu_alarm_event(
    instance_id: str,
    region: str,
    account_id: str,
    *,
    event_id: str | None = None,
    fired_at: datetime | None = None,
) -> dict[str, Any]:
    """The event of ``firstline-cpu-high-<instance_id>`` entering ALARM.

    ``event_id`` is EventBridge's id (a new UUID unless given: give the same one
    to stand for a redelivery); ``fired_at`` defaults to a second ago.
    """
    fired_at = fired_at or datetime.now(UTC) - timedelta(seconds=1)
    alarm_name = f"firstline-cpu-high-{instance_id}"
    alarm_arn = f"arn:aws:cloudwatch:{region}:{account_id}:alarm:{alarm_name}"
    datapoints = [99.2, 97.9, 98.7]
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": account_id,
        "time": fired_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [alarm_arn],
        "detail": {
            "alarmName": alarm_name,
            "state": {
                "value": "ALARM",
                "reason": (
                    f"Threshold Crossed: 3 out of the last 3 datapoints {datapoints} "
                    "were greater than or equal to the threshold "
                    f"({THRESHOLD_PERCENT})."
                ),
                "reasonData": json.dumps(
                    {
                        "version": "1.0",
                        "statistic": "Average",
                        "period": 60,
                        "recentDatapoints": datapoints,
                        "threshold": THRESHOLD_PERCENT,
                    }
                ),
                "timestamp": _cloudwatch_timestamp(fired_at),
            },
            "previousState": {
                "value": "OK",
                "reason": "Threshold Crossed: no datapoint above the threshold.",
                "timestamp": _cloudwatch_timestamp(fired_at - timedelta(hours=1)),
            },
            "configuration": {
                "description": f"CPU of {instance_id} at or above 90% for 3 minutes",
                "metrics": [
                    {
                        "id": "m1",
                        "metricStat": {
                            "metric": {
                                "namespace": "AWS/EC2",
                                "name": "CPUUtilization",
                                "dimensions": {"InstanceId": instance_id},
                            },
                            "period": 60,
                            "stat": "Average",
                        },
                        "returnData": True,
                    }
                ],
            },
        },
    }


def _cloudwatch_timestamp(moment: datetime) -> str:
    """CloudWatch's form: milliseconds and a ``+0000`` offset."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"
