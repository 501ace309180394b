"""The EC2 tasks against the sandbox's moto server and its modelled reboots."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from prefect import flow

from firstline.errors import AwsCallError
from firstline.models import Readiness
from sandbox import Fault, Sandbox
from tasks.ec2 import (
    describe_instance,
    get_console_output_tail,
    reboot_instance,
    wait_until_ready,
)

REGION = "eu-west-1"
UNKNOWN_INSTANCE_ID = "i-0fedcba9876543210"


class TestDescribeInstance:
    def test_describe_instance_reports_state_addresses_and_tags(
        self, aws_env: Sandbox
    ) -> None:
        instance = aws_env.add_instance(
            region=REGION, name="ec2-web", tags={"team": "web"}
        )

        info = describe_instance.fn(REGION, instance.instance_id)

        assert info is not None
        assert info.instance_id == instance.instance_id
        assert info.region == REGION
        assert info.is_running
        assert info.private_ip is not None
        assert info.tags == {"Name": "ec2-web", "team": "web"}

    def test_describe_instance_returns_none_for_an_unknown_instance(
        self, aws_env: Sandbox
    ) -> None:
        assert describe_instance.fn(REGION, UNKNOWN_INSTANCE_ID) is None

    def test_describe_instance_reports_a_stopped_instance(
        self, aws_env: Sandbox
    ) -> None:
        instance = aws_env.add_instance(region=REGION, name="ec2-stopped")
        aws_env.stop_instance(instance.instance_id)

        info = describe_instance.fn(REGION, instance.instance_id)

        assert info is not None
        assert info.state == "stopped"
        assert not info.is_running


class TestGetConsoleOutputTail:
    def test_console_output_tail_keeps_the_last_lines(self, aws_env: Sandbox) -> None:
        instance = aws_env.add_instance(region=REGION, name="ec2-console")

        tail = get_console_output_tail.fn(REGION, instance.instance_id, 2)

        assert tail.splitlines() == [
            "Kernel command line: root=/dev/sda1 ro 4",
            "Enabling fast FPU save and restore... done.",
        ]

    def test_console_output_tail_of_zero_lines_is_empty(self, aws_env: Sandbox) -> None:
        instance = aws_env.add_instance(region=REGION, name="ec2-console-0")

        assert get_console_output_tail.fn(REGION, instance.instance_id, 0) == ""

    def test_console_output_of_an_unknown_instance_raises(
        self, aws_env: Sandbox
    ) -> None:
        with pytest.raises(AwsCallError, match="InvalidInstanceID.NotFound"):
            get_console_output_tail.fn(REGION, UNKNOWN_INSTANCE_ID, 5)


class TestRebootInstance:
    def test_reboot_reaches_ec2(self, aws_env: Sandbox) -> None:
        instance = aws_env.add_instance(region=REGION, name="ec2-reboot")

        reboot_instance.fn(REGION, instance.instance_id)

        assert len(aws_env.reboots(instance.instance_id)) == 1

    def test_reboot_refused_by_ec2_raises_naming_instance_code_and_remedy(
        self, aws_env: Sandbox
    ) -> None:
        instance = aws_env.add_instance(
            region=REGION, name="ec2-no-reboot", faults={Fault.REBOOT_FAILS}
        )

        with pytest.raises(AwsCallError) as raised:
            reboot_instance.fn(REGION, instance.instance_id)

        message = str(raised.value)
        assert instance.instance_id in message
        assert "UnauthorizedOperation" in message
        assert "Allow ec2:RebootInstances" in message
        assert isinstance(raised.value.__cause__, ClientError)
        assert aws_env.reboots(instance.instance_id) == []


class TestWaitUntilReady:
    def test_wait_until_ready_sees_the_instance_come_back_after_a_reboot(
        self, aws_env: Sandbox
    ) -> None:
        instance = aws_env.add_instance(region=REGION, name="ec2-wait", boot_seconds=60)
        reboot_instance.fn(REGION, instance.instance_id)

        readiness = wait_until_ready.fn(
            REGION,
            instance.instance_id,
            timeout_seconds=10,
            poll_interval_seconds=0.05,
        )

        assert readiness.ready
        assert (readiness.state, readiness.instance_status) == ("running", "ok")
        assert readiness.system_status == "ok"
        assert readiness.polls > 1, "the first poll should have seen the boot"
        assert readiness.waited_seconds < 10

    def test_wait_until_ready_gives_up_when_the_boot_outlasts_the_timeout(
        self, aws_env: Sandbox
    ) -> None:
        instance = aws_env.add_instance(
            region=REGION, name="ec2-slow", boot_seconds=300
        )
        reboot_instance.fn(REGION, instance.instance_id)

        readiness = wait_until_ready.fn(
            REGION,
            instance.instance_id,
            timeout_seconds=0.3,
            poll_interval_seconds=0.1,
        )

        assert not readiness.ready
        assert readiness.instance_status == "initializing"
        assert 0.3 <= readiness.waited_seconds < 1.5
        assert readiness.polls >= 2

    def test_wait_until_ready_raises_for_an_unknown_instance(
        self, aws_env: Sandbox
    ) -> None:
        with pytest.raises(AwsCallError, match="InvalidInstanceID.NotFound"):
            wait_until_ready.fn(
                REGION,
                UNKNOWN_INSTANCE_ID,
                timeout_seconds=5,
                poll_interval_seconds=0.05,
            )


class TestRebootInAFlow:
    def test_reboot_and_wait_run_as_tasks_in_a_flow(
        self, prefect_harness: None, aws_env: Sandbox
    ) -> None:
        instance = aws_env.add_instance(region=REGION, name="ec2-flow")

        @flow
        def reboot_and_wait(instance_id: str) -> Readiness:
            reboot_instance(REGION, instance_id)
            return wait_until_ready(
                REGION, instance_id, timeout_seconds=10, poll_interval_seconds=0.05
            )

        readiness = reboot_and_wait(instance.instance_id)

        assert readiness.ready
        assert len(aws_env.reboots(instance.instance_id)) == 1
