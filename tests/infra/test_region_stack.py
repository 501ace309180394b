"""The region stacks: instance alarms, alarm rules, the relay and its queues."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.synthesized import (
    ACCOUNT,
    SynthesizedApp,
    large_region_ids,
    only,
    properties_without_tags,
    queue_id,
)

EU = "firstline-eu-west-1"
US = "firstline-us-east-2"
WEB_1 = "i-0a1b2c3d4e5f60718"
WEB_2 = "i-0a1b2c3d"


def alarm_named(app: SynthesizedApp, stack: str, name: str) -> dict[str, Any]:
    alarms = app.resources(stack, "AWS::CloudWatch::Alarm").values()
    (alarm,) = [a for a in alarms if a["Properties"]["AlarmName"] == name]
    return properties_without_tags(alarm)


class TestInstanceAlarms:
    def test_cpu_alarm_takes_the_instance_settings(
        self, rich_app: SynthesizedApp
    ) -> None:
        assert alarm_named(rich_app, EU, f"firstline-{WEB_1}-cpu") == {
            "AlarmName": f"firstline-{WEB_1}-cpu",
            "AlarmDescription": (
                f"firstline: CPU of web-1 ({WEB_1}) at or above 90% starts the "
                "remediation flow"
            ),
            "Namespace": "AWS/EC2",
            "MetricName": "CPUUtilization",
            "Dimensions": [{"Name": "InstanceId", "Value": WEB_1}],
            "Statistic": "Maximum",
            "Period": 60,
            "Threshold": 90,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "EvaluationPeriods": 3,
            "TreatMissingData": "breaching",
        }

    def test_cpu_alarm_defaults_to_full_cpu_over_five_minutes(
        self, rich_app: SynthesizedApp
    ) -> None:
        instance_id = large_region_ids()[0]
        alarm = alarm_named(rich_app, US, f"firstline-{instance_id}-cpu")
        assert {k: v for k, v in alarm.items() if k != "AlarmDescription"} == {
            "AlarmName": f"firstline-{instance_id}-cpu",
            "Namespace": "AWS/EC2",
            "MetricName": "CPUUtilization",
            "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
            "Statistic": "Maximum",
            "Period": 300,
            "Threshold": 100,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "EvaluationPeriods": 1,
            "TreatMissingData": "missing",
        }

    def test_extra_alarms_on_one_metric_get_distinct_names(
        self, rich_app: SynthesizedApp
    ) -> None:
        first = alarm_named(rich_app, EU, f"firstline-{WEB_1}-statuscheckfailed")
        second = alarm_named(rich_app, EU, f"firstline-{WEB_1}-statuscheckfailed-2")

        assert (first["Statistic"], first["Threshold"], first["Period"]) == (
            "Maximum",
            1,
            60,
        )
        assert first["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert (second["Statistic"], second["Threshold"], second["Period"]) == (
            "Sum",
            3,
            300,
        )
        assert second["ComparisonOperator"] == "GreaterThanThreshold"
        assert second["EvaluationPeriods"] == 2
        assert second["TreatMissingData"] == "breaching"
        assert second["Dimensions"] == [{"Name": "InstanceId", "Value": WEB_1}]

    def test_region_has_its_instance_alarms_and_two_queue_alarms(
        self, rich_app: SynthesizedApp
    ) -> None:
        names = {
            a["Properties"]["AlarmName"]
            for a in rich_app.resources(EU, "AWS::CloudWatch::Alarm").values()
        }
        assert names == {
            f"firstline-{WEB_1}-cpu",
            f"firstline-{WEB_1}-statuscheckfailed",
            f"firstline-{WEB_1}-statuscheckfailed-2",
            f"firstline-{WEB_2}-cpu",
            "firstline-relay-failures-eu-west-1",
            "firstline-relay-undelivered-eu-west-1",
        }

    def test_region_with_defaults_only_gets_no_stack(
        self, rich_app: SynthesizedApp
    ) -> None:
        assert "firstline-ap-south-1" not in rich_app.templates


class TestAlarmRules:
    def test_rule_matches_only_these_alarms_entering_alarm(
        self, rich_app: SynthesizedApp
    ) -> None:
        _, rule = only(rich_app, EU, "AWS::Events::Rule")
        assert rule["Properties"]["EventPattern"] == {
            "source": ["aws.cloudwatch"],
            "detail-type": ["CloudWatch Alarm State Change"],
            "account": [ACCOUNT],
            "detail": {
                "alarmName": [
                    f"firstline-{WEB_1}-cpu",
                    f"firstline-{WEB_1}-statuscheckfailed",
                    f"firstline-{WEB_1}-statuscheckfailed-2",
                    f"firstline-{WEB_2}-cpu",
                ],
                "state": {"value": ["ALARM"]},
            },
        }
        assert rule["Properties"]["State"] == "ENABLED"

    def test_large_region_spreads_its_alarms_over_rules_within_the_size_limit(
        self, rich_app: SynthesizedApp
    ) -> None:
        rules = rich_app.resources(US, "AWS::Events::Rule").values()
        batches = [
            r["Properties"]["EventPattern"]["detail"]["alarmName"] for r in rules
        ]

        assert len(batches) == 2
        names = [name for batch in batches for name in batch]
        assert sorted(names) == sorted(f"firstline-{i}-cpu" for i in large_region_ids())
        for rule in rules:
            pattern = json.dumps(rule["Properties"]["EventPattern"])
            assert len(pattern) <= 2048

    def test_every_rule_targets_the_relay_with_retries_and_a_dead_letter_queue(
        self, rich_app: SynthesizedApp
    ) -> None:
        function, _ = only(rich_app, US, "AWS::Lambda::Function")
        queue = queue_id(rich_app, US, "RelayDeliveryQueue")
        for rule in rich_app.resources(US, "AWS::Events::Rule").values():
            assert rule["Properties"]["Targets"] == [
                {
                    "Arn": {"Fn::GetAtt": [function, "Arn"]},
                    "Id": "Target0",
                    "DeadLetterConfig": {"Arn": {"Fn::GetAtt": [queue, "Arn"]}},
                    "RetryPolicy": {
                        "MaximumEventAgeInSeconds": 1800,
                        "MaximumRetryAttempts": 8,
                    },
                }
            ]

    def test_each_rule_alone_may_invoke_the_relay(
        self, rich_app: SynthesizedApp
    ) -> None:
        rules = set(rich_app.resources(US, "AWS::Events::Rule"))
        permissions = rich_app.resources(US, "AWS::Lambda::Permission").values()
        sources = set()
        for permission in permissions:
            props = permission["Properties"]
            assert props["Action"] == "lambda:InvokeFunction"
            assert props["Principal"] == "events.amazonaws.com"
            sources.add(props["SourceArn"]["Fn::GetAtt"][0])
        assert sources == rules
