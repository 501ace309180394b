"""The remediation flow end to end on the sandbox region and a Prefect server."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from firstline.models import Verdict
from flows.remediate import remediate_instance
from sandbox import AfterReboot, Fault, Sandbox
from tests.flows.conftest import fleet_file, reboot_count, run

MUTATING_EC2_ACTIONS = {
    "RebootInstances",
    "StopInstances",
    "StartInstances",
    "TerminateInstances",
    "ModifyInstanceAttribute",
}


class TestRemediateInstance:
    def test_a_healthy_instance_is_left_alone(
        self, region: Sandbox, tmp_path: Path
    ) -> None:
        web = region.add_instance("eu-west-1", "healthy-1")

        state, report = run(region, web, tmp_path)

        assert state.name == "Healthy"
        assert report.verdict is Verdict.HEALTHY
        assert [r.status.value for r in report.passes[0].results] == ["passed"] * 3
        assert reboot_count(region, web) == 0

    def test_a_hung_instance_is_rebooted_and_recovers(
        self, region: Sandbox, tmp_path: Path
    ) -> None:
        web = region.add_instance(
            "eu-west-1", "hung-1", faults={Fault.HUNG}, boot_seconds=60
        )

        state, report = run(region, web, tmp_path)

        assert state.name == "Recovered"
        assert reboot_count(region, web) == 1
        assert report.rebooted
        first, after = report.passes
        assert {r.check.value for r in first.failed_checks} >= {"url", "ssh"}
        assert after.all_clear
        assert report.readiness is not None and report.readiness.ready

    def test_an_instance_still_broken_after_the_reboot_is_escalated(
        self, region: Sandbox, tmp_path: Path
    ) -> None:
        web = region.add_instance(
            "eu-west-1",
            "broken-1",
            faults={Fault.HTTP_500},
            boot_seconds=30,
            after_reboot=AfterReboot.BROKEN,
        )

        state, report = run(region, web, tmp_path)

        assert state.name == "Escalated"
        assert reboot_count(region, web) == 1
        assert "url" in report.reason
        assert report.passes[-1].attempt > 1

    def test_a_slow_boot_inside_the_window_is_recovered_not_escalated(
        self, region: Sandbox, tmp_path: Path
    ) -> None:
        web = region.add_instance(
            "us-east-1", "slow-1", faults={Fault.SSH_REFUSED}, boot_seconds=400
        )

        state, report = run(region, web, tmp_path)

        assert state.name == "Recovered"
        assert report.readiness is not None
        assert report.readiness.waited_seconds >= 3.0

    @pytest.mark.parametrize("how", ["stop", "terminate"])
    def test_a_stopped_or_terminated_instance_is_not_checked(
        self, region: Sandbox, tmp_path: Path, how: str
    ) -> None:
        web = region.add_instance("eu-west-1", f"{how}-1", faults={Fault.HUNG})
        getattr(region, f"{how}_instance")(web.instance_id)

        state, report = run(region, web, tmp_path)

        assert state.name == "Not-Checked"
        assert ("stopped" if how == "stop" else "terminated") in report.reason
        assert reboot_count(region, web) == 0

    def test_an_unknown_instance_is_not_checked(
        self, region: Sandbox, tmp_path: Path
    ) -> None:
        fleet = fleet_file(region, tmp_path)

        state = remediate_instance(
            instance_id="i-0fedcba9876543210",
            region="eu-west-1",
            fleet_file=str(fleet),
            return_state=True,
        )

        assert state.name == "Not-Checked"
        assert "not found" in state.result().reason

    def test_a_failing_reboot_call_is_escalated_with_the_aws_error(
        self, region: Sandbox, tmp_path: Path
    ) -> None:
        web = region.add_instance(
            "eu-west-1", "refuses-1", faults={Fault.HTTP_500, Fault.REBOOT_FAILS}
        )

        state, report = run(region, web, tmp_path)

        assert state.name == "Escalated"
        assert "UnauthorizedOperation" in report.reason
        assert not report.rebooted

    def test_a_dry_run_makes_no_mutating_call(
        self, region: Sandbox, tmp_path: Path
    ) -> None:
        web = region.add_instance("eu-west-1", "dry-1", faults={Fault.HUNG})
        calls_before = len(region.api_calls)

        state, report = run(region, web, tmp_path, dry_run=True)

        assert state.name == "Dry-Run"
        assert "would reboot" in report.actions[0]
        made = {c.action for c in region.api_calls[calls_before:]}
        assert "DescribeInstances" in made
        assert not made & MUTATING_EC2_ACTIONS
        assert reboot_count(region, web) == 0

    def test_the_run_is_named_tagged_and_leaves_a_report_artifact(
        self, region: Sandbox, tmp_path: Path
    ) -> None:
        web = region.add_instance("eu-west-1", "named-1", faults={Fault.HTTP_500})

        state, report = run(region, web, tmp_path)

        with get_client(sync_client=True) as client:
            flow_run = client.read_flow_run(state.state_details.flow_run_id)
            artifacts = client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=[f"incident-{web.instance_id}"])
                )
            )
        assert flow_run.name == f"{web.instance_id}-eu-west-1"
        assert {web.instance_id, "eu-west-1"} <= set(flow_run.tags)
        assert flow_run.state_name == "Recovered"
        assert artifacts and "Recovered" not in artifacts[0].data
        assert "| first | url |" in artifacts[0].data
        assert "recovered" in artifacts[0].data
