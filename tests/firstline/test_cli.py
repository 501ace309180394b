"""``firstline run`` as a user runs it: a separate process, exit codes, output."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL

from sandbox import Fault, Sandbox
from sandbox.fleetfile import write_fleet_file


def firstline(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "firstline.cli", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


class TestUsageErrors:
    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["i-nothex!!", "--region", "eu-west-1"], "is not an EC2 instance id"),
            (["i-0123456789abcdef0", "--region", "moon-1"], "is not an AWS region"),
        ],
    )
    def test_a_bad_target_exits_2_with_the_reason_and_runs_nothing(
        self, args: list[str], message: str
    ) -> None:
        result = firstline("run", *args)

        assert result.returncode == 2
        assert message in result.stderr
        assert "verdict" not in result.stdout

    def test_a_bad_fleet_file_exits_2_naming_the_line(self, tmp_path: Path) -> None:
        fleet = tmp_path / "fleet.yaml"
        fleet.write_text("regions:\n  eu-west-1:\n    instances:\n      - id: i-zz\n")

        result = firstline(
            "run", "i-0123456789abcdef0", "--region", "eu-west-1", "--fleet", str(fleet)
        )

        assert result.returncode == 2
        assert "line 4" in result.stderr


@pytest.fixture(scope="module")
def sandbox(prefect_harness: None) -> Iterator[Sandbox]:
    with Sandbox(regions=("eu-west-1",), time_scale=0.01) as sb:
        yield sb


class TestRun:
    def test_a_healthy_instance_exits_0_and_prints_its_report(
        self, sandbox: Sandbox, tmp_path: Path
    ) -> None:
        web = sandbox.add_instance("eu-west-1", "cli-1")
        stopped = sandbox.add_instance("eu-west-1", "cli-2", faults={Fault.HUNG})
        sandbox.stop_instance(stopped.instance_id)
        fleet = write_fleet_file(tmp_path / "fleet.yaml", sandbox.instances)
        env = {**sandbox.aws_env(), "PREFECT_API_URL": PREFECT_API_URL.value()}

        healthy = firstline(
            "run",
            web.instance_id,
            "--region",
            "eu-west-1",
            "--fleet",
            str(fleet),
            env=env,
        )
        not_checked = firstline(
            "run",
            stopped.instance_id,
            "--region",
            "eu-west-1",
            "--fleet",
            str(fleet),
            env=env,
        )

        assert healthy.returncode == 0, healthy.stderr[-2000:]
        assert "verdict: healthy" in healthy.stdout
        assert "| first | url |" in healthy.stdout
        assert not_checked.returncode == 2
        assert "verdict: not-checked" in not_checked.stdout
