"""What each incident came to, as Prefect, the sandbox and the fake vendors saw it.

The verdict is the final state of the incident's flow run; reboots are those the
sandbox modelled; Slack messages and pages are the requests the fake Slack and
the fake OpsGenie accepted. A page request for an alias already open re-triggers
that alert (OpsGenie raises its count) rather than opening another.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from sandbox.saas import FakeOpsGenie, FakeSlack


@dataclass(frozen=True)
class IncidentOutcome:
    """One instance's alarm, from its first delivery to its verdict."""

    instance_id: str
    name: str
    region: str
    expected_verdict: str
    verdict: str | None
    """The flow run's final state name; None when no run ended in time."""
    reboots: int
    slack_messages: int
    pages_opened: int
    pages_retriggered: int
    pages_closed: int
    page_alias: str | None
    alarm_deliveries: int
    flow_runs: int
    seconds_to_verdict: float | None
    """From the alarm's first delivery to the end of its flow run."""
    flow_run_url: str | None

    @property
    def as_promised(self) -> bool:
        return self.verdict == self.expected_verdict and self.flow_runs == 1


@dataclass(frozen=True)
class PagerCounts:
    opened: int = 0
    retriggered: int = 0
    closed: int = 0
    alias: str | None = None


def pager_counts(opsgenie: FakeOpsGenie) -> dict[str, PagerCounts]:
    """Per instance id, the alerts its runs opened, re-triggered and closed."""
    open_aliases: set[str] = set()
    counts: dict[str, PagerCounts] = {}
    alias_owner: dict[str, str] = {}
    for request in opsgenie.requests:
        if request.status != 202 or not isinstance(request.body, dict):
            continue
        if request.path == opsgenie.prefix:
            alias = str(request.body.get("alias"))
            instance_id = str((request.body.get("details") or {}).get("instance_id"))
            alias_owner.setdefault(alias, instance_id)
            seen = counts.get(instance_id, PagerCounts())
            opened = alias not in open_aliases
            open_aliases.add(alias)
            counts[instance_id] = PagerCounts(
                opened=seen.opened + opened,
                retriggered=seen.retriggered + (not opened),
                closed=seen.closed,
                alias=alias,
            )
        elif request.path.endswith("/close"):
            alias = request.path.removeprefix(opsgenie.prefix + "/")
            alias = alias.removesuffix("/close")
            if alias in open_aliases:
                open_aliases.discard(alias)
                owner = alias_owner.get(alias, "")
                seen = counts.get(owner, PagerCounts(alias=alias))
                counts[owner] = PagerCounts(
                    seen.opened, seen.retriggered, seen.closed + 1, seen.alias
                )
    return counts


def slack_counts(slack: FakeSlack, instance_ids: Iterable[str]) -> dict[str, int]:
    """Per instance id, the Slack messages that name it."""
    texts = [
        json.dumps([post.text, post.blocks], default=str) for post in slack.messages
    ]
    return {
        instance_id: sum(1 for text in texts if instance_id in text)
        for instance_id in instance_ids
    }


def outcomes_as_json(outcomes: Sequence[IncidentOutcome]) -> str:
    return json.dumps([asdict(outcome) for outcome in outcomes])


def render_table(outcomes: Sequence[IncidentOutcome]) -> str:
    """The outcome as a plain-text table, one row per incident."""
    header = (
        "instance",
        "region",
        "verdict",
        "expected",
        "reboots",
        "slack",
        "pages opened/closed",
        "alarms/runs",
        "to verdict",
    )
    rows = [header]
    for outcome in outcomes:
        pages = f"{outcome.pages_opened}/{outcome.pages_closed}"
        if outcome.pages_retriggered:
            shared = (outcome.page_alias or "").endswith("fleet-breaker")
            which = "region" if shared else "open"
            pages += f" +{outcome.pages_retriggered} on the {which} page"
        rows.append(
            (
                f"{outcome.name} {outcome.instance_id}",
                outcome.region,
                outcome.verdict or "(none)",
                "ok" if outcome.as_promised else f"WANTED {outcome.expected_verdict}",
                str(outcome.reboots),
                str(outcome.slack_messages),
                pages,
                f"{outcome.alarm_deliveries}/{outcome.flow_runs}",
                _seconds(outcome.seconds_to_verdict),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def pager_summary(opsgenie: FakeOpsGenie) -> str:
    alerts = opsgenie.alerts
    if not alerts:
        return "pager: no alert was opened"
    parts = [
        f"{alias} ({alert.status}, {alert.count} request(s))"
        for alias, alert in sorted(alerts.items())
    ]
    return "pager alerts: " + "; ".join(parts)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"
