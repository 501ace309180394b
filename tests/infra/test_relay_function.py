"""The relay of each region: function, invoke settings, log group, role, queues."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from aws_cdk.assertions import Match

from tests.infra.synthesized import (
    IMPORTED_SECRET_ARN,
    PREFECT_API_URL,
    PREFECT_DEPLOYMENT,
    SynthesizedApp,
    get_att,
    only,
    properties_without_tags,
    queue_id,
)

EU = "firstline-eu-west-1"
US = "firstline-us-east-2"


class TestRelayFunction:
    def test_function_runs_the_relay_package_on_python_3_12(
        self, rich_app: SynthesizedApp
    ) -> None:
        _, function = only(rich_app, EU, "AWS::Lambda::Function")
        log_group, _ = only(rich_app, EU, "AWS::Logs::LogGroup")
        role, _ = only(rich_app, EU, "AWS::IAM::Role")
        secret, _ = only(rich_app, EU, "AWS::SecretsManager::Secret")
        props = properties_without_tags(function)

        assert props["Runtime"] == "python3.12"
        assert props["Handler"] == "infra.relay.handler.handler"
        assert props["Architectures"] == ["arm64"]
        assert props["Timeout"] == 90
        assert props["MemorySize"] == 128
        assert props["Role"] == get_att(role)
        assert props["LoggingConfig"] == {"LogGroup": {"Ref": log_group}}
        assert props["Environment"] == {
            "Variables": {
                "PREFECT_API_URL": PREFECT_API_URL,
                "FIRSTLINE_PREFECT_SECRET_ARN": {"Ref": secret},
                "FIRSTLINE_PREFECT_DEPLOYMENT": PREFECT_DEPLOYMENT,
            }
        }
        assert set(props) == {
            "Runtime", "Handler", "Architectures", "Timeout", "MemorySize", "Role",
            "LoggingConfig", "Environment", "Code", "Description",
        }  # fmt: skip

    def test_function_reads_the_imported_secret_where_one_is_given(
        self, rich_app: SynthesizedApp
    ) -> None:
        _, function = only(rich_app, US, "AWS::Lambda::Function")
        variables = function["Properties"]["Environment"]["Variables"]

        assert variables["FIRSTLINE_PREFECT_SECRET_ARN"] == IMPORTED_SECRET_ARN
        assert rich_app.resources(US, "AWS::SecretsManager::Secret") == {}

    def test_relay_creates_runs_of_the_on_alarm_deployment_by_default(
        self, default_app: SynthesizedApp
    ) -> None:
        for stack in ("firstline-eu-west-1", "firstline-us-east-1"):
            _, function = only(default_app, stack, "AWS::Lambda::Function")
            variables = function["Properties"]["Environment"]["Variables"]

            assert variables["FIRSTLINE_PREFECT_DEPLOYMENT"] == (
                "remediate-instance/on-alarm"
            )

    def test_relay_without_a_deployment_posts_events(self, tmp_path: Path) -> None:
        import aws_cdk as cdk
        from aws_cdk.assertions import Template

        from infra.relay_function import RelayFunction, stage_relay_bundle

        stack = cdk.Stack(cdk.App(outdir=str(tmp_path / "cdk.out")), "EventRelay")
        RelayFunction(
            stack,
            "Relay",
            bundle_dir=stage_relay_bundle(tmp_path / "bundle"),
            prefect_api_url=PREFECT_API_URL,
            prefect_secret_arn=IMPORTED_SECRET_ARN,
            prefect_deployment=None,
            max_event_age_seconds=3600,
            log_retention_days=30,
        )

        (function,) = (
            Template.from_stack(stack).find_resources("AWS::Lambda::Function").values()
        )
        assert function["Properties"]["Environment"]["Variables"] == {
            "PREFECT_API_URL": PREFECT_API_URL,
            "FIRSTLINE_PREFECT_SECRET_ARN": IMPORTED_SECRET_ARN,
        }

    def test_created_secret_is_empty(self, rich_app: SynthesizedApp) -> None:
        _, secret = only(rich_app, EU, "AWS::SecretsManager::Secret")

        assert set(properties_without_tags(secret)) == {"Description"}

    def test_async_invocations_retry_twice_then_go_to_the_failure_queue(
        self, rich_app: SynthesizedApp
    ) -> None:
        function, _ = only(rich_app, EU, "AWS::Lambda::Function")
        failure_queue = queue_id(rich_app, EU, "RelayFailureQueue")
        _, config = only(rich_app, EU, "AWS::Lambda::EventInvokeConfig")

        assert config["Properties"] == {
            "FunctionName": {"Ref": function},
            "Qualifier": "$LATEST",
            "MaximumRetryAttempts": 2,
            "MaximumEventAgeInSeconds": 1800,
            "DestinationConfig": {"OnFailure": {"Destination": get_att(failure_queue)}},
        }

    def test_log_group_keeps_logs_for_the_configured_days(
        self, rich_app: SynthesizedApp
    ) -> None:
        _, log_group = only(rich_app, EU, "AWS::Logs::LogGroup")

        assert properties_without_tags(log_group) == {"RetentionInDays": 14}
        assert log_group["DeletionPolicy"] == "Delete"

    def test_bundle_holds_only_the_relay_package_and_imports_alone(
        self, rich_app: SynthesizedApp
    ) -> None:
        (asset,) = [p for p in rich_app.outdir.iterdir() if p.name.startswith("asset.")]
        files = sorted(
            str(p.relative_to(asset)) for p in asset.rglob("*") if p.is_file()
        )
        infra = Path(__file__).parents[2] / "infra"
        expected = sorted(
            str(p.relative_to(infra.parent))
            for p in [infra / "__init__.py", *(infra / "relay").rglob("*.py")]
        )

        assert files == expected
        # Nothing but the bundle on the path, as in Lambda.
        probe = (
            "import sys; sys.path[:] = [sys.argv[1]] + "
            "[p for p in sys.path if 'site-packages' not in p and p];"
            "import infra.relay.handler as h; assert callable(h.handler)"
        )
        result = subprocess.run(
            [sys.executable, "-I", "-c", probe, str(asset)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr


class TestRelayRole:
    def test_role_is_for_lambda_only_and_has_no_managed_policy(
        self, rich_app: SynthesizedApp
    ) -> None:
        _, role = only(rich_app, EU, "AWS::IAM::Role")

        assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
            {
                "Action": "sts:AssumeRole",
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
            }
        ]
        assert "ManagedPolicyArns" not in role["Properties"]
        assert "Policies" not in role["Properties"]

    def test_role_may_write_its_logs_read_its_secret_and_fill_its_queue(
        self, rich_app: SynthesizedApp
    ) -> None:
        role, _ = only(rich_app, EU, "AWS::IAM::Role")
        log_group, _ = only(rich_app, EU, "AWS::Logs::LogGroup")
        secret, _ = only(rich_app, EU, "AWS::SecretsManager::Secret")
        failure_queue = queue_id(rich_app, EU, "RelayFailureQueue")
        _, policy = only(rich_app, EU, "AWS::IAM::Policy")

        assert policy["Properties"]["Roles"] == [{"Ref": role}]
        assert policy["Properties"]["PolicyDocument"]["Statement"] == [
            {
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": get_att(log_group),
            },
            {
                "Sid": "ReadPrefectSecret",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": {"Ref": secret},
            },
            {
                "Effect": "Allow",
                "Action": [
                    "sqs:SendMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:GetQueueUrl",
                ],
                "Resource": get_att(failure_queue),
            },
        ]

    def test_role_reads_only_the_imported_secret_where_one_is_given(
        self, rich_app: SynthesizedApp
    ) -> None:
        _, policy = only(rich_app, US, "AWS::IAM::Policy")
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        secret_reads = [
            s for s in statements if s["Action"] == "secretsmanager:GetSecretValue"
        ]

        assert secret_reads == [
            {
                "Sid": "ReadPrefectSecret",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": IMPORTED_SECRET_ARN,
            }
        ]

    def test_function_waits_for_its_role_policy(self, rich_app: SynthesizedApp) -> None:
        policy, _ = only(rich_app, EU, "AWS::IAM::Policy")
        _, function = only(rich_app, EU, "AWS::Lambda::Function")

        assert function["DependsOn"] == [policy]


class TestDeadLetterQueues:
    def test_both_queues_are_encrypted_and_keep_messages_two_weeks(
        self, rich_app: SynthesizedApp
    ) -> None:
        rich_app.assertions[EU].resource_count_is("AWS::SQS::Queue", 2)
        for queue in rich_app.resources(EU, "AWS::SQS::Queue").values():
            assert properties_without_tags(queue) == {
                "MessageRetentionPeriod": 1_209_600,
                "SqsManagedSseEnabled": True,
            }

    def test_only_the_regions_rules_may_send_to_the_delivery_queue(
        self, rich_app: SynthesizedApp
    ) -> None:
        queue = queue_id(rich_app, US, "RelayDeliveryQueue")
        rules = sorted(rich_app.resources(US, "AWS::Events::Rule"))
        policies = [
            p["Properties"]
            for p in rich_app.resources(US, "AWS::SQS::QueuePolicy").values()
            if p["Properties"]["Queues"] == [{"Ref": queue}]
        ]
        (statements,) = [p["PolicyDocument"]["Statement"] for p in policies]
        allows = [s for s in statements if s["Effect"] == "Allow"]

        assert [s["Principal"] for s in allows] == [
            {"Service": "events.amazonaws.com"}
        ] * len(rules)
        assert {s["Action"] for s in allows} == {"sqs:SendMessage"}
        assert (
            sorted(
                s["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::GetAtt"][0]
                for s in allows
            )
            == rules
        )

    def test_every_queue_refuses_unencrypted_transport(
        self, rich_app: SynthesizedApp
    ) -> None:
        rich_app.assertions[EU].resource_count_is("AWS::SQS::QueuePolicy", 2)
        rich_app.assertions[EU].all_resources_properties(
            "AWS::SQS::QueuePolicy",
            {
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            {
                                "Action": "sqs:*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                "Effect": "Deny",
                                "Principal": {"AWS": "*"},
                                "Resource": Match.any_value(),
                            }
                        ]
                    )
                }
            },
        )

    def test_each_queue_alarms_at_its_first_message(
        self, rich_app: SynthesizedApp
    ) -> None:
        alarms = {
            a["Properties"]["AlarmName"]: properties_without_tags(a)
            for a in rich_app.resources(EU, "AWS::CloudWatch::Alarm").values()
        }
        for name, queue_prefix in (
            ("firstline-relay-failures-eu-west-1", "RelayFailureQueue"),
            ("firstline-relay-undelivered-eu-west-1", "RelayDeliveryQueue"),
        ):
            queue = queue_id(rich_app, EU, queue_prefix)
            alarm = dict(alarms[name])
            assert alarm.pop("AlarmDescription").startswith("firstline: ")
            assert alarm == {
                "AlarmName": name,
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [
                    {"Name": "QueueName", "Value": get_att(queue, "QueueName")}
                ],
                "Statistic": "Maximum",
                "Period": 60,
                "Threshold": 1,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "EvaluationPeriods": 1,
                "TreatMissingData": "notBreaching",
            }
