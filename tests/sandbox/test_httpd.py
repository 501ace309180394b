from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import requests

from sandbox.httpd import InstanceHttpServer
from tests.sandbox.helpers import port_refuses

pytestmark = pytest.mark.timeout(60)

TIMEOUT_SECONDS = 2.0
CLIENT_PATIENCE_SECONDS = 8.0


@pytest.fixture
def server() -> Iterator[InstanceHttpServer]:
    with InstanceHttpServer("web-test") as server:
        yield server


class TestInstanceHttpServer:
    def test_ok_mode_answers_200_with_the_sandbox_marker(
        self, server: InstanceHttpServer
    ) -> None:
        response = requests.get(server.url, timeout=TIMEOUT_SECONDS)

        assert response.status_code == 200
        assert "firstline-sandbox ok" in response.text

    def test_error_mode_answers_http_500(self, server: InstanceHttpServer) -> None:
        server.mode = "error"

        response = requests.get(server.url, timeout=TIMEOUT_SECONDS)

        assert response.status_code == 500

    def test_hung_mode_accepts_but_never_answers(
        self, server: InstanceHttpServer
    ) -> None:
        server.mode = "hung"

        with pytest.raises(requests.ReadTimeout):
            requests.get(server.url, timeout=(TIMEOUT_SECONDS, 0.3))

    def test_stop_releases_a_hung_request_at_once(self) -> None:
        server = InstanceHttpServer("web-hung", mode="hung").start()
        outcome: list[BaseException] = []

        def request() -> None:
            try:
                requests.get(server.url, timeout=CLIENT_PATIENCE_SECONDS)
            except requests.RequestException as error:
                outcome.append(error)

        client = threading.Thread(target=request)
        client.start()
        time.sleep(0.1)  # let the request reach the blocked handler
        started = time.monotonic()
        server.stop()
        stop_seconds = time.monotonic() - started
        client.join(CLIENT_PATIENCE_SECONDS)

        assert stop_seconds < CLIENT_PATIENCE_SECONDS / 4
        assert not client.is_alive()
        assert isinstance(outcome[0], requests.ConnectionError)

    def test_down_mode_refuses_and_comes_back_on_the_same_port(
        self, server: InstanceHttpServer
    ) -> None:
        port = server.port

        server.mode = "down"
        assert port_refuses(port)
        server.mode = "ok"

        assert server.port == port
        assert requests.get(server.url, timeout=TIMEOUT_SECONDS).status_code == 200

    def test_server_created_down_has_a_port_and_refuses_until_up(self) -> None:
        with InstanceHttpServer("web-down", mode="down") as server:
            assert port_refuses(server.port)
            server.mode = "ok"
            assert requests.get(server.url, timeout=TIMEOUT_SECONDS).ok

    def test_latency_delays_each_answer(self) -> None:
        with InstanceHttpServer("web-slow", latency_seconds=0.2) as server:
            started = time.monotonic()
            response = requests.get(server.url, timeout=TIMEOUT_SECONDS)

            assert response.ok
            assert time.monotonic() - started >= 0.2

    def test_stop_closes_the_port(self) -> None:
        server = InstanceHttpServer().start()
        port = server.port

        server.stop()

        assert port_refuses(port)

    def test_unknown_mode_is_rejected(self, server: InstanceHttpServer) -> None:
        with pytest.raises(ValueError, match="unknown HTTP mode 'sleepy'"):
            server.mode = "sleepy"  # type: ignore[assignment]
