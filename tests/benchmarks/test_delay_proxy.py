from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from benchmarks.delay_proxy import DelayProxy


@pytest.fixture
def greeting_server() -> Iterator[int]:
    """A server that sends a line at once and echoes what it then receives."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with listener:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                connection.sendall(b"hello\n")
                while data := connection.recv(1024):
                    connection.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    listener.close()


class TestDelayProxy:
    def test_the_servers_first_bytes_arrive_after_the_delay(
        self, greeting_server: int
    ) -> None:
        with DelayProxy(greeting_server, first_bytes_delay_seconds=0.3) as proxy:
            start = time.monotonic()
            with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as s:
                assert s.recv(1024) == b"hello\n"
                waited = time.monotonic() - start
                s.sendall(b"ping")
                assert s.recv(1024) == b"ping"
        assert waited >= 0.3

    def test_it_counts_http_request_lines_from_clients(
        self, greeting_server: int
    ) -> None:
        with DelayProxy(greeting_server) as proxy:
            with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as s:
                assert s.recv(1024) == b"hello\n"
                request = b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n"
                s.sendall(request * 2)
                received = b""
                while len(received) < len(request) * 2:
                    received += s.recv(4096)
            assert proxy.requests == 2
