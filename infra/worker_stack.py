"""What the Prefect worker running the remediation flow may do in AWS, and no more.

The worker stack holds a managed policy (and, on request, a role using it) in the
worker's account; IAM is global, so the stack is deployed once, in one region. A
fleet spread over several accounts gets, in each of them, a role the worker may
assume, carrying the same permissions for that account.

Rebooting is allowed only on instances tagged ``firstline:managed=true``: an
instance listed in the fleet file but not tagged is checked, never rebooted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.fleet_secrets import AwsSecretRef

WORKER_POLICY_NAME = "firstline-worker"
WORKER_ROLE_NAME = "firstline-worker"
ACCESS_ROLE_NAME = "firstline-worker-access"
ACCESS_POLICY_NAME = "firstline-worker-access"
OPT_IN_TAG = "firstline:managed"


def worker_statements(
    *,
    account: str,
    partition: str,
    secret_refs: Sequence[AwsSecretRef] = (),
    access_role_arns: Sequence[str] = (),
) -> list[iam.PolicyStatement]:
    """The flow's permissions on the instances of ``account``."""
    instances = f"arn:{partition}:ec2:*:{account}:instance/*"
    statements = [
        # EC2 has no resource-level permissions for its Describe calls.
        iam.PolicyStatement(
            sid="DescribeInstances",
            actions=["ec2:DescribeInstances", "ec2:DescribeInstanceStatus"],
            resources=["*"],
        ),
        iam.PolicyStatement(
            sid="ReadConsoleOutput",
            actions=["ec2:GetConsoleOutput"],
            resources=[instances],
        ),
        iam.PolicyStatement(
            sid="ReadHealthCheckStatus",
            actions=["route53:GetHealthCheckStatus"],
            resources=[f"arn:{partition}:route53:::healthcheck/*"],
        ),
        iam.PolicyStatement(
            sid="RebootOptedInInstances",
            actions=["ec2:RebootInstances"],
            resources=[instances],
            conditions={"StringEquals": {f"aws:ResourceTag/{OPT_IN_TAG}": "true"}},
        ),
    ]
    if secret_refs:
        statements.append(
            iam.PolicyStatement(
                sid="ReadFleetSecrets",
                actions=["secretsmanager:GetSecretValue"],
                resources=[
                    _secret_arn(ref, account=account, partition=partition)
                    for ref in secret_refs
                ],
            )
        )
    if access_role_arns:
        statements.append(
            iam.PolicyStatement(
                sid="AssumeFleetAccessRoles",
                actions=["sts:AssumeRole"],
                resources=list(access_role_arns),
            )
        )
    return statements


def access_role_arn(account: str, partition: str) -> str:
    return f"arn:{partition}:iam::{account}:role/{ACCESS_ROLE_NAME}"


class WorkerStack(cdk.Stack):
    """The worker's managed policy, and optionally the role the worker runs as."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        secret_refs: Sequence[AwsSecretRef],
        fleet_accounts: Sequence[str],
        worker_role: bool,
        worker_role_service: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)

        statements = worker_statements(
            account=self.account,
            partition=self.partition,
            secret_refs=secret_refs,
            access_role_arns=[
                access_role_arn(a, self.partition) for a in fleet_accounts
            ],
        )
        self.policy = iam.ManagedPolicy(
            self,
            "WorkerPolicy",
            managed_policy_name=WORKER_POLICY_NAME,
            description="firstline: what the remediation flow may do in AWS",
            statements=statements,
        )
        cdk.CfnOutput(self, "WorkerPolicyArn", value=self.policy.managed_policy_arn)
        if not worker_role:
            return

        role = iam.Role(
            self,
            "WorkerRole",
            role_name=WORKER_ROLE_NAME,
            description="firstline: the Prefect worker running the remediation flow",
            assumed_by=iam.ServicePrincipal(worker_role_service),
            managed_policies=[self.policy],
        )
        cdk.CfnOutput(self, "WorkerRoleArn", value=role.role_arn)
        if worker_role_service == "ec2.amazonaws.com":
            profile = iam.CfnInstanceProfile(
                self,
                "WorkerInstanceProfile",
                instance_profile_name=WORKER_ROLE_NAME,
                roles=[role.role_name],
            )
            cdk.CfnOutput(self, "WorkerInstanceProfileArn", value=profile.attr_arn)


class WorkerAccessStack(cdk.Stack):
    """In one more fleet account: a role the worker's account may assume."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        worker_account: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)

        policy = iam.ManagedPolicy(
            self,
            "AccessPolicy",
            managed_policy_name=ACCESS_POLICY_NAME,
            description="firstline: what the remediation flow may do in this account",
            statements=worker_statements(
                account=self.account, partition=self.partition
            ),
        )
        role = iam.Role(
            self,
            "AccessRole",
            role_name=ACCESS_ROLE_NAME,
            description=f"firstline: assumed by the Prefect worker of {worker_account}",
            assumed_by=iam.AccountPrincipal(worker_account),
            managed_policies=[policy],
            max_session_duration=cdk.Duration.hours(1),
        )
        cdk.CfnOutput(self, "AccessRoleArn", value=role.role_arn)


def _secret_arn(ref: AwsSecretRef, *, account: str, partition: str) -> str:
    if ref.is_arn:
        return ref.name_or_arn
    # Secrets Manager appends six random characters to the name in the ARN.
    return (
        f"arn:{partition}:secretsmanager:{ref.region}:{account}:secret:"
        f"{ref.name_or_arn}-??????"
    )
