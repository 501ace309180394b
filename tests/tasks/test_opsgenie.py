from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

import tasks.opsgenie
from firstline.errors import NotificationError
from firstline.models import Verdict
from firstline.settings import PagerRoute
from sandbox.saas import FakeOpsGenie
from tasks.alerts import Alert, build_alert
from tasks.opsgenie import OpsGenieClient, OpsGenieKind, alert_body
from tests.tasks.notify_helpers import FAST_RETRY, FLOW_RUN_URL, make_report

KEY = "3e1c7a52-genie-key-for-tests"


@pytest.fixture
def opsgenie() -> Iterator[FakeOpsGenie]:
    with FakeOpsGenie(keys=[KEY]) as fake:
        yield fake


def client(
    fake: FakeOpsGenie, key: str = KEY, kind: OpsGenieKind = "opsgenie"
) -> OpsGenieClient:
    return OpsGenieClient(
        kind=kind,
        api_key=SecretStr(key),
        key_label="prefect-secret:genie",
        base_url=fake.base_url,
        retry=FAST_RETRY,
    )


def escalated_alert(team: str | None = "infra", reason: str | None = None) -> Alert:
    route = PagerRoute(
        kind="opsgenie",
        key={"prefect_secret": "genie"},
        team=team,
        priority="P1",
        tags=("web",),
    )
    report = make_report(Verdict.ESCALATED, reason=reason)
    return build_alert(report, route, flow_run_url=FLOW_RUN_URL)


class TestAlertBody:
    def test_the_alias_is_the_dedup_key_and_the_team_a_responder(self) -> None:
        alert = escalated_alert()

        body = alert_body(alert)

        assert body["alias"] == alert.dedup_key
        assert body["responders"] == [{"name": "infra", "type": "team"}]
        assert body["priority"] == "P1"
        assert body["tags"] == ["firstline", "eu-west-1", "web"]
        assert body["details"]["flow_run_url"] == FLOW_RUN_URL

    def test_without_a_team_no_responders_are_sent(self) -> None:
        assert "responders" not in alert_body(escalated_alert(team=None))

    def test_the_message_is_cut_cleanly_to_130_characters(self) -> None:
        reason = "still failing after the reboot: url (HTTP 500), ssh (no banner)"
        reason += ", route53 (2 of 3 checkers report failure)"
        alert = escalated_alert(reason=reason)

        body = alert_body(alert)

        assert len(alert.summary) > 130
        assert len(body["message"]) <= 130
        assert body["message"].endswith("…")
        assert not body["message"][:-1].endswith(" ")

    def test_the_description_holds_both_passes_within_15000_characters(self) -> None:
        body = alert_body(escalated_alert())

        assert "Before the reboot:" in body["description"]
        assert "After the reboot (attempt 4):" in body["description"]
        assert "status_code: 500" in body["description"]
        assert len(body["description"]) <= 15_000

    def test_a_huge_description_is_truncated_to_the_limit(self) -> None:
        alert = escalated_alert()
        huge = Alert(**{**vars(alert), "description": "word " * 10_000})

        assert len(alert_body(huge)["description"]) <= 15_000


class TestOpsGenieClient:
    def test_open_creates_one_alert_with_its_alias(
        self, opsgenie: FakeOpsGenie
    ) -> None:
        alert = escalated_alert()

        delivery = client(opsgenie).open(alert)

        assert opsgenie.open_aliases() == (alert.dedup_key,)
        assert opsgenie.alerts[alert.dedup_key].priority == "P1"
        assert (delivery.channel, delivery.action, delivery.target) == (
            "opsgenie",
            "open",
            "team infra",
        )
        assert "request" in delivery.detail

    def test_opening_twice_keeps_one_alert_and_counts_the_repeat(
        self, opsgenie: FakeOpsGenie
    ) -> None:
        alert = escalated_alert()

        client(opsgenie).open(alert)
        client(opsgenie).open(alert)

        assert list(opsgenie.alerts) == [alert.dedup_key]
        assert opsgenie.alerts[alert.dedup_key].count == 2

    def test_close_by_alias_sends_the_note(self, opsgenie: FakeOpsGenie) -> None:
        alert = escalated_alert()
        client(opsgenie).open(alert)

        client(opsgenie).close(alert.dedup_key, "healthy again")

        closed = opsgenie.alerts[alert.dedup_key]
        assert (closed.status, closed.notes) == ("closed", ["healthy again"])
        assert opsgenie.requests[-1].query == {"identifierType": "alias"}

    def test_three_server_errors_then_success_delivers_on_the_fourth_try(
        self, opsgenie: FakeOpsGenie
    ) -> None:
        opsgenie.fail_next(3, status=503)

        client(opsgenie).open(escalated_alert())

        assert [r.status for r in opsgenie.requests] == [503, 503, 503, 202]

    def test_a_server_that_stays_down_raises_with_the_reason(
        self, opsgenie: FakeOpsGenie
    ) -> None:
        opsgenie.down = True

        with pytest.raises(NotificationError) as caught:
            client(opsgenie).open(escalated_alert())

        text = str(caught.value)
        assert text.startswith("OpsGenie could not open alert firstline-eu-west-1-")
        assert "after 4 attempts" in text and "connection refused" in text
        assert KEY not in text

    def test_a_refused_key_is_not_retried_and_not_shown(
        self, opsgenie: FakeOpsGenie
    ) -> None:
        with pytest.raises(NotificationError) as caught:
            client(opsgenie, key="wrong-key-0000").open(escalated_alert())

        text = str(caught.value)
        assert "OpsGenie refused to open alert" in text
        assert "HTTP 401: Could not authenticate" in text
        assert "prefect-secret:genie" in text
        assert "wrong-key-0000" not in text
        assert opsgenie.request_count() == 1

    def test_a_rate_limit_without_retry_after_backs_off_and_retries(
        self, opsgenie: FakeOpsGenie
    ) -> None:
        opsgenie.rate_limit_next(1, retry_after_seconds=None)

        client(opsgenie).open(escalated_alert())

        assert [r.status for r in opsgenie.requests] == [429, 202]

    def test_the_key_travels_only_in_the_genie_key_header(
        self, opsgenie: FakeOpsGenie
    ) -> None:
        client(opsgenie).open(escalated_alert())

        assert KEY not in repr(opsgenie.requests)


class TestJiraServiceManagement:
    def test_jsm_alerts_go_to_the_ops_integration_path(self) -> None:
        alert = escalated_alert()
        with FakeOpsGenie(keys=[KEY], jsm=True) as jsm:
            delivery = client(jsm, kind="jsm").open(alert)
            client(jsm, kind="jsm").close(alert.dedup_key, "resolved")

            assert [r.path for r in jsm.requests] == [
                "/jsm/ops/integration/v2/alerts",
                f"/jsm/ops/integration/v2/alerts/{alert.dedup_key}/close",
            ]
            assert jsm.alerts[alert.dedup_key].status == "closed"
            assert delivery.channel == "jsm"


class TestEndOfLifeWarning:
    def test_the_opsgenie_kind_warns_once_per_process(
        self,
        opsgenie: FakeOpsGenie,
        caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(tasks.opsgenie, "_end_of_life_warned", False)
        caplog.set_level(logging.WARNING)

        client(opsgenie)
        client(opsgenie)
        client(opsgenie, kind="jsm")

        warnings = [r for r in caplog.records if "2027-04-05" in r.getMessage()]
        assert len(warnings) == 1
        assert "'jsm'" in warnings[0].getMessage()
