"""The two-pass decision, as a pure function the flow calls after each step.

First pass, no reboot yet:
    every check clear           -> healthy
    nothing could be checked    -> not-checked
    a check failed, dry run     -> dry-run (the reboot is only described)
    a check failed              -> reboot
After the reboot:
    the last pass is clear      -> recovered
    the window ran out          -> escalated
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from firstline.models import CheckPass, Verdict


class NextStep(StrEnum):
    FINISH = "finish"
    REBOOT = "reboot"


@dataclass(frozen=True)
class Decision:
    """What to do next; ``verdict`` is set exactly when the step is FINISH."""

    step: NextStep
    verdict: Verdict | None
    reason: str


def decide(
    first: CheckPass, after_reboot: CheckPass | None = None, *, dry_run: bool = False
) -> Decision:
    """Decide from the first pass and, once rebooted, the last pass after it."""
    if after_reboot is not None:
        if after_reboot.all_clear:
            return Decision(
                NextStep.FINISH,
                Verdict.RECOVERED,
                f"all checks pass after the reboot (attempt {after_reboot.attempt})",
            )
        return Decision(
            NextStep.FINISH,
            Verdict.ESCALATED,
            "still failing after the reboot when the recovery window ran out: "
            + _names(after_reboot),
        )

    if not first.checked_anything:
        return Decision(
            NextStep.FINISH,
            Verdict.NOT_CHECKED,
            "no check is configured to run for this instance",
        )
    if not first.has_failure:
        return Decision(NextStep.FINISH, Verdict.HEALTHY, "all checks pass")
    if dry_run:
        return Decision(
            NextStep.FINISH,
            Verdict.DRY_RUN,
            f"would reboot: {_names(first)} failed (dry run: nothing done)",
        )
    return Decision(NextStep.REBOOT, None, f"{_names(first)} failed")


def _names(check_pass: CheckPass) -> str:
    failed = check_pass.failed_checks
    if not failed:
        return "no check passed"
    return ", ".join(f"{r.check.value} ({r.detail})" for r in failed)
