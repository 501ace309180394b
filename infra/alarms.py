"""The CloudWatch alarms of the managed instances, and the rules that match them.

Plain data, free of CDK, so that names and patterns can be checked without a
synth. Alarm names are deterministic (``firstline-<instance-id>-cpu``): the relay
and the operators find an instance's alarm by name alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from firstline.settings import InstanceSettings

ALARM_NAME_PREFIX = "firstline-"
EC2_NAMESPACE = "AWS/EC2"

# EventBridge refuses an event pattern longer than 2,048 characters unless the
# quota was raised; rules are filled up to this size, below it for safety.
PATTERN_BUDGET_CHARACTERS = 1900
_ACCOUNT_PLACEHOLDER = "123456789012"


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm on one metric of one instance."""

    alarm_name: str
    instance_id: str
    metric_name: str
    statistic: str
    comparison: str
    threshold: float
    period_seconds: int
    evaluation_periods: int
    treat_missing_data: str
    description: str


def cpu_alarm_name(instance_id: str) -> str:
    return f"{ALARM_NAME_PREFIX}{instance_id}-cpu"


def alarm_specs(instance: InstanceSettings) -> tuple[AlarmSpec, ...]:
    """The CPU alarm of ``instance``, then one alarm per extra alarm it asks for."""
    settings = instance.alarms
    label = instance.name or instance.instance_id
    specs = [
        AlarmSpec(
            alarm_name=cpu_alarm_name(instance.instance_id),
            instance_id=instance.instance_id,
            metric_name="CPUUtilization",
            statistic="Maximum",
            comparison="GreaterThanOrEqualToThreshold",
            threshold=settings.cpu_threshold_percent,
            period_seconds=settings.period_seconds,
            evaluation_periods=settings.evaluation_periods,
            treat_missing_data=settings.treat_missing_data,
            description=(
                f"firstline: CPU of {label} ({instance.instance_id}) at or above "
                f"{settings.cpu_threshold_percent:g}% starts the remediation flow"
            ),
        )
    ]

    used = {specs[0].alarm_name}
    for extra in settings.extra:
        name = _unique(
            f"{ALARM_NAME_PREFIX}{instance.instance_id}-{extra.metric_name.lower()}",
            used,
        )
        specs.append(
            AlarmSpec(
                alarm_name=name,
                instance_id=instance.instance_id,
                metric_name=extra.metric_name,
                statistic=extra.statistic,
                comparison=extra.comparison,
                threshold=extra.threshold,
                period_seconds=extra.period_seconds,
                evaluation_periods=extra.evaluation_periods,
                treat_missing_data=settings.treat_missing_data,
                description=(
                    f"firstline: {extra.metric_name} of {label} "
                    f"({instance.instance_id}) starts the remediation flow"
                ),
            )
        )
    return tuple(specs)


def event_pattern(alarm_names: Sequence[str], account: Any) -> dict[str, Any]:
    """The pattern of a rule that matches these alarms entering ALARM, only."""
    return {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "account": [account],
        "detail": {
            "alarmName": list(alarm_names),
            "state": {"value": ["ALARM"]},
        },
    }


def batch_alarm_names(
    alarm_names: Iterable[str], budget_characters: int = PATTERN_BUDGET_CHARACTERS
) -> tuple[tuple[str, ...], ...]:
    """Split the names into groups whose event pattern each stays within budget."""
    batches: list[tuple[str, ...]] = []
    current: list[str] = []
    for name in alarm_names:
        if current and _pattern_size([*current, name]) > budget_characters:
            batches.append(tuple(current))
            current = []
        current.append(name)
    if current:
        batches.append(tuple(current))
    return tuple(batches)


def _pattern_size(alarm_names: Sequence[str]) -> int:
    pattern = event_pattern(alarm_names, _ACCOUNT_PLACEHOLDER)
    return len(json.dumps(pattern, separators=(",", ":")))


def _unique(name: str, used: set[str]) -> str:
    candidate, number = name, 1
    while candidate in used:
        number += 1
        candidate = f"{name}-{number}"
    used.add(candidate)
    return candidate
