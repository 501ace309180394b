"""Measure 1: from the relay receiving an EventBridge event to the first check.

On the embedded default (the SQLite Prefect server and ``deployments.serve`` in
fast mode, polling every 0.25 s), ``deployments.latency`` hands the events to
the relay one at a time and reads, from the server's records, when each run's
first check started. The alarms go round a handful of healthy instances, so no
alarm lands on an instance whose previous run still holds its lock.

The tuning's cost is measured too: an idle runner is pointed at the server
through a counting proxy for a while, and its HTTP requests are counted.
"""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.delay_proxy import DelayProxy
from benchmarks.report import MeasureResult
from benchmarks.runners import start_runner

INSTANCES = 10
TARGET_P50_SECONDS = 1.0
TARGET_P95_SECONDS = 2.0
IDLE_SECONDS = 10.0
POLL_INTERVAL_SECONDS = 0.25

logger = logging.getLogger("benchmarks.alarm_latency")


def measure_alarm_latency(server: Any, alarms: int, workdir: Path) -> MeasureResult:
    from deployments.alarm_events import cpu_alarm_event
    from deployments.latency import measure_alarm_latency as measure
    from sandbox import Sandbox
    from sandbox.fleetfile import write_fleet_file

    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    with Sandbox(regions=("eu-west-1",)) as sandbox:
        instances = [
            sandbox.add_instance(region="eu-west-1", name=f"bench-1-{n}")
            for n in range(INSTANCES)
        ]
        fleet_file = write_fleet_file(workdir / "fleet.yaml", instances)
        runner = start_runner(
            workdir / "runner",
            server.api_url,
            sandbox,
            fleet_file,
            ("--poll-interval-seconds", str(POLL_INTERVAL_SECONDS)),
        )
        try:
            runner.wait_until_serving()
            events = [
                cpu_alarm_event(
                    instances[n % INSTANCES].instance_id,
                    "eu-west-1",
                    sandbox.account_id,
                    event_id=str(uuid.uuid4()),
                )
                for n in range(alarms)
            ]
            report = measure(server.api_url, events, timeout_seconds=60.0)
        finally:
            runner.stop()
        idle_requests_per_second = _idle_requests_per_second(
            server, sandbox, fleet_file, workdir / "idle-runner"
        )

    samples = [s.to_first_check_seconds for s in report.samples]
    p50, p95 = report.p50_seconds, report.p95_seconds
    figures = {
        "alarms": len(samples),
        "p50_seconds": p50,
        "p95_seconds": p95,
        "max_seconds": max(samples),
        "p50_to_flow_run_seconds": sorted(
            s.to_flow_run_seconds for s in report.samples
        )[len(samples) // 2],
        "runner_poll_interval_seconds": POLL_INTERVAL_SECONDS,
        "idle_runner_requests_per_second": idle_requests_per_second,
        "idle_measured_seconds": IDLE_SECONDS,
    }
    return MeasureResult(
        key="alarm_latency",
        title="1. alarm to first check",
        target="p50 ≤ 1 s, p95 ≤ 2 s",
        met=p50 <= TARGET_P50_SECONDS and p95 <= TARGET_P95_SECONDS,
        figures=figures,
        summary=(
            f"{len(samples)} alarms: p50 {p50:.2f} s, p95 {p95:.2f} s, max "
            f"{max(samples):.2f} s; cost: an idle runner polling every "
            f"{POLL_INTERVAL_SECONDS:g} s makes {idle_requests_per_second:.1f} API "
            "requests/s"
        ),
        run_seconds=time.monotonic() - started,
        notes=(
            "clock from just before Relay.handle to the first check task's start "
            "time as the server recorded it",
        ),
    )


def _idle_requests_per_second(
    server: Any, sandbox: Any, fleet_file: Path, home: Path
) -> float:
    """HTTP requests per second an idle runner sends, counted through a proxy."""
    proxy = DelayProxy(server.port).start()
    runner = start_runner(
        home,
        f"http://127.0.0.1:{proxy.port}/api",
        sandbox,
        fleet_file,
        ("--no-apply", "--poll-interval-seconds", str(POLL_INTERVAL_SECONDS)),
    )
    try:
        runner.wait_until_serving()
        # Start-up requests (reading the deployment) are not idle ones.
        time.sleep(2.0)
        before = proxy.requests
        time.sleep(IDLE_SECONDS)
        return (proxy.requests - before) / IDLE_SECONDS
    finally:
        runner.stop()
        proxy.close()
