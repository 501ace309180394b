"""The relay Lambda of one region, with its log group, role, secret and queues.

The relay turns an alarm event into a run of the Prefect deployment
``prefect_deployment`` or, when that is None, into a Prefect event. Its role may
write to its own log group, read the one Prefect secret and send to its own failure
queue; nothing else. An event the relay could not hand over after Lambda's retries
lands in the failure queue; one EventBridge could not deliver lands in the delivery
queue. Each queue has an alarm that goes off at its first message.

The code bundle is ``infra/__init__.py`` and the Python files of ``infra/relay/``:
the relay's modules import each other relatively, so they run as the package
``infra.relay``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import INFRA_DIR

RELAY_SOURCE_DIR = INFRA_DIR / "relay"
RELAY_HANDLER = "infra.relay.handler.handler"
RELAY_RETRY_ATTEMPTS = 2
RELAY_TIMEOUT_SECONDS = 90
RELAY_MEMORY_MB = 128
QUEUE_RETENTION_DAYS = 14


def stage_relay_bundle(destination: Path) -> Path:
    """Copy the relay's sources to ``destination``, laid out as Lambda sees them."""
    if not (RELAY_SOURCE_DIR / "handler.py").is_file():
        raise FileNotFoundError(
            f"the relay's code is missing: {RELAY_SOURCE_DIR / 'handler.py'} does "
            "not exist; the relay Lambda cannot be packaged without it"
        )
    if destination.exists():
        shutil.rmtree(destination)
    package = destination / "infra"
    shutil.copytree(RELAY_SOURCE_DIR, package / "relay", ignore=_not_python_source)
    shutil.copy2(INFRA_DIR / "__init__.py", package / "__init__.py")
    return destination


def _not_python_source(directory: str, names: list[str]) -> list[str]:
    """Leave out caches, hidden entries and every file but Python source."""
    return [
        name
        for name in names
        if name == "__pycache__"
        or name.startswith(".")
        or (Path(directory, name).is_file() and not name.endswith(".py"))
    ]


class RelayFunction(Construct):
    """The Lambda, its log group, its role, its secret and its two queues."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bundle_dir: Path,
        prefect_api_url: str,
        prefect_secret_arn: str | None,
        prefect_deployment: str | None,
        max_event_age_seconds: int,
        log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)

        if prefect_secret_arn is None:
            # Created without a value: the operator stores the credential after the
            # deploy, so that it never passes through the template.
            secret = secretsmanager.CfnSecret(
                self,
                "PrefectSecret",
                description=(
                    "firstline relay: the Prefect credential, "
                    '{"api_key": "..."} or {"basic_auth": "user:password"}'
                ),
            )
            self.secret_arn: str = secret.ref
        else:
            self.secret_arn = prefect_secret_arn

        self.log_group = logs.LogGroup(
            self, "LogGroup", removal_policy=cdk.RemovalPolicy.DESTROY
        )
        # RetentionDays names periods, not days; config has checked the number.
        log_group_resource = self.log_group.node.default_child
        assert isinstance(log_group_resource, logs.CfnLogGroup)
        log_group_resource.retention_in_days = log_retention_days

        self.role = iam.Role(
            self,
            "Role",
            description="firstline relay: write its logs, read the Prefect secret",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadPrefectSecret",
                actions=["secretsmanager:GetSecretValue"],
                resources=[self.secret_arn],
            )
        )

        environment = {
            "PREFECT_API_URL": prefect_api_url,
            "FIRSTLINE_PREFECT_SECRET_ARN": self.secret_arn,
        }
        if prefect_deployment is not None:
            environment["FIRSTLINE_PREFECT_DEPLOYMENT"] = prefect_deployment

        self.failure_queue = _dead_letter_queue(self, "FailureQueue")
        self.delivery_queue = _dead_letter_queue(self, "DeliveryQueue")
        self.function = lambda_.Function(
            self,
            "Function",
            description="firstline: relays CloudWatch alarm events to Prefect",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.ARM_64,
            handler=RELAY_HANDLER,
            code=lambda_.Code.from_asset(str(bundle_dir)),
            role=self.role,
            log_group=self.log_group,
            timeout=cdk.Duration.seconds(RELAY_TIMEOUT_SECONDS),
            memory_size=RELAY_MEMORY_MB,
            environment=environment,
            retry_attempts=RELAY_RETRY_ATTEMPTS,
            max_event_age=cdk.Duration.seconds(max_event_age_seconds),
            on_failure=destinations.SqsDestination(self.failure_queue),
        )
        _depend_on_policy_only(self.function, self.role)

        self.failure_alarm = _depth_alarm(
            self,
            "FailureQueueAlarm",
            self.failure_queue,
            alarm_name=f"firstline-relay-failures-{cdk.Stack.of(self).region}",
            what="alarm events the relay could not hand to Prefect",
        )
        self.delivery_alarm = _depth_alarm(
            self,
            "DeliveryQueueAlarm",
            self.delivery_queue,
            alarm_name=f"firstline-relay-undelivered-{cdk.Stack.of(self).region}",
            what="alarm events EventBridge could not deliver to the relay",
        )


def _dead_letter_queue(scope: Construct, construct_id: str) -> sqs.Queue:
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=cdk.Duration.days(QUEUE_RETENTION_DAYS),
    )


def _depth_alarm(
    scope: Construct, construct_id: str, queue: sqs.Queue, *, alarm_name: str, what: str
) -> cloudwatch.Alarm:
    return cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_name=alarm_name,
        alarm_description=f"firstline: {what}; read them from the queue",
        metric=queue.metric_approximate_number_of_messages_visible(
            statistic="Maximum", period=cdk.Duration.minutes(1)
        ),
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        threshold=1,
        evaluation_periods=1,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )


def _depend_on_policy_only(function: lambda_.Function, role: iam.Role) -> None:
    """Keep the function's wait for its role's policy, drop the one for the role.

    The function names its role by reference already, which orders the two; the
    explicit DependsOn CDK adds on top is what cfn-lint flags (W3005).
    """
    policy = role.node.find_child("DefaultPolicy").node.default_child
    function_resource = function.node.default_child
    assert isinstance(policy, cdk.CfnResource)
    assert isinstance(function_resource, cdk.CfnResource)
    function_resource.add_override("DependsOn", [policy.logical_id])
