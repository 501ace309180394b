"""The markdown report each run leaves as a Prefect artifact."""

from __future__ import annotations

from firstline.models import CheckPass, IncidentReport


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _pass_rows(check_pass: CheckPass, label: str) -> list[str]:
    return [
        f"| {label} | {r.check.value} | {_cell(r.target)} | {r.status.value} | "
        f"{r.duration_seconds:.2f} s | {_cell(r.detail)} |"
        for r in check_pass.results
    ]


def render_report(report: IncidentReport) -> str:
    """Instance, trigger, every check of every pass, the action and the verdict."""
    alarm = report.alarm.alarm_name if report.alarm else "manual run"
    lines = [
        f"# {report.verdict.value}: {report.name} ({report.region})",
        "",
        f"- **Instance:** `{report.instance_id}` in `{report.region}`",
        f"- **Triggered by:** {_cell(alarm)}",
        f"- **Verdict:** **{report.verdict.value}** — {_cell(report.reason)}",
        f"- **Time to verdict:** {report.seconds_to_verdict:.1f} s",
        f"- **Dry run:** {'yes' if report.dry_run else 'no'}",
    ]
    if report.instance is not None:
        lines.append(f"- **EC2 state:** {report.instance.state}")
    if report.readiness is not None:
        r = report.readiness
        lines.append(
            f"- **Readiness after reboot:** {'ready' if r.ready else 'not ready'} "
            f"after {r.waited_seconds:.1f} s ({r.polls} polls; instance status "
            f"{r.instance_status}, system status {r.system_status})"
        )

    lines += ["", "## Actions", ""]
    lines += [f"- {_cell(a)}" for a in report.actions] or ["- none"]

    if report.passes:
        lines += [
            "",
            "## Checks",
            "",
            "| pass | check | target | status | duration | detail |",
            "|---|---|---|---|---|---|",
        ]
        for check_pass in report.passes:
            label = (
                "first"
                if check_pass.attempt == 0
                else f"after reboot #{check_pass.attempt}"
            )
            lines += _pass_rows(check_pass, label)

    if report.console_output_tail:
        lines += [
            "",
            "## Console output (tail)",
            "",
            "```",
            report.console_output_tail,
            "```",
        ]
    return "\n".join(lines) + "\n"
