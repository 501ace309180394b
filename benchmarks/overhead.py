"""Measure 4: orchestration overhead per incident, against a bare Prefect flow.

firstline's flow handles a healthy sandbox instance whose checks answer at once
(the URL check on 127.0.0.1 without latency; the Route 53 and SSH checks
disabled, so their tasks still run and return at once): no reboot, verdict
healthy. A bare flow on the same server runs the same number of tasks, three of
them submitted together like the first pass, and does nothing else. Both are
called in this process, one after another, ``repetitions`` times each after one
untimed call; the ratio of the medians is the overhead.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from benchmarks.report import MeasureResult
from benchmarks.stats import median

TARGET_RATIO = 1.2
CONCURRENT_TASKS = 3

logger = logging.getLogger("benchmarks.overhead")


def measure_overhead(repetitions: int, workdir: Path) -> MeasureResult:
    from benchmarks.environment import aws_pointed_at
    from sandbox import Sandbox
    from sandbox.fleetfile import write_fleet_file

    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    with Sandbox() as sandbox, aws_pointed_at(sandbox):
        instance = sandbox.add_instance(region=sandbox.regions[0], name="bench-4")
        fleet_file = write_fleet_file(
            workdir / "fleet.yaml",
            [instance],
            per_instance={
                instance.instance_id: {
                    "checks": {"route53": {"enabled": False}, "ssh": {"enabled": False}}
                }
            },
        )
        warm_up = _run_firstline(instance, str(fleet_file))
        task_count = _task_count(warm_up[1])
        firstline = [
            _run_firstline(instance, str(fleet_file))[0] for _ in range(repetitions)
        ]
        _run_bare(task_count)
        bare = [_run_bare(task_count) for _ in range(repetitions)]

    ratio = median(firstline) / median(bare)
    figures = {
        "repetitions": repetitions,
        "task_runs_per_incident": task_count,
        "firstline_incident_seconds": median(firstline),
        "bare_flow_seconds": median(bare),
        "ratio": ratio,
        "extra_seconds_per_incident": median(firstline) - median(bare),
    }
    logger.info("overhead: %s", figures)
    return MeasureResult(
        key="overhead",
        title="4. orchestration overhead per incident",
        target=f"≤ {TARGET_RATIO:g}× a bare flow with as many tasks",
        met=ratio <= TARGET_RATIO,
        figures=figures,
        summary=(
            f"firstline {median(firstline) * 1000:.0f} ms per healthy incident, bare "
            f"flow with {task_count} tasks {median(bare) * 1000:.0f} ms: "
            f"{ratio:.2f}×"
        ),
        run_seconds=time.monotonic() - started,
        notes=(
            "both flows are called in the benchmark's process against the shared "
            "SQLite server; the firstline figure includes its lock, artifact and "
            "notification, which the bare flow does not have; its run is tagged up "
            "front with the instance and region, as the relay tags the runs it "
            "creates",
        ),
    )


def _run_firstline(instance: Any, fleet_file: str) -> tuple[float, UUID]:
    from prefect import tags

    from flows.remediate import remediate_instance

    # Tagged as the relay tags the runs it creates, so the flow skips its own.
    start = time.perf_counter()
    with tags(instance.instance_id, instance.region):
        state = remediate_instance(
            instance_id=instance.instance_id,
            region=instance.region,
            fleet_file=fleet_file,
            return_state=True,
        )
    seconds = time.perf_counter() - start
    report: Any = state.result()
    verdict = report.verdict.value
    if verdict != "healthy":
        raise RuntimeError(f"the healthy instance got verdict {verdict}, not healthy")
    flow_run_id = state.state_details.flow_run_id
    if flow_run_id is None:
        raise RuntimeError("the incident's final state names no flow run")
    return seconds, flow_run_id


def _task_count(flow_run_id: UUID) -> int:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from firstline.demo.services import TASK_RUN_FLUSH_SECONDS

    # The server records task runs in batches: let the last batch land.
    time.sleep(2 * TASK_RUN_FLUSH_SECONDS + 0.5)
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return len(runs)


def _run_bare(task_count: int) -> float:
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    @task(name="bare-task", cache_policy=NO_CACHE)
    def bare_task() -> None:
        return None

    @flow(name="bare-flow", persist_result=False)
    def bare_flow(task_count: int) -> None:
        futures = [bare_task.submit() for _ in range(CONCURRENT_TASKS)]
        for future in futures:
            future.result()
        for _ in range(task_count - CONCURRENT_TASKS):
            bare_task()

    start = time.perf_counter()
    bare_flow(task_count)
    return time.perf_counter() - start
