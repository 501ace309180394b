from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.relay.alarm import AlarmFired, read_alarm_event
from infra.relay.config import RetryPolicy
from infra.relay.errors import PrefectRejected, PrefectUnavailable
from infra.relay.flow_runs import (
    DeploymentRuns,
    FlowRunCreated,
    build_flow_run_request,
    idempotency_key,
)
from infra.relay.prefect_event import build_prefect_event, prefect_event_id
from infra.relay.secret import Credential
from tests.infra.relay.conftest import SleepRecorder, load_event
from tests.infra.relay.stub_api import (
    DEPLOYMENT_ID,
    FLOW_RUN_ID,
    Reply,
    StubPrefectApi,
    deployment_reply,
    flow_run_reply,
    running_stub_api,
)

PREFECT_FILE = Path(__file__).resolve().parents[3] / "deployments" / "prefect.yaml"
PAYLOAD_FIELD = re.compile(r"\{\{\s*event\.payload\.([a-z_]+)\s*\}\}")
FAST = RetryPolicy(max_attempts=3, timeout_seconds=1.0, backoff_seconds=0.5)
DEPLOYMENT = "remediate-instance/on-alarm"
LOOKUP_PATH = "/api/deployments/name/remediate-instance/on-alarm"
OTHER_DEPLOYMENT_ID = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"


def _fired(name: str = "metric_alarm") -> AlarmFired:
    alarm = read_alarm_event(load_event(name))
    assert isinstance(alarm, AlarmFired)
    return alarm


def _runs(
    stub: StubPrefectApi,
    deployment: str = DEPLOYMENT,
    sleep: SleepRecorder | None = None,
) -> DeploymentRuns:
    return DeploymentRuns(
        stub.api_url, deployment, FAST, sleep=sleep if sleep else SleepRecorder()
    )


def _create_path(deployment_id: str = DEPLOYMENT_ID) -> str:
    return f"/api/deployments/{deployment_id}/create_flow_run"


def _calls(stub: StubPrefectApi) -> list[tuple[str, str]]:
    return [(request.method, request.path) for request in stub.requests]


def _rendered(template: Any, payload: dict[str, Any]) -> Any:
    """``template`` with each ``{{ event.payload.<field> }}`` replaced, as the
    trigger's only kind of placeholder, by the payload's value."""
    if isinstance(template, dict):
        return {key: _rendered(value, payload) for key, value in template.items()}
    match = PAYLOAD_FIELD.fullmatch(template)
    assert match is not None, template
    return payload[match.group(1)]


class TestBuildFlowRunRequest:
    @pytest.mark.parametrize("name", ["metric_alarm", "metric_math_alarm"])
    def test_parameters_are_those_the_trigger_renders_from_the_event(
        self, name: str
    ) -> None:
        alarm = _fired(name)
        (deployment,) = yaml.safe_load(PREFECT_FILE.read_text())["deployments"]
        (trigger,) = deployment["triggers"]
        payload = build_prefect_event(alarm)["payload"]
        assert isinstance(payload, dict)

        request = build_flow_run_request(alarm)

        assert request["parameters"] == _rendered(trigger["parameters"], payload)

    def test_idempotency_key_and_tags_come_from_the_event(self) -> None:
        alarm = _fired()

        request = build_flow_run_request(alarm)

        assert set(request) == {"parameters", "idempotency_key", "tags"}
        assert request["idempotency_key"] == "firstline-alarm-" + str(
            prefect_event_id(alarm.eventbridge_event_id)
        )
        assert request["tags"] == ["i-0a1b2c3d4e5f60718", "eu-west-1"]
        assert idempotency_key("another-event") != request["idempotency_key"]


class TestDeploymentRuns:
    def test_first_alarm_looks_the_deployment_up_then_creates_its_run(
        self, stub_api: StubPrefectApi
    ) -> None:
        stub_api.reply_with(deployment_reply(), flow_run_reply(201))
        alarm = _fired()

        created = _runs(stub_api).create_run(alarm, None)

        assert created == FlowRunCreated(FLOW_RUN_ID, False, DEPLOYMENT_ID, 2)
        assert _calls(stub_api) == [("GET", LOOKUP_PATH), ("POST", _create_path())]
        assert json.loads(stub_api.requests[1].body) == build_flow_run_request(alarm)
        assert stub_api.requests[1].headers["content-type"] == "application/json"

    def test_deployment_is_looked_up_once_for_many_alarms(
        self, stub_api: StubPrefectApi
    ) -> None:
        stub_api.reply_with(deployment_reply(), flow_run_reply(201), flow_run_reply())
        runs = _runs(stub_api)

        runs.create_run(_fired("metric_alarm"), None)
        created = runs.create_run(_fired("metric_math_alarm"), None)

        assert created.attempts == 1
        assert [method for method, _ in _calls(stub_api)] == ["GET", "POST", "POST"]

    def test_redelivered_event_finds_the_run_already_created(
        self, stub_api: StubPrefectApi
    ) -> None:
        stub_api.reply_with(
            deployment_reply(), flow_run_reply(201), flow_run_reply(200)
        )
        runs = _runs(stub_api)

        first = runs.create_run(_fired(), None)
        second = runs.create_run(_fired(), None)

        assert (first.already_created, second.already_created) == (False, True)
        assert first.flow_run_id == second.flow_run_id == FLOW_RUN_ID
        assert stub_api.requests[1].body == stub_api.requests[2].body

    def test_names_are_quoted_in_the_lookup_url(self, stub_api: StubPrefectApi) -> None:
        stub_api.reply_with(deployment_reply(), flow_run_reply())

        _runs(stub_api, "flow#1/dép?x").create_run(_fired(), None)

        assert (
            stub_api.requests[0].path == "/api/deployments/name/flow%231/d%C3%A9p%3Fx"
        )

    def test_unknown_deployment_says_how_to_apply_it(
        self, stub_api: StubPrefectApi
    ) -> None:
        stub_api.reply_with(Reply.json(404, {"detail": "Deployment not found"}))

        with pytest.raises(PrefectRejected) as raised:
            _runs(stub_api).create_run(_fired(), None)

        message = str(raised.value)
        assert raised.value.status_code == 404
        assert f"has no deployment {DEPLOYMENT!r}" in message
        assert "Deployment not found" in message
        assert "prefect deploy --prefect-file deployments/prefect.yaml" in message
        assert "--name on-alarm" in message
        assert "python -m deployments.serve" in message
        assert "correct FIRSTLINE_PREFECT_DEPLOYMENT" in message
        assert _calls(stub_api) == [("GET", LOOKUP_PATH)]

    def test_deployment_gone_since_the_lookup_is_looked_up_again_once(
        self, stub_api: StubPrefectApi
    ) -> None:
        stub_api.reply_with(
            deployment_reply(),
            flow_run_reply(201),
            Reply.json(404, {"detail": "Deployment not found"}),
            deployment_reply(OTHER_DEPLOYMENT_ID),
            flow_run_reply(201),
        )
        runs = _runs(stub_api)
        runs.create_run(_fired("metric_alarm"), None)

        created = runs.create_run(_fired("metric_math_alarm"), None)

        assert created.deployment_id == OTHER_DEPLOYMENT_ID
        assert created.attempts == 3
        assert _calls(stub_api)[2:] == [
            ("POST", _create_path()),
            ("GET", LOOKUP_PATH),
            ("POST", _create_path(OTHER_DEPLOYMENT_ID)),
        ]
        assert stub_api.requests[2].body == stub_api.requests[4].body

    def test_deployment_lost_twice_raises_and_is_looked_up_afresh_next_time(
        self, stub_api: StubPrefectApi
    ) -> None:
        stub_api.reply_with(
            deployment_reply(),
            Reply(404),
            deployment_reply(),
            Reply(404),
            deployment_reply(OTHER_DEPLOYMENT_ID),
            flow_run_reply(201),
        )
        runs = _runs(stub_api)

        with pytest.raises(PrefectRejected, match="lost deployment") as raised:
            runs.create_run(_fired(), None)
        created = runs.create_run(_fired(), None)

        assert raised.value.status_code == 404
        assert "FIRSTLINE_PREFECT_DEPLOYMENT" in str(raised.value)
        assert created.deployment_id == OTHER_DEPLOYMENT_ID
        assert [method for method, _ in _calls(stub_api)] == ["GET", "POST"] * 3

    def test_503_is_retried_with_backoff_under_the_same_idempotency_key(
        self, stub_api: StubPrefectApi
    ) -> None:
        stub_api.reply_with(
            Reply(503), deployment_reply(), Reply(503), Reply(503), flow_run_reply()
        )
        sleep = SleepRecorder()

        created = _runs(stub_api, sleep=sleep).create_run(_fired(), None)

        assert created.flow_run_id == FLOW_RUN_ID
        assert created.attempts == 5
        assert sleep.waits == [0.5, 0.5, 1.0]
        bodies = {request.body for request in stub_api.requests[2:]}
        assert len(bodies) == 1

    def test_429_waits_as_long_as_retry_after_asks(
        self, stub_api: StubPrefectApi
    ) -> None:
        stub_api.reply_with(
            deployment_reply(),
            Reply(429, headers=(("Retry-After", "2"),)),
            flow_run_reply(),
        )
        sleep = SleepRecorder()

        _runs(stub_api, sleep=sleep).create_run(_fired(), None)

        assert sleep.waits == [2.0]

    def test_api_that_stays_unavailable_raises_unavailable(
        self, stub_api: StubPrefectApi
    ) -> None:
        stub_api.reply_with(*[Reply(503, body=b"database is locked")] * 3)

        with pytest.raises(PrefectUnavailable) as raised:
            _runs(stub_api).create_run(_fired(), None)

        assert f"did not answer GET {stub_api.api_url}{LOOKUP_PATH[4:]}" in str(
            raised.value
        )
        assert "HTTP 503 database is locked" in str(raised.value)

    @pytest.mark.parametrize(
        "reply",
        [
            Reply(201),
            Reply(201, body=b"<html>created</html>"),
            Reply.json(201, {"name": "brave-otter"}),
            Reply.json(201, {"id": "not-a-uuid"}),
            Reply.json(201, {"id": 7}),
            Reply.json(201, [FLOW_RUN_ID]),
        ],
    )
    def test_2xx_without_a_flow_run_id_is_refused(
        self, stub_api: StubPrefectApi, reply: Reply
    ) -> None:
        stub_api.reply_with(deployment_reply(), reply)

        with pytest.raises(PrefectRejected, match="without a flow run id") as raised:
            _runs(stub_api).create_run(_fired(), None)

        assert raised.value.status_code == 201

    def test_lookup_without_a_deployment_id_is_refused(
        self, stub_api: StubPrefectApi
    ) -> None:
        stub_api.reply_with(Reply.json(200, {"detail": "hello from a proxy"}))

        with pytest.raises(PrefectRejected, match="without a deployment id") as raised:
            _runs(stub_api).create_run(_fired(), None)

        assert "hello from a proxy" in str(raised.value)

    def test_2xx_other_than_created_or_found_is_refused(
        self, stub_api: StubPrefectApi
    ) -> None:
        stub_api.reply_with(deployment_reply(), Reply.json(202, {"id": FLOW_RUN_ID}))

        with pytest.raises(PrefectRejected, match="expected 201"):
            _runs(stub_api).create_run(_fired(), None)

    @pytest.mark.parametrize("refused_request", ["lookup", "create"])
    def test_redirect_is_not_followed_with_the_credential(
        self, stub_api: StubPrefectApi, refused_request: str
    ) -> None:
        credential = Credential.from_api_key("pnu_abc123")
        with running_stub_api() as elsewhere:
            redirect = Reply(307, headers=(("Location", elsewhere.api_url),))
            before = [deployment_reply()] if refused_request == "create" else []
            stub_api.reply_with(*before, redirect)

            with pytest.raises(PrefectRejected, match="redirects to") as raised:
                _runs(stub_api).create_run(_fired(), credential)

            assert elsewhere.requests == []
        assert raised.value.status_code == 307

    def test_credential_goes_with_both_requests(self, stub_api: StubPrefectApi) -> None:
        stub_api.reply_with(deployment_reply(), flow_run_reply())

        _runs(stub_api).create_run(_fired(), Credential.from_api_key("pnu_k"))

        assert [r.headers["authorization"] for r in stub_api.requests] == [
            "Bearer pnu_k"
        ] * 2

    @pytest.mark.parametrize("status", [401, 403])
    def test_refused_credential_raises_at_once_with_its_status(
        self, stub_api: StubPrefectApi, status: int
    ) -> None:
        stub_api.reply_with(deployment_reply(), Reply(status))

        with pytest.raises(PrefectRejected, match="refused the relay's credential"):
            _runs(stub_api).create_run(_fired(), Credential.from_api_key("pnu_k"))

        assert len(stub_api.requests) == 2
