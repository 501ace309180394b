"""No secret value reaches a log line, an artifact, a parameter or a state message."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect import get_client
from prefect.blocks.system import Secret
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from sandbox import AfterReboot, Fault, Sandbox
from sandbox.saas import FakeOpsGenie, FakeSlack
from tests.flows.conftest import run


@pytest.fixture
def vendors() -> Iterator[tuple[FakeSlack, FakeOpsGenie]]:
    with FakeSlack(channels=["#ops"]) as slack, FakeOpsGenie() as opsgenie:
        yield slack, opsgenie


class TestSecretsInFullRuns:
    def test_no_secret_value_appears_anywhere_a_run_leaves_text(
        self,
        region: Sandbox,
        tmp_path: Path,
        vendors: tuple[FakeSlack, FakeOpsGenie],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        slack, opsgenie = vendors
        token = "xoxb-" + secrets.token_hex(12)
        key = secrets.token_hex(18)
        slack.add_token(token)
        opsgenie.add_key(key)
        names = {
            "slack": "slack-" + secrets.token_hex(4),
            "og": "og-" + secrets.token_hex(4),
        }
        Secret(value=token).save(names["slack"], overwrite=True)
        Secret(value=key).save(names["og"], overwrite=True)
        notify: dict[str, Any] = {
            "notify": {
                "slack": {
                    "channel": "#ops",
                    "token": {"prefect_secret": names["slack"]},
                    "base_url": slack.api_base_url,
                },
                "pager": {
                    "kind": "opsgenie",
                    "key": {"prefect_secret": names["og"]},
                    "base_url": opsgenie.base_url,
                },
            }
        }
        broken = region.add_instance(
            "eu-west-1",
            "leak-1",
            faults={Fault.HTTP_500},
            after_reboot=AfterReboot.BROKEN,
        )
        caplog.set_level(logging.DEBUG)

        state, report = run(region, broken, tmp_path, notify)

        assert state.name == "Escalated"
        assert slack.messages and opsgenie.alerts
        with get_client(sync_client=True) as client:
            flow_run = client.read_flow_run(state.state_details.flow_run_id)
            artifacts = client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=[f"incident-{broken.instance_id}"])
                )
            )
        texts = [
            caplog.text,
            repr(flow_run.parameters),
            state.message or "",
            repr(report),
            *(a.data or "" for a in artifacts),
        ]
        for secret in (token, key):
            assert not [t for t in texts if secret in t]
