from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from prefect import get_client
from prefect.client.schemas.actions import VariableCreate

from firstline.errors import NotificationError
from firstline.models import Verdict
from firstline.settings import PagerRoute
from tasks.alerts import (
    Alert,
    OpenAlert,
    OpenAlerts,
    build_alert,
    close_note,
    variable_name,
)
from tests.tasks.notify_helpers import FLOW_RUN_URL, make_report, new_instance_id

OPENED_AT = datetime(2026, 12, 3, 9, 5, tzinfo=UTC)


class TestBuildAlert:
    def test_the_alert_is_keyed_and_routed_by_the_instance_settings(self) -> None:
        report = make_report(Verdict.ESCALATED)
        route = PagerRoute(
            kind="pagerduty",
            key={"prefect_secret": "pd"},
            team="infra",
            priority="P1",
            tags=("web", "prod"),
        )

        alert = build_alert(report, route, flow_run_url=FLOW_RUN_URL)

        assert alert.dedup_key == f"firstline-eu-west-1-{report.instance_id}"
        assert (alert.priority, alert.team) == ("P1", "infra")
        assert alert.tags == ("firstline", "eu-west-1", "web", "prod")
        assert alert.source == report.instance_id
        assert alert.summary.startswith("firstline Escalated: web-1")
        assert alert.details["verdict"] == "escalated"
        assert alert.link_url == FLOW_RUN_URL

    def test_the_description_shows_both_passes_and_the_console_tail(self) -> None:
        alert = build_alert(
            make_report(Verdict.ESCALATED), PagerRoute(), flow_run_url=None
        )

        assert "Before the reboot:" in alert.description
        assert "After the reboot (attempt 4):" in alert.description
        assert "- ssh ssh-target: failed, no banner within 5 s" in alert.description
        assert "[  OK  ] Started nginx.service" in alert.description

    def test_an_unknown_priority_is_refused(self) -> None:
        with pytest.raises(ValueError, match="P6"):
            Alert("k", "s", "d", "i-1", "P6")  # type: ignore[arg-type]

    def test_the_close_note_says_what_the_run_found(self) -> None:
        report = make_report(Verdict.HEALTHY)

        note = close_note(report, flow_run_url=FLOW_RUN_URL)

        assert note.startswith("firstline closed this alert: Resolved: web-1")
        assert "all checks pass" in note
        assert FLOW_RUN_URL in note


class TestVariableName:
    def test_the_dedup_key_becomes_a_valid_prefect_variable_name(self) -> None:
        name = variable_name("firstline-eu-west-1-i-0123456789abcdef0")

        assert name == "open-alert-firstline-eu-west-1-i-0123456789abcdef0"

    def test_characters_prefect_refuses_are_replaced(self) -> None:
        assert variable_name("Firstline.X/Y") == "open-alert-firstline-x-y"


@pytest.mark.usefixtures("prefect_harness")
class TestOpenAlerts:
    def test_a_remembered_alert_is_read_back_and_forgotten(self) -> None:
        key = f"firstline-eu-west-1-{new_instance_id()}"
        record = OpenAlert(key, "opsgenie", OPENED_AT, "run-1")
        alerts = OpenAlerts()

        alerts.remember(record)
        assert alerts.get(key) == record
        assert alerts.forget(key) is True

        assert alerts.get(key) is None
        assert alerts.forget(key) is False

    def test_remembering_again_overwrites_the_record(self) -> None:
        key = f"firstline-eu-west-1-{new_instance_id()}"
        alerts = OpenAlerts()
        first = OpenAlert(key, "pagerduty", OPENED_AT, "run-1")

        alerts.remember(first)
        alerts.remember(first.retriggered("run-2"))

        again = alerts.get(key)
        assert again is not None
        assert (again.triggers, again.flow_run_id, again.last_flow_run_id) == (
            2,
            "run-1",
            "run-2",
        )

    def test_runs_remembering_one_key_at_once_all_succeed(self) -> None:
        key = f"firstline-eu-west-1-fleet-breaker-{new_instance_id()}"
        alerts = OpenAlerts()
        records = [OpenAlert(key, "opsgenie", OPENED_AT, f"run-{n}") for n in range(6)]

        with ThreadPoolExecutor(max_workers=len(records)) as pool:
            list(pool.map(alerts.remember, records))

        assert alerts.get(key) is not None

    def test_a_record_edited_into_nonsense_is_reported_by_name(self) -> None:
        key = f"firstline-eu-west-1-{new_instance_id()}"
        with get_client(sync_client=True) as client:
            client.create_variable(
                VariableCreate(name=variable_name(key), value={"vendor": "x"})
            )

        with pytest.raises(NotificationError, match=variable_name(key)):
            OpenAlerts().get(key)
