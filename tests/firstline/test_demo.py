"""The demo end to end: ``python -m firstline.demo --json``, run once for the module."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from firstline.demo.progress import IncidentLine, Progress
from firstline.demo.scenario import SCENARIO, STORM_REGION

REPOSITORY = Path(__file__).resolve().parents[2]
DEMO_TIMEOUT_SECONDS = 420


class DemoRun:
    def __init__(self, completed: subprocess.CompletedProcess[str]) -> None:
        self.returncode = completed.returncode
        self.stderr = completed.stderr
        self.incidents: list[dict[str, Any]] = json.loads(completed.stdout)

    def by_name(self, name: str) -> dict[str, Any]:
        (found,) = [i for i in self.incidents if i["name"] == name]
        return found


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    home = tmp_path_factory.mktemp("demo")
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PREFECT_", "AWS_"))
    }
    completed = subprocess.run(
        [sys.executable, "-m", "firstline.demo", "--json", "--home", str(home)],
        cwd=REPOSITORY,
        env=environment,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_SECONDS,
        check=False,
    )
    assert completed.stdout.strip(), completed.stderr[-4000:]
    return DemoRun(completed)


class TestDemoScenario:
    def test_every_verdict_is_the_one_the_scenario_promises(
        self, demo: DemoRun
    ) -> None:
        verdicts = {i["name"]: i["verdict"] for i in demo.incidents}

        assert verdicts == {s.name: s.expected.state_name for s in SCENARIO}
        assert demo.returncode == 0, demo.stderr[-4000:]

    def test_the_json_holds_one_complete_object_per_incident(
        self, demo: DemoRun
    ) -> None:
        required = {
            "instance_id",
            "region",
            "verdict",
            "reboots",
            "slack_messages",
            "pages_opened",
            "pages_closed",
            "seconds_to_verdict",
        }

        assert len(demo.incidents) == len(SCENARIO)
        assert all(required <= set(incident) for incident in demo.incidents)
        assert all(i["seconds_to_verdict"] > 0 for i in demo.incidents)
        assert len({i["instance_id"] for i in demo.incidents}) == len(SCENARIO)

    def test_alarms_delivered_twice_start_one_run_each(self, demo: DemoRun) -> None:
        twice = [i for i in demo.incidents if i["alarm_deliveries"] == 2]

        assert len(twice) >= 2
        assert [i["flow_runs"] for i in demo.incidents] == [1] * len(SCENARIO)

    def test_the_instance_the_reboot_cannot_fix_is_paged_once(
        self, demo: DemoRun
    ) -> None:
        batch = demo.by_name("batch-1")

        assert batch["reboots"] == 1
        assert (batch["pages_opened"], batch["pages_retriggered"]) == (1, 0)
        assert batch["page_alias"] == f"firstline-eu-west-1-{batch['instance_id']}"
        assert batch["pages_closed"] == 0

    def test_the_breaker_holds_the_storm_with_one_page_for_the_region(
        self, demo: DemoRun
    ) -> None:
        storm = [i for i in demo.incidents if i["region"] == STORM_REGION]

        assert len(storm) == 5
        assert {i["verdict"] for i in storm} == {"Held"}
        assert sum(i["reboots"] for i in storm) == 0
        assert sum(i["pages_opened"] for i in storm) == 1
        assert {i["page_alias"] for i in storm} == {
            f"firstline-{STORM_REGION}-fleet-breaker"
        }

    def test_maintenance_holds_without_a_page(self, demo: DemoRun) -> None:
        report = demo.by_name("report-1")

        assert report["verdict"] == "Held"
        assert report["reboots"] == 0
        assert report["pages_opened"] + report["pages_retriggered"] == 0

    def test_recoveries_are_told_to_slack_without_a_page(self, demo: DemoRun) -> None:
        recovered = [i for i in demo.incidents if i["verdict"] == "Recovered"]

        assert {i["name"] for i in recovered} == {"api-1", "db-1"}
        assert all(i["reboots"] == 1 for i in recovered)
        assert all(i["slack_messages"] == 1 for i in recovered)
        assert all(i["pages_opened"] == 0 for i in recovered)

    def test_a_healthy_instance_is_left_alone_and_quiet(self, demo: DemoRun) -> None:
        web = demo.by_name("web-1")

        assert (web["verdict"], web["reboots"], web["slack_messages"]) == (
            "Healthy",
            0,
            0,
        )

    def test_every_incident_links_to_its_flow_run_in_the_ui(
        self, demo: DemoRun
    ) -> None:
        assert all(
            i["flow_run_url"].startswith("http://127.0.0.1:") for i in demo.incidents
        )
        assert "Prefect UI: http://127.0.0.1:" in demo.stderr


class TestProgress:
    def line(self, state: str) -> IncidentLine:
        return IncidentLine("web-1", "i-0123456789abcdef0", "us-east-1", state, 1.5)

    def test_a_pipe_gets_one_line_per_change_of_state(self, tmp_path: Path) -> None:
        with (tmp_path / "out").open("w+") as stream:
            progress = Progress(stream, in_place=False)
            for state in ("Scheduled", "Scheduled", "Running", "Recovered"):
                progress.show([self.line(state)])
            stream.seek(0)
            lines = stream.read().splitlines()

        assert [line.split()[3] for line in lines] == [
            "Scheduled",
            "Running",
            "Recovered",
        ]

    def test_a_terminal_gets_its_lines_rewritten_in_place(self, tmp_path: Path) -> None:
        with (tmp_path / "out").open("w+") as stream:
            progress = Progress(stream, in_place=True)
            progress.show([self.line("Running")])
            progress.show([self.line("Recovered")])
            stream.seek(0)
            written = stream.read()

        assert written.count("\x1b[1F") == 1
        assert written.rsplit("\x1b[1F", 1)[1].split()[3:] == ["Recovered", "1.5", "s"]
