from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from sandbox.moto_server import SandboxMotoServer
from sandbox.serving import serve_in_thread, stop_serving

pytestmark = pytest.mark.timeout(30)

PATIENCE_SECONDS = 2.0


class _Echo(socketserver.BaseRequestHandler):
    server: _Listener

    def handle(self) -> None:
        self.server.accepted_blocking.append(self.request.getblocking())
        self.request.sendall(self.request.recv(64))


class _Listener(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.accepted_blocking: list[bool] = []
        super().__init__(("127.0.0.1", 0), _Echo)


@pytest.fixture
def served() -> Iterator[tuple[_Listener, threading.Thread]]:
    listener = _Listener()
    thread = serve_in_thread(listener, "test-serving")
    yield listener, thread
    if thread.is_alive():
        stop_serving(listener, thread)
    listener.server_close()


class TestServeInThread:
    def test_a_readiness_report_without_a_connection_does_not_stall_the_loop(
        self, served: tuple[_Listener, threading.Thread]
    ) -> None:
        listener, thread = served
        # What the loop does after poll() reported a connection that the kernel
        # dropped before accept(): try to accept with nothing there.
        attempt = threading.Thread(target=listener._handle_request_noblock)
        attempt.daemon = True
        attempt.start()
        attempt.join(PATIENCE_SECONDS)

        assert not attempt.is_alive(), "accept() waited for a client"
        stopper = threading.Thread(target=stop_serving, args=(listener, thread))
        stopper.daemon = True
        stopper.start()
        stopper.join(PATIENCE_SECONDS)
        assert not stopper.is_alive(), "the serving loop did not stop"

    def test_accepted_connections_stay_blocking_and_are_served(
        self, served: tuple[_Listener, threading.Thread]
    ) -> None:
        listener, _ = served
        address = listener.server_address

        with socket.create_connection(address, timeout=PATIENCE_SECONDS) as client:
            client.sendall(b"ping")
            reply = client.recv(64)

        assert reply == b"ping"
        assert listener.accepted_blocking == [True]


def test_the_moto_server_listener_never_waits_in_accept() -> None:
    server = SandboxMotoServer(account_id="123456789012")
    server.start()
    try:
        assert server._tracking_server is not None
        assert server._tracking_server.socket.getblocking() is False
    finally:
        server.stop()
