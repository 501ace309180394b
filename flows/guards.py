"""Guards that may hold a reboot, as pure functions of durable records.

The records themselves (reboot history, alarms per region, locks) live in Prefect
and are read by ``tasks/guard_state.py``; these functions only judge them, so every
rule is testable without a server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from firstline.settings import BreakerSettings, RebootBudget

MAINTENANCE_TAG = "firstline:maintenance"


@dataclass(frozen=True)
class GuardOutcome:
    """Whether a guard lets the reboot go ahead, and why not."""

    allowed: bool
    reason: str
    page: bool = False


ALLOW = GuardOutcome(allowed=True, reason="")


def check_budget(
    reboots: Sequence[datetime], budgets: Sequence[RebootBudget], now: datetime
) -> GuardOutcome:
    """Hold when any budget window already holds its maximum of reboots."""
    for budget in budgets:
        since = now - timedelta(seconds=budget.window_seconds)
        spent = sorted(t for t in reboots if t > since)
        if len(spent) >= budget.max_reboots:
            history = ", ".join(f"{t:%Y-%m-%d %H:%M:%S}Z" for t in spent) or "none"
            return GuardOutcome(
                allowed=False,
                page=True,
                reason=(
                    f"reboot budget spent: {len(spent)} of {budget.max_reboots} "
                    f"reboot(s) in the last {budget.window_seconds:.0f} s "
                    f"(reboots: {history})"
                ),
            )
    return ALLOW


def check_breaker(
    alarmed: Mapping[str, datetime],
    managed_count: int,
    settings: BreakerSettings,
    now: datetime,
) -> GuardOutcome:
    """Hold every reboot in a region where too many instances alarmed at once."""
    if not settings.enabled:
        return ALLOW
    since = now - timedelta(seconds=settings.window_seconds)
    recent = sorted(i for i, t in alarmed.items() if t > since)
    share = 100.0 * len(recent) / managed_count if managed_count else 0.0
    over_count = len(recent) > settings.max_instances
    over_share = managed_count > 0 and share > settings.max_percent
    # A share of a tiny region would open the breaker for one alarm: the share
    # counts only once more than one instance has alarmed.
    if over_count or (over_share and len(recent) > 1):
        return GuardOutcome(
            allowed=False,
            page=True,
            reason=(
                f"fleet breaker open: {len(recent)} of {managed_count} managed "
                f"instance(s) alarmed in the last {settings.window_seconds:.0f} s "
                f"(limits: more than {settings.max_instances} or "
                f"{settings.max_percent:.0f} %); looks like a shared cause"
            ),
        )
    return ALLOW


def check_maintenance(tags: Mapping[str, str], now: datetime) -> GuardOutcome:
    """Hold, without a page, an instance tagged as in maintenance.

    The tag's value is ``true`` (until removed) or an ISO 8601 end time; an end
    time that cannot be read counts as maintenance, since the tag shows intent.
    """
    value = tags.get(MAINTENANCE_TAG)
    if value is None:
        return ALLOW
    until = _parse_time(value)
    if until is not None and until <= now:
        return ALLOW
    ends = f" until {until:%Y-%m-%d %H:%M}Z" if until is not None else ""
    return GuardOutcome(
        allowed=False,
        page=False,
        reason=f"instance is in maintenance ({MAINTENANCE_TAG}={value!r}){ends}",
    )


def _parse_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
