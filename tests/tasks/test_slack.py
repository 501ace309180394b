from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from firstline.errors import NotificationError
from firstline.models import Verdict
from firstline.settings import SlackRoute
from sandbox.saas import FakeSlack
from tasks._delivery import RetryPolicy
from tasks.slack import SlackPoster, build_message
from tests.tasks.notify_helpers import FAST_RETRY, FLOW_RUN_URL, make_report

# Built, not written whole, so no scanner takes it for a real token.
TOKEN = "xoxb-" + "test-token-5c1d"
WRONG_TOKEN = "xoxb-" + "wrong-token-9a7e"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(tokens=[TOKEN], channels=["#ops"]) as fake:
        yield fake


def poster(
    slack: FakeSlack,
    *,
    token: str = TOKEN,
    channel: str = "#ops",
    retry: RetryPolicy = FAST_RETRY,
) -> SlackPoster:
    route = SlackRoute(channel=channel, base_url=slack.api_base_url)
    return SlackPoster(route, token=SecretStr(token), retry=retry)


def message_text(blocks: tuple[object, ...]) -> str:
    return repr(blocks)


class TestBuildMessage:
    def test_a_recovered_run_says_what_failed_what_was_done_and_how_long(
        self,
    ) -> None:
        report = make_report(Verdict.RECOVERED)

        message = build_message(report, flow_run_url=FLOW_RUN_URL)

        blocks = message_text(message.blocks)
        assert message.blocks[0]["type"] == "header"
        assert "Recovered: web-1" in blocks
        assert report.instance_id in blocks and "eu-west-1" in blocks
        assert "Failed before the reboot" in blocks
        assert "url url-target: failed, HTTP 500" in blocks
        assert "ssh ssh-target: failed" in blocks
        assert "route53 ssh-target" not in blocks
        assert f"rebooted {report.instance_id}" in blocks
        assert "Healthy again 4 min 12 s after the run started" in blocks
        assert "1 min 13 s after the reboot" in blocks
        assert f"<{FLOW_RUN_URL}|Prefect flow run>" in blocks
        assert report.alarm is not None and report.alarm.alarm_name in blocks

    def test_the_plain_text_fallback_carries_the_verdict_reason_and_link(
        self,
    ) -> None:
        report = make_report(Verdict.RECOVERED)

        text = build_message(report, flow_run_url=FLOW_RUN_URL).text

        assert text.startswith(":white_check_mark: Recovered: web-1")
        assert report.reason in text
        assert FLOW_RUN_URL in text

    def test_notes_about_the_pager_are_shown(self) -> None:
        report = make_report(Verdict.ESCALATED)

        message = build_message(
            report, flow_run_url=None, notes=["Paged opsgenie: alert k."]
        )

        assert "Paged opsgenie: alert k." in message_text(message.blocks)
        assert "Paged opsgenie" in message.text
        assert "Prefect flow run" not in message_text(message.blocks)

    def test_slack_control_characters_in_the_reason_are_escaped(self) -> None:
        report = make_report(Verdict.NOT_CHECKED, reason="a <b> & c")

        message = build_message(report, flow_run_url=None)

        assert "a &lt;b&gt; &amp; c" in message_text(message.blocks)


class TestSlackPosterWithToken:
    def test_one_message_with_blocks_and_text_reaches_the_channel(
        self, slack: FakeSlack
    ) -> None:
        report = make_report(Verdict.RECOVERED)
        message = build_message(report, flow_run_url=FLOW_RUN_URL)

        delivery = poster(slack).post(message, dedup_key=report.dedup_key)

        (posted,) = slack.messages
        assert posted.text == message.text
        assert posted.blocks == tuple(dict(b) for b in message.blocks)
        assert (delivery.channel, delivery.action, delivery.target) == (
            "slack",
            "message",
            "#ops",
        )
        assert "ts" in delivery.detail

    def test_a_429_is_retried_after_the_retry_after_seconds(
        self, slack: FakeSlack
    ) -> None:
        slack.rate_limit_next(1, retry_after_seconds=1)
        message = build_message(make_report(Verdict.RECOVERED), flow_run_url=None)

        started = time.monotonic()
        poster(slack).post(message)
        waited = time.monotonic() - started

        assert [r.status for r in slack.requests] == [429, 200]
        assert waited >= 1.0
        assert len(slack.messages) == 1

    def test_server_errors_are_retried_until_one_succeeds(
        self, slack: FakeSlack
    ) -> None:
        slack.fail_next(2, status=503)
        message = build_message(make_report(Verdict.RECOVERED), flow_run_url=None)

        poster(slack).post(message)

        assert [r.status for r in slack.requests] == [503, 503, 200]

    def test_an_unknown_channel_is_a_configuration_error_tried_once(
        self, slack: FakeSlack
    ) -> None:
        message = build_message(make_report(Verdict.RECOVERED), flow_run_url=None)

        with pytest.raises(NotificationError) as caught:
            poster(slack, channel="#nowhere").post(message)

        assert "channel_not_found" in str(caught.value)
        assert "invite the bot" in str(caught.value)
        assert slack.request_count() == 1

    def test_a_bad_token_is_reported_without_its_value(self, slack: FakeSlack) -> None:
        message = build_message(make_report(Verdict.RECOVERED), flow_run_url=None)

        with pytest.raises(NotificationError) as caught:
            poster(slack, token=WRONG_TOKEN).post(message)

        assert "invalid_auth" in str(caught.value)
        assert WRONG_TOKEN not in str(caught.value)
        assert slack.request_count() == 1

    def test_a_slack_that_stays_down_fails_after_the_attempts_with_the_reason(
        self, slack: FakeSlack
    ) -> None:
        slack.down = True
        message = build_message(make_report(Verdict.RECOVERED), flow_run_url=None)

        with pytest.raises(NotificationError) as caught:
            poster(slack).post(message)

        assert "after 4 attempts" in str(caught.value)
        assert "connection refused" in str(caught.value)


class TestSlackPosterWithWebhook:
    def webhook_poster(self, url: str) -> SlackPoster:
        route = SlackRoute(webhook_url={"prefect_secret": "slack-webhook"})
        return SlackPoster(route, webhook_url=SecretStr(url), retry=FAST_RETRY)

    def test_a_message_is_posted_to_the_webhook_channel(self, slack: FakeSlack) -> None:
        url = slack.add_webhook("#ops")
        message = build_message(make_report(Verdict.RECOVERED), flow_run_url=None)

        delivery = self.webhook_poster(url).post(message)

        (posted,) = slack.messages
        assert (posted.via, posted.text) == ("webhook", message.text)
        assert delivery.target == "incoming webhook"

    def test_a_revoked_webhook_is_reported_without_its_url(
        self, slack: FakeSlack
    ) -> None:
        url = slack.base_url + "/services/T0/B0/revokedrevokedrevoked"
        message = build_message(make_report(Verdict.RECOVERED), flow_run_url=None)

        with pytest.raises(NotificationError) as caught:
            self.webhook_poster(url).post(message)

        text = str(caught.value)
        assert "HTTP 404" in text and "no_service" in text
        assert "prefect-secret:slack-webhook" in text
        assert "revokedrevokedrevoked" not in text
        assert slack.request_count() == 1

    def test_a_webhook_rate_limit_is_retried(self, slack: FakeSlack) -> None:
        url = slack.add_webhook("#ops")
        slack.rate_limit_next(2, retry_after_seconds=0)
        message = build_message(make_report(Verdict.RECOVERED), flow_run_url=None)

        self.webhook_poster(url).post(message)

        assert [r.status for r in slack.requests] == [429, 429, 200]

    def test_an_unreachable_webhook_fails_without_naming_its_path(
        self, slack: FakeSlack
    ) -> None:
        url = slack.add_webhook("#ops")
        slack.down = True
        message = build_message(make_report(Verdict.RECOVERED), flow_run_url=None)

        with pytest.raises(NotificationError) as caught:
            self.webhook_poster(url).post(message)

        assert "connection refused" in str(caught.value)
        assert url.rsplit("/", 1)[1] not in str(caught.value)
        assert caught.value.__cause__ is not None
        assert url.rsplit("/", 1)[1] not in repr(caught.value.__cause__)
        assert caught.value.__cause__.__context__ is None
