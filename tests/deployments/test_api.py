"""A runner's claims and polls against a real Prefect server, faults injected."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.objects import FlowRun, StateType

from deployments.api import ApiRetry, ApiUnavailableError, RunnerApi
from firstline.errors import ConfigError
from tests.deployments.serving import ApiReader


@pytest.fixture
def client(api: ApiReader) -> Iterator[SyncPrefectClient]:
    with api.client() as client:
        yield client


@pytest.fixture
def idle_deployment(client: SyncPrefectClient) -> UUID:
    """A deployment no runner serves, so its runs stay Scheduled until claimed."""
    flow_id = client.create_flow_from_name("firstline-claims")
    deployment_id: UUID = client.create_deployment(
        flow_id=flow_id, name=f"idle-{uuid4().hex[:8]}"
    )
    return deployment_id


def _scheduled_run(client: SyncPrefectClient, deployment_id: UUID) -> FlowRun:
    return client.create_flow_run_from_deployment(deployment_id)


def _http_error(status_code: int) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", "http://127.0.0.1/api/flow_runs/x/set_state")
    return httpx.HTTPStatusError(
        f"HTTP {status_code}",
        request=request,
        response=httpx.Response(status_code, request=request),
    )


class FaultyClient:
    """The real client, but ``set_flow_run_state`` fails as scripted first.

    ``"lost"`` lets the call reach the server and then loses its answer; an
    exception is raised before the call is made.
    """

    def __init__(self, client: SyncPrefectClient, faults: list[Any]) -> None:
        self._client = client
        self._faults = faults
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def set_flow_run_state(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        fault = self._faults.pop(0) if self._faults else None
        if fault == "lost":
            self._client.set_flow_run_state(*args, **kwargs)
            raise httpx.ReadTimeout("the answer was lost")
        if isinstance(fault, BaseException):
            raise fault
        return self._client.set_flow_run_state(*args, **kwargs)


def _runner_api(client: Any, slept: list[float] | None = None) -> RunnerApi:
    record = slept if slept is not None else []
    return RunnerApi(client, ApiRetry(max_attempts=4), sleep=record.append)


class TestClaim:
    def test_a_run_claimed_by_one_runner_is_refused_to_another(
        self, client: SyncPrefectClient, idle_deployment: UUID
    ) -> None:
        run = _scheduled_run(client, idle_deployment)

        first = _runner_api(client).claim(run, "Claimed by runner A")
        second = _runner_api(client).claim(run, "Claimed by runner B")

        assert first is not None and first.state is not None
        assert first.state.type is StateType.PENDING
        assert second is None
        stored = client.read_flow_run(run.id).state
        assert stored is not None and stored.message == "Claimed by runner A"

    def test_a_claim_whose_answer_was_lost_is_still_this_runners(
        self, client: SyncPrefectClient, idle_deployment: UUID
    ) -> None:
        run = _scheduled_run(client, idle_deployment)
        faulty = FaultyClient(client, ["lost"])

        claimed = _runner_api(faulty).claim(run, "Claimed by runner A")

        assert claimed is not None and claimed.id == run.id
        assert faulty.calls == 2

    def test_a_lost_answer_does_not_take_another_runners_claim(
        self, client: SyncPrefectClient, idle_deployment: UUID
    ) -> None:
        run = _scheduled_run(client, idle_deployment)
        _runner_api(client).claim(run, "Claimed by runner B")
        faulty = FaultyClient(client, [httpx.ConnectError("refused")])

        assert _runner_api(faulty).claim(run, "Claimed by runner A") is None

    def test_a_locked_database_is_waited_out_with_a_growing_backoff(
        self, client: SyncPrefectClient, idle_deployment: UUID
    ) -> None:
        run = _scheduled_run(client, idle_deployment)
        faulty = FaultyClient(client, [_http_error(503), _http_error(503)])
        slept: list[float] = []

        claimed = _runner_api(faulty, slept).claim(run, "Claimed by runner A")

        assert claimed is not None
        assert slept == [0.1, 0.2]

    def test_an_api_busy_on_every_attempt_raises_after_the_last(
        self, client: SyncPrefectClient, idle_deployment: UUID
    ) -> None:
        run = _scheduled_run(client, idle_deployment)
        faulty = FaultyClient(client, [_http_error(503)] * 4)

        with pytest.raises(ApiUnavailableError, match="failed 4 times.*HTTP 503"):
            _runner_api(faulty).claim(run, "Claimed by runner A")
        assert faulty.calls == 4
        stored = client.read_flow_run(run.id).state
        assert stored is not None and stored.type is StateType.SCHEDULED

    def test_an_answer_that_will_not_pass_is_raised_at_once(
        self, client: SyncPrefectClient, idle_deployment: UUID
    ) -> None:
        run = _scheduled_run(client, idle_deployment)
        faulty = FaultyClient(client, [_http_error(422)])

        with pytest.raises(httpx.HTTPStatusError):
            _runner_api(faulty).claim(run, "Claimed by runner A")
        assert faulty.calls == 1


class TestScheduledRuns:
    def test_only_the_deployments_unclaimed_runs_are_listed(
        self, client: SyncPrefectClient, idle_deployment: UUID
    ) -> None:
        other_deployment = client.create_deployment(
            flow_id=client.create_flow_from_name("firstline-claims"),
            name=f"other-{uuid4().hex[:8]}",
        )
        claimed, waiting = (_scheduled_run(client, idle_deployment) for _ in range(2))
        _scheduled_run(client, other_deployment)
        api = _runner_api(client)
        api.claim(claimed, "Claimed by runner A")

        listed = api.scheduled_runs(idle_deployment, limit=10)

        assert [run.id for run in listed] == [waiting.id]

    def test_no_more_runs_than_the_limit_are_listed(
        self, client: SyncPrefectClient, idle_deployment: UUID
    ) -> None:
        for _ in range(3):
            _scheduled_run(client, idle_deployment)

        assert len(_runner_api(client).scheduled_runs(idle_deployment, limit=2)) == 2


class TestApiRetry:
    def test_the_backoff_doubles_up_to_its_ceiling(self) -> None:
        retry = ApiRetry(max_attempts=8, backoff_seconds=0.5, max_backoff_seconds=2.0)

        delays = [retry.delay_before_seconds(n) for n in range(1, 7)]

        assert delays == [0.0, 0.5, 1.0, 2.0, 2.0, 2.0]

    @pytest.mark.parametrize(
        "settings",
        [
            {"max_attempts": 0},
            {"backoff_seconds": 3.0, "max_backoff_seconds": 2.0},
        ],
    )
    def test_settings_out_of_bounds_are_refused(self, settings: dict[str, Any]) -> None:
        with pytest.raises(ConfigError):
            ApiRetry(**settings)
