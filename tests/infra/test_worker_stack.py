"""The worker's policy and role, and the roles it may assume in other accounts."""

from __future__ import annotations

from typing import Any

from tests.infra.synthesized import (
    ACCOUNT,
    OTHER_ACCOUNTS,
    SSH_KEY_SECRET_ARN,
    SynthesizedApp,
    only,
)

WORKERS = "firstline-workers"


def render(value: Any) -> Any:
    """Resolve the partition and account references of a policy into plain text."""
    if isinstance(value, dict) and set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        return separator.join(render(part) for part in parts)
    if value == {"Ref": "AWS::Partition"}:
        return "aws"
    if value == {"Ref": "AWS::AccountId"}:
        return "${AWS::AccountId}"
    if isinstance(value, list):
        return [render(item) for item in value]
    if isinstance(value, dict):
        return {key: render(item) for key, item in value.items()}
    return value


def statements_of(policy: dict[str, Any]) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = render(
        policy["Properties"]["PolicyDocument"]["Statement"]
    )
    return statements


def flow_statements(account: str) -> list[dict[str, Any]]:
    instances = f"arn:aws:ec2:*:{account}:instance/*"
    return [
        {
            "Sid": "DescribeInstances",
            "Effect": "Allow",
            "Action": ["ec2:DescribeInstances", "ec2:DescribeInstanceStatus"],
            "Resource": "*",
        },
        {
            "Sid": "ReadConsoleOutput",
            "Effect": "Allow",
            "Action": "ec2:GetConsoleOutput",
            "Resource": instances,
        },
        {
            "Sid": "ReadHealthCheckStatus",
            "Effect": "Allow",
            "Action": "route53:GetHealthCheckStatus",
            "Resource": "arn:aws:route53:::healthcheck/*",
        },
        {
            "Sid": "RebootOptedInInstances",
            "Effect": "Allow",
            "Action": "ec2:RebootInstances",
            "Resource": instances,
            "Condition": {
                "StringEquals": {"aws:ResourceTag/firstline:managed": "true"}
            },
        },
    ]


def all_allow_statements(app: SynthesizedApp) -> list[dict[str, Any]]:
    """Every Allow statement of every IAM policy and queue policy in the app."""
    statements = []
    for stack in app.templates:
        for resource in app.templates[stack]["Resources"].values():
            document = resource["Properties"].get("PolicyDocument")
            if document is not None:
                statements += [
                    s for s in render(document["Statement"]) if s["Effect"] == "Allow"
                ]
    return statements


def resources_of(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return list(resource) if isinstance(resource, list) else [resource]


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


class TestWorkerPolicy:
    def test_policy_allows_exactly_what_the_flow_needs(
        self, rich_app: SynthesizedApp
    ) -> None:
        _, policy = only(rich_app, WORKERS, "AWS::IAM::ManagedPolicy")

        assert policy["Properties"]["ManagedPolicyName"] == "firstline-worker"
        assert statements_of(policy) == [
            *flow_statements(ACCOUNT),
            {
                "Sid": "ReadFleetSecrets",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": [
                    SSH_KEY_SECRET_ARN,
                    "arn:aws:secretsmanager:eu-west-1:111111111111:secret:"
                    "firstline/slack-token-??????",
                    "arn:aws:secretsmanager:us-west-2:111111111111:secret:"
                    "firstline/slack-token-us-??????",
                ],
            },
            {
                "Sid": "AssumeFleetAccessRoles",
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Resource": [
                    f"arn:aws:iam::{account}:role/firstline-worker-access"
                    for account in OTHER_ACCOUNTS
                ],
            },
        ]

    def test_policy_of_an_unnamed_account_is_resolved_at_deploy_time(
        self, default_app: SynthesizedApp
    ) -> None:
        _, policy = only(default_app, WORKERS, "AWS::IAM::ManagedPolicy")

        assert statements_of(policy)[:4] == flow_statements("${AWS::AccountId}")
        assert [s["Sid"] for s in statements_of(policy)] == [
            "DescribeInstances",
            "ReadConsoleOutput",
            "ReadHealthCheckStatus",
            "RebootOptedInInstances",
            "ReadFleetSecrets",
        ]

    def test_worker_role_runs_on_ec2_with_the_policy_when_asked_for(
        self, rich_app: SynthesizedApp
    ) -> None:
        policy, _ = only(rich_app, WORKERS, "AWS::IAM::ManagedPolicy")
        role_id, role = only(rich_app, WORKERS, "AWS::IAM::Role")
        _, profile = only(rich_app, WORKERS, "AWS::IAM::InstanceProfile")

        assert role["Properties"]["RoleName"] == "firstline-worker"
        assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
            {
                "Action": "sts:AssumeRole",
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
            }
        ]
        assert role["Properties"]["ManagedPolicyArns"] == [{"Ref": policy}]
        assert "Policies" not in role["Properties"]
        assert profile["Properties"] == {
            "InstanceProfileName": "firstline-worker",
            "Roles": [{"Ref": role_id}],
        }

    def test_no_worker_role_unless_asked_for(self, default_app: SynthesizedApp) -> None:
        types = {
            r["Type"] for r in default_app.templates[WORKERS]["Resources"].values()
        }

        assert types == {"AWS::IAM::ManagedPolicy"}


class TestWorkerAccessRoles:
    def test_each_other_account_gets_a_role_the_worker_account_may_assume(
        self, rich_app: SynthesizedApp
    ) -> None:
        for account in OTHER_ACCOUNTS:
            stack = f"firstline-worker-access-{account}"
            policy_id, policy = only(rich_app, stack, "AWS::IAM::ManagedPolicy")
            _, role = only(rich_app, stack, "AWS::IAM::Role")

            assert role["Properties"]["RoleName"] == "firstline-worker-access"
            assert role["Properties"]["MaxSessionDuration"] == 3600
            assert render(role["Properties"]["AssumeRolePolicyDocument"]) == {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Action": "sts:AssumeRole",
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    }
                ],
            }
            assert role["Properties"]["ManagedPolicyArns"] == [{"Ref": policy_id}]
            assert statements_of(policy) == flow_statements(account)

    def test_no_access_role_without_other_accounts(
        self, default_app: SynthesizedApp
    ) -> None:
        assert [s for s in default_app.templates if "access" in s] == []


class TestEveryStatement:
    def test_no_statement_allows_a_wildcard_action(
        self, rich_app: SynthesizedApp
    ) -> None:
        statements = all_allow_statements(rich_app)

        assert len(statements) > 10
        for statement in statements:
            for action in actions(statement):
                assert "*" not in action, statement

    def test_reboot_is_allowed_only_on_tagged_instances_of_the_account(
        self, rich_app: SynthesizedApp
    ) -> None:
        reboots = [
            s
            for s in all_allow_statements(rich_app)
            if "ec2:RebootInstances" in actions(s)
        ]

        assert len(reboots) == 1 + len(OTHER_ACCOUNTS)
        for statement in reboots:
            assert actions(statement) == ["ec2:RebootInstances"]
            assert statement["Condition"] == {
                "StringEquals": {"aws:ResourceTag/firstline:managed": "true"}
            }
            assert statement["Resource"] != "*"
            assert statement["Resource"].startswith("arn:aws:ec2:*:")
            assert statement["Resource"].endswith(":instance/*")

    def test_only_describe_calls_are_allowed_on_every_resource(
        self, rich_app: SynthesizedApp
    ) -> None:
        unscoped = [
            action
            for statement in all_allow_statements(rich_app)
            if "*" in resources_of(statement)
            for action in actions(statement)
        ]

        assert set(unscoped) == {"ec2:DescribeInstances", "ec2:DescribeInstanceStatus"}

    def test_secrets_are_readable_only_by_name_never_by_wildcard(
        self, rich_app: SynthesizedApp
    ) -> None:
        for statement in all_allow_statements(rich_app):
            if "secretsmanager:GetSecretValue" not in actions(statement):
                continue
            for resource in resources_of(statement):
                if isinstance(resource, str):
                    assert resource.startswith("arn:aws:secretsmanager:"), statement
                    assert ":secret:*" not in resource
                else:
                    assert set(resource) == {"Ref"}, statement  # the stack's secret
