from __future__ import annotations

import getpass
import subprocess
from pathlib import Path

import paramiko
import pytest

from sandbox.net import reserve_port
from sandbox.sshd import (
    OpenSshServer,
    PythonSshServer,
    SshServer,
    process_group_members,
    sshd_available,
)
from tests.sandbox.helpers import (
    ClientKey,
    make_client_key,
    port_refuses,
    remote_host_key,
    run_command,
)

pytestmark = pytest.mark.timeout(60)

SERVER_KINDS = [OpenSshServer, PythonSshServer]


def start_server(
    kind: type[SshServer], workdir: Path, authorized_keys: str | None = None
) -> SshServer:
    return kind(workdir, reserve_port(), authorized_keys).start()


def test_openssh_can_run_on_this_machine() -> None:
    # The OpenSSH tests below need Debian's openssh-server and root; the CI
    # script installs it. Without it the sandbox falls back to paramiko.
    assert sshd_available()


@pytest.mark.parametrize("kind", SERVER_KINDS, ids=["openssh", "paramiko"])
class TestSshServer:
    def test_handshake_presents_the_generated_host_key(
        self, kind: type[SshServer], tmp_path: Path
    ) -> None:
        server = start_server(kind, tmp_path)
        try:
            presented = remote_host_key(server.port)
        finally:
            server.stop()

        assert presented == server.host_public_key_line
        assert presented.startswith("ssh-ed25519 ")

    def test_fingerprint_matches_what_ssh_keygen_prints(
        self, kind: type[SshServer], tmp_path: Path
    ) -> None:
        server = start_server(kind, tmp_path)
        server.stop()
        public_path = f"{server.host_key.private_key_path}.pub"

        printed = subprocess.run(
            ["ssh-keygen", "-lf", public_path],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout

        assert printed.split()[1] == server.host_key_fingerprint
        assert server.host_key_fingerprint.startswith("SHA256:")

    def test_authorized_key_logs_in_and_commands_get_the_forced_answer(
        self, kind: type[SshServer], tmp_path: Path, client_key: ClientKey
    ) -> None:
        server = start_server(kind, tmp_path, client_key.public_line)
        try:
            output = run_command(
                server.port, client_key.private, "rm -rf /", getpass.getuser()
            )
        finally:
            server.stop()

        assert output == b"firstline-sandbox ok\n"

    def test_unknown_key_is_refused(
        self, kind: type[SshServer], tmp_path: Path, client_key: ClientKey
    ) -> None:
        stranger = make_client_key()
        server = start_server(kind, tmp_path, client_key.public_line)
        try:
            with pytest.raises(paramiko.AuthenticationException):
                run_command(server.port, stranger.private, "true", getpass.getuser())
        finally:
            server.stop()

    def test_stop_closes_the_port(self, kind: type[SshServer], tmp_path: Path) -> None:
        server = start_server(kind, tmp_path)
        remote_host_key(server.port)

        server.stop()

        assert port_refuses(server.port)


class TestOpenSshServer:
    def test_stop_ends_sshd_and_every_child_it_forked(
        self, tmp_path: Path, client_key: ClientKey
    ) -> None:
        server = OpenSshServer(tmp_path, reserve_port(), client_key.public_line)
        server.start()
        pid = server.pid
        assert pid is not None
        remote_host_key(server.port)

        server.stop()

        assert process_group_members(pid) == []

    def test_a_port_already_taken_is_reported_before_sshd_starts(
        self, tmp_path: Path
    ) -> None:
        with PythonSshServer(tmp_path / "taken") as holder:
            server = OpenSshServer(tmp_path / "second", holder.port)
            try:
                with pytest.raises(OSError, match="already in use"):
                    server.start()
            finally:
                server.stop()
            assert server.pid is None

    def test_an_sshd_that_exits_at_start_is_reported_with_its_log(
        self, tmp_path: Path
    ) -> None:
        server = OpenSshServer(tmp_path, reserve_port(), "not a key line")
        # A config sshd rejects: it exits at once and says why on stderr.
        server._write_config = lambda: _bad_config(tmp_path)  # type: ignore[method-assign]
        try:
            with pytest.raises(RuntimeError, match="sshd did not start.*Bogus"):
                server.start()
        finally:
            server.stop()


def _bad_config(workdir: Path) -> Path:
    path = workdir / "sshd_config_bad"
    path.write_text("BogusOption yes\n")
    return path
