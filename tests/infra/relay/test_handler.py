from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import boto3
import pytest

from infra.relay import handler as handler_module
from infra.relay.errors import ConfigurationError, PrefectRejected
from infra.relay.handler import handler
from tests.infra.relay.conftest import create_secret, load_event
from tests.infra.relay.stub_api import (
    FLOW_RUN_ID,
    Reply,
    StubPrefectApi,
    deployment_reply,
    flow_run_reply,
)

API_KEY = "pnu_handlertestkey9876543210zyxwvutsrqpo"
PASSWORD = "handler-p4ssw0rd-never-logged"


@pytest.fixture(autouse=True)
def cold_start() -> Iterator[None]:
    """Every test starts as a fresh Lambda execution environment."""
    handler_module._relay_for.cache_clear()
    yield
    handler_module._relay_for.cache_clear()


@pytest.fixture
def relay_environment(
    monkeypatch: pytest.MonkeyPatch, stub_api: StubPrefectApi
) -> StubPrefectApi:
    monkeypatch.setenv("PREFECT_API_URL", stub_api.api_url)
    monkeypatch.delenv("FIRSTLINE_PREFECT_SECRET_ARN", raising=False)
    monkeypatch.setenv("FIRSTLINE_RELAY_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("FIRSTLINE_RELAY_BACKOFF_SECONDS", "0")
    return stub_api


class TestHandler:
    def test_posts_without_credentials_when_no_secret_is_set(
        self, relay_environment: StubPrefectApi
    ) -> None:
        result = handler(load_event("metric_alarm"), None)

        assert result["decision"] == "posted"
        assert result["prefect_event_id"] is not None
        assert set(result) == {
            "decision",
            "reason",
            "eventbridge_event_id",
            "prefect_event_id",
            "delivery",
            "flow_run_id",
            "already_created",
        }
        assert result["delivery"] == "event"
        assert relay_environment.requests[0].path == "/api/events"
        assert "authorization" not in relay_environment.requests[0].headers

    def test_creates_a_flow_run_when_a_deployment_is_set(
        self, relay_environment: StubPrefectApi, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(
            "FIRSTLINE_PREFECT_DEPLOYMENT", "remediate-instance/on-alarm"
        )
        relay_environment.reply_with(deployment_reply(), flow_run_reply(201))

        result = handler(load_event("metric_alarm"), None)

        assert result["decision"] == "posted"
        assert result["delivery"] == "flow-run"
        assert result["flow_run_id"] == FLOW_RUN_ID
        assert result["already_created"] is False
        assert json.loads(json.dumps(result)) == result

    def test_returns_the_decision_for_events_it_does_not_post(
        self, relay_environment: StubPrefectApi
    ) -> None:
        result = handler(load_event("metric_alarm_ok"), None)

        assert result == {
            "decision": "ignored",
            "reason": "state OK: firstline acts only on ALARM",
            "eventbridge_event_id": "0b7e9d52-3c14-4f8a-a6e1-5d2c7f9b3e04",
            "prefect_event_id": None,
            "delivery": "event",
            "flow_run_id": None,
            "already_created": None,
        }

    def test_missing_api_url_raises_so_lambda_keeps_the_event(
        self, relay_environment: StubPrefectApi, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("PREFECT_API_URL")

        with pytest.raises(ConfigurationError, match="PREFECT_API_URL is not set"):
            handler(load_event("metric_alarm"), None)

    def test_logs_its_decisions_at_info_by_default(self) -> None:
        assert logging.getLogger("firstline.relay").isEnabledFor(logging.INFO)


class TestHandlerWithSecret:
    def test_reads_the_api_key_once_per_cold_start(
        self,
        relay_environment: StubPrefectApi,
        aws_environment: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        arn = create_secret("handler-api-key", json.dumps({"api_key": API_KEY}))
        monkeypatch.setenv("FIRSTLINE_PREFECT_SECRET_ARN", arn)

        handler(load_event("metric_alarm"), None)
        boto3.client("secretsmanager", region_name="eu-west-1").delete_secret(
            SecretId=arn, ForceDeleteWithoutRecovery=True
        )
        handler(load_event("metric_math_alarm"), None)

        headers = [request.headers for request in relay_environment.requests]
        assert [header["authorization"] for header in headers] == [
            f"Bearer {API_KEY}"
        ] * 2

    def test_secret_never_reaches_logs_or_errors(
        self,
        relay_environment: StubPrefectApi,
        aws_environment: str,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        secret_value = json.dumps({"basic_auth": f"firstline:{PASSWORD}"})
        arn = create_secret("handler-basic-auth", secret_value)
        monkeypatch.setenv("FIRSTLINE_PREFECT_SECRET_ARN", arn)
        echo = f"you sent {PASSWORD} as ".encode()
        relay_environment.reply_with(
            Reply(503, body=echo, echo_authorization=True),
            Reply(401, body=echo, echo_authorization=True),
        )
        caplog.set_level(logging.DEBUG)

        with pytest.raises(PrefectRejected) as raised:
            handler(load_event("metric_alarm"), None)

        token = relay_environment.requests[0].headers["authorization"].split()[1]
        captured = capsys.readouterr()
        error_texts = [str(raised.value), repr(raised.value)]
        for text in (PASSWORD, token, secret_value):
            assert text not in caplog.text
            assert text not in captured.out + captured.err
            assert all(text not in error_text for error_text in error_texts)
        assert "you sent <redacted>" in caplog.text

    def test_refused_credential_is_read_again_for_the_next_event(
        self,
        relay_environment: StubPrefectApi,
        aws_environment: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        arn = create_secret("handler-rotated", json.dumps({"api_key": "pnu_old"}))
        monkeypatch.setenv("FIRSTLINE_PREFECT_SECRET_ARN", arn)
        relay_environment.reply_with(Reply(401))

        with pytest.raises(PrefectRejected, match="HTTP 401"):
            handler(load_event("metric_alarm"), None)
        _rotate(arn, "pnu_new")
        handler(load_event("metric_alarm"), None)

        headers = [request.headers for request in relay_environment.requests]
        assert [header["authorization"] for header in headers] == [
            "Bearer pnu_old",
            "Bearer pnu_new",
        ]

    @pytest.mark.parametrize("status", [401, 403])
    def test_credential_refused_while_creating_a_run_is_read_again(
        self,
        relay_environment: StubPrefectApi,
        aws_environment: str,
        monkeypatch: pytest.MonkeyPatch,
        status: int,
    ) -> None:
        arn = create_secret(
            f"handler-rotated-{status}", json.dumps({"api_key": "pnu_old"})
        )
        monkeypatch.setenv("FIRSTLINE_PREFECT_SECRET_ARN", arn)
        monkeypatch.setenv(
            "FIRSTLINE_PREFECT_DEPLOYMENT", "remediate-instance/on-alarm"
        )
        relay_environment.reply_with(
            deployment_reply(), Reply(status), flow_run_reply()
        )

        with pytest.raises(PrefectRejected, match=f"HTTP {status}"):
            handler(load_event("metric_alarm"), None)
        _rotate(arn, "pnu_new")
        result = handler(load_event("metric_alarm"), None)

        headers = [request.headers for request in relay_environment.requests]
        assert result["flow_run_id"] == FLOW_RUN_ID
        assert [header["authorization"] for header in headers] == [
            "Bearer pnu_old",
            "Bearer pnu_old",
            "Bearer pnu_new",
        ]


def _rotate(secret_arn: str, api_key: str) -> None:
    boto3.client("secretsmanager", region_name="eu-west-1").put_secret_value(
        SecretId=secret_arn, SecretString=json.dumps({"api_key": api_key})
    )
