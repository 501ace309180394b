"""The alarm-to-first-check measurement, on the served deployment and the sandbox."""

from __future__ import annotations

from uuid import uuid4

import pytest

from deployments.alarm_events import cpu_alarm_event
from deployments.latency import (
    AlarmLatency,
    LatencyReport,
    LatencyTimeoutError,
    measure_alarm_latency,
)
from tests.deployments.serving import ApiReader, Fleet, Runners
from tests.prefect_server import PrefectServer


def _sample(seconds: float) -> AlarmLatency:
    return AlarmLatency(str(uuid4()), uuid4(), seconds / 2, seconds)


class TestMeasureAlarmLatency:
    def test_each_alarm_is_timed_to_its_runs_first_check(
        self,
        runners: Runners,
        fleet: Fleet,
        api: ApiReader,
        prefect_server: PrefectServer,
    ) -> None:
        runners.use(("fast", ()))
        instances = [fleet.add(f"timed-{n}") for n in range(2)]
        events = [
            cpu_alarm_event(web.instance_id, web.region, fleet.sandbox.account_id)
            for web in instances
        ]

        report = measure_alarm_latency(prefect_server.api_url, events)

        assert [s.eventbridge_event_id for s in report.samples] == [
            e["id"] for e in events
        ]
        for sample in report.samples:
            (run,) = api.runs_for_alarm(sample.eventbridge_event_id)
            assert sample.flow_run_id == run.id
            assert 0 < sample.to_flow_run_seconds < sample.to_first_check_seconds < 30
        assert 0 < report.p50_seconds <= report.p95_seconds

    def test_an_alarm_whose_run_checks_nothing_times_out_with_a_reason(
        self, runners: Runners, fleet: Fleet, prefect_server: PrefectServer
    ) -> None:
        runners.use(("fast", ()))
        unknown = cpu_alarm_event(
            "i-0fedcba9876543210", "eu-west-1", fleet.sandbox.account_id
        )

        with pytest.raises(LatencyTimeoutError, match="started no check"):
            measure_alarm_latency(prefect_server.api_url, [unknown], timeout_seconds=8)


class TestLatencyReport:
    def test_percentiles_are_nearest_rank(self) -> None:
        report = LatencyReport(tuple(_sample(s) for s in range(20, 0, -1)))

        assert report.p50_seconds == 10
        assert report.p95_seconds == 19
        assert report.percentile_seconds(100) == 20

    def test_a_report_without_samples_has_no_percentile(self) -> None:
        with pytest.raises(ValueError, match="no sample"):
            LatencyReport(()).p50_seconds  # noqa: B018 - the property raises
