"""Alarm to verdict on a real Prefect server: relay, trigger, runner, flow, sandbox."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from deployments import serve
from deployments.alarm_events import cpu_alarm_event
from firstline.demo.services import prefect_environment
from infra.relay.errors import PrefectUnavailable
from sandbox import Fault, SandboxInstance
from tests.deployments.serving import (
    DEPLOYMENT,
    REPOSITORY,
    ApiReader,
    Fleet,
    RelayHandler,
    Runners,
    claim_messages,
    flow_run_id_from_cli,
    running_count,
)
from tests.prefect_server import PrefectServer

RUN_TIMEOUT_SECONDS = 90.0
ONE_FAST_RUNNER = (("fast", ()),)
FAST_CLAIM = "Claimed by firstline fast runner"


def alarm(fleet: Fleet, instance: SandboxInstance, **options: Any) -> dict[str, Any]:
    return cpu_alarm_event(
        instance.instance_id, instance.region, fleet.sandbox.account_id, **options
    )


class TestFastRunner:
    def test_an_alarm_runs_the_flow_once_with_the_alarm_as_parameters(
        self, runners: Runners, fleet: Fleet, api: ApiReader, relay: RelayHandler
    ) -> None:
        runners.use(*ONE_FAST_RUNNER)
        web = fleet.add("healthy-1")
        event = alarm(fleet, web)

        decision = relay(event)
        run = api.wait_for_alarm_run(event["id"], RUN_TIMEOUT_SECONDS)

        assert decision["decision"] == "posted"
        assert run.state is not None and run.state.name == "Healthy"
        assert run.parameters["instance_id"] == web.instance_id
        assert run.parameters["region"] == "eu-west-1"
        assert run.parameters["alarm"] == {
            "alarm_name": f"firstline-cpu-high-{web.instance_id}",
            "alarm_arn": event["resources"][0],
            "state_timestamp": run.parameters["alarm"]["state_timestamp"],
            "reason": event["detail"]["state"]["reason"],
            "account": fleet.sandbox.account_id,
            "event_id": event["id"],
        }
        assert run.parameters["alarm"]["state_timestamp"].startswith(event["time"][:16])
        assert run.created_by is not None
        assert run.created_by.type == "AUTOMATION"
        assert run.created_by.display_value == "firstline-alarm-fired"
        states = api.states(run.id)
        assert [m.startswith(FAST_CLAIM) for m in claim_messages(states)] == [True]
        assert running_count(states) == 1
        assert len(api.runs_for_alarm(event["id"])) == 1

    def test_a_hung_instance_is_rebooted_and_recovers(
        self, runners: Runners, fleet: Fleet, api: ApiReader, relay: RelayHandler
    ) -> None:
        runners.use(*ONE_FAST_RUNNER)
        web = fleet.add("hung-1", faults={Fault.HUNG}, boot_seconds=60)
        event = alarm(fleet, web)

        relay(event)
        run = api.wait_for_alarm_run(event["id"], RUN_TIMEOUT_SECONDS)

        assert run.state is not None and run.state.name == "Recovered"
        assert len(fleet.sandbox.reboots(web.instance_id)) == 1

    def test_an_alarm_delivered_five_times_starts_one_run(
        self, runners: Runners, fleet: Fleet, api: ApiReader, relay: RelayHandler
    ) -> None:
        runners.use(*ONE_FAST_RUNNER)
        web = fleet.add("redelivered-1")
        marker_web = fleet.add("marker-1")
        event = alarm(fleet, web)
        marker = alarm(fleet, marker_web)

        decisions = [relay(event) for _ in range(5)]
        relay(marker)
        # The server takes events in the order posted: once the marker has its
        # run, any run the five deliveries could make exists too.
        api.wait_for_alarm_run(marker["id"], RUN_TIMEOUT_SECONDS)
        run = api.wait_for_alarm_run(event["id"], RUN_TIMEOUT_SECONDS)

        assert {d["decision"] for d in decisions} == {"posted"}
        assert len({d["prefect_event_id"] for d in decisions}) == 1
        assert [r.id for r in api.runs_for_alarm(event["id"])] == [run.id]
        assert run.state is not None and run.state.name == "Healthy"

    def test_an_alarm_the_stopped_server_refused_runs_once_after_its_restart(
        self,
        runners: Runners,
        fleet: Fleet,
        api: ApiReader,
        relay: RelayHandler,
        prefect_server: PrefectServer,
    ) -> None:
        runners.use(*ONE_FAST_RUNNER)
        web = fleet.add("restart-1")
        marker_web = fleet.add("restart-marker-1")
        event = alarm(fleet, web)
        marker = alarm(fleet, marker_web)

        prefect_server.stop()
        try:
            with pytest.raises(PrefectUnavailable):
                relay(event)
        finally:
            prefect_server.start()
        # A first alarm proves the restarted server's triggers are listening.
        relay(marker)
        api.wait_for_alarm_run(marker["id"], RUN_TIMEOUT_SECONDS)
        relay(event)
        relay(event)
        run = api.wait_for_alarm_run(event["id"], RUN_TIMEOUT_SECONDS)

        assert [r.id for r in api.runs_for_alarm(event["id"])] == [run.id]
        assert run.state is not None and run.state.name == "Healthy"
        assert runners.running[0].process.poll() is None

    def test_a_manual_run_from_the_prefect_cli_is_executed(
        self,
        runners: Runners,
        fleet: Fleet,
        api: ApiReader,
        prefect_server: PrefectServer,
        tmp_path: Path,
    ) -> None:
        runners.use(*ONE_FAST_RUNNER)
        web = fleet.add("manual-1", faults={Fault.HTTP_500}, boot_seconds=30)
        environment = prefect_environment(tmp_path)
        environment["PREFECT_API_URL"] = prefect_server.api_url

        cli = subprocess.run(
            [
                str(Path(sys.executable).with_name("prefect")),
                "deployment",
                "run",
                DEPLOYMENT,
                "--param",
                f"instance_id={web.instance_id}",
                "--param",
                "region=eu-west-1",
            ],
            cwd=REPOSITORY,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert cli.returncode == 0, cli.stdout + cli.stderr
        run = api.wait_until_final(
            flow_run_id_from_cli(cli.stdout), RUN_TIMEOUT_SECONDS
        )

        assert run.state is not None and run.state.name == "Recovered"
        assert "alarm" not in run.parameters
        assert len(fleet.sandbox.reboots(web.instance_id)) == 1

    def test_two_runners_execute_every_run_exactly_once(
        self, runners: Runners, fleet: Fleet, api: ApiReader, relay: RelayHandler
    ) -> None:
        runners.use(*ONE_FAST_RUNNER, *ONE_FAST_RUNNER)
        instances = [fleet.add(f"pair-{n}") for n in range(6)]
        events = [alarm(fleet, web) for web in instances]
        calls_before = len(fleet.sandbox.api_calls)

        for event in events:
            relay(event)
        runs = [api.wait_for_alarm_run(e["id"], RUN_TIMEOUT_SECONDS) for e in events]

        claims: list[str] = []
        for run in runs:
            states = api.states(run.id)
            assert run.state is not None and run.state.name == "Healthy"
            assert running_count(states) == 1
            (claim,) = claim_messages(states)
            claims.append(claim)
        assert all(claim.startswith(FAST_CLAIM) for claim in claims)
        for event in events:
            assert len(api.runs_for_alarm(event["id"])) == 1
        # A healthy instance is described once per run: once per alarm in all.
        calls = fleet.sandbox.api_calls[calls_before:]
        assert [c.action for c in calls].count("DescribeInstances") == len(events)

    def test_a_stopped_runner_finishes_its_run_before_it_exits(
        self, runners: Runners, fleet: Fleet, api: ApiReader, relay: RelayHandler
    ) -> None:
        (runner,) = runners.use(*ONE_FAST_RUNNER)
        web = fleet.add("drained-1", faults={Fault.HUNG}, boot_seconds=200)
        event = alarm(fleet, web)

        relay(event)
        started = api.wait_until_running(event["id"], RUN_TIMEOUT_SECONDS)
        runner.signal(signal.SIGTERM)
        exit_status = runner.process.wait(timeout=RUN_TIMEOUT_SECONDS)
        run = api.flow_run(started.id)

        assert exit_status == 0
        assert run.state is not None and run.state.name == "Recovered"

    def test_a_run_still_going_when_the_grace_ends_is_reported_crashed(
        self, runners: Runners, fleet: Fleet, api: ApiReader, relay: RelayHandler
    ) -> None:
        (runner,) = runners.use(("fast", ("--shutdown-grace-seconds", "0")))
        web = fleet.add("abandoned-1", faults={Fault.HUNG}, boot_seconds=200)
        event = alarm(fleet, web)

        relay(event)
        started = api.wait_until_running(event["id"], RUN_TIMEOUT_SECONDS)
        runner.signal(signal.SIGTERM)
        exit_status = runner.process.wait(timeout=RUN_TIMEOUT_SECONDS)
        run = api.flow_run(started.id)

        assert exit_status == 0
        assert run.state is not None and run.state.type.value == "CRASHED"
        assert "stopped before this run ended" in (run.state.message or "")


class TestStandardServing:
    def test_flow_serve_runs_an_alarm_in_a_process_of_its_own(
        self, runners: Runners, fleet: Fleet, api: ApiReader, relay: RelayHandler
    ) -> None:
        runners.use(("process", ()))
        web = fleet.add("served-1")
        event = alarm(fleet, web)

        relay(event)
        run = api.wait_for_alarm_run(event["id"], RUN_TIMEOUT_SECONDS)

        states = api.states(run.id)
        assert run.state is not None and run.state.name == "Healthy"
        assert not any(m.startswith(FAST_CLAIM) for m in claim_messages(states))
        assert "Submitting" in [state.name for state in states]


class TestServeCommandLine:
    @pytest.fixture(autouse=True)
    def environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # main() exports the fleet file; monkeypatch puts the variable back.
        monkeypatch.delenv("FIRSTLINE_FLEET_FILE", raising=False)
        monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")

    def test_without_an_api_url_it_says_which_variable_to_set(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.delenv("PREFECT_API_URL")

        assert serve.main([]) == 2
        assert "PREFECT_API_URL is not set" in capsys.readouterr().err

    def test_a_fleet_file_it_cannot_read_is_refused_before_serving(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        missing = tmp_path / "fleet.yaml"

        assert serve.main(["--fleet", str(missing)]) == 2
        assert "cannot read the fleet file" in capsys.readouterr().err

    def test_no_apply_is_refused_with_prefects_runner(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert serve.main(["--mode", "process", "--no-apply"]) == 2
        assert "--no-apply needs --mode fast" in capsys.readouterr().err

    def test_a_concurrency_out_of_bounds_is_refused(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert serve.main(["--concurrency", "0"]) == 2
        assert "concurrency is 0; use 1 to 64" in capsys.readouterr().err

    def test_an_unreachable_api_exits_1_with_the_reason(self, tmp_path: Path) -> None:
        environment = prefect_environment(tmp_path)
        environment["PREFECT_API_URL"] = "http://127.0.0.1:9/api"
        # Prefect's own retries would take a minute before the answer.
        environment["PREFECT_CLIENT_MAX_RETRIES"] = "0"

        done = subprocess.run(
            [sys.executable, "-m", "deployments.serve"],
            cwd=REPOSITORY,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

        assert done.returncode == 1, done.stdout + done.stderr
        assert "http://127.0.0.1:9/api" in done.stderr
        assert "check that the server is running" in done.stderr
