"""Fixtures for the task tests: one sandbox region for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox import Sandbox
from tasks.aws import clear_aws_clients

SANDBOX_REGIONS = ("us-east-1", "eu-west-1")


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """A moto region on 127.0.0.1 where a 60 s boot lasts 0.6 s."""
    with Sandbox(regions=SANDBOX_REGIONS, time_scale=0.01) as sb:
        yield sb


@pytest.fixture(autouse=True)
def _fresh_aws_clients() -> Iterator[None]:
    """Each test builds its clients from its own environment."""
    clear_aws_clients()
    yield
    clear_aws_clients()


@pytest.fixture
def aws_env(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """Point boto3's default chain and endpoint at the sandbox for one test."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in sandbox.aws_env().items():
        monkeypatch.setenv(name, value)
    return sandbox
