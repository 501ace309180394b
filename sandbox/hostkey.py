"""The SSH host key of a sandbox instance, generated at run time in its work dir."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

KEY_COMMENT = "firstline-sandbox"
_KEYGEN_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class HostKey:
    """An ed25519 host key: the private key file and what a client pins."""

    private_key_path: Path
    public_key_line: str
    """``ssh-ed25519 AAAA...``: key type and base64 blob, as in known_hosts."""

    @property
    def fingerprint(self) -> str:
        """``SHA256:...``, the form ``ssh-keygen -lf`` prints."""
        return fingerprint_of(self.public_key_line)

    def known_hosts_line(self, port: int) -> str:
        return f"[127.0.0.1]:{port} {self.public_key_line}"


def fingerprint_of(public_key_line: str) -> str:
    blob = base64.b64decode(public_key_line.split()[1])
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode()
    return "SHA256:" + digest.rstrip("=")


def generate_host_key(workdir: Path) -> HostKey:
    """Write a new ed25519 host key into ``workdir``, or reuse the one there.

    ``ssh-keygen`` writes it when installed; otherwise the ``cryptography``
    package writes the same OpenSSH format.
    """
    private_path = workdir / "ssh_host_ed25519_key"
    public_path = workdir / "ssh_host_ed25519_key.pub"
    if not (private_path.exists() and public_path.exists()):
        keygen = shutil.which("ssh-keygen")
        if keygen:
            _generate_with_ssh_keygen(keygen, private_path)
        else:
            _generate_with_cryptography(private_path, public_path)
    key_type, blob = public_path.read_text().split()[:2]
    return HostKey(private_path, f"{key_type} {blob}")


def _generate_with_ssh_keygen(keygen: str, private_path: Path) -> None:
    command = [keygen, "-q", "-t", "ed25519", "-N", "", "-C", KEY_COMMENT]
    subprocess.run(
        [*command, "-f", str(private_path)],
        check=True,
        capture_output=True,
        timeout=_KEYGEN_TIMEOUT_SECONDS,
    )


def _generate_with_cryptography(private_path: Path, public_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    private_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public_bytes = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    private_path.touch(mode=0o600)
    private_path.write_bytes(private_bytes)
    public_path.write_text(f"{public_bytes.decode()} {KEY_COMMENT}\n")


class KeepsHostKey:
    """A server's host key, made in its work directory the first time it is asked."""

    workdir: Path
    _host_key: HostKey | None = None

    @property
    def host_key(self) -> HostKey:
        if self._host_key is None:
            self.workdir.mkdir(parents=True, exist_ok=True)
            self._host_key = generate_host_key(self.workdir)
        return self._host_key

    @property
    def host_key_fingerprint(self) -> str:
        return self.host_key.fingerprint

    @property
    def host_public_key_line(self) -> str:
        return self.host_key.public_key_line
