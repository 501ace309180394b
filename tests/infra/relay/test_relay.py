from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from infra.relay.config import RelayConfig, RetryPolicy
from infra.relay.errors import ConfigurationError, PrefectRejected, PrefectUnavailable
from infra.relay.prefect_event import prefect_event_id
from infra.relay.relay import Decision, Relay
from infra.relay.secret import Credential
from tests.infra.relay.conftest import load_event
from tests.infra.relay.stub_api import (
    DEPLOYMENT_ID,
    FLOW_RUN_ID,
    Reply,
    StubPrefectApi,
    deployment_reply,
    flow_run_reply,
)

NO_WAIT = RetryPolicy(max_attempts=2, timeout_seconds=1.0, backoff_seconds=0)


DEPLOYMENT = "remediate-instance/on-alarm"
EVENT_ID = "6f1c2b7e-0d4a-4c1e-9a53-2b8f1e7c4d90"


def _relay(stub: StubPrefectApi, deployment: str | None = None) -> Relay:
    return Relay(
        RelayConfig(prefect_api_url=stub.api_url, retry=NO_WAIT, deployment=deployment)
    )


def _log_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        json.loads(record.getMessage())
        for record in caplog.records
        if record.name == "firstline.relay"
    ]


class TestRelayHandle:
    def test_alarm_that_fired_is_posted_and_described(
        self, stub_api: StubPrefectApi
    ) -> None:
        decision = _relay(stub_api).handle(load_event("metric_alarm"))

        expected_id = str(prefect_event_id("6f1c2b7e-0d4a-4c1e-9a53-2b8f1e7c4d90"))
        assert decision == Decision(
            "posted",
            "firstline-cpu-high-web-1 entered ALARM for i-0a1b2c3d4e5f60718",
            "6f1c2b7e-0d4a-4c1e-9a53-2b8f1e7c4d90",
            expected_id,
        )
        (posted,) = json.loads(stub_api.requests[0].body)
        assert posted["id"] == expected_id
        assert posted["resource"]["prefect.resource.id"] == (
            "aws.ec2.instance.i-0a1b2c3d4e5f60718"
        )

    def test_redelivered_event_is_posted_with_the_same_id(
        self, stub_api: StubPrefectApi
    ) -> None:
        relay = _relay(stub_api)

        first = relay.handle(load_event("metric_math_alarm"))
        second = relay.handle(load_event("metric_math_alarm"))

        bodies = [request.body for request in stub_api.requests]
        assert first.prefect_event_id == second.prefect_event_id
        assert bodies[0] == bodies[1]

    @pytest.mark.parametrize(
        ("name", "decision"),
        [
            ("composite_alarm", "ignored"),
            ("metric_alarm_ok", "ignored"),
            ("metric_alarm_insufficient_data", "ignored"),
            ("metric_math_alarm_two_instances", "dropped"),
            ("malformed_unknown_region", "dropped"),
            ("malformed_configuration_change", "dropped"),
        ],
    )
    def test_events_it_does_not_act_on_post_nothing(
        self, stub_api: StubPrefectApi, name: str, decision: str
    ) -> None:
        result = _relay(stub_api).handle(load_event(name))

        assert result.decision == decision
        assert result.prefect_event_id is None
        assert stub_api.requests == []

    def test_posted_event_gives_one_json_log_line(
        self, stub_api: StubPrefectApi, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="firstline.relay")

        decision = _relay(stub_api).handle(load_event("metric_alarm"))

        (line,) = _log_lines(caplog)
        assert caplog.records[0].levelno == logging.INFO
        assert line["decision"] == "posted"
        assert line["prefect_event_id"] == decision.prefect_event_id
        assert line["eventbridge_event_id"] == "6f1c2b7e-0d4a-4c1e-9a53-2b8f1e7c4d90"
        assert line["instance_id"] == "i-0a1b2c3d4e5f60718"
        assert line["attempts"] == 1
        assert line["delivery"] == "event"
        assert line["flow_run_id"] is None
        assert line["already_created"] is None

    def test_composite_alarm_log_line_names_its_children(
        self, stub_api: StubPrefectApi, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="firstline.relay")

        _relay(stub_api).handle(load_event("composite_alarm"))

        (line,) = _log_lines(caplog)
        assert line["decision"] == "ignored"
        assert line["child_alarms"] == [
            "firstline-cpu-high-web-1",
            "firstline-status-check-web-1",
        ]

    def test_dropped_event_log_line_says_what_it_saw_and_why(
        self, stub_api: StubPrefectApi, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="firstline.relay")

        _relay(stub_api).handle(load_event("malformed_wrong_source"))

        (line,) = _log_lines(caplog)
        assert caplog.records[0].levelno == logging.WARNING
        assert line["decision"] == "dropped"
        assert line["source"] == '"aws.ec2"'
        assert line["reason"].startswith("event.source is")
        assert line["eventbridge_event_id"] == "6f422bfe-d103-4034-8ccf-e351aed06c3c"

    def test_event_that_is_not_an_object_is_dropped_and_logged(
        self, stub_api: StubPrefectApi, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="firstline.relay")

        decision = _relay(stub_api).handle(["not", "an", "event"])

        (line,) = _log_lines(caplog)
        assert decision.decision == "dropped"
        assert line["seen"] == '["not", "an", "event"]'

    def test_unreachable_api_logs_the_failure_and_raises(
        self, stub_api: StubPrefectApi, caplog: pytest.LogCaptureFixture
    ) -> None:
        stub_api.reply_with(Reply(503), Reply(503))
        caplog.set_level(logging.INFO, logger="firstline.relay")

        with pytest.raises(PrefectUnavailable):
            _relay(stub_api).handle(load_event("metric_alarm"))

        (line,) = _log_lines(caplog)
        assert line["decision"] == "failed"
        assert "in 2 attempts" in line["reason"]
        assert caplog.records[-1].levelno == logging.ERROR

    def test_explicit_api_url_and_credential_are_used(
        self, stub_api: StubPrefectApi
    ) -> None:
        relay = Relay.for_api_url(stub_api.api_url, Credential.from_api_key("pnu_k"))

        relay.handle(load_event("metric_alarm"))

        assert stub_api.requests[0].headers["authorization"] == "Bearer pnu_k"

    def test_explicit_credential_is_refused_over_clear_text_beyond_loopback(
        self,
    ) -> None:
        with pytest.raises(ConfigurationError, match="only over https"):
            Relay.for_api_url("http://10.1.2.3/api", Credential.from_api_key("pnu_k"))


class TestRelayFlowRunDelivery:
    def test_alarm_that_fired_becomes_a_flow_run_and_is_described(
        self, stub_api: StubPrefectApi
    ) -> None:
        stub_api.reply_with(deployment_reply(), flow_run_reply(201))

        decision = _relay(stub_api, DEPLOYMENT).handle(load_event("metric_alarm"))

        assert decision == Decision(
            "posted",
            "firstline-cpu-high-web-1 entered ALARM for i-0a1b2c3d4e5f60718",
            EVENT_ID,
            str(prefect_event_id(EVENT_ID)),
            delivery="flow-run",
            flow_run_id=FLOW_RUN_ID,
            already_created=False,
        )
        assert stub_api.requests[-1].path.endswith("/create_flow_run")

    def test_flow_run_gives_one_json_log_line_with_the_run_and_deployment(
        self, stub_api: StubPrefectApi, caplog: pytest.LogCaptureFixture
    ) -> None:
        stub_api.reply_with(deployment_reply(), flow_run_reply(201))
        caplog.set_level(logging.INFO, logger="firstline.relay")

        _relay(stub_api, DEPLOYMENT).handle(load_event("metric_alarm"))

        (line,) = _log_lines(caplog)
        assert caplog.records[-1].levelno == logging.INFO
        assert line["decision"] == "posted"
        assert line["delivery"] == "flow-run"
        assert line["flow_run_id"] == FLOW_RUN_ID
        assert line["already_created"] is False
        assert line["deployment"] == DEPLOYMENT
        assert line["deployment_id"] == DEPLOYMENT_ID
        assert line["attempts"] == 2
        assert line["instance_id"] == "i-0a1b2c3d4e5f60718"

    def test_redelivered_event_is_decided_as_already_created(
        self, stub_api: StubPrefectApi, caplog: pytest.LogCaptureFixture
    ) -> None:
        stub_api.reply_with(
            deployment_reply(), flow_run_reply(201), flow_run_reply(200)
        )
        relay = _relay(stub_api, DEPLOYMENT)
        caplog.set_level(logging.INFO, logger="firstline.relay")
        relay.handle(load_event("metric_alarm"))
        caplog.clear()

        decision = relay.handle(load_event("metric_alarm"))

        (line,) = _log_lines(caplog)
        assert decision.already_created is True
        assert decision.flow_run_id == FLOW_RUN_ID
        assert (line["already_created"], line["attempts"]) == (True, 1)

    def test_events_it_does_not_act_on_create_no_run(
        self, stub_api: StubPrefectApi
    ) -> None:
        decision = _relay(stub_api, DEPLOYMENT).handle(load_event("composite_alarm"))

        assert decision.decision == "ignored"
        assert decision.delivery == "flow-run"
        assert (decision.flow_run_id, decision.already_created) == (None, None)
        assert stub_api.requests == []

    def test_unknown_deployment_logs_the_failure_and_raises(
        self, stub_api: StubPrefectApi, caplog: pytest.LogCaptureFixture
    ) -> None:
        stub_api.reply_with(Reply(404))
        caplog.set_level(logging.INFO, logger="firstline.relay")

        with pytest.raises(PrefectRejected, match="has no deployment"):
            _relay(stub_api, DEPLOYMENT).handle(load_event("metric_alarm"))

        (line,) = _log_lines(caplog)
        assert caplog.records[-1].levelno == logging.ERROR
        assert line["decision"] == "failed"
        assert line["delivery"] == "flow-run"
        assert line["deployment"] == DEPLOYMENT
        assert "python -m deployments.serve" in line["reason"]

    def test_explicit_deployment_is_used(self, stub_api: StubPrefectApi) -> None:
        stub_api.reply_with(deployment_reply(), flow_run_reply())
        relay = Relay.for_api_url(stub_api.api_url, deployment="other-flow/nightly")

        relay.handle(load_event("metric_alarm"))

        assert relay.config.delivery == "flow-run"
        assert stub_api.requests[0].path == "/api/deployments/name/other-flow/nightly"

    def test_explicit_deployment_that_is_malformed_is_refused(self) -> None:
        with pytest.raises(ConfigurationError, match="FIRSTLINE_PREFECT_DEPLOYMENT"):
            Relay.for_api_url("http://127.0.0.1:4200/api", deployment="on-alarm")
