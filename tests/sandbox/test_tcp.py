from __future__ import annotations

import socket

import paramiko
import pytest

from sandbox.tcp import OPENSSH_BANNER, BannerThenSilenceServer, SilentTcpServer
from tests.sandbox.helpers import open_transport, port_refuses

pytestmark = pytest.mark.timeout(60)

SHORT_TIMEOUT_SECONDS = 0.3


class TestSilentTcpServer:
    def test_silent_server_accepts_and_sends_nothing(self) -> None:
        with (
            SilentTcpServer() as server,
            socket.create_connection(("127.0.0.1", server.port), timeout=1) as client,
        ):
            client.settimeout(SHORT_TIMEOUT_SECONDS)
            with pytest.raises(TimeoutError):
                client.recv(1)

    def test_ssh_handshake_fails_on_a_silent_server(self) -> None:
        with SilentTcpServer() as server:
            with pytest.raises(paramiko.SSHException, match="protocol banner"):
                open_transport(server.port, timeout_seconds=SHORT_TIMEOUT_SECONDS)

    def test_stop_closes_the_port_and_held_connections(self) -> None:
        server = SilentTcpServer().start()
        client = socket.create_connection(("127.0.0.1", server.port), timeout=1)

        server.stop()

        with client:
            client.settimeout(1)
            try:
                received = client.recv(1)
            except ConnectionResetError:  # closed before it was even accepted
                received = b""
            assert received == b""
        assert port_refuses(server.port)


class TestBannerThenSilenceServer:
    def test_banner_server_sends_the_openssh_banner_then_nothing(self) -> None:
        with (
            BannerThenSilenceServer() as server,
            socket.create_connection(("127.0.0.1", server.port), timeout=1) as client,
        ):
            received = b""
            while len(received) < len(OPENSSH_BANNER):
                received += client.recv(64)
            client.settimeout(SHORT_TIMEOUT_SECONDS)

            assert received == b"SSH-2.0-OpenSSH_9.2p1\r\n"
            with pytest.raises(TimeoutError):
                client.recv(1)

    def test_ssh_handshake_on_banner_then_silence_raises_a_bare_eof_error(
        self,
    ) -> None:
        with BannerThenSilenceServer() as server:
            with pytest.raises(EOFError):
                open_transport(server.port, timeout_seconds=SHORT_TIMEOUT_SECONDS)

    def test_a_fixed_port_can_be_requested(self) -> None:
        with SilentTcpServer() as first:
            port = first.port
        with BannerThenSilenceServer(port) as second:
            assert second.port == port
            assert not port_refuses(port)
