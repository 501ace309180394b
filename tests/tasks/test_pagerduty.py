from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from firstline.errors import NotificationError
from firstline.models import Verdict
from firstline.settings import PagerPriority, PagerRoute
from sandbox.saas import FakePagerDuty
from tasks.alerts import Alert, build_alert
from tasks.pagerduty import PagerDutyClient, trigger_event
from tests.tasks.notify_helpers import FAST_RETRY, FLOW_RUN_URL, make_report

ROUTING_KEY = "R0ut1ngKeyForTests0000000000abcd"


@pytest.fixture
def pagerduty() -> Iterator[FakePagerDuty]:
    with FakePagerDuty(routing_keys=[ROUTING_KEY]) as fake:
        yield fake


def client(fake: FakePagerDuty, key: str = ROUTING_KEY) -> PagerDutyClient:
    return PagerDutyClient(
        routing_key=SecretStr(key),
        key_label="prefect-secret:pd",
        base_url=fake.base_url,
        retry=FAST_RETRY,
    )


def escalated_alert(priority: PagerPriority = "P2") -> Alert:
    route = PagerRoute(
        kind="pagerduty", key={"prefect_secret": "pd"}, priority=priority
    )
    return build_alert(make_report(Verdict.ESCALATED), route, flow_run_url=FLOW_RUN_URL)


class TestTriggerEvent:
    @pytest.mark.parametrize(
        ("priority", "severity"),
        [("P1", "critical"), ("P2", "error"), ("P3", "warning"), ("P5", "info")],
    )
    def test_the_priority_maps_to_a_pagerduty_severity(
        self, priority: PagerPriority, severity: str
    ) -> None:
        event = trigger_event(escalated_alert(priority))

        assert event["payload"]["severity"] == severity

    def test_the_event_carries_the_dedup_key_evidence_and_link(self) -> None:
        alert = escalated_alert()

        event = trigger_event(alert)

        assert event["event_action"] == "trigger"
        assert event["dedup_key"] == alert.dedup_key
        assert event["payload"]["source"] == alert.source
        assert len(event["payload"]["summary"]) <= 1024
        assert "status_code: 500" in event["payload"]["custom_details"]["evidence"]
        assert event["links"] == [{"href": FLOW_RUN_URL, "text": "Prefect flow run"}]
        assert "routing_key" not in event


class TestPagerDutyClient:
    def test_open_triggers_one_incident_by_dedup_key(
        self, pagerduty: FakePagerDuty
    ) -> None:
        alert = escalated_alert()

        delivery = client(pagerduty).open(alert)
        client(pagerduty).open(alert)

        assert pagerduty.triggered_keys() == (alert.dedup_key,)
        assert pagerduty.incidents[alert.dedup_key].events == 2
        assert (delivery.channel, delivery.action) == ("pagerduty", "open")
        assert "Event processed" in delivery.detail

    def test_close_resolves_the_incident(self, pagerduty: FakePagerDuty) -> None:
        alert = escalated_alert()
        client(pagerduty).open(alert)

        delivery = client(pagerduty).close(alert.dedup_key, "healthy again")

        assert pagerduty.incidents[alert.dedup_key].status == "resolved"
        assert delivery.action == "close"

    def test_an_invalid_event_is_reported_with_pagerdutys_errors_and_not_retried(
        self, pagerduty: FakePagerDuty
    ) -> None:
        wrong_key = "WrongRoutingKey00000000000000000"

        with pytest.raises(NotificationError) as caught:
            client(pagerduty, key=wrong_key).open(escalated_alert())

        text = str(caught.value)
        assert "PagerDuty refused to trigger" in text
        assert "HTTP 400" in text and "Invalid routing key" in text
        assert "prefect-secret:pd" in text
        assert wrong_key not in text
        assert pagerduty.request_count() == 1

    def test_a_rate_limit_is_retried_honouring_retry_after(
        self, pagerduty: FakePagerDuty
    ) -> None:
        pagerduty.rate_limit_next(2, retry_after_seconds=0)

        client(pagerduty).open(escalated_alert())

        assert [r.status for r in pagerduty.requests] == [429, 429, 202]

    def test_three_server_errors_then_success_delivers(
        self, pagerduty: FakePagerDuty
    ) -> None:
        pagerduty.fail_next(3, status=500)

        client(pagerduty).open(escalated_alert())

        assert [r.status for r in pagerduty.requests] == [500, 500, 500, 202]

    def test_four_server_errors_exhaust_the_attempts(
        self, pagerduty: FakePagerDuty
    ) -> None:
        pagerduty.fail_next(4, status=502)

        with pytest.raises(NotificationError) as caught:
            client(pagerduty).open(escalated_alert())

        assert "after 4 attempts" in str(caught.value)
        assert "HTTP 502" in str(caught.value)
        assert ROUTING_KEY not in str(caught.value)

    def test_a_retry_after_longer_than_firstline_waits_fails_at_once(
        self, pagerduty: FakePagerDuty
    ) -> None:
        pagerduty.rate_limit_next(1, retry_after_seconds=3600)

        with pytest.raises(NotificationError) as caught:
            client(pagerduty).open(escalated_alert())

        assert "asks to wait 3600 s" in str(caught.value)
        assert pagerduty.request_count() == 1
