"""The guards on the sandbox: locks, budgets, the breaker, maintenance, approvals."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from prefect import get_client
from prefect.blocks.system import Secret
from prefect.client.schemas.objects import StateType
from prefect.flow_engine import run_flow_sync
from prefect.flow_runs import resume_flow_run
from prefect.settings import PREFECT_API_URL

from firstline.models import HoldKind, IncidentReport, Verdict
from flows.remediate import remediate_instance
from sandbox import AfterReboot, Fault, Sandbox
from sandbox.saas import FakeOpsGenie
from tasks.guard_state import instance_lock_name
from tests.flows.conftest import fleet_file, reboot_count, run


@pytest.fixture(scope="module")
def opsgenie() -> Any:
    fake = FakeOpsGenie()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def paging(opsgenie: FakeOpsGenie, prefect_harness: None) -> dict[str, Any]:
    """Fleet defaults that page through the fake OpsGenie."""
    key = secrets.token_hex(16)
    opsgenie.add_key(key)
    name = "opsgenie-" + secrets.token_hex(4)
    Secret(value=key).save(name, overwrite=True)
    return {
        "notify": {
            "pager": {
                "kind": "opsgenie",
                "key": {"prefect_secret": name},
                "base_url": opsgenie.base_url,
                "team": "ops",
            }
        }
    }


def run_together(calls: list[Any]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return [f.result() for f in [pool.submit(c) for c in calls]]


def start_worker(
    sb: Sandbox, fleet: Path, instance_id: str, region: str, event_id: str = ""
) -> subprocess.Popen[str]:
    """Run the flow once in a separate worker process, against the same server."""
    code = (
        "import sys; from flows.remediate import remediate_instance as r; "
        "s = r(sys.argv[1], sys.argv[2], fleet_file=sys.argv[3], "
        "alarm={'alarm_name': 'cpu', 'event_id': sys.argv[4]} if sys.argv[4] else None,"
        " return_state=True); print('VERDICT', s.name)"
    )
    env = {**os.environ, **sb.aws_env(), "PREFECT_API_URL": PREFECT_API_URL.value()}
    return subprocess.Popen(
        [sys.executable, "-c", code, instance_id, region, str(fleet), event_id],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def verdict_of(worker: subprocess.Popen[str]) -> str:
    output, _ = worker.communicate(timeout=240)
    lines = [line for line in output.splitlines() if line.startswith("VERDICT ")]
    assert lines, output[-3000:]
    return lines[-1].split()[1]


def wait_for_reboot(
    sb: Sandbox,
    instance_id: str,
    worker: subprocess.Popen[str],
    timeout_seconds: float = 180,
) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not sb.reboots(instance_id):
        if worker.poll() is not None or time.monotonic() > deadline:
            worker.kill()
            output, _ = worker.communicate(timeout=30)
            raise AssertionError("the first worker never rebooted:\n" + output[-3000:])
        time.sleep(0.1)


class TestOneRemediationAtATime:
    def test_two_workers_started_together_make_one_reboot(
        self, region: Sandbox, tmp_path: Path
    ) -> None:
        web = region.add_instance(
            "ap-south-1", "twice-1", faults={Fault.HTTP_500}, boot_seconds=300
        )
        fleet = fleet_file(region, tmp_path, {"recovery": {"window_seconds": 30}})

        workers = [
            start_worker(region, fleet, web.instance_id, web.region) for _ in range(2)
        ]
        verdicts = sorted(verdict_of(w) for w in workers)

        assert reboot_count(region, web) == 1
        assert "Recovered" in verdicts
        assert set(verdicts) <= {"Recovered", "Duplicate", "Healthy"}

    def test_a_second_alarm_while_a_run_is_active_ends_as_a_duplicate(
        self, region: Sandbox, tmp_path: Path
    ) -> None:
        web = region.add_instance(
            "ap-south-1", "busy-1", faults={Fault.HUNG}, boot_seconds=1500
        )
        fleet = fleet_file(region, tmp_path, {"recovery": {"window_seconds": 60}})
        first = start_worker(region, fleet, web.instance_id, web.region)
        wait_for_reboot(region, web.instance_id, first)

        state, report = run(region, web, tmp_path, {"recovery": {"window_seconds": 60}})

        assert state.name == "Duplicate"
        assert report.active_run is not None
        assert report.active_run in report.reason
        assert verdict_of(first) == "Recovered"
        assert reboot_count(region, web) == 1


class TestRebootBudget:
    def test_a_spent_budget_holds_the_reboot_and_pages_with_the_history(
        self,
        region: Sandbox,
        tmp_path: Path,
        paging: dict[str, Any],
        opsgenie: FakeOpsGenie,
    ) -> None:
        web = region.add_instance("eu-west-1", "budget-1", faults={Fault.HTTP_500})
        region.set_after_reboot(web.instance_id, AfterReboot.BROKEN)
        budget = {
            **paging,
            "guards": {"reboot_budgets": [{"max_reboots": 1, "window_seconds": 1800}]},
        }

        first_state, _ = run(region, web, tmp_path, budget)
        second_state, second = run(region, web, tmp_path, budget)

        assert first_state.name == "Escalated"
        assert second_state.name == "Held"
        assert second.hold is not None and second.hold.kind is HoldKind.BUDGET
        assert "1 of 1" in second.reason
        assert reboot_count(region, web) == 1
        alias = f"firstline-eu-west-1-{web.instance_id}"
        assert opsgenie.alerts[alias].count == 2


class TestBudgetAcrossWorkers:
    def test_the_budget_holds_across_two_worker_processes(
        self, region: Sandbox, tmp_path: Path
    ) -> None:
        web = region.add_instance(
            "us-east-1",
            "budget-2",
            faults={Fault.HTTP_500},
            after_reboot=AfterReboot.BROKEN,
        )
        budget = {
            "guards": {"reboot_budgets": [{"max_reboots": 1, "window_seconds": 600}]}
        }
        fleet = fleet_file(region, tmp_path, budget)

        first = verdict_of(start_worker(region, fleet, web.instance_id, web.region))
        second = verdict_of(start_worker(region, fleet, web.instance_id, web.region))

        assert (first, second) == ("Escalated", "Held")
        assert reboot_count(region, web) == 1


class TestFleetBreaker:
    def test_ten_instances_alarming_together_open_it_with_one_page(
        self,
        region: Sandbox,
        tmp_path: Path,
        paging: dict[str, Any],
        opsgenie: FakeOpsGenie,
    ) -> None:
        instances = [
            region.add_instance("sa-east-1", f"storm-{n}", faults={Fault.HUNG})
            for n in range(10)
        ]
        defaults = {**paging, "guards": {"breaker": {"enabled": True}}}
        fleet = str(fleet_file(region, tmp_path, defaults, instances=instances))

        # The alarms arrive together: the trigger creates every run at once, as
        # here, before any of them starts.
        with get_client(sync_client=True) as client:
            flow_runs = [
                client.create_flow_run(
                    remediate_instance,
                    parameters={
                        "instance_id": i.instance_id,
                        "region": "sa-east-1",
                        "fleet_file": fleet,
                    },
                )
                for i in instances
            ]

        def one_run(flow_run: Any) -> Any:
            return lambda: run_flow_sync(
                remediate_instance,
                flow_run=flow_run,
                parameters=flow_run.parameters,
                return_type="state",
            )

        states = run_together([one_run(f) for f in flow_runs])

        held = [s.result() for s in states]
        assert {s.name for s in states} == {"Held"}
        assert all(r.hold is not None and r.hold.kind is HoldKind.BREAKER for r in held)
        assert sum(reboot_count(region, i) for i in instances) == 0
        assert [a for a in opsgenie.open_aliases() if "sa-east-1" in a] == [
            "firstline-sa-east-1-fleet-breaker"
        ]


class TestMaintenance:
    def test_a_maintenance_tag_holds_without_a_page(
        self,
        region: Sandbox,
        tmp_path: Path,
        paging: dict[str, Any],
        opsgenie: FakeOpsGenie,
    ) -> None:
        web = region.add_instance(
            "eu-west-1",
            "maint-1",
            faults={Fault.HUNG},
            tags={"firstline:maintenance": "true"},
        )

        state, report = run(region, web, tmp_path, paging)

        assert state.name == "Held"
        assert report.hold is not None and report.hold.kind is HoldKind.MAINTENANCE
        assert reboot_count(region, web) == 0
        assert not [a for a in opsgenie.alerts if web.instance_id in a]


class TestApproval:
    def start_paused_run(
        self, region: Sandbox, tmp_path: Path, timeout_seconds: float, name: str
    ) -> tuple[Any, Any, Any]:
        web = region.add_instance("us-east-1", name, faults={Fault.HTTP_500})
        defaults = {
            "guards": {
                "approval": {"required": True, "timeout_seconds": timeout_seconds}
            }
        }
        fleet = str(fleet_file(region, tmp_path, defaults))
        pool = ThreadPoolExecutor(max_workers=1)
        future = pool.submit(
            remediate_instance,
            web.instance_id,
            web.region,
            fleet_file=fleet,
            return_state=True,
        )
        return web, future, pool

    def wait_until_paused(self, instance_id: str, timeout_seconds: float = 60) -> Any:
        deadline = time.monotonic() + timeout_seconds
        with get_client(sync_client=True) as client:
            while time.monotonic() < deadline:
                for run_ in client.read_flow_runs(limit=200):
                    if (
                        run_.name.startswith(instance_id)
                        and run_.state_type is StateType.PAUSED
                    ):
                        return run_.id
                time.sleep(0.2)
        raise AssertionError(f"no paused run for {instance_id}")

    @pytest.mark.parametrize(
        ("decision", "verdict"), [("approve", "Recovered"), ("decline", "Held")]
    )
    def test_a_person_approves_or_declines_the_reboot(
        self, region: Sandbox, tmp_path: Path, decision: str, verdict: str
    ) -> None:
        web, future, pool = self.start_paused_run(
            region, tmp_path, 120, f"ask-{decision}"
        )

        flow_run_id = self.wait_until_paused(web.instance_id)
        resume_flow_run(
            flow_run_id, run_input={"decision": decision, "reason": "on-call says so"}
        )
        state = future.result(timeout=120)
        pool.shutdown()

        assert state.name == verdict
        assert reboot_count(region, web) == (1 if decision == "approve" else 0)
        if decision == "decline":
            report: IncidentReport = state.result()
            assert report.hold is not None
            assert report.hold.kind is HoldKind.APPROVAL_DECLINED
            assert "on-call says so" in report.reason

    def test_no_answer_in_time_holds_and_pages(
        self, region: Sandbox, tmp_path: Path
    ) -> None:
        web, future, pool = self.start_paused_run(region, tmp_path, 2, "ask-late")

        state = future.result(timeout=120)
        pool.shutdown()

        report: IncidentReport = state.result()
        assert state.name == "Held"
        assert report.hold is not None
        assert report.hold.kind is HoldKind.APPROVAL_TIMEOUT
        assert report.pages
        assert reboot_count(region, web) == 0


class TestNeverTwice:
    def test_a_rerun_of_a_rebooted_incident_does_not_reboot_again(
        self, region: Sandbox, tmp_path: Path
    ) -> None:
        web = region.add_instance("ap-south-1", "rerun-1", faults={Fault.HTTP_500})
        region.set_after_reboot(web.instance_id, AfterReboot.BROKEN)
        alarm = {"alarm_name": "cpu-high", "event_id": "evt-" + secrets.token_hex(6)}

        first, _ = run(region, web, tmp_path, alarm=alarm)
        again, report = run(region, web, tmp_path, alarm=alarm)

        assert first.name == "Escalated"
        assert again.name == "Escalated"
        assert reboot_count(region, web) == 1
        assert "not repeated" in report.actions[0]


class TestWorkerDeath:
    def test_a_worker_killed_after_the_reboot_does_not_reboot_again_on_resume(
        self, region: Sandbox, tmp_path: Path
    ) -> None:
        web = region.add_instance(
            "us-east-1", "killed-1", faults={Fault.HUNG}, boot_seconds=1000
        )
        fleet = fleet_file(region, tmp_path, {"recovery": {"window_seconds": 60}})
        event_id = "evt-" + secrets.token_hex(6)
        doomed = start_worker(region, fleet, web.instance_id, web.region, event_id)
        wait_for_reboot(region, web.instance_id, doomed)
        doomed.kill()
        doomed.communicate(timeout=30)
        # The dead worker's lease on the instance lock would run out after 60 s;
        # an operator frees it at once by deleting the lock.
        with get_client(sync_client=True) as client:
            client.delete_global_concurrency_limit_by_name(
                instance_lock_name(web.region, web.instance_id)
            )

        resumed = start_worker(region, fleet, web.instance_id, web.region, event_id)

        assert verdict_of(resumed) == "Recovered"
        assert reboot_count(region, web) == 1


class TestOptIn:
    def test_an_instance_not_opted_in_gets_no_action_and_a_clear_reason(
        self, region: Sandbox, tmp_path: Path
    ) -> None:
        listed = region.add_instance("eu-west-1", "listed-1")
        stray = region.add_instance("eu-west-1", "stray-1", faults={Fault.HUNG})
        fleet = fleet_file(region, tmp_path, instances=[listed])

        state = remediate_instance(
            stray.instance_id, "eu-west-1", fleet_file=str(fleet), return_state=True
        )

        assert state.name == "Not-Checked"
        assert "firstline:managed" in state.result().reason
        assert reboot_count(region, stray) == 0

    def test_the_managed_tag_opts_an_unlisted_instance_in(
        self, region: Sandbox, tmp_path: Path
    ) -> None:
        listed = region.add_instance("eu-west-1", "listed-2")
        tagged = region.add_instance(
            "eu-west-1", "tagged-1", tags={"firstline:managed": "true"}
        )
        fleet = fleet_file(region, tmp_path, instances=[listed])

        # Not in the fleet file, so the checks' targets come as flow overrides.
        overrides = {
            "checks": {
                "url": {"host": "127.0.0.1", "port": tagged.http_port},
                "ssh": {"host": "127.0.0.1", "port": tagged.ssh_port},
                "route53": {"health_check_id": tagged.health_check_id},
            }
        }

        state = remediate_instance(
            tagged.instance_id,
            "eu-west-1",
            fleet_file=str(fleet),
            overrides=overrides,
            return_state=True,
        )

        assert state.name == "Healthy"
        assert state.result().verdict is Verdict.HEALTHY
