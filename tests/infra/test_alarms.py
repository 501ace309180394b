"""Alarm names and settings per instance, and the rules' event patterns."""

from __future__ import annotations

import json

from firstline.settings import InstanceSettings
from infra.alarms import (
    PATTERN_BUDGET_CHARACTERS,
    AlarmSpec,
    alarm_specs,
    batch_alarm_names,
    event_pattern,
)


def instance(**settings: object) -> InstanceSettings:
    return InstanceSettings.model_validate(
        {"instance_id": "i-0123456789abcdef0", "region": "eu-west-1", **settings}
    )


class TestAlarmSpecs:
    def test_default_instance_gets_one_cpu_alarm_at_full_load(self) -> None:
        (spec,) = alarm_specs(instance(name="web-1"))

        assert spec == AlarmSpec(
            alarm_name="firstline-i-0123456789abcdef0-cpu",
            instance_id="i-0123456789abcdef0",
            metric_name="CPUUtilization",
            statistic="Maximum",
            comparison="GreaterThanOrEqualToThreshold",
            threshold=100.0,
            period_seconds=300,
            evaluation_periods=1,
            treat_missing_data="missing",
            description=(
                "firstline: CPU of web-1 (i-0123456789abcdef0) at or above 100% "
                "starts the remediation flow"
            ),
        )

    def test_extra_alarms_follow_the_cpu_alarm_with_their_own_settings(self) -> None:
        specs = alarm_specs(
            instance(
                alarms={
                    "treat_missing_data": "notBreaching",
                    "extra": [
                        {"metric_name": "StatusCheckFailed_System"},
                        {"metric_name": "NetworkIn", "statistic": "Sum",
                         "threshold": 1e9, "comparison": "GreaterThanThreshold"},
                    ],
                }
            )
        )  # fmt: skip

        assert [s.alarm_name for s in specs] == [
            "firstline-i-0123456789abcdef0-cpu",
            "firstline-i-0123456789abcdef0-statuscheckfailed_system",
            "firstline-i-0123456789abcdef0-networkin",
        ]
        assert (specs[2].statistic, specs[2].threshold, specs[2].comparison) == (
            "Sum",
            1e9,
            "GreaterThanThreshold",
        )
        assert {s.treat_missing_data for s in specs} == {"notBreaching"}
        assert specs[1].description.startswith("firstline: StatusCheckFailed_System")

    def test_extra_alarm_on_cpu_does_not_take_the_cpu_alarms_name(self) -> None:
        specs = alarm_specs(
            instance(alarms={"extra": [{"metric_name": "cpu"}, {"metric_name": "CPU"}]})
        )

        assert [s.alarm_name for s in specs] == [
            "firstline-i-0123456789abcdef0-cpu",
            "firstline-i-0123456789abcdef0-cpu-2",
            "firstline-i-0123456789abcdef0-cpu-3",
        ]


class TestEventPattern:
    def test_pattern_names_the_source_the_state_and_each_alarm(self) -> None:
        assert event_pattern(["a", "b"], "111111111111") == {
            "source": ["aws.cloudwatch"],
            "detail-type": ["CloudWatch Alarm State Change"],
            "account": ["111111111111"],
            "detail": {"alarmName": ["a", "b"], "state": {"value": ["ALARM"]}},
        }


class TestBatches:
    def test_small_fleet_fits_one_rule(self) -> None:
        names = [f"firstline-i-{n:017x}-cpu" for n in range(10)]

        assert batch_alarm_names(names) == (tuple(names),)

    def test_large_fleet_is_split_in_order_with_every_pattern_within_budget(
        self,
    ) -> None:
        names = [f"firstline-i-{n:017x}-statuscheckfailed" for n in range(200)]

        batches = batch_alarm_names(names)

        assert len(batches) > 3
        assert [name for batch in batches for name in batch] == names
        for batch in batches:
            pattern = event_pattern(batch, "111111111111")
            size = len(json.dumps(pattern, separators=(",", ":")))
            assert size <= PATTERN_BUDGET_CHARACTERS
        assert len(json.dumps(event_pattern(batches[0], "1" * 12))) <= 2048

    def test_no_names_make_no_rule(self) -> None:
        assert batch_alarm_names([]) == ()
