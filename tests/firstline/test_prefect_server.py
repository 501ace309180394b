"""``python -m firstline.prefect_server``: SQLite writers queue, none is refused."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from firstline.demo.services import PREFECT_COMMAND
from tests.prefect_server import PrefectServer, running_prefect_server

CONCURRENT_CLIENTS = 16
RUNS_PER_CLIENT = 8


def _python(code: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return completed.stdout.strip()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    with running_prefect_server(tmp_path_factory.mktemp("server")) as server:
        yield server


@pytest.fixture(scope="module")
def deployment_id(server: PrefectServer) -> str:
    with httpx.Client(base_url=server.api_url, timeout=30) as api:
        flow = api.post("/flows/", json={"name": "queue-test"})
        flow.raise_for_status()
        deployment = api.post(
            "/deployments/",
            json={"name": "queue-test", "flow_id": flow.json()["id"]},
        )
        deployment.raise_for_status()
        return str(deployment.json()["id"])


class TestSqliteWritersQueue:
    def test_every_sqlite_transaction_begins_immediate(self) -> None:
        output = _python(
            """
            import asyncio
            from contextlib import asynccontextmanager
            from prefect.server.database import configurations as c
            from firstline.prefect_server import make_sqlite_writers_queue

            class Session:
                @asynccontextmanager
                async def begin(self):
                    yield c.SQLITE_BEGIN_MODE.get()

            async def mode():
                config = c.AioSqliteConfiguration("sqlite+aiosqlite:///:memory:")
                async with config.begin_transaction(Session()) as seen:
                    return seen

            before = asyncio.run(mode())
            print(before, make_sqlite_writers_queue(), make_sqlite_writers_queue())
            print(asyncio.run(mode()))
            """
        )
        assert output.splitlines() == ["DEFERRED True True", "IMMEDIATE"]

    def test_a_prefect_that_opens_transactions_otherwise_is_left_unchanged(
        self,
    ) -> None:
        output = _python(
            """
            from prefect.server.database import configurations as c
            from firstline.prefect_server import make_sqlite_writers_queue

            def other(self, session):
                return None

            c.AioSqliteConfiguration.begin_transaction = other
            print(make_sqlite_writers_queue())
            print(c.AioSqliteConfiguration.begin_transaction is other)
            """
        )
        assert output.splitlines() == ["False", "True"]

    def test_the_module_runs_prefects_command_line(self) -> None:
        completed = subprocess.run(
            [*PREFECT_COMMAND, "version"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr
        assert "Version:" in completed.stdout


class TestAServerUnderConcurrentWrites:
    def test_no_concurrent_flow_run_creation_is_refused(
        self, server: PrefectServer, deployment_id: str
    ) -> None:
        # Creating a run from a deployment reads the deployment, then writes:
        # the transaction shape SQLite refuses under DEFERRED when another writer
        # committed in between. Nothing here retries.
        def create_runs(client_number: int) -> list[int]:
            with httpx.Client(base_url=server.api_url, timeout=60) as api:
                return [
                    api.post(
                        f"/deployments/{deployment_id}/create_flow_run",
                        json={"idempotency_key": f"{client_number}-{n}"},
                    ).status_code
                    for n in range(RUNS_PER_CLIENT)
                ]

        with ThreadPoolExecutor(CONCURRENT_CLIENTS) as pool:
            statuses = [
                status
                for answers in pool.map(create_runs, range(CONCURRENT_CLIENTS))
                for status in answers
            ]

        assert statuses == [201] * (CONCURRENT_CLIENTS * RUNS_PER_CLIENT)


class TestRestarts:
    def test_a_running_server_refuses_a_second_start_and_keeps_running(
        self, server: PrefectServer
    ) -> None:
        pid = server.pid

        with pytest.raises(RuntimeError, match="already running"):
            server.start()

        assert server.pid == pid
        assert httpx.get(f"{server.api_url}/health", timeout=10).status_code == 200
