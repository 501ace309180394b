from __future__ import annotations

from datetime import UTC, datetime, timedelta

from firstline.settings import BreakerSettings, RebootBudget
from flows.guards import check_breaker, check_budget, check_maintenance

NOW = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)
BUDGETS = (
    RebootBudget(max_reboots=1, window_seconds=1800),
    RebootBudget(max_reboots=3, window_seconds=86_400),
)


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


class TestCheckBudget:
    def test_no_history_allows_a_reboot(self) -> None:
        assert check_budget([], BUDGETS, NOW).allowed

    def test_a_reboot_in_the_last_half_hour_holds_the_next(self) -> None:
        outcome = check_budget([ago(10)], BUDGETS, NOW)

        assert not outcome.allowed
        assert outcome.page
        assert "1 of 1" in outcome.reason
        assert "02:50:00" in outcome.reason

    def test_three_reboots_in_a_day_hold_the_fourth(self) -> None:
        outcome = check_budget([ago(60), ago(300), ago(600)], BUDGETS, NOW)

        assert not outcome.allowed
        assert "3 of 3" in outcome.reason

    def test_old_reboots_no_longer_count(self) -> None:
        assert check_budget([ago(40), ago(60 * 25)], BUDGETS, NOW).allowed

    def test_a_zero_budget_never_allows(self) -> None:
        budgets = (RebootBudget(max_reboots=0, window_seconds=60),)

        assert not check_budget([], budgets, NOW).allowed


class TestCheckBreaker:
    SETTINGS = BreakerSettings(max_instances=3, max_percent=30, window_seconds=600)

    def alarms(self, count: int, minutes: float = 1) -> dict[str, datetime]:
        return {f"i-{n:08x}": ago(minutes) for n in range(count)}

    def test_a_few_alarms_in_a_large_region_stay_closed(self) -> None:
        assert check_breaker(self.alarms(3), 100, self.SETTINGS, NOW).allowed

    def test_more_than_k_alarms_open_it_and_page(self) -> None:
        outcome = check_breaker(self.alarms(4), 100, self.SETTINGS, NOW)

        assert not outcome.allowed
        assert outcome.page
        assert "4 of 100" in outcome.reason

    def test_more_than_x_percent_opens_it(self) -> None:
        assert not check_breaker(self.alarms(2), 5, self.SETTINGS, NOW).allowed

    def test_one_alarm_in_a_tiny_region_does_not_open_it(self) -> None:
        assert check_breaker(self.alarms(1), 2, self.SETTINGS, NOW).allowed

    def test_alarms_outside_the_window_do_not_count(self) -> None:
        assert check_breaker(
            self.alarms(10, minutes=11), 100, self.SETTINGS, NOW
        ).allowed

    def test_a_disabled_breaker_never_opens(self) -> None:
        settings = BreakerSettings(enabled=False)

        assert check_breaker(self.alarms(10), 10, settings, NOW).allowed


class TestCheckMaintenance:
    def test_no_tag_allows(self) -> None:
        assert check_maintenance({"Name": "web-1"}, NOW).allowed

    def test_a_true_tag_holds_without_a_page(self) -> None:
        outcome = check_maintenance({"firstline:maintenance": "true"}, NOW)

        assert not outcome.allowed
        assert not outcome.page

    def test_a_future_end_time_holds(self) -> None:
        outcome = check_maintenance({"firstline:maintenance": "2026-12-03T05:00Z"}, NOW)

        assert not outcome.allowed
        assert "until 2026-12-03 05:00Z" in outcome.reason

    def test_a_past_end_time_allows(self) -> None:
        assert check_maintenance(
            {"firstline:maintenance": "2026-12-03T02:00Z"}, NOW
        ).allowed

    def test_an_unreadable_end_time_counts_as_maintenance(self) -> None:
        assert not check_maintenance(
            {"firstline:maintenance": "next tuesday"}, NOW
        ).allowed
