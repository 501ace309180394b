"""Everything the demo starts, started in order and stopped in reverse.

A Prefect server (SQLite, or PostgreSQL in scale mode), the sandbox region with
the scenario's instances, a fake Slack and a fake OpsGenie whose credentials sit
in Prefect Secret blocks, the fleet file, and the runners serving the deployment.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from firstline.demo.scenario import (
    FLEET_DEFAULTS,
    REGION_DEFAULTS,
    SCENARIO,
    TIME_SCALE,
    DemoInstance,
    regions,
)
from firstline.demo.services import PrefectServer, Runner
from firstline.fleet import merge
from sandbox import Sandbox, SandboxInstance
from sandbox.fleetfile import fleet_document
from sandbox.saas import FakeOpsGenie, FakeSlack

SLACK_CHANNEL = "#ops"
SLACK_SECRET = "demo-slack-token"
PAGER_SECRET = "demo-opsgenie-key"


class DemoStack:
    """The demo's services; use as a context manager, which stops them all."""

    def __init__(self, workdir: Path, server: PrefectServer, *, runners: int) -> None:
        self.workdir = workdir
        self.server = server
        self.sandbox = Sandbox(regions=regions(), time_scale=TIME_SCALE)
        self._slack_token = "xoxb-" + secrets.token_hex(16)
        self.slack = FakeSlack(tokens=[self._slack_token], channels=[SLACK_CHANNEL])
        self.opsgenie = FakeOpsGenie()
        self.runners = [
            Runner(workdir / f"runner-{n}", n) for n in range(1, runners + 1)
        ]
        self.fleet_file = workdir / "fleet.yaml"
        self.instances: dict[str, tuple[DemoInstance, SandboxInstance]] = {}
        self._stops: list[Callable[[], None]] = []

    def __enter__(self) -> DemoStack:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self, say: Callable[[str], None]) -> None:
        """Start everything; ``say`` gets one line per step."""
        self.server.home.mkdir(parents=True, exist_ok=True)
        self._stops.append(self.server.stop)
        # The server takes the longest to start: launch it and build the rest
        # meanwhile.
        say("starting a Prefect server on 127.0.0.1 ...")
        starting = _background(self.server.start)

        say(
            f"starting the sandbox: {len(SCENARIO)} instances in "
            f"{len(regions())} regions"
        )
        self._stops.append(self.sandbox.stop)
        self.sandbox.start()
        for spec in SCENARIO:
            instance = self.sandbox.add_instance(
                spec.region,
                spec.name,
                faults=spec.faults,
                boot_seconds=spec.boot_seconds,
                after_reboot=spec.after_reboot,
                tags=dict(spec.tags),
            )
            self.instances[instance.instance_id] = (spec, instance)
        for fake in (self.slack, self.opsgenie):
            self._stops.append(fake.stop)
            fake.start()
        pager_key = secrets.token_hex(16)
        self.opsgenie.add_key(pager_key)
        self._write_fleet_file()

        starting()
        say(f"Prefect server up: {self.server.url}")
        self._save_secrets(pager_key)
        for number, runner in enumerate(self.runners):
            self._stops.append(runner.stop)
            runner.start(
                self.server.api_url,
                self.fleet_file,
                self.sandbox.aws_env(),
                apply=number == 0,
            )
            # The first runner applies the deployment and its trigger; the others
            # serve what it applied.
            if number == 0:
                runner.wait_until_serving()
        for runner in self.runners[1:]:
            runner.wait_until_serving()
        say(f"{len(self.runners)} fast runner(s) serving remediate-instance/on-alarm")

    def stop(self) -> None:
        while self._stops:
            stop = self._stops.pop()
            with contextlib.suppress(Exception):
                stop()

    def _write_fleet_file(self) -> None:
        notify = {
            "slack": {
                "channel": SLACK_CHANNEL,
                "token": {"prefect_secret": SLACK_SECRET},
                "base_url": self.slack.api_base_url,
            },
            "pager": {
                "kind": "opsgenie",
                "key": {"prefect_secret": PAGER_SECRET},
                "base_url": self.opsgenie.base_url,
                "team": "ops",
            },
            "prefect_ui_url": self.server.url,
        }
        document: dict[str, Any] = fleet_document(
            [instance for _, instance in self.instances.values()],
            defaults=merge(FLEET_DEFAULTS, {"notify": notify}),
        )
        for region, defaults in REGION_DEFAULTS.items():
            document["regions"][region]["defaults"] = defaults
        self.fleet_file.write_text(
            yaml.safe_dump(document, sort_keys=False), encoding="utf-8"
        )

    def _save_secrets(self, pager_key: str) -> None:
        from prefect.blocks.system import Secret

        Secret(value=self._slack_token).save(SLACK_SECRET, overwrite=True)
        Secret(value=pager_key).save(PAGER_SECRET, overwrite=True)


def _background(start: Callable[[], None]) -> Callable[[], None]:
    """Run ``start`` in a thread; the returned call waits for it and re-raises."""
    failure: list[BaseException] = []

    def target() -> None:
        try:
            start()
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target, name="demo-start", daemon=True)
    thread.start()

    def wait() -> None:
        thread.join()
        if failure:
            raise failure[0]

    return wait


def client_environment(api_url: str, home: Path) -> None:
    """Point this process's Prefect client at the demo's server; call it before
    anything imports prefect."""
    os.environ.update(
        {
            "PREFECT_API_URL": api_url,
            # The relay creates each alarm's run of the deployment directly
            # (deployments.spec.FULL_DEPLOYMENT_NAME, not imported: prefect).
            "FIRSTLINE_PREFECT_DEPLOYMENT": "remediate-instance/on-alarm",
            "PREFECT_HOME": str(home),
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
    )
