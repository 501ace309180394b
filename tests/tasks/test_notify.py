from __future__ import annotations

import logging
import secrets
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
from prefect import flow

from firstline.errors import NotificationError
from firstline.models import Hold, HoldKind, IncidentReport, Verdict
from firstline.notify import Delivery
from firstline.settings import NotifySettings, PagerRoute, SecretRef, SlackRoute
from sandbox.saas import FakeOpsGenie, FakePagerDuty, FakeSlack
from tasks.alerts import OpenAlert, OpenAlerts
from tasks.notify import build_notifier, notify_outcome, plan_steps
from tests.tasks.notify_helpers import (
    FAST_RETRY,
    FLOW_RUN_URL,
    make_report,
    new_instance_id,
    save_secret,
)

SLACK_TOKEN = "xoxb-" + secrets.token_hex(12)
GENIE_KEY = secrets.token_hex(16)
ROUTING_KEY = secrets.token_hex(16)


@dataclass(frozen=True)
class Secrets:
    slack_token: SecretRef
    genie_key: SecretRef
    routing_key: SecretRef


@dataclass(frozen=True)
class Vendors:
    slack: FakeSlack
    opsgenie: FakeOpsGenie
    pagerduty: FakePagerDuty

    def request_count(self) -> int:
        return sum(
            fake.request_count() for fake in (self.slack, self.opsgenie, self.pagerduty)
        )


@pytest.fixture(scope="module")
def secret_refs(prefect_harness: None) -> Secrets:
    return Secrets(
        save_secret(SLACK_TOKEN), save_secret(GENIE_KEY), save_secret(ROUTING_KEY)
    )


@pytest.fixture
def vendors() -> Iterator[Vendors]:
    with (
        FakeSlack(tokens=[SLACK_TOKEN], channels=["#ops"]) as slack,
        FakeOpsGenie(keys=[GENIE_KEY]) as opsgenie,
        FakePagerDuty(routing_keys=[ROUTING_KEY]) as pagerduty,
    ):
        yield Vendors(slack, opsgenie, pagerduty)


class UnreachableAlerts(OpenAlerts):
    """Open-alert records on a Prefect API that cannot be reached."""

    def get(self, dedup_key: str) -> OpenAlert | None:
        raise NotificationError("Could not read the record: the Prefect API is down.")

    def remember(self, alert: OpenAlert) -> None:
        raise NotificationError("Could not write the record: the Prefect API is down.")


def settings_for(
    vendors: Vendors,
    refs: Secrets,
    pager: str = "opsgenie",
    *,
    slack: SlackRoute | None = None,
) -> NotifySettings:
    if pager == "opsgenie":
        route = PagerRoute(
            kind="opsgenie",
            key=refs.genie_key,
            base_url=vendors.opsgenie.base_url,
            team="infra",
            priority="P2",
        )
    elif pager == "pagerduty":
        route = PagerRoute(
            kind="pagerduty", key=refs.routing_key, base_url=vendors.pagerduty.base_url
        )
    else:
        route = PagerRoute()
    slack = slack or SlackRoute(
        channel="#ops", token=refs.slack_token, base_url=vendors.slack.api_base_url
    )
    return NotifySettings(slack=slack, pager=route)


def notify(
    report: IncidentReport, settings: NotifySettings, *, dry_run: bool = False
) -> tuple[Delivery, ...]:
    return build_notifier(settings, dry_run=dry_run, retry=FAST_RETRY).notify(report)


def actions(deliveries: tuple[Delivery, ...]) -> list[tuple[str, str]]:
    return [(d.channel, d.action) for d in deliveries]


class TestPlanSteps:
    @pytest.mark.parametrize(
        ("verdict", "open_alert", "steps"),
        [
            (Verdict.RECOVERED, False, ("slack",)),
            (Verdict.RECOVERED, True, ("close", "slack")),
            (Verdict.ESCALATED, False, ("page", "slack")),
            (Verdict.ESCALATED, True, ("page", "slack")),
            (Verdict.HELD, False, ("page", "slack")),
            (Verdict.HEALTHY, False, ()),
            (Verdict.HEALTHY, True, ("close", "slack")),
            (Verdict.NOT_CHECKED, False, ("slack",)),
            (Verdict.DRY_RUN, False, ("slack",)),
            (Verdict.DUPLICATE, True, ()),
        ],
    )
    def test_each_verdict_has_its_deliveries(
        self, verdict: Verdict, open_alert: bool, steps: tuple[str, ...]
    ) -> None:
        assert plan_steps(verdict, has_open_alert=open_alert) == steps


class TestRecovered:
    def test_one_slack_message_with_blocks_text_and_link_and_no_page(
        self, vendors: Vendors, secret_refs: Secrets
    ) -> None:
        report = make_report(Verdict.RECOVERED)

        deliveries = notify(report, settings_for(vendors, secret_refs))

        assert actions(deliveries) == [("slack", "message")]
        (message,) = vendors.slack.messages
        assert message.text and message.text.startswith(":white_check_mark:")
        assert FLOW_RUN_URL in message.text
        assert f"<{FLOW_RUN_URL}|Prefect flow run>" in repr(message.blocks)
        assert vendors.opsgenie.request_count() == 0

    def test_an_alert_left_open_by_an_escalation_is_closed(
        self, vendors: Vendors, secret_refs: Secrets
    ) -> None:
        instance_id = new_instance_id()
        settings = settings_for(vendors, secret_refs)
        notify(make_report(Verdict.ESCALATED, instance_id), settings)

        deliveries = notify(make_report(Verdict.RECOVERED, instance_id), settings)

        assert actions(deliveries) == [("opsgenie", "close"), ("slack", "message")]
        assert vendors.opsgenie.open_aliases() == ()
        assert "Closed the opsgenie alert" in (vendors.slack.messages[-1].text or "")
        assert OpenAlerts().get(f"firstline-eu-west-1-{instance_id}") is None


class TestEscalated:
    def test_one_alert_is_opened_and_slack_says_it_paged(
        self, vendors: Vendors, secret_refs: Secrets
    ) -> None:
        report = make_report(Verdict.ESCALATED)

        deliveries = notify(report, settings_for(vendors, secret_refs))

        assert actions(deliveries) == [("opsgenie", "open"), ("slack", "message")]
        assert vendors.opsgenie.open_aliases() == (report.dedup_key,)
        assert f"Paged opsgenie: alert {report.dedup_key}" in (
            vendors.slack.messages[0].text or ""
        )
        record = OpenAlerts().get(report.dedup_key)
        assert record is not None
        assert (record.vendor, record.flow_run_id) == ("opsgenie", "3f2b0c1e-run")

    def test_escalating_twice_keeps_one_alert_and_counts_the_trigger(
        self, vendors: Vendors, secret_refs: Secrets
    ) -> None:
        instance_id = new_instance_id()
        settings = settings_for(vendors, secret_refs)

        notify(make_report(Verdict.ESCALATED, instance_id), settings)
        notify(make_report(Verdict.ESCALATED, instance_id), settings)

        key = f"firstline-eu-west-1-{instance_id}"
        assert vendors.opsgenie.open_aliases() == (key,)
        assert vendors.opsgenie.alerts[key].count == 2
        record = OpenAlerts().get(key)
        assert record is not None and record.triggers == 2
        assert "again" in (vendors.slack.messages[-1].text or "")

    def test_a_held_run_pages_like_an_escalated_one(
        self, vendors: Vendors, secret_refs: Secrets
    ) -> None:
        hold = Hold(HoldKind.BUDGET, "reboot budget spent", page=True)
        report = replace(make_report(Verdict.HELD), hold=hold)

        deliveries = notify(report, settings_for(vendors, secret_refs))

        assert actions(deliveries) == [("opsgenie", "open"), ("slack", "message")]

    def test_a_hold_that_calls_for_no_page_only_tells_slack(
        self, vendors: Vendors, secret_refs: Secrets
    ) -> None:
        hold = Hold(HoldKind.MAINTENANCE, "instance is in maintenance", page=False)
        report = replace(make_report(Verdict.HELD), hold=hold)

        deliveries = notify(report, settings_for(vendors, secret_refs))

        assert actions(deliveries) == [("slack", "message")]
        assert vendors.opsgenie.alerts == {}

    def test_without_a_pager_slack_is_told_that_nobody_was_paged(
        self, vendors: Vendors, secret_refs: Secrets
    ) -> None:
        deliveries = notify(
            make_report(Verdict.ESCALATED), settings_for(vendors, secret_refs, "none")
        )

        assert actions(deliveries) == [("pager", "skipped"), ("slack", "message")]
        assert "nobody was paged" in (vendors.slack.messages[0].text or "")

    def test_a_pager_that_stays_down_fails_loudly_and_slack_hears_of_it(
        self, vendors: Vendors, secret_refs: Secrets
    ) -> None:
        vendors.opsgenie.down = True
        report = make_report(Verdict.ESCALATED)

        with pytest.raises(NotificationError) as caught:
            notify(report, settings_for(vendors, secret_refs))

        assert "Paging opsgenie failed" in str(caught.value)
        assert "after 4 attempts" in str(caught.value)
        assert "connection refused" in str(caught.value)
        assert "Paging opsgenie failed" in (vendors.slack.messages[0].text or "")
        assert OpenAlerts().get(report.dedup_key) is None

    def test_an_unreachable_alert_record_does_not_stop_the_page(
        self, vendors: Vendors, secret_refs: Secrets
    ) -> None:
        report = make_report(Verdict.ESCALATED)
        notifier = build_notifier(
            settings_for(vendors, secret_refs),
            retry=FAST_RETRY,
            open_alerts=UnreachableAlerts(),
        )

        with pytest.raises(NotificationError, match="Prefect API is down"):
            notifier.notify(report)

        assert vendors.opsgenie.open_aliases() == (report.dedup_key,)
        assert "close it by hand" in (vendors.slack.messages[0].text or "")

    def test_pagerduty_is_triggered_then_resolved_by_dedup_key(
        self, vendors: Vendors, secret_refs: Secrets
    ) -> None:
        instance_id = new_instance_id()
        settings = settings_for(vendors, secret_refs, "pagerduty")

        notify(make_report(Verdict.ESCALATED, instance_id), settings)
        deliveries = notify(make_report(Verdict.HEALTHY, instance_id), settings)

        key = f"firstline-eu-west-1-{instance_id}"
        assert actions(deliveries) == [("pagerduty", "close"), ("slack", "message")]
        assert vendors.pagerduty.incidents[key].status == "resolved"
        assert OpenAlerts().get(key) is None


class TestHealthy:
    def test_without_an_open_alert_nothing_is_sent(
        self, vendors: Vendors, secret_refs: Secrets
    ) -> None:
        deliveries = notify(
            make_report(Verdict.HEALTHY), settings_for(vendors, secret_refs)
        )

        assert deliveries == ()
        assert vendors.request_count() == 0

    def test_after_an_escalation_the_alert_is_closed_and_slack_says_resolved(
        self, vendors: Vendors, secret_refs: Secrets
    ) -> None:
        instance_id = new_instance_id()
        settings = settings_for(vendors, secret_refs)
        notify(make_report(Verdict.ESCALATED, instance_id), settings)

        deliveries = notify(make_report(Verdict.HEALTHY, instance_id), settings)

        key = f"firstline-eu-west-1-{instance_id}"
        assert actions(deliveries) == [("opsgenie", "close"), ("slack", "message")]
        alert = vendors.opsgenie.alerts[key]
        assert alert.status == "closed"
        assert "Resolved: web-1" in alert.notes[0]
        assert "all checks pass" in alert.notes[0]
        resolved = vendors.slack.messages[-1].text or ""
        assert resolved.startswith(":large_green_circle: Resolved: web-1")
        assert f"Closed the opsgenie alert {key}" in resolved
        assert OpenAlerts().get(key) is None

    def test_a_close_that_fails_keeps_the_record_for_the_next_run(
        self, vendors: Vendors, secret_refs: Secrets
    ) -> None:
        instance_id = new_instance_id()
        settings = settings_for(vendors, secret_refs)
        notify(make_report(Verdict.ESCALATED, instance_id), settings)
        vendors.opsgenie.fail_next(4, status=500)

        with pytest.raises(NotificationError, match="Closing the opsgenie alert"):
            notify(make_report(Verdict.HEALTHY, instance_id), settings)

        assert OpenAlerts().get(f"firstline-eu-west-1-{instance_id}") is not None


class TestOtherVerdicts:
    def test_not_checked_explains_why_in_slack_and_pages_nobody(
        self, vendors: Vendors, secret_refs: Secrets
    ) -> None:
        deliveries = notify(
            make_report(Verdict.NOT_CHECKED), settings_for(vendors, secret_refs)
        )

        assert actions(deliveries) == [("slack", "message")]
        assert "instance is stopped" in (vendors.slack.messages[0].text or "")
        assert vendors.opsgenie.request_count() == 0

    def test_a_duplicate_run_sends_nothing(
        self, vendors: Vendors, secret_refs: Secrets
    ) -> None:
        deliveries = notify(
            make_report(Verdict.DUPLICATE), settings_for(vendors, secret_refs)
        )

        assert deliveries == ()
        assert vendors.request_count() == 0

    def test_a_missing_secret_fails_naming_where_it_should_be(
        self, vendors: Vendors, secret_refs: Secrets
    ) -> None:
        slack = SlackRoute(
            channel="#ops",
            token=SecretRef(prefect_secret="no-such-block"),
            base_url=vendors.slack.api_base_url,
        )

        with pytest.raises(NotificationError, match="prefect-secret:no-such-block"):
            notify(
                make_report(Verdict.RECOVERED),
                settings_for(vendors, secret_refs, slack=slack),
            )


class TestDryRun:
    def test_nothing_is_sent_and_every_delivery_is_described(
        self, vendors: Vendors, secret_refs: Secrets
    ) -> None:
        report = make_report(Verdict.ESCALATED)

        deliveries = notify(report, settings_for(vendors, secret_refs), dry_run=True)

        assert actions(deliveries) == [
            ("opsgenie", "described"),
            ("slack", "described"),
        ]
        assert vendors.request_count() == 0
        assert "would page P2" in deliveries[0].detail
        assert "would post" in deliveries[1].detail
        assert f"Would page opsgenie: alert {report.dedup_key}" in deliveries[1].detail
        assert OpenAlerts().get(report.dedup_key) is None

    def test_a_dry_run_verdict_is_only_described(
        self, vendors: Vendors, secret_refs: Secrets
    ) -> None:
        deliveries = notify(
            make_report(Verdict.DRY_RUN, dry_run=True),
            settings_for(vendors, secret_refs),
        )

        assert actions(deliveries) == [("slack", "described")]
        assert vendors.request_count() == 0

    def test_a_dry_run_reads_no_secret_and_leaves_an_open_alert_open(
        self, vendors: Vendors, secret_refs: Secrets
    ) -> None:
        instance_id = new_instance_id()
        notify(
            make_report(Verdict.ESCALATED, instance_id),
            settings_for(vendors, secret_refs),
        )
        before = vendors.request_count()
        missing = SecretRef(prefect_secret="no-such-block")
        settings = settings_for(
            vendors,
            Secrets(missing, missing, missing),
            slack=SlackRoute(channel="#ops", token=missing),
        )

        deliveries = notify(
            make_report(Verdict.RECOVERED, instance_id), settings, dry_run=True
        )

        assert actions(deliveries) == [
            ("opsgenie", "described"),
            ("slack", "described"),
        ]
        assert vendors.request_count() == before
        assert OpenAlerts().get(f"firstline-eu-west-1-{instance_id}") is not None


class TestWebhookMode:
    def test_a_recovered_run_posts_through_the_incoming_webhook(
        self, vendors: Vendors, secret_refs: Secrets
    ) -> None:
        webhook = save_secret(vendors.slack.add_webhook("#ops"))
        slack = SlackRoute(webhook_url=webhook)

        deliveries = notify(
            make_report(Verdict.RECOVERED),
            settings_for(vendors, secret_refs, slack=slack),
        )

        assert [(d.channel, d.target) for d in deliveries] == [
            ("slack", "incoming webhook")
        ]
        assert [m.via for m in vendors.slack.messages] == ["webhook"]


@pytest.mark.usefixtures("prefect_harness")
class TestNotifyOutcome:
    def test_the_task_returns_the_deliveries_inside_a_flow(
        self, vendors: Vendors, secret_refs: Secrets
    ) -> None:
        settings = settings_for(vendors, secret_refs)
        report = make_report(Verdict.NOT_CHECKED)

        @flow
        def notify_flow() -> tuple[Delivery, ...]:
            return notify_outcome(report, settings, dry_run=False)

        deliveries = notify_flow()

        assert actions(deliveries) == [("slack", "message")]
        assert len(vendors.slack.messages) == 1

    def test_no_settings_means_nothing_to_send(self, vendors: Vendors) -> None:
        @flow
        def notify_flow() -> tuple[Delivery, ...]:
            return notify_outcome(make_report(Verdict.RECOVERED), None, dry_run=False)

        assert notify_flow() == ()
        assert vendors.request_count() == 0


class TestSecretsStayOut:
    def test_no_secret_reaches_a_log_line_a_delivery_or_an_exception(
        self,
        vendors: Vendors,
        secret_refs: Secrets,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        webhook_url = vendors.slack.add_webhook("#ops")
        webhook = SlackRoute(webhook_url=save_secret(webhook_url))
        bad_key = save_secret("wrong-" + secrets.token_hex(8))
        for name in ("", "slack_sdk", "urllib3", "firstline", "prefect", "httpx"):
            caplog.set_level(logging.DEBUG, logger=name or None)
        prefect_logger = logging.getLogger("prefect")
        prefect_logger.addHandler(caplog.handler)
        texts: list[str] = []

        def run(report: IncidentReport, settings: NotifySettings) -> None:
            try:
                texts.append(repr(notify(report, settings)))
            except NotificationError as exc:
                texts.append("".join(traceback.format_exception(exc)))

        try:
            og = settings_for(vendors, secret_refs)
            pd = settings_for(vendors, secret_refs, "pagerduty")
            vendors.slack.rate_limit_next(1, retry_after_seconds=0)
            run(make_report(Verdict.ESCALATED), og)
            run(make_report(Verdict.ESCALATED), pd)
            vendors.slack.fail_next(4, status=500)
            run(make_report(Verdict.RECOVERED), og)
            run(
                make_report(Verdict.RECOVERED),
                settings_for(vendors, secret_refs, slack=webhook),
            )
            wrong_pd = PagerRoute(
                kind="pagerduty", key=bad_key, base_url=vendors.pagerduty.base_url
            )
            run(
                make_report(Verdict.ESCALATED),
                og.model_copy(update={"pager": wrong_pd}),
            )
            vendors.slack.down = True
            vendors.opsgenie.down = True
            run(
                make_report(Verdict.ESCALATED),
                settings_for(vendors, secret_refs, slack=webhook),
            )
        finally:
            prefect_logger.removeHandler(caplog.handler)

        texts += [r.getMessage() for r in caplog.records]
        texts += [caplog.handler.format(r) for r in caplog.records if r.exc_info]
        everything = "\n".join(texts)
        assert any(r.name.startswith("urllib3") for r in caplog.records)
        assert "connection refused" in everything and "HTTP 400" in everything
        for secret in (SLACK_TOKEN, GENIE_KEY, ROUTING_KEY, webhook_url):
            assert secret not in everything
        assert webhook_url.rsplit("/", 1)[1] not in everything
