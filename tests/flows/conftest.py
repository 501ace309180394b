"""A sandbox region and helpers for running the flow in-process."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from firstline.fleet import merge
from firstline.models import IncidentReport
from flows.remediate import remediate_instance
from sandbox import Sandbox, SandboxInstance
from sandbox.fleetfile import write_fleet_file
from tasks.aws import clear_aws_clients

# Seconds in the sandbox's clock: a 600 s window lasts 6 s at time_scale 0.01.
FAST: dict[str, Any] = {
    "checks": {"url": {"timeout_seconds": 0.5}, "ssh": {"timeout_seconds": 0.5}},
    "recovery": {
        "window_seconds": 6,
        "check_interval_seconds": 0.3,
        "ready_poll_interval_seconds": 0.1,
    },
    # Tests put many instances of one region in trouble within minutes; the
    # breaker and the budget have tests of their own.
    "guards": {
        "breaker": {"enabled": False},
        "reboot_budgets": [{"max_reboots": 20, "window_seconds": 60}],
    },
}


@pytest.fixture(scope="session")
def region(prefect_harness: None) -> Iterator[Sandbox]:
    with Sandbox(
        regions=("eu-west-1", "us-east-1", "ap-south-1", "sa-east-1"), time_scale=0.01
    ) as sb:
        yield sb


@pytest.fixture(autouse=True)
def aws_env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if "region" not in request.fixturenames:
        return
    sb: Sandbox = request.getfixturevalue("region")
    for name, value in sb.aws_env().items():
        monkeypatch.setenv(name, value)
    clear_aws_clients()


def fleet_file(
    sb: Sandbox,
    tmp_path: Path,
    defaults: Mapping[str, Any] | None = None,
    instances: list[SandboxInstance] | None = None,
) -> Path:
    return write_fleet_file(
        tmp_path / "fleet.yaml",
        sb.instances if instances is None else instances,
        defaults=merge(FAST, defaults or {}),
    )


def run(
    sb: Sandbox,
    instance: SandboxInstance,
    tmp_path: Path,
    defaults: Mapping[str, Any] | None = None,
    **params: Any,
) -> tuple[Any, IncidentReport]:
    """Run the flow for one sandbox instance; return its state and report."""
    fleet = fleet_file(sb, tmp_path, defaults)
    state = remediate_instance(
        instance_id=instance.instance_id,
        region=instance.region,
        fleet_file=str(fleet),
        return_state=True,
        **params,
    )
    report = state.result()
    assert isinstance(report, IncidentReport)
    return state, report


def reboot_count(sb: Sandbox, instance: SandboxInstance) -> int:
    return len(sb.reboots(instance.instance_id))
