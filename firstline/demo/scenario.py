"""The demo's fleet: ten instances in three regions, each with the verdict it must get.

Durations are in the sandbox's clock, which runs 100 times faster than real time
(``TIME_SCALE``): a 60 s boot lasts 0.6 real seconds. The flow's own settings
(timeouts, the recovery window) are real seconds, chosen to match.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from firstline.models import Verdict
from sandbox import AfterReboot, Fault

TIME_SCALE = 0.01
MAINTENANCE_TAG = "firstline:maintenance"
STORM_REGION = "ap-southeast-2"


@dataclass(frozen=True)
class DemoInstance:
    """One sandbox instance, what is wrong with it, and what firstline must decide."""

    name: str
    region: str
    expected: Verdict
    story: str
    faults: frozenset[Fault] = frozenset()
    boot_seconds: float = 60.0
    after_reboot: AfterReboot = AfterReboot.HEALTHY
    tags: Mapping[str, str] = field(default_factory=dict)
    deliveries: int = 1
    """How often EventBridge delivers its alarm (at least once, sometimes more)."""
    storm: bool = False
    """Part of the region-wide storm: its alarm goes out first, with the others."""


SCENARIO: tuple[DemoInstance, ...] = (
    # us-east-1: the ordinary day.
    DemoInstance(
        "web-1",
        "us-east-1",
        Verdict.HEALTHY,
        "a CPU spike, but every check passes: nothing to do",
    ),
    DemoInstance(
        "api-1",
        "us-east-1",
        Verdict.RECOVERED,
        "hung (web and SSH silent); the reboot fixes it; alarm delivered twice",
        faults=frozenset({Fault.HUNG}),
        deliveries=2,
    ),
    # eu-west-1: the hard cases.
    DemoInstance(
        "batch-1",
        "eu-west-1",
        Verdict.ESCALATED,
        "answers HTTP 500 and stays broken after the reboot: one page",
        faults=frozenset({Fault.HTTP_500}),
        after_reboot=AfterReboot.BROKEN,
        deliveries=2,
    ),
    DemoInstance(
        "db-1",
        "eu-west-1",
        Verdict.RECOVERED,
        "hung; boots slowly (about 5 s of the 8 s window) but recovers in time",
        faults=frozenset({Fault.HUNG}),
        boot_seconds=500.0,
    ),
    DemoInstance(
        "report-1",
        "eu-west-1",
        Verdict.HELD,
        f"hung, but tagged {MAINTENANCE_TAG}: held, nobody paged",
        faults=frozenset({Fault.HUNG}),
        tags={MAINTENANCE_TAG: "true"},
    ),
    # ap-southeast-2: a shared cause takes the whole region down at once.
    *(
        DemoInstance(
            f"shop-{n}",
            STORM_REGION,
            Verdict.HELD,
            "one of five instances hung at once: the fleet breaker holds every "
            "reboot and pages once for the region",
            faults=frozenset({Fault.HUNG}),
            deliveries=2 if n == 1 else 1,
            storm=True,
        )
        for n in range(1, 6)
    ),
)

# Real seconds. The window leaves the slow boot (500 sandbox seconds = 5 s) inside
# it, and the never-fixed instance escalates when it ends.
FLEET_DEFAULTS: dict[str, Any] = {
    "checks": {"url": {"timeout_seconds": 1.0}, "ssh": {"timeout_seconds": 1.0}},
    "recovery": {
        "window_seconds": 8,
        "check_interval_seconds": 0.5,
        "ready_poll_interval_seconds": 0.2,
    },
}

# In a region of three, two alarms are 67 % of it: the demo's small regions count
# instances only (more than 3 opens the breaker). The storm region keeps the
# default share of 30 %, so its breaker opens whichever of its runs checks first.
REGION_DEFAULTS: dict[str, dict[str, Any]] = {
    "us-east-1": {"guards": {"breaker": {"max_percent": 100}}},
    "eu-west-1": {"guards": {"breaker": {"max_percent": 100}}},
}


def regions() -> tuple[str, ...]:
    """The scenario's regions, in order of first appearance."""
    return tuple(dict.fromkeys(instance.region for instance in SCENARIO))
