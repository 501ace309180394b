"""The demo's incidents as a person sees them in the Prefect UI, in headless Chromium.

The UI is a JavaScript app: every step waits for text to appear, never for time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import KeptDemo

UI_TIMEOUT_MS = 60_000


def search_runs(page: Any, text: str) -> None:
    # The runs page has a second, hidden copy of the search box (narrow layout).
    page.locator("input[placeholder='Search by flow run name']:visible").first.fill(
        text
    )


@pytest.fixture
def page(browser_context: Any) -> Any:
    page = browser_context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    yield page
    page.close()


class TestPrefectUi:
    def test_the_runs_list_finds_an_incident_by_its_instance(
        self, kept_demo: KeptDemo, page: Any, screenshots: Path
    ) -> None:
        api = kept_demo.incident("api-1")
        run_name = f"{api['instance_id']}-{api['region']}"

        page.goto(f"{kept_demo.ui_url}/runs")
        search_runs(page, api["instance_id"])
        page.get_by_text(run_name, exact=True).first.wait_for()
        other = kept_demo.incident("batch-1")["instance_id"]
        page.get_by_text(other).first.wait_for(state="detached")
        page.screenshot(path=screenshots / "runs-list.png", full_page=True)

        assert page.get_by_text(run_name, exact=True).count() >= 1

    @pytest.mark.parametrize(
        ("name", "verdict"),
        [("api-1", "Recovered"), ("batch-1", "Escalated"), ("report-1", "Held")],
    )
    def test_a_run_shows_its_verdict_and_incident_report(
        self,
        kept_demo: KeptDemo,
        page: Any,
        screenshots: Path,
        name: str,
        verdict: str,
    ) -> None:
        incident = kept_demo.incident(name)
        run_name = f"{incident['instance_id']}-{incident['region']}"

        page.goto(f"{kept_demo.ui_url}/runs")
        search_runs(page, incident["instance_id"])
        page.get_by_text(run_name, exact=True).first.click()
        page.get_by_text("Artifacts", exact=True).first.wait_for()
        page.get_by_text(verdict, exact=True).first.wait_for()
        page.screenshot(path=screenshots / f"{name}-run.png", full_page=True)
        page.get_by_text("Artifacts", exact=True).first.click()
        # The artifact's card: its key, and its description (verdict: instance).
        described = (
            f"{verdict.lower()}: {incident['instance_id']} ({incident['region']})"
        )
        page.get_by_text(described).first.wait_for()
        page.get_by_text(f"incident-{incident['instance_id']}").first.wait_for()
        page.screenshot(path=screenshots / f"{name}-artifact.png", full_page=True)

        assert page.url.startswith(f"{kept_demo.ui_url}/runs/flow-run/")
        assert page.url.split("/")[-1].split("?")[0] in incident["flow_run_url"]
