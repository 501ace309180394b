from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from sandbox.saas import MASK, FakeOpsGenie, FakePagerDuty, FakeSlack

TIMEOUT = 5.0


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(tokens=["xoxb-good"], channels=["#ops"]) as fake:
        yield fake


@pytest.fixture
def opsgenie() -> Iterator[FakeOpsGenie]:
    with FakeOpsGenie(keys=["genie-key"]) as fake:
        yield fake


@pytest.fixture
def pagerduty() -> Iterator[FakePagerDuty]:
    with FakePagerDuty(routing_keys=["r" * 32]) as fake:
        yield fake


def post_message(slack: FakeSlack, token: str, **body: object) -> requests.Response:
    return requests.post(
        slack.api_base_url + "chat.postMessage",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )


class TestFakeSlackWebApi:
    def test_a_message_to_a_known_channel_is_accepted_with_its_ts(
        self, slack: FakeSlack
    ) -> None:
        reply = post_message(slack, "xoxb-good", channel="#ops", text="hello")

        body = reply.json()
        assert (reply.status_code, body["ok"]) == (200, True)
        assert body["channel"].startswith("C") and body["ts"]
        assert [m.text for m in slack.messages] == ["hello"]

    def test_an_unknown_token_is_invalid_auth(self, slack: FakeSlack) -> None:
        reply = post_message(slack, "xoxb-bad", channel="#ops", text="hello")

        assert reply.json() == {"ok": False, "error": "invalid_auth"}
        assert slack.messages == ()

    def test_an_unknown_channel_is_channel_not_found(self, slack: FakeSlack) -> None:
        reply = post_message(slack, "xoxb-good", channel="#nowhere", text="hello")

        assert reply.json() == {"ok": False, "error": "channel_not_found"}

    def test_a_form_body_with_blocks_as_a_json_string_is_accepted(
        self, slack: FakeSlack
    ) -> None:
        reply = requests.post(
            slack.api_base_url + "chat.postMessage",
            data={
                "token": "xoxb-good",
                "channel": "ops",
                "text": "hi",
                "blocks": '[{"type": "divider"}]',
            },
            timeout=TIMEOUT,
        )

        assert reply.json()["ok"] is True
        assert slack.messages[0].blocks == ({"type": "divider"},)

    def test_the_record_keeps_the_body_but_not_the_authorization_header(
        self, slack: FakeSlack
    ) -> None:
        post_message(slack, "xoxb-good", channel="#ops", text="hello")

        (recorded,) = slack.requests
        assert recorded.path == "/api/chat.postMessage"
        assert recorded.body["text"] == "hello"
        assert "authorization" not in recorded.headers
        assert "xoxb-good" not in repr(recorded)


class TestFakeSlackWebhook:
    def test_a_known_webhook_answers_ok_and_masks_its_secret_path(
        self, slack: FakeSlack
    ) -> None:
        url = slack.add_webhook("#ops")

        reply = requests.post(url, json={"text": "hello"}, timeout=TIMEOUT)

        assert (reply.status_code, reply.text) == (200, "ok")
        assert slack.messages[0].via == "webhook"
        assert slack.requests[0].path.endswith("/" + MASK)
        assert url.rsplit("/", 1)[1] not in repr(slack.requests)

    def test_an_unknown_webhook_is_404_no_service(self, slack: FakeSlack) -> None:
        url = slack.base_url + "/services/T1/B1/unknownunknown"

        reply = requests.post(url, json={"text": "hello"}, timeout=TIMEOUT)

        assert (reply.status_code, reply.text) == (404, "no_service")

    def test_a_body_without_text_or_blocks_is_400_invalid_payload(
        self, slack: FakeSlack
    ) -> None:
        url = slack.add_webhook("#ops")

        reply = requests.post(url, json={"username": "x"}, timeout=TIMEOUT)

        assert (reply.status_code, reply.text) == (400, "invalid_payload")


class TestFaultKnobs:
    def test_rate_limit_next_answers_429_with_retry_after_then_recovers(
        self, slack: FakeSlack
    ) -> None:
        slack.rate_limit_next(2, retry_after_seconds=7)

        replies = [
            post_message(slack, "xoxb-good", channel="#ops", text="x") for _ in range(3)
        ]

        assert [r.status_code for r in replies] == [429, 429, 200]
        assert replies[0].headers["Retry-After"] == "7"
        assert replies[0].json()["error"] == "ratelimited"
        assert [r.status for r in slack.requests] == [429, 429, 200]

    def test_fail_next_answers_the_given_status(self, pagerduty: FakePagerDuty) -> None:
        pagerduty.fail_next(1, status=503)
        event = {"routing_key": "r" * 32, "event_action": "resolve", "dedup_key": "k"}

        first = requests.post(
            pagerduty.base_url + "/v2/enqueue", json=event, timeout=TIMEOUT
        )
        second = requests.post(
            pagerduty.base_url + "/v2/enqueue", json=event, timeout=TIMEOUT
        )

        assert (first.status_code, second.status_code) == (503, 202)

    def test_down_refuses_connections_and_comes_back_on_the_same_port(
        self, opsgenie: FakeOpsGenie
    ) -> None:
        port = opsgenie.port
        opsgenie.down = True

        with pytest.raises(requests.ConnectionError):
            requests.post(opsgenie.base_url + "/v2/alerts", json={}, timeout=TIMEOUT)

        opsgenie.down = False
        reply = requests.post(
            opsgenie.base_url + "/v2/alerts",
            json={"message": "m"},
            headers={"Authorization": "GenieKey genie-key"},
            timeout=TIMEOUT,
        )
        assert (opsgenie.port, reply.status_code) == (port, 202)


def create_alert(
    fake: FakeOpsGenie, *, key: str = "genie-key", **body: object
) -> requests.Response:
    return requests.post(
        fake.base_url + fake.prefix,
        json=body,
        headers={"Authorization": f"GenieKey {key}"},
        timeout=TIMEOUT,
    )


class TestFakeOpsGenie:
    def test_a_new_alert_is_queued_with_202_and_a_request_id(
        self, opsgenie: FakeOpsGenie
    ) -> None:
        reply = create_alert(opsgenie, message="disk full", alias="a-1", priority="P2")

        body = reply.json()
        assert reply.status_code == 202
        assert body["result"] == "Request will be processed"
        assert body["requestId"] and "took" in body
        assert opsgenie.open_aliases() == ("a-1",)

    def test_a_repeat_on_an_open_alias_raises_its_count(
        self, opsgenie: FakeOpsGenie
    ) -> None:
        create_alert(opsgenie, message="disk full", alias="a-1")
        create_alert(opsgenie, message="disk full", alias="a-1")

        assert opsgenie.alerts["a-1"].count == 2
        assert len(opsgenie.alerts) == 1

    def test_close_by_alias_closes_the_alert_and_keeps_the_note(
        self, opsgenie: FakeOpsGenie
    ) -> None:
        create_alert(opsgenie, message="disk full", alias="a-1")

        reply = requests.post(
            opsgenie.base_url + "/v2/alerts/a-1/close?identifierType=alias",
            json={"note": "fixed"},
            headers={"Authorization": "GenieKey genie-key"},
            timeout=TIMEOUT,
        )

        assert reply.status_code == 202
        assert opsgenie.alerts["a-1"].status == "closed"
        assert opsgenie.alerts["a-1"].notes == ["fixed"]

    def test_a_wrong_key_is_401(self, opsgenie: FakeOpsGenie) -> None:
        reply = create_alert(opsgenie, key="wrong", message="disk full")

        assert reply.status_code == 401
        assert opsgenie.alerts == {}

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"message": "x" * 131}, "message"),
            ({"message": ""}, "message"),
            ({"message": "ok", "priority": "P6"}, "priority"),
            ({"message": "ok", "description": "d" * 15_001}, "description"),
        ],
    )
    def test_a_body_outside_the_limits_is_422_naming_the_field(
        self, opsgenie: FakeOpsGenie, body: dict[str, str], field: str
    ) -> None:
        reply = create_alert(opsgenie, **body)

        assert reply.status_code == 422
        assert field in reply.json()["errors"]

    def test_the_jsm_fake_serves_the_ops_integration_prefix(self) -> None:
        with FakeOpsGenie(keys=["jsm-key"], jsm=True) as jsm:
            reply = create_alert(jsm, key="jsm-key", message="m", alias="a")

            assert jsm.prefix == "/jsm/ops/integration/v2/alerts"
            assert reply.status_code == 202
            assert jsm.open_aliases() == ("a",)


class TestFakePagerDuty:
    def event(self, **fields: object) -> dict[str, object]:
        payload = {"summary": "s", "source": "i-1", "severity": "error"}
        return {
            "routing_key": "r" * 32,
            "event_action": "trigger",
            "dedup_key": "k-1",
            "payload": payload,
            **fields,
        }

    def enqueue(self, fake: FakePagerDuty, event: object) -> requests.Response:
        return requests.post(fake.base_url + "/v2/enqueue", json=event, timeout=TIMEOUT)

    def test_a_trigger_is_202_success_with_its_dedup_key(
        self, pagerduty: FakePagerDuty
    ) -> None:
        reply = self.enqueue(pagerduty, self.event())

        assert reply.status_code == 202
        assert reply.json() == {
            "status": "success",
            "message": "Event processed",
            "dedup_key": "k-1",
        }
        assert pagerduty.triggered_keys() == ("k-1",)

    def test_a_second_trigger_adds_to_the_open_incident_and_resolve_ends_it(
        self, pagerduty: FakePagerDuty
    ) -> None:
        self.enqueue(pagerduty, self.event())
        self.enqueue(pagerduty, self.event())
        self.enqueue(pagerduty, self.event(event_action="resolve", payload=None))

        incident = pagerduty.incidents["k-1"]
        assert (incident.events, incident.status) == (2, "resolved")

    def test_a_bad_severity_is_400_invalid_event_with_errors(
        self, pagerduty: FakePagerDuty
    ) -> None:
        event = self.event(payload={"summary": "s", "source": "x", "severity": "bad"})

        reply = self.enqueue(pagerduty, event)

        assert reply.status_code == 400
        assert reply.json()["status"] == "invalid event"
        assert reply.json()["errors"] == ["'payload.severity' is invalid"]

    def test_an_unknown_routing_key_is_400_and_the_record_masks_the_key(
        self, pagerduty: FakePagerDuty
    ) -> None:
        reply = self.enqueue(pagerduty, self.event(routing_key="x" * 32))

        assert reply.status_code == 400
        assert pagerduty.requests[0].body["routing_key"] == MASK
