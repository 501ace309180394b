"""One region: an alarm per managed instance, rules matching them, and the relay.

An alarm entering ALARM is an EventBridge event; a rule matching exactly this
stack's alarms sends it to the relay, which starts the remediation flow through
the Prefect API. A large fleet gets several rules, each within EventBridge's limit
on the size of an event pattern.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from firstline.settings import InstanceSettings
from infra.alarms import (
    EC2_NAMESPACE,
    AlarmSpec,
    alarm_specs,
    batch_alarm_names,
    event_pattern,
)
from infra.config import InfraConfig
from infra.relay_function import RelayFunction

RULE_RETRY_ATTEMPTS = 8


class RegionStack(cdk.Stack):
    """The alarms, rules and relay of the instances of one region."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        instances: Sequence[InstanceSettings],
        config: InfraConfig,
        relay_bundle_dir: Path,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)

        specs = [spec for instance in instances for spec in alarm_specs(instance)]
        for spec in specs:
            _metric_alarm(self, spec)

        self.relay = RelayFunction(
            self,
            "Relay",
            bundle_dir=relay_bundle_dir,
            prefect_api_url=config.prefect_api_url,
            prefect_secret_arn=config.secret_arn_for(self.region),
            prefect_deployment=config.prefect_deployment,
            max_event_age_seconds=config.relay_max_event_age_seconds,
            log_retention_days=config.log_retention_days,
        )

        batches = batch_alarm_names(spec.alarm_name for spec in specs)
        for number, alarm_names in enumerate(batches, start=1):
            rule = events.Rule(
                self,
                f"AlarmRule{number}",
                description=(
                    f"firstline: {len(alarm_names)} instance alarms entering ALARM "
                    f"go to the relay (rule {number} of {len(batches)})"
                ),
                event_pattern=events.EventPattern(
                    **_pattern_props(event_pattern(alarm_names, self.account))
                ),
            )
            rule.add_target(
                targets.LambdaFunction(
                    self.relay.function,
                    retry_attempts=RULE_RETRY_ATTEMPTS,
                    max_event_age=cdk.Duration.seconds(
                        config.relay_max_event_age_seconds
                    ),
                    dead_letter_queue=self.relay.delivery_queue,
                )
            )

        cdk.CfnOutput(
            self, "RelayFunctionName", value=self.relay.function.function_name
        )
        cdk.CfnOutput(self, "PrefectSecretArn", value=self.relay.secret_arn)
        cdk.CfnOutput(self, "FailureQueueUrl", value=self.relay.failure_queue.queue_url)
        cdk.CfnOutput(
            self, "DeliveryQueueUrl", value=self.relay.delivery_queue.queue_url
        )


def _metric_alarm(scope: Construct, spec: AlarmSpec) -> cloudwatch.CfnAlarm:
    # The level-1 resource takes CloudWatch's own words for the comparison and
    # the treatment of missing data, which is how the fleet file writes them.
    return cloudwatch.CfnAlarm(
        scope,
        f"Alarm-{spec.alarm_name}",
        alarm_name=spec.alarm_name,
        alarm_description=spec.description,
        namespace=EC2_NAMESPACE,
        metric_name=spec.metric_name,
        dimensions=[
            cloudwatch.CfnAlarm.DimensionProperty(
                name="InstanceId", value=spec.instance_id
            )
        ],
        statistic=spec.statistic,
        period=spec.period_seconds,
        threshold=spec.threshold,
        comparison_operator=spec.comparison,
        evaluation_periods=spec.evaluation_periods,
        treat_missing_data=spec.treat_missing_data,
    )


def _pattern_props(pattern: dict[str, Any]) -> dict[str, Any]:
    """EventPattern's keyword names for the pattern's top-level keys."""
    return {
        "source": pattern["source"],
        "detail_type": pattern["detail-type"],
        "account": pattern["account"],
        "detail": pattern["detail"],
    }
