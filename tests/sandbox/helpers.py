"""Helpers for the sandbox tests: SSH clients and client keys made at run time."""

from __future__ import annotations

import io
import socket
from dataclasses import dataclass

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SSH_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class ClientKey:
    private: paramiko.PKey
    public_line: str


def make_client_key() -> ClientKey:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return ClientKey(
        paramiko.Ed25519Key.from_private_key(io.StringIO(pem)), public.decode()
    )


def open_transport(
    port: int, timeout_seconds: float = SSH_TIMEOUT_SECONDS
) -> paramiko.Transport:
    """A client transport with its handshake done; the caller closes it.

    Raises what paramiko raises: SSHException when no banner comes, a bare
    EOFError when the banner comes and then nothing.
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_seconds)
    transport = paramiko.Transport(sock)
    transport.banner_timeout = timeout_seconds
    transport.handshake_timeout = timeout_seconds
    try:
        transport.start_client(timeout=timeout_seconds * 2)
        # start_client() returns quietly when its own timeout passes first; this
        # raises SSHException then.
        transport.get_remote_server_key()
    except BaseException:
        transport.close()
        raise
    return transport


def remote_host_key(port: int, timeout_seconds: float = SSH_TIMEOUT_SECONDS) -> str:
    """``ssh-ed25519 AAAA...`` as the server on ``port`` presents it."""
    transport = open_transport(port, timeout_seconds)
    try:
        key = transport.get_remote_server_key()
        return f"{key.get_name()} {key.get_base64()}"
    finally:
        transport.close()


def run_command(port: int, key: paramiko.PKey, command: str, user: str) -> bytes:
    transport = open_transport(port)
    try:
        transport.auth_publickey(user, key)
        channel = transport.open_session(timeout=SSH_TIMEOUT_SECONDS)
        channel.settimeout(SSH_TIMEOUT_SECONDS)
        channel.exec_command(command)
        output = b""
        while chunk := channel.recv(1024):
            output += chunk
        assert channel.recv_exit_status() == 0
        return output
    finally:
        transport.close()


def port_refuses(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return False
    except ConnectionRefusedError:
        return True
