from __future__ import annotations

import os
import subprocess
import sys

import pytest

from benchmarks import storm


def sqlite_run(**changes: object) -> dict[str, object]:
    run: dict[str, object] = {
        "flow_runs": 900,
        "seconds_from_first_alarm_to_last_verdict": 240.0,
        "seconds_after_last_alarm_to_last_verdict": 180.0,
    }
    run.update(changes)
    return run


class TestSpeedupCeiling:
    def test_is_the_measured_time_over_the_fastest_the_cores_allow(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(os, "cpu_count", lambda: 2)

        # 900 runs x 0.5 CPU s on 2 cores: 225 s from the first alarm, 165 s
        # after the last of a 60 s storm.
        assert storm._speedup_ceiling(sqlite_run(), 0.5) == round(180 / 165, 2)

    def test_more_cores_raise_it(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(os, "cpu_count", lambda: 8)

        # 56.25 s of work fits inside the storm: the floor is 1 s after it.
        assert storm._speedup_ceiling(sqlite_run(), 0.5) == 180.0

    def test_a_costlier_set_up_has_a_lower_one(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(os, "cpu_count", lambda: 2)

        # 900 runs x 0.6 CPU s on 2 cores: 270 s, 210 s after the last alarm.
        assert storm._speedup_ceiling(sqlite_run(), 0.6) == round(180 / 210, 2)

    def test_unknown_cpu_use_gives_no_ceiling(self) -> None:
        assert storm._speedup_ceiling(sqlite_run(), None) is None


class TestMachineCpuSeconds:
    def test_busy_time_grows_with_work_and_stays_within_the_total(self) -> None:
        busy_before, total_before = storm.machine_cpu_seconds()
        sum(i * i for i in range(3_000_000))
        busy_after, total_after = storm.machine_cpu_seconds()

        one_tick = 1 / os.sysconf("SC_CLK_TCK")
        assert 0 < busy_after - busy_before <= total_after - total_before + one_tick
        assert busy_after <= total_after


SPIN_THEN_SLEEP = """
import time
end = time.process_time() + 0.5
while time.process_time() < end:
    pass
print("spun", flush=True)
time.sleep(60)
"""


class TestProcessGroupCpuSeconds:
    def test_counts_a_busy_group_and_not_an_idle_one(self) -> None:
        busy = subprocess.Popen(
            [sys.executable, "-c", SPIN_THEN_SLEEP],
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        idle = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(60)"],
            start_new_session=True,
        )
        try:
            assert busy.stdout is not None
            assert busy.stdout.readline() == b"spun\n"

            assert storm.process_group_cpu_seconds(busy.pid) >= 0.5
            assert storm.process_group_cpu_seconds(idle.pid) < 0.3
        finally:
            for process in (busy, idle):
                process.kill()
                process.communicate()

    def test_a_group_with_no_process_has_spent_nothing(self) -> None:
        assert storm.process_group_cpu_seconds(2**22 + 1) == 0.0
