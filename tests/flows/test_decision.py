from __future__ import annotations

from datetime import UTC, datetime

import pytest

from firstline.models import CheckName, CheckPass, CheckResult, CheckStatus, Verdict
from flows.decision import NextStep, decide

NOW = datetime(2026, 12, 3, tzinfo=UTC)


def result(check: CheckName, status: CheckStatus) -> CheckResult:
    return CheckResult(check, f"target-{check.value}", status, status.value, 0.1, NOW)


def make_pass(attempt: int = 0, **statuses: CheckStatus) -> CheckPass:
    return CheckPass(
        attempt,
        tuple(result(CheckName(name), status) for name, status in statuses.items()),
    )


P, F, S = CheckStatus.PASSED, CheckStatus.FAILED, CheckStatus.SKIPPED


class TestDecide:
    def test_all_passing_is_healthy(self) -> None:
        decision = decide(make_pass(url=P, route53=P, ssh=P))

        assert (decision.step, decision.verdict) == (NextStep.FINISH, Verdict.HEALTHY)

    def test_a_skipped_route53_check_does_not_count_as_a_failure(self) -> None:
        assert decide(make_pass(url=P, route53=S, ssh=P)).verdict is Verdict.HEALTHY

    def test_nothing_checked_is_not_checked_and_never_a_reboot(self) -> None:
        decision = decide(make_pass(url=S, route53=S, ssh=S))

        assert decision.verdict is Verdict.NOT_CHECKED
        assert decision.step is NextStep.FINISH

    @pytest.mark.parametrize("failing", ["url", "route53", "ssh"])
    def test_any_failure_means_reboot(self, failing: str) -> None:
        statuses = {"url": P, "route53": P, "ssh": P, failing: F}

        decision = decide(make_pass(**statuses))

        assert decision.step is NextStep.REBOOT
        assert decision.verdict is None
        assert failing in decision.reason

    def test_a_dry_run_describes_the_reboot_and_finishes(self) -> None:
        decision = decide(make_pass(url=F, route53=P, ssh=P), dry_run=True)

        assert decision.verdict is Verdict.DRY_RUN
        assert "would reboot" in decision.reason

    def test_clear_after_the_reboot_is_recovered(self) -> None:
        first = make_pass(url=F, route53=P, ssh=F)

        decision = decide(first, make_pass(3, url=P, route53=P, ssh=P))

        assert decision.verdict is Verdict.RECOVERED
        assert "attempt 3" in decision.reason

    def test_still_failing_after_the_reboot_is_escalated(self) -> None:
        first = make_pass(url=F, route53=P, ssh=P)

        decision = decide(first, make_pass(5, url=F, route53=P, ssh=P))

        assert decision.verdict is Verdict.ESCALATED
        assert "url" in decision.reason

    def test_nothing_checked_after_the_reboot_is_not_recovered(self) -> None:
        first = make_pass(url=F, route53=S, ssh=S)

        assert decide(first, make_pass(1, url=S, route53=S, ssh=S)).verdict is (
            Verdict.ESCALATED
        )
