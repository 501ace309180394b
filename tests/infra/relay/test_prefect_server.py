"""The relay against a real Prefect server (``prefect server start``, SQLite)."""

from __future__ import annotations

import dataclasses
import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from deployments.spec import apply_deployment, load_spec
from flows.remediate import remediate_instance
from infra.relay import handler as handler_module
from infra.relay.errors import PrefectRejected
from infra.relay.handler import handler
from tests.infra.relay.conftest import load_event
from tests.prefect_server import running_prefect_server, wait_for

READ_BACK_TIMEOUT_SECONDS = 30.0
INSTANCE_ID = "i-0a1b2c3d4e5f60718"
ON_ALARM = "remediate-instance/on-alarm"


@pytest.fixture(scope="module")
def prefect_api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # The embedded set-up stores no events; these tests read the stored ones.
    with running_prefect_server(
        tmp_path_factory.mktemp("prefect-server"),
        {"PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED": "true"},
    ) as server:
        yield server.api_url


@pytest.fixture(scope="module")
def on_alarm_deployment_id(prefect_api_url: str) -> str:
    """``remediate-instance/on-alarm`` applied as ``python -m deployments.serve``
    applies it, less its trigger: an event posted by another test must not start
    runs here."""
    spec = dataclasses.replace(load_spec(), trigger_specs=())
    with temporary_settings(updates={PREFECT_API_URL: prefect_api_url}):
        return str(apply_deployment(remediate_instance, spec))


@pytest.fixture
def relay_environment(
    prefect_api_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The handler's environment for the server, posting events, from a cold start."""
    monkeypatch.setenv("PREFECT_API_URL", prefect_api_url)
    monkeypatch.delenv("FIRSTLINE_PREFECT_SECRET_ARN", raising=False)
    monkeypatch.delenv("FIRSTLINE_PREFECT_DEPLOYMENT", raising=False)
    handler_module._relay_for.cache_clear()
    yield prefect_api_url
    handler_module._relay_for.cache_clear()


def _call(api_url: str, path: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        f"{api_url}/{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def _read_events(api_url: str, event_filter: dict[str, Any]) -> list[dict[str, Any]]:
    found = _call(api_url, "events/filter", {"filter": event_filter, "limit": 50})
    events: list[dict[str, Any]] = found["events"]
    return events


def _runs_for_alarm(
    api_url: str, deployment_id: str, eventbridge_event_id: str
) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = _call(
        api_url,
        "flow_runs/filter",
        {"deployments": {"id": {"any_": [deployment_id]}}, "limit": 200},
    )
    return [
        run
        for run in runs
        if (run["parameters"].get("alarm") or {}).get("event_id")
        == eventbridge_event_id
    ]


def _recent_alarm(event_id: str) -> dict[str, Any]:
    event = load_event("metric_alarm")
    fired_at = datetime.now(UTC) - timedelta(minutes=1)
    event["id"] = event_id
    event["time"] = fired_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    event["detail"]["state"]["timestamp"] = (
        fired_at.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{fired_at.microsecond // 1000:03d}+0000"
    )
    return event


class TestRealPrefectServer:
    def test_posted_alarm_is_stored_once_under_its_derived_id(
        self, relay_environment: str
    ) -> None:
        prefect_api_url = relay_environment
        alarm = _recent_alarm("1c7d3e5a-9b2f-4d6e-8a0c-5e7f9b1d3a24")

        first = handler(alarm, None)
        second = handler(alarm, None)
        marker = handler(_recent_alarm("2d8e4f6b-ac30-4e7f-9b1d-6f80ac2e4b35"), None)

        assert first["decision"] == second["decision"] == "posted"
        assert first["prefect_event_id"] == second["prefect_event_id"]
        # Events are stored in the order received: once the marker is stored, so is
        # whatever the server made of the second post.
        wait_for(
            lambda: (
                _read_events(
                    prefect_api_url, {"id": {"id": [marker["prefect_event_id"]]}}
                )
                or None
            ),
            READ_BACK_TIMEOUT_SECONDS,
            "the marker event was not stored",
        )
        stored = _read_events(
            prefect_api_url,
            {"resource": {"id": [f"aws.ec2.instance.{INSTANCE_ID}"]}},
        )
        assert len(stored) == 2
        assert {event["id"] for event in stored} == {
            first["prefect_event_id"],
            marker["prefect_event_id"],
        }

        (event,) = [e for e in stored if e["id"] == first["prefect_event_id"]]
        assert event["event"] == "firstline.alarm.fired"
        assert event["resource"]["aws.region"] == "eu-west-1"
        assert event["resource"]["aws.account-id"] == "210987654321"
        assert event["related"][0]["prefect.resource.role"] == "alarm"
        assert event["payload"]["eventbridge_event_id"] == alarm["id"]
        assert event["payload"]["alarm_name"] == "firstline-cpu-high-web-1"


class TestRealPrefectServerFlowRuns:
    @pytest.fixture
    def deployment(
        self, relay_environment: str, monkeypatch: pytest.MonkeyPatch
    ) -> str:
        """The relay told to create runs of ``on-alarm`` directly."""
        monkeypatch.setenv("FIRSTLINE_PREFECT_DEPLOYMENT", ON_ALARM)
        return ON_ALARM

    def test_alarm_becomes_one_run_with_the_parameters_the_trigger_would_give(
        self, relay_environment: str, on_alarm_deployment_id: str, deployment: str
    ) -> None:
        alarm = _recent_alarm("3e9f5a7c-bd41-4f80-8c2e-7a91bd3f5c46")

        result = handler(alarm, None)

        (run,) = _runs_for_alarm(relay_environment, on_alarm_deployment_id, alarm["id"])
        assert result["decision"] == "posted"
        assert result["delivery"] == "flow-run"
        assert result["flow_run_id"] == run["id"]
        assert result["already_created"] is False
        state = alarm["detail"]["state"]
        assert run["parameters"] == {
            "instance_id": INSTANCE_ID,
            "region": "eu-west-1",
            "dry_run": False,
            "alarm": {
                "alarm_name": "firstline-cpu-high-web-1",
                "alarm_arn": alarm["resources"][0],
                "state_timestamp": datetime.strptime(
                    state["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z"
                ).isoformat(),
                "reason": state["reason"],
                "account": "210987654321",
                "event_id": alarm["id"],
            },
        }
        assert sorted(run["tags"]) == sorted(["firstline", INSTANCE_ID, "eu-west-1"])
        assert run["idempotency_key"] == (
            f"firstline-alarm-{result['prefect_event_id']}"
        )
        assert run["state_type"] == "SCHEDULED"

    def test_redelivered_event_returns_the_same_run_and_makes_no_second(
        self, relay_environment: str, on_alarm_deployment_id: str, deployment: str
    ) -> None:
        alarm = _recent_alarm("4fa06b8d-ce52-4091-9d3f-8ba2ce406d57")

        first = handler(alarm, None)
        # EventBridge may redeliver to another execution environment.
        handler_module._relay_for.cache_clear()
        second = handler(alarm, None)

        runs = _runs_for_alarm(relay_environment, on_alarm_deployment_id, alarm["id"])
        assert [run["id"] for run in runs] == [first["flow_run_id"]]
        assert second["flow_run_id"] == first["flow_run_id"]
        assert (first["already_created"], second["already_created"]) == (False, True)

    def test_unknown_deployment_says_how_to_apply_it_and_creates_nothing(
        self,
        relay_environment: str,
        on_alarm_deployment_id: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setenv(
            "FIRSTLINE_PREFECT_DEPLOYMENT", "remediate-instance/no-such-deployment"
        )
        before = _call(relay_environment, "flow_runs/count", {})

        with pytest.raises(PrefectRejected) as raised:
            handler(_recent_alarm("5ab17c9e-df63-41a2-8e4a-9cb3df517e68"), None)

        message = str(raised.value)
        assert raised.value.status_code == 404
        assert "has no deployment 'remediate-instance/no-such-deployment'" in message
        assert "prefect deploy --prefect-file deployments/prefect.yaml" in message
        assert _call(relay_environment, "flow_runs/count", {}) == before
