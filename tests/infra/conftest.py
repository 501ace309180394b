"""Synthesized apps shared by the CDK tests: each synth takes seconds, so one each.

``rich_app`` synthesizes a fleet that uses every option (two instance regions, one
of them large enough for two rules, an imported and a created Prefect secret,
extra alarms, secrets named in the fleet, a worker role, two more accounts) while
fake credentials sit in the environment. ``default_app`` synthesizes the example
fleet with nothing but the Prefect API address. Both run without AWS credentials.
"""

from __future__ import annotations

import os

import pytest

from tests.infra.synthesized import (
    CREDENTIAL_VARIABLES,
    PREFECT_API_URL,
    RICH_CONTEXT,
    SENTINEL,
    SynthesizedApp,
    rich_fleet_text,
    synthesize,
)


@pytest.fixture(scope="session")
def rich_app(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    root = tmp_path_factory.mktemp("rich-app")
    fleet_path = root / "fleet.yaml"
    fleet_path.write_text(rich_fleet_text())

    saved = {name: os.environ.get(name) for name in CREDENTIAL_VARIABLES}
    os.environ.update({name: SENTINEL for name in CREDENTIAL_VARIABLES})
    try:
        return synthesize(
            root / "cdk.out", {**RICH_CONTEXT, "fleet": str(fleet_path)}, os.environ
        )
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="session")
def default_app(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    root = tmp_path_factory.mktemp("default-app")
    return synthesize(root / "cdk.out", {"prefect_api_url": PREFECT_API_URL}, {})
