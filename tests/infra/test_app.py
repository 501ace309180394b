"""The app as a whole: its stacks, tags, secrets, lint, and refusal of bad fleets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from firstline import __version__
from firstline.errors import ConfigError
from infra.build import load_settings
from tests.infra.synthesized import (
    ACCOUNT,
    CREDENTIAL_VARIABLES,
    OTHER_ACCOUNTS,
    PREFECT_API_URL,
    PREFECT_DEPLOYMENT,
    SENTINEL,
    SynthesizedApp,
)

REPO = Path(__file__).resolve().parents[2]
# Resource types that CloudFormation can tag, and that the app creates.
TAGGABLE = (
    "AWS::CloudWatch::Alarm",
    "AWS::Events::Rule",
    "AWS::IAM::Role",
    "AWS::Lambda::Function",
    "AWS::Logs::LogGroup",
    "AWS::SQS::Queue",
    "AWS::SecretsManager::Secret",
)

UNKNOWN_REGION = """\
regions:
  eu-west-1:
    instances: [i-0a1b2c3d4e5f60718]
  eu-middle-9:
    instances: [i-0a1b2c3d4e5f60719]
"""
MALFORMED_ID = """\
regions:
  eu-west-1:
    instances:
      - id: i-0a1b2c3d4e5f60718
      - id: i-0A1B2C3D
"""
DUPLICATE_INSTANCE = """\
regions:
  eu-west-1:
    instances:
      - id: i-0a1b2c3d4e5f60718
  us-east-1:
    instances:
      - id: i-0123456789abcdef0
      - id: i-0a1b2c3d4e5f60718
"""
BAD_FLEETS = {
    "unknown region": (UNKNOWN_REGION, 4, "unknown region 'eu-middle-9'"),
    "malformed instance id": (MALFORMED_ID, 5, "instance id 'i-0A1B2C3D'"),
    "duplicate instance": (DUPLICATE_INSTANCE, 8, "listed twice"),
}


def environment_of(app: SynthesizedApp) -> dict[str, str]:
    manifest = json.loads((app.outdir / "manifest.json").read_text())
    return {
        name: artifact["environment"]
        for name, artifact in manifest["artifacts"].items()
        if artifact["type"] == "aws:cloudformation:stack"
    }


def cdk_free_environment() -> dict[str, str]:
    """This process's environment without AWS credentials or a default account."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "CDK_")) and key not in CREDENTIAL_VARIABLES
    }


class TestStacks:
    def test_one_stack_per_region_with_instances_and_the_worker_stacks(
        self, rich_app: SynthesizedApp
    ) -> None:
        assert environment_of(rich_app) == {
            "firstline-eu-west-1": f"aws://{ACCOUNT}/eu-west-1",
            "firstline-us-east-2": f"aws://{ACCOUNT}/us-east-2",
            "firstline-workers": f"aws://{ACCOUNT}/us-east-1",
            **{
                f"firstline-worker-access-{account}": f"aws://{account}/us-east-1"
                for account in OTHER_ACCOUNTS
            },
        }

    def test_example_fleet_leaves_the_account_to_deploy_time(
        self, default_app: SynthesizedApp
    ) -> None:
        assert environment_of(default_app) == {
            "firstline-ap-southeast-2": "aws://unknown-account/ap-southeast-2",
            "firstline-eu-west-1": "aws://unknown-account/eu-west-1",
            "firstline-us-east-1": "aws://unknown-account/us-east-1",
            "firstline-workers": "aws://unknown-account/us-east-1",
        }

    def test_example_fleet_creates_a_secret_in_every_region(
        self, default_app: SynthesizedApp
    ) -> None:
        for stack in default_app.templates:
            if stack != "firstline-workers":
                default_app.assertions[stack].resource_count_is(
                    "AWS::SecretsManager::Secret", 1
                )


class TestTags:
    def test_every_taggable_resource_carries_version_and_repository(
        self, rich_app: SynthesizedApp
    ) -> None:
        pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
        expected = [
            {
                "Key": "firstline:repository",
                "Value": pyproject["project"]["urls"]["Repository"],
            },
            {"Key": "firstline:version", "Value": __version__},
        ]
        seen = set()
        for template in rich_app.templates.values():
            for logical_id, resource in template["Resources"].items():
                if resource["Type"] in TAGGABLE:
                    seen.add(resource["Type"])
                    assert resource["Properties"]["Tags"] == expected, logical_id

        assert seen == set(TAGGABLE)


class TestSecrets:
    def test_no_credential_from_the_environment_reaches_the_assembly(
        self, rich_app: SynthesizedApp
    ) -> None:
        files = [p for p in rich_app.outdir.rglob("*") if p.is_file()]

        assert len(files) > 10
        for path in files:
            assert SENTINEL not in path.read_text(errors="replace"), path

    def test_relay_environment_holds_an_address_a_secret_reference_and_a_name(
        self, rich_app: SynthesizedApp
    ) -> None:
        functions = [
            resource
            for template in rich_app.templates.values()
            for resource in template["Resources"].values()
            if resource["Type"] == "AWS::Lambda::Function"
        ]

        assert len(functions) == 2
        for function in functions:
            variables = function["Properties"]["Environment"]["Variables"]
            assert set(variables) == {
                "PREFECT_API_URL",
                "FIRSTLINE_PREFECT_SECRET_ARN",
                "FIRSTLINE_PREFECT_DEPLOYMENT",
            }
            assert variables["PREFECT_API_URL"] == PREFECT_API_URL
            assert variables["FIRSTLINE_PREFECT_DEPLOYMENT"] == PREFECT_DEPLOYMENT
            secret = variables["FIRSTLINE_PREFECT_SECRET_ARN"]
            assert set(secret) == {"Ref"} or secret.startswith(
                "arn:aws:secretsmanager:"
            )

    def test_no_template_sets_a_secret_value(self, rich_app: SynthesizedApp) -> None:
        text = json.dumps(rich_app.templates)

        assert "SecretString" not in text
        assert "GenerateSecretString" not in text
        assert "SecretStringTemplate" not in text


class TestLint:
    def test_templates_pass_cfn_lint(
        self, rich_app: SynthesizedApp, default_app: SynthesizedApp
    ) -> None:
        templates = sorted(
            str(path)
            for app in (rich_app, default_app)
            for path in app.outdir.glob("*.template.json")
        )
        cfn_lint = Path(sys.executable).with_name("cfn-lint")

        result = subprocess.run(
            [str(cfn_lint), *templates],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

        assert len(templates) == 9
        assert result.returncode == 0, result.stdout + result.stderr


def load_bad_fleet(tmp_path: Path, text: str) -> Any:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(text)
    context = {"fleet": str(fleet), "prefect_api_url": PREFECT_API_URL}
    return load_settings(context.get, {})


class TestBadFleets:
    @pytest.mark.parametrize("case", sorted(BAD_FLEETS))
    def test_bad_fleet_is_refused_with_its_line(
        self, tmp_path: Path, case: str
    ) -> None:
        text, line, message = BAD_FLEETS[case]

        with pytest.raises(ConfigError) as raised:
            load_bad_fleet(tmp_path, text)

        assert f"fleet.yaml, line {line}:" in str(raised.value)
        assert message in str(raised.value)

    def test_synth_of_a_bad_fleet_exits_with_one_clean_message(
        self, tmp_path: Path
    ) -> None:
        fleet = tmp_path / "fleet.yaml"
        fleet.write_text(MALFORMED_ID)
        context = {"fleet": str(fleet), "prefect_api_url": PREFECT_API_URL}
        environment = {
            **cdk_free_environment(),
            "CDK_CONTEXT_JSON": json.dumps(context),
            "CDK_OUTDIR": str(tmp_path / "cdk.out"),
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        }

        result = subprocess.run(
            [sys.executable, str(REPO / "infra" / "app.py")],
            capture_output=True,
            text=True,
            env=environment,
            cwd=REPO / "infra",
            timeout=120,
            check=False,
        )

        assert result.returncode == 2
        assert result.stdout == ""
        assert result.stderr.startswith(f"firstline infra: {fleet}, line 5: ")
        assert result.stderr.count("\n") == 1, result.stderr
        assert not list((tmp_path / "cdk.out").glob("*.template.json"))
