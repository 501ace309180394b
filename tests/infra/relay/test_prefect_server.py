"""The relay against a real Prefect server (``prefect server start``, SQLite)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from infra.relay import handler as handler_module
from infra.relay.handler import handler
from tests.infra.relay.conftest import load_event

STARTUP_TIMEOUT_SECONDS = 120.0
READ_BACK_TIMEOUT_SECONDS = 30.0
POLL_INTERVAL_SECONDS = 0.2
PREFECT = Path(sys.executable).with_name("prefect")

T = TypeVar("T")


def _free_port() -> int:
    # Prefect takes a port number, not port 0; the one the kernel picked is free
    # again once this socket closes, and another process might take it first.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _server_environment(home: Path) -> dict[str, str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("PREFECT_")
    }
    environment.update(
        {
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_HOME": str(home),
            "PREFECT_API_DATABASE_CONNECTION_URL": (
                f"sqlite+aiosqlite:///{home / 'prefect.db'}"
            ),
            "PREFECT_UI_ENABLED": "false",
            "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
            "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false",
            "PREFECT_SERVER_SERVICES_FOREMAN_ENABLED": "false",
            "PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_ENABLED": "false",
            "PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_ENABLED": "false",
            "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "0.2",
        }
    )
    return environment


def _wait_for(
    condition: Callable[[], T | None], timeout_seconds: float, what: str
) -> T:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        result = condition()
        if result is not None:
            return result
        time.sleep(POLL_INTERVAL_SECONDS)
    raise AssertionError(f"{what} within {timeout_seconds:.0f} s")


def _is_healthy(
    api_url: str, process: subprocess.Popen[bytes], log: Path
) -> bool | None:
    if process.poll() is not None:
        raise AssertionError(f"prefect server exited early:\n{log.read_text()[-3000:]}")
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return True if response.status == 200 else None
    except (urllib.error.URLError, OSError):
        return None


def _stop(process: subprocess.Popen[bytes]) -> None:
    # The server was started in a session of its own; its group is only its processes.
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def prefect_api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("prefect-server")
    log = home / "server.log"
    api_url = f"http://127.0.0.1:{_free_port()}/api"
    port = api_url.rsplit(":", 1)[1].split("/")[0]
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", port],
            env=_server_environment(home),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for(
            lambda: _is_healthy(api_url, process, log),
            STARTUP_TIMEOUT_SECONDS,
            "the Prefect server did not answer /api/health",
        )
        yield api_url
    finally:
        _stop(process)


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
        _wait_for(
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
