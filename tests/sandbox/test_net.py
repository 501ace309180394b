from __future__ import annotations

import socket
import threading

import pytest

from sandbox.net import accept_connections, listen_on_loopback

pytestmark = pytest.mark.timeout(30)

PATIENCE_SECONDS = 2.0


class TestAcceptConnections:
    def test_hands_each_connection_over_blocking_until_told_to_stop(self) -> None:
        listener = listen_on_loopback(0)
        stopping = threading.Event()
        handed: list[socket.socket] = []
        arrived = threading.Event()

        def handle(connection: socket.socket) -> None:
            handed.append(connection)
            arrived.set()

        loop = threading.Thread(
            target=accept_connections, args=(listener, stopping, handle), daemon=True
        )
        loop.start()
        try:
            with socket.create_connection(listener.getsockname(), PATIENCE_SECONDS):
                assert arrived.wait(PATIENCE_SECONDS)
        finally:
            stopping.set()
            loop.join(PATIENCE_SECONDS)
            listener.close()
            for connection in handed:
                connection.close()

        assert not loop.is_alive(), "the accept loop did not stop"
        assert [c.getblocking() for c in handed] == [True]
