"""Fixtures for the relay's tests: stored events, a stub Prefect API, a moto server."""

from __future__ import annotations

import copy
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infra.relay.stub_api import StubPrefectApi, running_stub_api

EVENTS_DIR = Path(__file__).parent / "events"


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of the stored event ``events/<name>.json``."""
    event: dict[str, Any] = json.loads((EVENTS_DIR / f"{name}.json").read_text())
    return copy.deepcopy(event)


class SleepRecorder:
    """Stands in for ``time.sleep``: remembers the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture(scope="module")
def stub_api_server() -> Iterator[StubPrefectApi]:
    with running_stub_api() as stub:
        yield stub


@pytest.fixture
def stub_api(stub_api_server: StubPrefectApi) -> StubPrefectApi:
    """The module's stub Prefect API, with no request recorded and no script."""
    stub_api_server.reset()
    return stub_api_server


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port of 127.0.0.1 that is bound but not listening: connections are refused."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port of 127.0.0.1 that accepts connections and never answers."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(8)
        yield listening.getsockname()[1]


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto server on an ephemeral port of 127.0.0.1, reached over HTTP."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_environment(
    monkeypatch: pytest.MonkeyPatch, moto_endpoint: str, tmp_path: Path
) -> str:
    """boto3 pointed at the moto server with fake credentials and no user files."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    return moto_endpoint


def create_secret(name: str, secret_string: str, region: str = "eu-west-1") -> str:
    """Store a secret on the moto server (``aws_environment``) and return its ARN."""
    import boto3

    client = boto3.client("secretsmanager", region_name=region)
    arn: str = client.create_secret(Name=name, SecretString=secret_string)["ARN"]
    return arn
