"""The relay against a real Prefect server (``prefect server start``, SQLite)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.relay import handler as handler_module
from infra.relay.handler import handler
from tests.infra.relay.conftest import load_event
from tests.prefect_server import running_prefect_server, wait_for

READ_BACK_TIMEOUT_SECONDS = 30.0


@pytest.fixture(scope="module")
def prefect_api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_prefect_server(tmp_path_factory.mktemp("prefect-server")) as server:
        yield server.api_url


def _read_events(api_url: str, event_filter: dict[str, Any]) -> list[dict[str, Any]]:
    request = urllib.request.Request(
        f"{api_url}/events/filter",
        data=json.dumps({"filter": event_filter, "limit": 50}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        events: list[dict[str, Any]] = json.load(response)["events"]
        return events


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
        self, prefect_api_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        handler_module._relay_for.cache_clear()
        monkeypatch.setenv("PREFECT_API_URL", prefect_api_url)
        monkeypatch.delenv("FIRSTLINE_PREFECT_SECRET_ARN", raising=False)
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
            {"resource": {"id": ["aws.ec2.instance.i-0a1b2c3d4e5f60718"]}},
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
