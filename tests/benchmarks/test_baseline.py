from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from benchmarks.baseline import (
    BaselineVerdict,
    run_baseline_incident,
    run_sequential_pass,
)
from benchmarks.check_pass import checks_for, instance_info
from benchmarks.environment import aws_pointed_at
from firstline.models import CheckName
from sandbox import AfterReboot, Fault, Sandbox

TIME_SCALE = 0.01


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(time_scale=TIME_SCALE) as sb, aws_pointed_at(sb):
        yield sb


def _instance(sandbox: Sandbox, name: str, **options: Any) -> Any:
    return sandbox.add_instance(region=sandbox.regions[0], name=name, **options)


class TestSequentialPass:
    def test_a_healthy_instance_gets_all_three_checks_in_order(
        self, sandbox: Sandbox
    ) -> None:
        instance = _instance(sandbox, "seq-healthy")
        check_pass = run_sequential_pass(instance_info(instance), checks_for(instance))
        assert [r.check for r in check_pass.results] == [
            CheckName.URL,
            CheckName.ROUTE53,
            CheckName.SSH,
        ]
        assert check_pass.all_clear

    def test_the_pass_stops_at_the_first_failing_check(self, sandbox: Sandbox) -> None:
        instance = _instance(sandbox, "seq-url-500", faults={Fault.HTTP_500})
        check_pass = run_sequential_pass(instance_info(instance), checks_for(instance))
        assert [r.check for r in check_pass.results] == [CheckName.URL]
        assert check_pass.has_failure

    def test_a_later_failure_ends_the_pass_there(self, sandbox: Sandbox) -> None:
        instance = _instance(sandbox, "seq-r53", faults={Fault.ROUTE53_FAILURE})
        check_pass = run_sequential_pass(instance_info(instance), checks_for(instance))
        assert [r.check for r in check_pass.results] == [
            CheckName.URL,
            CheckName.ROUTE53,
        ]


class TestBaselineIncident:
    def test_a_healthy_instance_is_not_rebooted(self, sandbox: Sandbox) -> None:
        instance = _instance(sandbox, "inc-healthy")
        waits: list[float] = []
        outcome = run_baseline_incident(
            instance_info(instance), checks_for(instance), sleep=waits.append
        )
        assert outcome.verdict is BaselineVerdict.HEALTHY
        assert not outcome.rebooted
        assert waits == []
        assert sandbox.reboots(instance.instance_id) == []

    def test_it_waits_the_fixed_time_once_without_polling_readiness(
        self, sandbox: Sandbox
    ) -> None:
        instance = _instance(
            sandbox, "inc-recovers", faults={Fault.HTTP_500}, boot_seconds=30
        )
        waits: list[float] = []

        def fixed_wait(seconds: float) -> None:
            waits.append(seconds)
            sandbox.wait_until_booted(instance.instance_id, timeout_seconds=10)

        calls_before = len(sandbox.api_calls)
        outcome = run_baseline_incident(
            instance_info(instance),
            checks_for(instance),
            fixed_wait_seconds=1.2,
            sleep=fixed_wait,
        )
        assert waits == [1.2]
        assert outcome.verdict is BaselineVerdict.RECOVERED
        assert not outcome.pages
        actions = [c.action for c in sandbox.api_calls[calls_before:]]
        assert "DescribeInstanceStatus" not in actions
        assert actions.count("RebootInstances") == 1

    def test_it_pages_when_the_one_check_after_the_wait_fails(
        self, sandbox: Sandbox
    ) -> None:
        instance = _instance(
            sandbox,
            "inc-still-booting",
            faults={Fault.HTTP_500},
            boot_seconds=300,
            after_reboot=AfterReboot.HEALTHY,
        )
        outcome = run_baseline_incident(
            instance_info(instance),
            checks_for(instance),
            fixed_wait_seconds=0.0,
            sleep=lambda seconds: None,
        )
        # The instance would recover, but the design looks only once: a false page.
        assert sandbox.is_booting(instance.instance_id)
        assert outcome.verdict is BaselineVerdict.ESCALATED
        assert outcome.pages
        assert len(outcome.passes) == 2
        assert len(sandbox.reboots(instance.instance_id)) == 1
