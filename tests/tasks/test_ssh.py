"""The SSH check against real SSH daemons and stalling TCP servers on 127.0.0.1."""

from __future__ import annotations

import getpass
import io
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firstline.errors import CheckError
from firstline.models import CheckName, CheckStatus, InstanceInfo
from firstline.settings import SecretRef, SshCheckSettings
from sandbox import (
    BannerThenSilenceServer,
    OpenSshServer,
    PythonSshServer,
    Sandbox,
    SilentTcpServer,
    sshd_available,
)
from sandbox.net import reserve_port
from tasks.ssh import run_ssh_check

REGION = "eu-west-1"
INSTANCE = InstanceInfo(
    instance_id="i-0123456789abcdef0",
    region=REGION,
    state="running",
    public_ip=None,
    private_ip="127.0.0.1",
    tags={},
)


def ssh_settings(port: int, **overrides: object) -> SshCheckSettings:
    return SshCheckSettings.model_validate(
        {"address": "private", "port": port, "timeout_seconds": 3.0, **overrides}
    )


def ed25519_key_pair() -> tuple[str, str]:
    """A fresh key pair: the OpenSSH private key text and the public key line."""
    key = Ed25519PrivateKey.generate()
    private_text = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public_line = (
        key.public_key()
        .public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        .decode()
    )
    return private_text, public_line


def rsa_key_pair() -> tuple[str, str]:
    """A fresh RSA key pair: PEM private key text and the public key line."""
    key = paramiko.RSAKey.generate(2048)
    private_text = io.StringIO()
    key.write_private_key(private_text)
    return private_text.getvalue(), f"{key.get_name()} {key.get_base64()}"


def keygen_fingerprint(public_line: str, tmp_path: Path) -> str:
    """The SHA256 fingerprint as ssh-keygen itself prints it."""
    public_path = tmp_path / "host_key.pub"
    public_path.write_text(public_line + "\n")
    printed = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(public_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout
    return printed.split()[1]


def start_sshd(
    workdir: Path, authorized_keys: str | None = None
) -> OpenSshServer | PythonSshServer:
    """Debian's sshd where it can run (as root), else the paramiko daemon."""
    if sshd_available():
        return OpenSshServer(workdir, reserve_port(), authorized_keys).start()
    return PythonSshServer(workdir, reserve_port(), authorized_keys).start()


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[OpenSshServer | PythonSshServer]:
    server = start_sshd(tmp_path / "sshd")
    yield server
    server.stop()


class TestSshHandshake:
    def test_ssh_check_passes_and_records_the_host_key_fingerprint(
        self, sshd: OpenSshServer | PythonSshServer, tmp_path: Path
    ) -> None:
        result = run_ssh_check(INSTANCE, ssh_settings(sshd.port))

        assert result.status is CheckStatus.PASSED
        assert result.check is CheckName.SSH
        assert result.target == f"ssh 127.0.0.1:{sshd.port}"
        fingerprint = keygen_fingerprint(sshd.host_public_key_line, tmp_path)
        assert result.evidence["host_key_fingerprint"] == fingerprint
        assert result.evidence["host_key_type"] == "ssh-ed25519"
        assert fingerprint in result.detail
        assert result.evidence["server_banner"].startswith("SSH-2.0-")

    def test_ssh_check_fails_when_the_connection_is_refused(self) -> None:
        result = run_ssh_check(INSTANCE, ssh_settings(reserve_port()))

        assert result.status is CheckStatus.FAILED
        assert result.detail == "connection refused"

    def test_ssh_check_fails_on_a_silent_server(self) -> None:
        with SilentTcpServer() as server:
            settings = ssh_settings(server.port, timeout_seconds=0.5)
            result = run_ssh_check(INSTANCE, settings)

        assert result.status is CheckStatus.FAILED
        assert result.detail == "no SSH banner within 0.5 s"
        assert 0.5 <= result.duration_seconds < 2.0

    def test_ssh_check_fails_on_a_banner_followed_by_silence(self) -> None:
        with BannerThenSilenceServer() as server:
            settings = ssh_settings(server.port, timeout_seconds=0.5)
            result = run_ssh_check(INSTANCE, settings)

        assert result.status is CheckStatus.FAILED
        assert result.detail == (
            "banner 'SSH-2.0-OpenSSH_9.2p1', then no key exchange within 0.5 s"
        )
        assert result.duration_seconds < 2.0

    def test_ssh_check_raises_when_the_instance_has_no_ip_of_that_kind(self) -> None:
        with pytest.raises(CheckError, match="no public IP address"):
            run_ssh_check(INSTANCE, SshCheckSettings(address="public"))

    def test_ssh_check_is_skipped_when_disabled(self) -> None:
        result = run_ssh_check(INSTANCE, SshCheckSettings(enabled=False))

        assert result.status is CheckStatus.SKIPPED


class TestSshLogin:
    """Authenticated mode, with the private key in a Secrets Manager secret."""

    def store_key(self, sandbox: Sandbox, private_text: str) -> SecretRef:
        name = f"firstline/ssh-key-{uuid.uuid4().hex[:8]}"
        secrets = sandbox.client("secretsmanager", REGION)
        secrets.create_secret(Name=name, SecretString=private_text)
        return SecretRef(aws_secret=name)

    def login_settings(
        self, port: int, key: SecretRef, pinned: str, **auth: object
    ) -> SshCheckSettings:
        return ssh_settings(
            port,
            auth={
                "username": getpass.getuser(),
                "private_key": key,
                "known_host_keys": (pinned,),
                **auth,
            },
        )

    def test_ssh_login_runs_the_command_with_a_pinned_host_key(
        self, aws_env: Sandbox, tmp_path: Path
    ) -> None:
        private_text, public_line = ed25519_key_pair()
        key = self.store_key(aws_env, private_text)
        server = start_sshd(tmp_path / "sshd", authorized_keys=public_line)
        try:
            settings = self.login_settings(
                server.port, key, server.host_public_key_line
            )
            result = run_ssh_check(INSTANCE, settings)
        finally:
            server.stop()

        assert result.status is CheckStatus.PASSED, result.detail
        assert result.evidence["exit_status"] == "0"
        assert result.evidence["output"] == "firstline-sandbox ok"
        assert result.evidence["host_key_fingerprint"] == server.host_key_fingerprint
        assert result.detail.startswith("'uptime' as ")

    def test_ssh_login_accepts_an_rsa_key_in_pem_format(
        self, aws_env: Sandbox, tmp_path: Path
    ) -> None:
        private_text, public_line = rsa_key_pair()
        key = self.store_key(aws_env, private_text)
        server = start_sshd(tmp_path / "sshd", authorized_keys=public_line)
        try:
            settings = self.login_settings(
                server.port, key, server.host_public_key_line
            )
            result = run_ssh_check(INSTANCE, settings)
        finally:
            server.stop()

        assert result.status is CheckStatus.PASSED, result.detail

    def test_ssh_login_fails_when_the_host_key_is_not_the_pinned_one(
        self, aws_env: Sandbox, tmp_path: Path
    ) -> None:
        private_text, public_line = ed25519_key_pair()
        key = self.store_key(aws_env, private_text)
        _, other_host_key = ed25519_key_pair()
        server = start_sshd(tmp_path / "sshd", authorized_keys=public_line)
        try:
            settings = self.login_settings(server.port, key, other_host_key)
            result = run_ssh_check(INSTANCE, settings)
        finally:
            server.stop()

        assert result.status is CheckStatus.FAILED
        pinned_fingerprint = keygen_fingerprint(other_host_key, tmp_path)
        assert result.detail == (
            f"host key {server.host_key_fingerprint} does not match the pinned "
            f"key {pinned_fingerprint}"
        )
        assert "exit_status" not in result.evidence

    def test_ssh_login_fails_when_the_server_refuses_the_key(
        self, aws_env: Sandbox, tmp_path: Path
    ) -> None:
        private_text, _ = ed25519_key_pair()
        _, authorized_line = ed25519_key_pair()
        key = self.store_key(aws_env, private_text)
        server = start_sshd(tmp_path / "sshd", authorized_keys=authorized_line)
        try:
            settings = self.login_settings(
                server.port, key, server.host_public_key_line
            )
            result = run_ssh_check(INSTANCE, settings)
        finally:
            server.stop()

        assert result.status is CheckStatus.FAILED
        assert result.detail == (
            f"the server refused the key for user {getpass.getuser()!r}"
        )

    def test_ssh_login_raises_when_the_key_secret_is_missing(
        self, aws_env: Sandbox
    ) -> None:
        settings = self.login_settings(
            22, SecretRef(aws_secret="firstline/no-such-key"), "ssh-ed25519 AAAA"
        )

        with pytest.raises(CheckError, match="aws-secret:firstline/no-such-key"):
            run_ssh_check(INSTANCE, settings)

    def test_ssh_login_raises_for_a_pinned_key_it_cannot_read(
        self, aws_env: Sandbox
    ) -> None:
        private_text, _ = ed25519_key_pair()
        key = self.store_key(aws_env, private_text)
        settings = self.login_settings(22, key, "ssh-ed25519 not-base64!")

        with pytest.raises(CheckError, match="Pinned host key 1"):
            run_ssh_check(INSTANCE, settings)
