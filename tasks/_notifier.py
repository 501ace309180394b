"""The notifier behind ``tasks.notify``: plans a report's deliveries and makes them.

See ``tasks.notify`` for which verdict goes where. Secrets are read through the
``secret_reader`` only when a delivery is about to be made.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from pydantic import SecretStr

from firstline.errors import FirstlineError, NotificationError
from firstline.logs import get_logger
from firstline.models import IncidentReport, Verdict
from firstline.notify import Delivery
from firstline.settings import NotifySettings, SecretRef
from tasks._delivery import RetryPolicy
from tasks._incident_text import flow_run_link
from tasks.alerts import OpenAlert, OpenAlerts, Pager, build_alert, close_note
from tasks.opsgenie import OpsGenieClient
from tasks.pagerduty import PagerDutyClient
from tasks.slack import SlackPoster, build_message

Step = Literal["close", "page", "slack"]
SecretReader = Callable[[SecretRef, str], SecretStr]

_PAGING_VERDICTS = {Verdict.ESCALATED, Verdict.HELD}
_ALERT_VERDICTS = {*_PAGING_VERDICTS, Verdict.RECOVERED, Verdict.HEALTHY}


def plan_steps(
    verdict: Verdict, *, has_open_alert: bool, pages: bool = True
) -> tuple[Step, ...]:
    """The deliveries a verdict calls for, in the order they are made.

    ``pages`` is False for a hold that calls for no page (maintenance, a reboot
    declined by a person): Slack is still told.
    """
    if verdict in _PAGING_VERDICTS:
        return ("page", "slack") if pages else ("slack",)
    if verdict is Verdict.RECOVERED:
        return ("close", "slack") if has_open_alert else ("slack",)
    if verdict is Verdict.HEALTHY:
        return ("close", "slack") if has_open_alert else ()
    if verdict in (Verdict.NOT_CHECKED, Verdict.DRY_RUN):
        return ("slack",)
    return ()


class IncidentNotifier:
    """Routes one report to the Slack route and the pager of its NotifySettings."""

    def __init__(
        self,
        settings: NotifySettings,
        *,
        secret_reader: SecretReader,
        dry_run: bool = False,
        retry: RetryPolicy | None = None,
        open_alerts: OpenAlerts | None = None,
    ) -> None:
        self._settings = settings
        self._dry_run = dry_run
        self._retry = retry or RetryPolicy()
        self._open_alerts = open_alerts or OpenAlerts()
        self._read_secret = secret_reader

    def notify(self, report: IncidentReport) -> tuple[Delivery, ...]:
        dry_run = self._dry_run or report.dry_run or report.verdict is Verdict.DRY_RUN
        run = _Run(report, flow_run_link(report, self._settings.prefect_ui_url))
        open_alert = self._find_open_alert(run)
        steps = plan_steps(
            report.verdict,
            has_open_alert=open_alert is not None,
            pages=report.pages,
        )
        if dry_run:
            self._describe(run, steps, open_alert)
            return tuple(run.deliveries)

        if open_alert is not None and "close" in steps:
            self._close(run, open_alert)
        if "page" in steps:
            self._page(run, open_alert)
        if "slack" in steps:
            self._post_slack(run)
        if run.problems:
            raise NotificationError(" ".join(run.problems))
        return tuple(run.deliveries)

    def _find_open_alert(self, run: _Run) -> OpenAlert | None:
        if run.report.verdict not in _ALERT_VERDICTS:
            return None
        try:
            return self._open_alerts.get(run.report.dedup_key)
        except NotificationError as exc:
            # A page must still go out; only a close needs to know the record.
            run.failed(f"{exc} No alert was closed, as none is known to be open.")
            return None

    def _page(self, run: _Run, open_alert: OpenAlert | None) -> None:
        route = self._settings.pager
        report = run.report
        if route.kind == "none":
            run.skipped("pager", "no pager is configured (notify.pager.kind: none)")
            run.notes.append("No pager is configured, so nobody was paged.")
            return
        alert = build_alert(report, route, flow_run_url=run.link)
        try:
            delivery = self._pager(report).open(alert)
        except FirstlineError as exc:
            run.failed(f"Paging {route.kind} failed: {exc}")
            return
        run.delivered(delivery)
        again = " again (the alert was already open)" if open_alert else ""
        run.notes.append(f"Paged {route.kind}{again}: alert {alert.dedup_key}.")

        if open_alert is not None and open_alert.vendor == route.kind:
            record = open_alert.retriggered(report.flow_run_id)
        else:
            if open_alert is not None:
                run.notes.append(
                    f"An earlier {open_alert.vendor} alert for this instance stays "
                    "open: close it by hand."
                )
            record = OpenAlert(
                dedup_key=alert.dedup_key,
                vendor=route.kind,
                opened_at=datetime.now(UTC),
                flow_run_id=report.flow_run_id,
            )
        try:
            self._open_alerts.remember(record)
        except NotificationError as exc:
            run.failed(
                f"{exc} The alert is open at {route.kind}, but a later healthy run "
                "will not close it: close it by hand."
            )

    def _close(self, run: _Run, open_alert: OpenAlert) -> None:
        route = self._settings.pager
        key = open_alert.dedup_key
        if route.kind != open_alert.vendor:
            get_logger().warning(
                "alert %s was opened at %s, but the pager is now %r; close it by hand",
                key,
                open_alert.vendor,
                route.kind,
            )
            run.skipped(open_alert.vendor, f"the pager is now {route.kind!r}")
            run.notes.append(
                f"The {open_alert.vendor} alert {key} is still open: the pager is "
                f"now {route.kind!r}, so close it by hand."
            )
            return
        note = close_note(run.report, flow_run_url=run.link)
        try:
            delivery = self._pager(run.report).close(key, note)
        except FirstlineError as exc:
            run.failed(f"Closing the {route.kind} alert {key} failed: {exc}")
            return
        run.delivered(delivery)
        run.notes.append(f"Closed the {route.kind} alert {key}.")
        try:
            self._open_alerts.forget(key)
        except NotificationError as exc:
            run.failed(f"{exc} The next healthy run will close the alert again.")

    def _post_slack(self, run: _Run) -> None:
        route = self._settings.slack
        if not route.enabled:
            if run.problems:
                run.problems.append("Slack is not configured, so it was not told.")
            return
        message = build_message(run.report, flow_run_url=run.link, notes=run.notes)
        try:
            delivery = self._slack(run.report).post(
                message, dedup_key=run.report.dedup_key
            )
        except FirstlineError as exc:
            run.failed(str(exc))
            return
        run.delivered(delivery)

    def _pager(self, report: IncidentReport) -> Pager:
        route = self._settings.pager
        assert route.key is not None  # PagerRoute requires a key for every kind
        key = self._read_secret(route.key, report.region)
        label = route.key.describe()
        if route.kind == "pagerduty":
            return PagerDutyClient(
                routing_key=key,
                key_label=label,
                base_url=route.base_url,
                retry=self._retry,
            )
        if route.kind in ("opsgenie", "jsm"):
            return OpsGenieClient(
                kind=route.kind,
                api_key=key,
                key_label=label,
                base_url=route.base_url,
                retry=self._retry,
            )
        raise NotificationError(f"No pager is configured for {report.dedup_key}.")

    def _slack(self, report: IncidentReport) -> SlackPoster:
        route = self._settings.slack
        if route.token is not None:
            token = self._read_secret(route.token, report.region)
            return SlackPoster(route, token=token, retry=self._retry)
        if route.webhook_url is not None:
            url = self._read_secret(route.webhook_url, report.region)
            return SlackPoster(route, webhook_url=url, retry=self._retry)
        raise NotificationError(
            "Slack is enabled but has neither a 'token' nor a 'webhook_url' secret; "
            "set one in notify.slack of the fleet file."
        )

    def _describe(
        self, run: _Run, steps: tuple[Step, ...], open_alert: OpenAlert | None
    ) -> None:
        report = run.report
        pager = self._settings.pager
        slack = self._settings.slack
        for step in steps:
            if step == "close" and open_alert is not None:
                detail = f"would close alert {open_alert.dedup_key}"
                run.described(
                    open_alert.vendor, f"alias {open_alert.dedup_key}", detail
                )
                run.notes.append(f"Would close the {open_alert.vendor} alert.")
            elif step == "page" and pager.kind == "none":
                run.skipped("pager", "no pager is configured (notify.pager.kind: none)")
            elif step == "page":
                alert = build_alert(report, pager, flow_run_url=run.link)
                target = f"team {pager.team}" if pager.team else "default routing"
                run.described(
                    pager.kind, target, f"would page {pager.priority}: {alert.summary}"
                )
                run.notes.append(f"Would page {pager.kind}: alert {alert.dedup_key}.")
            elif step == "slack" and slack.enabled:
                message = build_message(report, flow_run_url=run.link, notes=run.notes)
                target = slack.channel or "incoming webhook"
                run.described("slack", target, f"would post: {message.text}")


class _Run:
    """What one notify call delivered, noted for Slack, and what went wrong."""

    def __init__(self, report: IncidentReport, link: str | None) -> None:
        self.report = report
        self.link = link
        self.deliveries: list[Delivery] = []
        self.notes: list[str] = []
        self.problems: list[str] = []

    def delivered(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        _log_delivery(delivery)

    def described(self, channel: str, target: str, detail: str) -> None:
        self.delivered(
            Delivery(
                channel,
                "described",
                target,
                f"dry run: {detail}",
                self.report.dedup_key,
            )
        )

    def skipped(self, channel: str, detail: str) -> None:
        self.delivered(Delivery(channel, "skipped", "-", detail, self.report.dedup_key))

    def failed(self, problem: str) -> None:
        get_logger().error("notify %s: %s", self.report.dedup_key, problem)
        self.problems.append(problem)
        self.notes.append(problem)


def _log_delivery(delivery: Delivery) -> None:
    get_logger().info(
        "notify %s %s %s -> %s: %s",
        delivery.channel,
        delivery.action,
        delivery.dedup_key or "-",
        delivery.target,
        delivery.detail,
    )
