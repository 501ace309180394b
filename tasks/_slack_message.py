"""The Block Kit message for a notified run, with its plain-text fallback.

What happened (instance, region, alarm), which checks failed before the reboot,
what firstline did, how long recovery took, lines about the pager, and a link to
the Prefect flow run. Text from the run is escaped the way Slack asks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from firstline.models import IncidentReport
from tasks._incident_text import (
    describe_check,
    failed_before_reboot,
    format_duration,
    headline,
    instance_label,
    recovery_sentence,
    truncate,
)

SECTION_TEXT_CHARS = 3000
HEADER_TEXT_CHARS = 150
FALLBACK_TEXT_CHARS = 3000

EMOJI = {
    "healthy": ":large_green_circle:",
    "recovered": ":white_check_mark:",
    "escalated": ":rotating_light:",
    "not-checked": ":grey_question:",
    "dry-run": ":memo:",
    "held": ":double_vertical_bar:",
    "duplicate": ":repeat:",
}


@dataclass(frozen=True)
class SlackMessage:
    """Block Kit blocks and the plain-text fallback that always goes with them."""

    text: str
    blocks: tuple[Mapping[str, Any], ...]


def build_message(
    report: IncidentReport, *, flow_run_url: str | None, notes: Sequence[str] = ()
) -> SlackMessage:
    """What happened, what failed first, what was done, how long, and the link.

    ``notes`` are lines about the pager (paged, closed, or why paging failed).
    """
    title = f"{EMOJI[report.verdict.value]} {headline(report)}"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": _plain(truncate(headline(report), HEADER_TEXT_CHARS)),
        },
        _section(f"*{_escape(report.reason)}*"),
        {"type": "section", "fields": _fields(report)},
    ]
    failed = failed_before_reboot(report)
    if failed:
        lines = "\n".join(f"• {_escape(describe_check(r))}" for r in failed)
        label = "Failed before the reboot" if report.rebooted else "Failed checks"
        blocks.append(_section(f"*{label}:*\n{lines}"))
    if report.actions:
        lines = "\n".join(f"• {_escape(a)}" for a in report.actions)
        blocks.append(_section(f"*What firstline did:*\n{lines}"))
    recovery = recovery_sentence(report)
    if recovery:
        blocks.append(_section(_escape(recovery)))
    if notes:
        blocks.append(_section("\n".join(f"• {_escape(n)}" for n in notes)))
    if flow_run_url:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"<{flow_run_url}|Prefect flow run>"}
                ],
            }
        )

    text_parts = [title, report.reason, *(recovery or "",), *notes]
    if flow_run_url:
        text_parts.append(f"Flow run: {flow_run_url}")
    text = truncate(" | ".join(p for p in text_parts if p), FALLBACK_TEXT_CHARS)
    return SlackMessage(text=text, blocks=tuple(blocks))


def _fields(report: IncidentReport) -> list[dict[str, str]]:
    fields = [
        f"*Instance*\n{_escape(instance_label(report))}",
        f"*Verdict*\n{report.verdict.value}",
        f"*Alarm*\n{_escape(report.alarm.alarm_name) if report.alarm else 'none'}",
        f"*Run took*\n{format_duration(report.seconds_to_verdict)}",
    ]
    return [{"type": "mrkdwn", "text": f} for f in fields]


def _section(text: str) -> dict[str, Any]:
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": truncate(text, SECTION_TEXT_CHARS)},
    }


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _escape(text: str) -> str:
    """Slack's three control characters, escaped as its docs ask."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
