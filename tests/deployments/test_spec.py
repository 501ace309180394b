"""prefect.yaml read by Prefect's own models, and by ``deployments.spec``."""

from __future__ import annotations

import dataclasses
import inspect
import io
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.cli.deploy._config import _load_deploy_configs_and_actions
from prefect.events.schemas.automations import Automation, Posture
from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger
from prefect.events.schemas.events import ResourceSpecification
from prefect.server.events.actions import RunDeployment
from rich.console import Console

from deployments.alarm_events import cpu_alarm_event
from deployments.spec import PREFECT_FILE, load_spec
from firstline.demo.services import prefect_environment
from firstline.errors import ConfigError
from firstline.models import AlarmContext
from flows.remediate import remediate_instance
from infra.relay.alarm import AlarmFired
from infra.relay.prefect_event import build_prefect_event
from tests.deployments.serving import (
    REPOSITORY,
    ApiReader,
    Fleet,
    RelayHandler,
    Runners,
)
from tests.prefect_server import PrefectServer

PAYLOAD_FIELD = re.compile(r"\{\{\s*event\.payload\.([a-z_]+)\s*\}\}")


def _relay_payload() -> dict[str, object]:
    alarm = AlarmFired(
        eventbridge_event_id=str(uuid.uuid4()),
        alarm_name="firstline-cpu-high-web-1",
        alarm_arn="arn:aws:cloudwatch:eu-west-1:210987654321:alarm:firstline-cpu-high-web-1",
        state_value="ALARM",
        state_reason="Threshold Crossed",
        state_timestamp=datetime.now(UTC) - timedelta(minutes=1),
        instance_id="i-0a1b2c3d4e5f60718",
        region="eu-west-1",
        account_id="210987654321",
    )
    payload = build_prefect_event(alarm)["payload"]
    assert isinstance(payload, dict)
    return payload


def _without_ids(automation: Automation) -> dict[str, Any]:
    return {
        "trigger": automation.trigger.model_dump(exclude={"id"}),
        "actions": [action.model_dump() for action in automation.actions],
    }


def _the_trigger() -> DeploymentEventTrigger:
    (trigger,) = load_spec().triggers()
    assert isinstance(trigger, DeploymentEventTrigger)
    return trigger


class TestPrefectFile:
    def test_prefect_deploy_reads_it_without_a_complaint(self) -> None:
        shown = io.StringIO()

        configs, actions = _load_deploy_configs_and_actions(
            PREFECT_FILE, console=Console(file=shown)
        )

        assert shown.getvalue() == ""
        (config,) = configs
        assert config["name"] == "on-alarm"
        assert config["entrypoint"] == "flows/remediate.py:remediate_instance"
        assert config["work_pool"]["name"] == "firstline"
        assert len(config["triggers"]) == 1
        assert actions["pull"] is None

    def test_its_entrypoint_names_the_remediation_flow(self) -> None:
        spec = load_spec()
        path, function = spec.entrypoint.split(":")

        assert function == remediate_instance.fn.__name__
        assert Path(inspect.getfile(remediate_instance.fn)).samefile(
            PREFECT_FILE.parent.parent / path
        )


class TestTrigger:
    def test_it_reacts_to_each_alarm_the_relay_posts(self) -> None:
        trigger = _the_trigger()

        assert trigger.name == "firstline-alarm-fired"
        assert trigger.expect == {"firstline.alarm.fired"}
        assert trigger.match == ResourceSpecification(
            {"prefect.resource.id": "aws.ec2.instance.*"}
        )
        assert trigger.posture is Posture.Reactive
        assert trigger.threshold == 1
        assert trigger.within == timedelta(0)
        assert trigger.enabled

    def test_it_fills_flow_parameters_from_fields_the_relay_sends(self) -> None:
        trigger = _the_trigger()
        parameters = trigger.parameters or {}
        templates = yaml.safe_dump(parameters)

        assert set(parameters) <= set(
            inspect.signature(remediate_instance.fn).parameters
        )
        assert set(parameters["alarm"]) == {
            f.name for f in dataclasses.fields(AlarmContext)
        }
        assert set(PAYLOAD_FIELD.findall(templates)) <= set(_relay_payload())
        assert "{{" not in PAYLOAD_FIELD.sub("", templates)

    def test_the_server_accepts_its_templates(self) -> None:
        trigger = _the_trigger()

        action = RunDeployment(
            source="selected",
            deployment_id=uuid.uuid4(),
            parameters=trigger.parameters,
        )

        assert action.parameters == trigger.parameters

    def test_every_apply_gets_trigger_models_of_its_own(self) -> None:
        spec = load_spec()

        first, second = spec.triggers()[0], spec.triggers()[0]

        assert first is not second
        assert first == second


class TestLoadSpec:
    def test_a_file_without_the_deployment_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "prefect.yaml"
        path.write_text("deployments:\n  - name: nightly\n")

        with pytest.raises(ConfigError, match="0 deployments named 'on-alarm'"):
            load_spec(path)

    def test_a_trigger_prefect_would_refuse_is_refused(self, tmp_path: Path) -> None:
        document = yaml.safe_load(PREFECT_FILE.read_text())
        document["deployments"][0]["triggers"][0].update(posture="Proactive", within=5)
        path = tmp_path / "prefect.yaml"
        path.write_text(yaml.safe_dump(document))

        with pytest.raises(ConfigError, match="not valid for Prefect"):
            load_spec(path)

    def test_an_unreadable_file_is_named_in_the_error(self, tmp_path: Path) -> None:
        missing = tmp_path / "missing.yaml"

        with pytest.raises(ConfigError, match="missing.yaml"):
            load_spec(missing)


class TestApplyDeployment:
    def test_it_makes_the_automation_prefect_deploy_makes(
        self,
        runners: Runners,
        fleet: Fleet,
        api: ApiReader,
        relay: RelayHandler,
        prefect_server: PrefectServer,
        tmp_path: Path,
    ) -> None:
        runners.use(("fast", ()))
        applied = api.automations("firstline-alarm-fired")
        environment = prefect_environment(tmp_path)
        environment["PREFECT_API_URL"] = prefect_server.api_url
        prefect = str(Path(sys.executable).with_name("prefect"))

        for command in (
            [prefect, "work-pool", "create", "firstline", "--type", "process"],
            [
                prefect,
                "--no-prompt",
                "deploy",
                "--prefect-file",
                "deployments/prefect.yaml",
                "--name",
                "on-alarm",
            ],
        ):
            done = subprocess.run(
                command,
                cwd=REPOSITORY,
                env=environment,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, done.stdout + done.stderr
        deployed = api.automations("firstline-alarm-fired")
        web = fleet.add("deployed-1")
        event = cpu_alarm_event(web.instance_id, web.region, fleet.sandbox.account_id)
        relay(event)
        run = api.wait_for_alarm_run(event["id"], timeout_seconds=90)

        assert len(applied) == len(deployed) == 1
        assert deployed[0].id != applied[0].id
        assert _without_ids(deployed[0]) == _without_ids(applied[0])
        assert api.deployment_work_pool() == "firstline"
        assert run.state is not None and run.state.name == "Healthy"
