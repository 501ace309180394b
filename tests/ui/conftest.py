"""A demo left running (``--keep``) for the browser tests, and headless Chromium."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
DEMO_STOP_TIMEOUT_SECONDS = 90
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass(frozen=True)
class KeptDemo:
    ui_url: str
    incidents: list[dict[str, Any]]

    def incident(self, name: str) -> dict[str, Any]:
        (found,) = [i for i in self.incidents if i["name"] == name]
        return found


@pytest.fixture(scope="package")
def kept_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeptDemo]:
    """``python -m firstline.demo --json --keep``: its outcome while it stays up."""
    home = tmp_path_factory.mktemp("demo")
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PREFECT_", "AWS_"))
    }
    with (home / "demo.err").open("w") as errors:
        demo = subprocess.Popen(
            [sys.executable, "-m", "firstline.demo", "--json", "--keep"]
            + ["--home", str(home)],
            cwd=REPOSITORY,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    try:
        assert demo.stdout is not None
        # The outcome is one JSON line, printed once every verdict is in.
        line = demo.stdout.readline()
        assert line, (home / "demo.err").read_text()[-4000:]
        incidents = json.loads(line)
        ui_url = incidents[0]["flow_run_url"].split("/runs/")[0]
        yield KeptDemo(ui_url, incidents)
    finally:
        # Ctrl-C: the demo stops the server, runners and sandbox it started.
        demo.send_signal(signal.SIGINT)
        try:
            demo.communicate(timeout=DEMO_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.communicate()


@pytest.fixture(scope="package")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's Chromium, headless, with a fresh profile; no browser download."""
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="package")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("screenshots")
    print(f"\nscreenshots in {directory}")
    return directory
