"""infra/synth.sh end to end: the pinned CDK CLI, no credentials, no lookups."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.infra.synthesized import PREFECT_API_URL, SynthesizedApp

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_STACKS = {
    "firstline-ap-southeast-2",
    "firstline-eu-west-1",
    "firstline-us-east-1",
    "firstline-workers",
}


def without_paths(template: dict[str, Any]) -> dict[str, Any]:
    """The template less the construct paths the CLI asks the app to record."""
    resources = {
        logical_id: {k: v for k, v in resource.items() if k != "Metadata"}
        for logical_id, resource in template["Resources"].items()
    }
    return {**template, "Resources": resources}


class TestSynthScript:
    def test_script_synthesizes_the_example_fleet_as_the_tests_do(
        self, tmp_path: Path, default_app: SynthesizedApp
    ) -> None:
        out = tmp_path / "cdk.out"
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AWS_", "CDK_")) and key != "FIRSTLINE_FLEET_FILE"
        }
        environment.update(
            FIRSTLINE_CDK_OUT=str(out),
            FIRSTLINE_PREFECT_API_URL=PREFECT_API_URL,
            # Any call to AWS would fail fast instead of finding credentials.
            AWS_CONFIG_FILE=str(tmp_path / "no-aws-config"),
            AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-aws-credentials"),
            AWS_EC2_METADATA_DISABLED="true",
        )

        result = subprocess.run(
            ["bash", str(REPO / "infra" / "synth.sh")],
            capture_output=True,
            text=True,
            env=environment,
            timeout=600,
            check=False,
        )

        assert result.returncode == 0, result.stdout + result.stderr
        written = {
            p.name.removesuffix(".template.json") for p in out.glob("*.template.json")
        }
        assert written == EXAMPLE_STACKS
        for stack in EXAMPLE_STACKS:
            template = json.loads((out / f"{stack}.template.json").read_text())
            assert without_paths(template) == default_app.templates[stack], stack
