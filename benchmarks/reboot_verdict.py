"""Measure 3: time to verdict after a reboot, for boot times from 30 s to 300 s.

For each boot time, two sandbox instances fail their URL check (HTTP 500) and
come back healthy from a reboot that lasts that long. firstline's real flow
handles one (readiness polling, then second-pass attempts until its window
ends); the Step Functions baseline handles the other (a fixed 120-s wait, one
check, a page if it fails). Both run at once, every boot time at once too, and
the time from the reboot to the verdict is reported in sandbox seconds (real
seconds / time_scale).

The recovery settings are firstline's defaults (window 600 s, readiness polls
every 5 s, second-pass attempts every 10 s) scaled by time_scale like the boot.
The costs that do not scale (Prefect API calls, the checks' own time) are
magnified by 1 / time_scale in sandbox seconds; ``lag_after_boot_real_seconds``
reports them unscaled.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.report import MeasureResult

TARGET_SLACK_SECONDS = 15.0
DEFAULT_WINDOW_SECONDS = 600.0
DEFAULT_CHECK_INTERVAL_SECONDS = 10.0
DEFAULT_READY_POLL_SECONDS = 5.0
BASELINE_WAIT_SECONDS = 120.0

logger = logging.getLogger("benchmarks.reboot_verdict")


def measure_reboot_verdict(
    boot_seconds: Sequence[float], time_scale: float, workdir: Path
) -> MeasureResult:
    from benchmarks.environment import aws_pointed_at
    from sandbox import AfterReboot, Fault, Sandbox
    from sandbox.fleetfile import write_fleet_file

    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    with Sandbox(time_scale=time_scale) as sandbox, aws_pointed_at(sandbox):
        region = sandbox.regions[0]
        pairs = []
        for boot in boot_seconds:
            pairs.append(
                tuple(
                    sandbox.add_instance(
                        region=region,
                        name=f"{who}-boot-{boot:g}",
                        faults={Fault.HTTP_500},
                        boot_seconds=boot,
                        after_reboot=AfterReboot.HEALTHY,
                    )
                    for who in ("firstline", "baseline")
                )
            )
        fleet_file = write_fleet_file(
            workdir / "fleet.yaml",
            [instance for pair in pairs for instance in pair],
            defaults=_scaled_defaults(time_scale),
        )
        # Every boot time at once: each incident mostly waits on its instance,
        # and the longest boot sets the measure's length instead of their sum.
        with ThreadPoolExecutor(max_workers=len(pairs)) as pool:
            futures = [
                pool.submit(
                    contextvars.copy_context().run,
                    _measure_boot,
                    sandbox,
                    boot,
                    ours,
                    theirs,
                    fleet_file,
                    time_scale,
                )
                for boot, (ours, theirs) in zip(boot_seconds, pairs, strict=True)
            ]
            for boot, future in zip(boot_seconds, futures, strict=True):
                row = future.result()
                logger.info("reboot verdict, boot %g s: %s", boot, row)
                rows.append(row)

    misses = [
        row
        for row in rows
        if row["firstline_false_page"]
        or row["firstline_seconds_to_verdict"]
        > row["boot_seconds"] + TARGET_SLACK_SECONDS
    ]
    false_pages = {
        "firstline": sum(row["firstline_false_page"] for row in rows),
        "baseline": sum(row["baseline_false_page"] for row in rows),
    }
    summary = "; ".join(
        f"boot {row['boot_seconds']:g} s: firstline "
        f"{row['firstline_seconds_to_verdict']:.0f} s ({row['firstline_verdict']}), "
        f"baseline {row['baseline_seconds_to_verdict']:.0f} s "
        f"({row['baseline_verdict']})"
        for row in rows
    )
    summary += (
        f"; false pages: firstline {false_pages['firstline']} of {len(rows)}, "
        f"baseline {false_pages['baseline']} of {len(rows)}"
    )
    return MeasureResult(
        key="reboot_verdict",
        title="3. time to verdict after a reboot",
        target="verdict within boot time + 15 s (sandbox seconds), no false page",
        met=not misses,
        figures={
            "time_scale": time_scale,
            "unit": "sandbox seconds (real seconds / time_scale) unless named real",
            "samples_per_boot_time": 1,
            "boots": rows,
            "false_pages": false_pages,
            "boot_times_missing_target": [row["boot_seconds"] for row in misses],
        },
        summary=summary,
        run_seconds=time.monotonic() - started,
        notes=(
            "every instance recovered from its reboot, so every page is a false page",
            f"time_scale {time_scale:g}: one real second of fixed cost (API calls, "
            f"checks) counts as {1 / time_scale:g} sandbox seconds",
            "one incident per boot time and design: single samples, not medians",
        ),
    )


def _scaled_defaults(time_scale: float) -> dict[str, Any]:
    return {
        "recovery": {
            "window_seconds": DEFAULT_WINDOW_SECONDS * time_scale,
            "check_interval_seconds": DEFAULT_CHECK_INTERVAL_SECONDS * time_scale,
            "ready_poll_interval_seconds": DEFAULT_READY_POLL_SECONDS * time_scale,
        },
        # One instance reboots after another in one region: the fleet breaker
        # would open on the third, which is measure 5's subject, not this one's.
        "guards": {"breaker": {"enabled": False}},
    }


def _measure_boot(
    sandbox: Any,
    boot: float,
    ours: Any,
    theirs: Any,
    fleet_file: Path,
    time_scale: float,
) -> dict[str, Any]:
    baseline: dict[str, Any] = {}
    thread = threading.Thread(target=_run_baseline, args=(theirs, time_scale, baseline))
    thread.start()
    report = _run_firstline(ours, fleet_file)
    thread.join()
    if "error" in baseline:
        raise baseline["error"]

    ours_reboots = sandbox.reboots(ours.instance_id)
    theirs_reboots = sandbox.reboots(theirs.instance_id)
    ours_real = _seconds_after(ours_reboots, report.finished_at)
    theirs_real = _seconds_after(theirs_reboots, baseline["finished_at"])
    return {
        "boot_seconds": boot,
        "firstline_verdict": report.verdict.value,
        "firstline_seconds_to_verdict": ours_real / time_scale,
        "firstline_lag_after_boot_real_seconds": ours_real - boot * time_scale,
        "firstline_false_page": report.pages,
        "firstline_reboots": len(ours_reboots),
        "firstline_second_pass_attempts": report.last_pass.attempt
        if report.last_pass
        else 0,
        "baseline_verdict": baseline["outcome"].verdict.value,
        "baseline_seconds_to_verdict": theirs_real / time_scale,
        "baseline_false_page": baseline["outcome"].pages,
        "baseline_reboots": len(theirs_reboots),
    }


def _run_firstline(instance: Any, fleet_file: Path) -> Any:
    from flows.remediate import remediate_instance

    state = remediate_instance(
        instance_id=instance.instance_id,
        region=instance.region,
        fleet_file=str(fleet_file),
        return_state=True,
    )
    return state.result()


def _run_baseline(instance: Any, time_scale: float, into: dict[str, Any]) -> None:
    from benchmarks.baseline import run_baseline_incident
    from benchmarks.check_pass import checks_for, instance_info

    try:
        into["outcome"] = run_baseline_incident(
            instance_info(instance),
            checks_for(instance),
            fixed_wait_seconds=BASELINE_WAIT_SECONDS * time_scale,
        )
        into["finished_at"] = datetime.now(UTC)
    except Exception as exc:
        # Handed to the measuring thread, which raises it.
        into["error"] = exc


def _seconds_after(reboots: list[Any], finished_at: datetime) -> float:
    if not reboots:
        raise RuntimeError("the instance was never rebooted; nothing to time")
    requested_at: datetime = reboots[0].requested_at
    return (finished_at - requested_at).total_seconds()
