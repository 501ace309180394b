"""The fleets and contexts the CDK tests synthesize, and how to read the result.

aws_cdk is imported inside ``synthesize``, so that the relay's tests, which share
this folder's conftest, do not pay for it.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ACCOUNT = "111111111111"
OTHER_ACCOUNTS = ("222222222222", "333333333333")
PREFECT_API_URL = "https://api.prefect.cloud/api/accounts/a1/workspaces/w1"
PREFECT_DEPLOYMENT = "remediate-instance/on-alarm-staging"
IMPORTED_SECRET_ARN = (
    "arn:aws:secretsmanager:us-east-2:111111111111:secret:firstline/prefect-AbCdEf"
)
SSH_KEY_SECRET_ARN = (
    "arn:aws:secretsmanager:eu-west-1:111111111111:secret:firstline/ssh-key-Zy12Xw"
)
LARGE_REGION_INSTANCES = 60
SENTINEL = f"sentinel-credential-{uuid.uuid4().hex}"
# Where a careless app could pick a credential up: the environment of the synth.
CREDENTIAL_VARIABLES = (
    "PREFECT_API_KEY",
    "PREFECT_API_AUTH_STRING",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "SLACK_BOT_TOKEN",
)

RICH_FLEET = """\
defaults:
  notify:
    slack:
      enabled: true
      channel: "#ops"
      token: {aws_secret: firstline/slack-token}
    pager:
      kind: opsgenie
      key: {prefect_secret: opsgenie-key}
regions:
  eu-west-1:
    instances:
      - id: i-0a1b2c3d4e5f60718
        name: web-1
        alarms:
          cpu_threshold_percent: 90
          period_seconds: 60
          evaluation_periods: 3
          treat_missing_data: breaching
          extra:
            - {metric_name: StatusCheckFailed, threshold: 1, period_seconds: 60}
            - metric_name: StatusCheckFailed
              statistic: Sum
              threshold: 3
              comparison: GreaterThanThreshold
              period_seconds: 300
              evaluation_periods: 2
      - id: i-0a1b2c3d
        name: web-2
        checks:
          ssh:
            auth:
              username: ec2-user
              private_key: {aws_secret: "%(ssh_key_arn)s"}
              known_host_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeHostKey"]
  ap-south-1:
    defaults:
      recovery: {window_seconds: 300}
  us-east-2:
    defaults:
      notify:
        slack: {token: {aws_secret: firstline/slack-token-us, aws_region: us-west-2}}
    instances:
%(large_region)s
"""


def large_region_ids() -> list[str]:
    return [f"i-{number:017x}" for number in range(1, LARGE_REGION_INSTANCES + 1)]


def rich_fleet_text() -> str:
    entries = "\n".join(f"      - {instance_id}" for instance_id in large_region_ids())
    return RICH_FLEET % {"ssh_key_arn": SSH_KEY_SECRET_ARN, "large_region": entries}


RICH_CONTEXT: dict[str, Any] = {
    "account": ACCOUNT,
    "prefect_api_url": PREFECT_API_URL,
    "prefect_secret_arn": {"us-east-2": IMPORTED_SECRET_ARN},
    "prefect_deployment": PREFECT_DEPLOYMENT,
    "relay_max_event_age_seconds": "1800",
    "log_retention_days": "14",
    "worker_role": "true",
    "fleet_accounts": ",".join(OTHER_ACCOUNTS),
}


@dataclass(frozen=True)
class SynthesizedApp:
    """An app synthesized to ``outdir``, with its templates by stack name."""

    outdir: Path
    templates: Mapping[str, dict[str, Any]]
    assertions: Mapping[str, Any]  # stack name -> aws_cdk.assertions.Template

    def resources(self, stack: str, resource_type: str) -> dict[str, Any]:
        return {
            logical_id: resource
            for logical_id, resource in self.templates[stack]["Resources"].items()
            if resource["Type"] == resource_type
        }


def synthesize(
    outdir: Path, context: Mapping[str, Any], environ: Mapping[str, str]
) -> SynthesizedApp:
    """Build and synthesize the app for ``context``, as ``cdk synth`` would."""
    # Node 20 is past its end of life for jsii, which would say so on every start.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from infra.build import build_app, load_settings
    from infra.config import INFRA_DIR

    # As the CLI does: cdk.json's context (feature flags included) under the test's.
    cdk_json = json.loads((INFRA_DIR / "cdk.json").read_text())
    context = {**cdk_json.get("context", {}), **context}
    config, fleet = load_settings(context.get, environ)
    app = cdk.App(outdir=str(outdir), context=context)
    stacks = build_app(app, config, fleet)
    app.synth()
    templates = {
        stack.stack_name: json.loads(
            (outdir / f"{stack.artifact_id}.template.json").read_text()
        )
        for stack in stacks
    }
    assertions = {stack.stack_name: Template.from_stack(stack) for stack in stacks}
    return SynthesizedApp(outdir=outdir, templates=templates, assertions=assertions)


def properties_without_tags(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource["Properties"].items() if k != "Tags"}


def only(app: SynthesizedApp, stack: str, resource_type: str) -> tuple[str, Any]:
    """The logical id and body of the one resource of ``resource_type``."""
    (item,) = app.resources(stack, resource_type).items()
    return item


def queue_id(app: SynthesizedApp, stack: str, prefix: str) -> str:
    """The logical id of the queue whose id starts with ``prefix``."""
    (found,) = [
        k for k in app.resources(stack, "AWS::SQS::Queue") if k.startswith(prefix)
    ]
    return found


def get_att(logical_id: str, attribute: str = "Arn") -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id, attribute]}
