"""The words of a notification, shared by the Slack message and the pages.

Plain text only: Slack escapes and formats it, the pagers truncate it to their
own limits. Every function reads the ``IncidentReport`` and nothing else.
"""

from __future__ import annotations

from firstline.models import CheckPass, CheckResult, IncidentReport, Verdict

ELLIPSIS = "…"

TITLES = {
    Verdict.HEALTHY: "Resolved",
    Verdict.RECOVERED: "Recovered",
    Verdict.ESCALATED: "Escalated",
    Verdict.NOT_CHECKED: "Not checked",
    Verdict.DRY_RUN: "Dry run",
    Verdict.HELD: "Held",
    Verdict.DUPLICATE: "Duplicate",
}


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters at a word boundary, marked with …."""
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return text[:limit]
    cut = text[: limit - len(ELLIPSIS)]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-—") + ELLIPSIS


def format_duration(seconds: float) -> str:
    """``42 s``, ``4 min 12 s`` or ``1 h 3 min``."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def flow_run_link(report: IncidentReport, prefect_ui_url: str | None) -> str | None:
    """The report's flow-run URL, else one built from the configured UI base."""
    if report.flow_run_url:
        return report.flow_run_url
    if prefect_ui_url and report.flow_run_id:
        return f"{prefect_ui_url.rstrip('/')}/runs/flow-run/{report.flow_run_id}"
    return None


def instance_label(report: IncidentReport) -> str:
    """``web-1 (i-0abc…, eu-west-1)``, or the id alone when there is no name."""
    if report.name != report.instance_id:
        return f"{report.name} ({report.instance_id}, {report.region})"
    return f"{report.instance_id} ({report.region})"


def headline(report: IncidentReport) -> str:
    """One line: what the run concluded about which instance."""
    return f"{TITLES[report.verdict]}: {instance_label(report)}"


def describe_check(result: CheckResult) -> str:
    """``url http://10.0.0.5/: failed, HTTP 500 (0.2 s)``."""
    return (
        f"{result.check.value} {result.target}: {result.status.value}, "
        f"{result.detail} ({result.duration_seconds:.1f} s)"
    )


def failed_before_reboot(report: IncidentReport) -> tuple[CheckResult, ...]:
    first = report.first_pass
    return first.failed_checks if first is not None else ()


def recovery_sentence(report: IncidentReport) -> str | None:
    """How long the run took to its verdict, and EC2's readiness wait if any."""
    if report.verdict is not Verdict.RECOVERED:
        return None
    took = format_duration(report.seconds_to_verdict)
    sentence = f"Healthy again {took} after the run started"
    if report.readiness is not None:
        sentence += (
            f"; EC2 reported the instance ready "
            f"{format_duration(report.readiness.waited_seconds)} after the reboot"
        )
    return sentence + "."


def pass_title(index: int, check_pass: CheckPass, rebooted: bool) -> str:
    """How a pass is named: by its place in the run, not its attempt number."""
    if index == 0:
        return "Before the reboot" if rebooted else "Checks"
    return f"After the reboot (attempt {check_pass.attempt})"


def evidence_text(report: IncidentReport) -> str:
    """Every pass, every check and its evidence, then the console tail."""
    lines = [headline(report), f"Verdict: {report.verdict.value}: {report.reason}"]
    if report.alarm is not None:
        lines.append(f"Alarm: {report.alarm.alarm_name}")
        if report.alarm.reason:
            lines.append(f"Alarm reason: {report.alarm.reason}")
    lines.append(f"Run took {format_duration(report.seconds_to_verdict)}.")
    for index, check_pass in enumerate(report.passes):
        lines += ["", pass_title(index, check_pass, report.rebooted) + ":"]
        for result in check_pass.results:
            lines.append(f"- {describe_check(result)}")
            lines += [f"    {key}: {value}" for key, value in result.evidence.items()]
    if report.actions:
        lines += ["", "What firstline did:"] + [f"- {a}" for a in report.actions]
    if report.readiness is not None:
        r = report.readiness
        lines.append(
            f"EC2 after the reboot: state {r.state}, instance status "
            f"{r.instance_status}, system status {r.system_status}, "
            f"waited {format_duration(r.waited_seconds)} ({r.polls} polls)."
        )
    if report.console_output_tail:
        lines += ["", "Console output (last lines):", report.console_output_tail]
    return "\n".join(lines)
