"""One Prefect server, one sandbox region and the runners, for the whole package."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from infra.relay import handler as handler_module
from infra.relay.handler import handler
from sandbox import Sandbox
from tests.deployments.serving import ApiReader, Fleet, RelayHandler, Runners
from tests.prefect_server import PrefectServer, running_prefect_server


@pytest.fixture(scope="package")
def prefect_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PrefectServer]:
    with running_prefect_server(tmp_path_factory.mktemp("prefect-server")) as server:
        yield server


@pytest.fixture(scope="package")
def api(prefect_server: PrefectServer) -> ApiReader:
    return ApiReader(prefect_server.api_url)


@pytest.fixture(scope="package")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with Sandbox(regions=("eu-west-1",), time_scale=0.01) as sandbox:
        yield Fleet(sandbox, tmp_path_factory.mktemp("fleet") / "fleet.yaml")


@pytest.fixture(scope="package")
def runners(
    prefect_server: PrefectServer,
    fleet: Fleet,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Runners]:
    runners = Runners(prefect_server, fleet, tmp_path_factory.mktemp("runners"))
    try:
        yield runners
    finally:
        runners.stop_all()


@pytest.fixture
def relay(
    prefect_server: PrefectServer, monkeypatch: pytest.MonkeyPatch
) -> RelayHandler:
    """The relay's Lambda handler, posting to the tests' server, a little less
    patient than in Lambda so that a stopped server fails fast."""
    monkeypatch.setenv("PREFECT_API_URL", prefect_server.api_url)
    monkeypatch.setenv("FIRSTLINE_RELAY_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("FIRSTLINE_RELAY_BACKOFF_SECONDS", "0.2")
    monkeypatch.delenv("FIRSTLINE_PREFECT_SECRET_ARN", raising=False)
    handler_module._relay_for.cache_clear()

    def post(event: dict[str, Any]) -> dict[str, str | bool | None]:
        return handler(event, None)

    return post
