from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from sandbox.ssh_endpoint import InstanceSshEndpoint
from tests.sandbox.helpers import open_transport, port_refuses, remote_host_key

pytestmark = pytest.mark.timeout(60)

SHORT_TIMEOUT_SECONDS = 0.3


@pytest.fixture(params=[True, False], ids=["openssh", "paramiko"])
def endpoint(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[InstanceSshEndpoint]:
    with InstanceSshEndpoint(tmp_path, use_openssh=request.param) as endpoint:
        yield endpoint


class TestInstanceSshEndpoint:
    def test_ok_mode_runs_the_chosen_daemon(
        self, endpoint: InstanceSshEndpoint
    ) -> None:
        transport = open_transport(endpoint.port)
        try:
            banner = transport.remote_version
        finally:
            transport.close()

        expected = "OpenSSH" if endpoint.server_kind == "openssh" else "paramiko"
        assert expected in banner

    def test_every_mode_switch_keeps_the_port_and_the_host_key(
        self, endpoint: InstanceSshEndpoint
    ) -> None:
        port, first_key = endpoint.port, remote_host_key(endpoint.port)

        endpoint.mode = "silent"
        with pytest.raises(paramiko.SSHException, match="protocol banner"):
            open_transport(port, timeout_seconds=SHORT_TIMEOUT_SECONDS)
        endpoint.mode = "banner"
        with pytest.raises(EOFError):
            open_transport(port, timeout_seconds=SHORT_TIMEOUT_SECONDS)
        endpoint.mode = "refused"
        assert port_refuses(port)
        endpoint.mode = "ok"

        assert endpoint.port == port
        assert remote_host_key(port) == first_key == endpoint.host_public_key_line

    def test_down_mode_refuses_connections(self, endpoint: InstanceSshEndpoint) -> None:
        endpoint.mode = "down"

        assert port_refuses(endpoint.port)

    def test_stop_closes_the_port(self, tmp_path: Path) -> None:
        endpoint = InstanceSshEndpoint(tmp_path, mode="banner").start()

        endpoint.stop()

        assert port_refuses(endpoint.port)

    def test_known_hosts_line_names_the_loopback_port(self, tmp_path: Path) -> None:
        endpoint = InstanceSshEndpoint(tmp_path, mode="down")

        line = endpoint.known_hosts_line

        assert line.startswith(f"[127.0.0.1]:{endpoint.port} ssh-ed25519 ")

    def test_unknown_mode_is_rejected(self, tmp_path: Path) -> None:
        endpoint = InstanceSshEndpoint(tmp_path, mode="down")

        with pytest.raises(ValueError, match="unknown SSH mode 'asleep'"):
            endpoint.mode = "asleep"  # type: ignore[assignment]
