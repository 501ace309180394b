"""Measure 2: one pass of the three checks, concurrent against sequential.

Checks with set latencies (URL 200 ms, Route 53 300 ms, SSH about 500 ms through
a proxy that holds back the sshd's banner) are run as firstline's first pass
(three Prefect tasks submitted at once, inside a flow on the server) and as
firstline's threaded pass (``run_checks``), and as the Step Functions design ran
them (one after another, stopping at the first failure). The target: firstline's
pass ends within 100 ms of its slowest check.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from benchmarks.delay_proxy import DelayProxy
from benchmarks.report import MeasureResult
from benchmarks.stats import median

URL_LATENCY_SECONDS = 0.2
ROUTE53_LATENCY_SECONDS = 0.3
SSH_BANNER_DELAY_SECONDS = 0.5
TARGET_OVERHEAD_SECONDS = 0.1
CASES = ("healthy", "url failing", "route53 failing")

logger = logging.getLogger("benchmarks.check_pass")


@dataclass(frozen=True)
class PassTiming:
    """One pass: its wall time and its slowest check's own duration."""

    wall_seconds: float
    slowest_check_seconds: float
    checks_run: int
    failed: bool


def measure_check_pass(repetitions: int) -> MeasureResult:
    from benchmarks.environment import aws_pointed_at
    from sandbox import Fault, Sandbox

    started = time.monotonic()
    figures: dict[str, Any] = {
        "repetitions": repetitions,
        "set_latencies_seconds": {
            "url": URL_LATENCY_SECONDS,
            "route53": ROUTE53_LATENCY_SECONDS,
            "ssh_banner_delay": SSH_BANNER_DELAY_SECONDS,
        },
        "cases": {},
    }
    faults = {
        "healthy": set(),
        "url failing": {Fault.HTTP_500},
        "route53 failing": {Fault.ROUTE53_FAILURE},
    }
    with (
        Sandbox(
            time_scale=0.01,
            route53_latency_seconds=ROUTE53_LATENCY_SECONDS,
            http_latency_seconds=URL_LATENCY_SECONDS,
        ) as sandbox,
        aws_pointed_at(sandbox),
    ):
        instance = sandbox.add_instance(region=sandbox.regions[0], name="bench-pass")
        with DelayProxy(
            instance.ssh_port, first_bytes_delay_seconds=SSH_BANNER_DELAY_SECONDS
        ) as proxy:
            info, checks = instance_info(instance), checks_for(instance, proxy.port)
            for case in CASES:
                sandbox.set_faults(instance.instance_id, faults[case])
                figures["cases"][case] = _measure_case(info, checks, repetitions)
                logger.info("check pass, %s: %s", case, figures["cases"][case])

    worst = max(c["first_pass_overhead_seconds"] for c in figures["cases"].values())
    figures["worst_case_first_pass_overhead_seconds"] = worst
    healthy = figures["cases"]["healthy"]
    summary = (
        f"healthy: first pass {healthy['first_pass_seconds'] * 1000:.0f} ms "
        f"(slowest check {healthy['slowest_check_seconds'] * 1000:.0f} ms), "
        f"threads {healthy['threaded_pass_seconds'] * 1000:.0f} ms, baseline "
        f"{healthy['baseline_pass_seconds'] * 1000:.0f} ms; worst overhead over "
        f"the slowest check {worst * 1000:.0f} ms"
    )
    return MeasureResult(
        key="check_pass",
        title="2. one pass of three checks",
        target="pass ends within 100 ms of its slowest check",
        met=worst <= TARGET_OVERHEAD_SECONDS,
        figures=figures,
        summary=summary,
        run_seconds=time.monotonic() - started,
        notes=(
            "medians over the repetitions; overhead = a pass's wall time minus its "
            "own slowest check's duration, so both come from the same pass",
            "the baseline stops at the first failure: when the URL check fails it "
            "is done after one check, faster than any concurrent pass, and has seen "
            "one failure instead of all three results",
        ),
    )


def instance_info(instance: Any) -> Any:
    """The InstanceInfo firstline's checks take, for a sandbox instance."""
    from firstline.models import InstanceInfo

    return InstanceInfo(
        instance_id=instance.instance_id,
        region=instance.region,
        state="running",
        public_ip=None,
        private_ip=None,
        tags={"Name": instance.name},
    )


def checks_for(instance: Any, ssh_port: int | None = None) -> Any:
    """Settings for the three checks of a sandbox instance on 127.0.0.1."""
    from firstline.settings import ChecksSettings

    return ChecksSettings.model_validate(
        {
            "url": {"host": "127.0.0.1", "port": instance.http_port},
            "route53": {"health_check_id": instance.health_check_id},
            "ssh": {"host": "127.0.0.1", "port": ssh_port or instance.ssh_port},
        }
    )


def _measure_case(info: Any, checks: Any, repetitions: int) -> dict[str, Any]:
    from benchmarks.baseline import run_sequential_pass
    from flows.passes import run_checks

    # One untimed pass of each kind: the first opens connections and clients.
    first = _first_passes(info, checks, repetitions + 1)[1:]
    threaded = [
        _timed(lambda: run_checks(info, checks, 0, None))
        for _ in range(repetitions + 1)
    ][1:]
    baseline = [
        _timed(lambda: run_sequential_pass(info, checks))
        for _ in range(repetitions + 1)
    ][1:]
    return {
        "first_pass_seconds": median([t.wall_seconds for t in first]),
        "slowest_check_seconds": median([t.slowest_check_seconds for t in first]),
        "first_pass_overhead_seconds": median(
            [t.wall_seconds - t.slowest_check_seconds for t in first]
        ),
        "threaded_pass_seconds": median([t.wall_seconds for t in threaded]),
        "threaded_pass_overhead_seconds": median(
            [t.wall_seconds - t.slowest_check_seconds for t in threaded]
        ),
        "baseline_pass_seconds": median([t.wall_seconds for t in baseline]),
        "baseline_checks_run": median([t.checks_run for t in baseline]),
        "first_pass_found_failure": any(t.failed for t in first),
        "baseline_to_first_pass_ratio": median([t.wall_seconds for t in baseline])
        / median([t.wall_seconds for t in first]),
    }


def _timed(call: Any) -> PassTiming:
    start = time.perf_counter()
    check_pass = call()
    wall = time.perf_counter() - start
    return _timing(check_pass, wall)


def _timing(check_pass: Any, wall_seconds: float) -> PassTiming:
    return PassTiming(
        wall_seconds=wall_seconds,
        slowest_check_seconds=max(r.duration_seconds for r in check_pass.results),
        checks_run=len(check_pass.results),
        failed=check_pass.has_failure,
    )


def _first_passes(info: Any, checks: Any, count: int) -> list[PassTiming]:
    """``count`` first passes, each timed inside one flow run on the server."""
    from prefect import flow

    from flows.passes import run_first_pass

    @flow(name="bench-first-pass", persist_result=False)
    def first_passes(info: Any, checks: Any, count: int) -> list[PassTiming]:
        timings = []
        for _ in range(count):
            start = time.perf_counter()
            check_pass = run_first_pass(info, checks, None)
            timings.append(_timing(check_pass, time.perf_counter() - start))
        return timings

    return first_passes(info, checks, count)
