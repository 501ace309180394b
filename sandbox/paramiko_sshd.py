"""An SSH daemon in Python, on paramiko's server mode, for machines without OpenSSH.

It offers the interface of :class:`sandbox.sshd.OpenSshServer`: public-key logins
from an optional ``authorized_keys`` text, and every command answered with
``firstline-sandbox ok`` and exit status 0 instead of being run.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import paramiko
from paramiko.common import (
    AUTH_FAILED,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_SUCCEEDED,
)

from sandbox.hostkey import HostKey, KeepsHostKey
from sandbox.net import accept_connections, listen_on_loopback

FORCED_COMMAND_OUTPUT = b"firstline-sandbox ok\n"
_CHANNEL_WAIT_SECONDS = 0.2
_JOIN_TIMEOUT_SECONDS = 5.0

# paramiko logs an ERROR with a traceback for every client that hangs up
# mid-handshake, which port probes and the checks under test do on purpose. Those
# lines are muted; lower this logger's level to see them when debugging.
_TRANSPORT_LOG_CHANNEL = "sandbox.paramiko_sshd.transport"
_transport_logger = logging.getLogger(_TRANSPORT_LOG_CHANNEL)
_transport_logger.addHandler(logging.NullHandler())
_transport_logger.propagate = False
_transport_logger.setLevel(logging.CRITICAL + 1)


class _Interface(paramiko.ServerInterface):
    def __init__(self, authorized: set[tuple[str, str]]) -> None:
        self._authorized = authorized
        self.exec_requests: list[paramiko.Channel] = []
        self.exec_requested = threading.Condition()

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if (key.get_name(), key.get_base64()) in self._authorized:
            return AUTH_SUCCESSFUL
        return AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return OPEN_SUCCEEDED
        return OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(
        self, channel: paramiko.Channel, command: bytes
    ) -> bool:
        with self.exec_requested:
            self.exec_requests.append(channel)
            self.exec_requested.notify_all()
        return True


class PythonSshServer(KeepsHostKey):
    """A paramiko SSH server on 127.0.0.1:``port`` (0: the kernel chooses)."""

    def __init__(
        self, workdir: Path, port: int = 0, authorized_keys: str | None = None
    ) -> None:
        self.workdir = Path(workdir)
        self.authorized_keys = authorized_keys
        self._port = port
        self._host_key: HostKey | None = None
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._accept_thread: threading.Thread | None = None
        self._threads: list[threading.Thread] = []
        self._transports: list[paramiko.Transport] = []
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("PythonSshServer has no port before start()")
        return self._port

    def start(self) -> PythonSshServer:
        if self._listener is not None:
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._server_key = paramiko.Ed25519Key(
            filename=str(self.host_key.private_key_path)
        )
        self._authorized = _parse_authorized_keys(self.authorized_keys)

        listener = listen_on_loopback(self._port)
        self._port = int(listener.getsockname()[1])
        self._listener = listener
        self._stopping.clear()
        self._accept_thread = self._spawn(self._accept_loop, listener, track=False)
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._accept_thread is not None:
            self._accept_thread.join(_JOIN_TIMEOUT_SECONDS)
            self._accept_thread = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None

        with self._lock:
            transports, self._transports = self._transports, []
        for transport in transports:
            transport.close()
        with self._lock:
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(_JOIN_TIMEOUT_SECONDS)
        for transport in transports:
            transport.join(_JOIN_TIMEOUT_SECONDS)

    def __enter__(self) -> PythonSshServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _spawn(
        self, target: Callable[..., None], *args: object, track: bool = True
    ) -> threading.Thread:
        thread = threading.Thread(
            target=target,
            args=args,
            name=f"sandbox-paramiko-sshd-{self._port}",
            daemon=True,
        )
        if track:
            with self._lock:
                self._threads.append(thread)
        thread.start()
        return thread

    def _accept_loop(self, listener: socket.socket) -> None:
        accept_connections(
            listener,
            self._stopping,
            lambda connection: self._spawn(self._serve_connection, connection),
        )

    def _serve_connection(self, connection: socket.socket) -> None:
        transport = paramiko.Transport(connection)
        transport.set_log_channel(_TRANSPORT_LOG_CHANNEL)
        transport.add_server_key(self._server_key)
        with self._lock:
            if self._stopping.is_set():
                transport.close()
                return
            self._transports.append(transport)
        interface = _Interface(self._authorized)
        try:
            transport.start_server(server=interface)
        except (paramiko.SSHException, EOFError, OSError):
            transport.close()
            return

        # Answer each exec request on an opened session channel, like sshd's
        # ForceCommand, until the client goes or the server stops.
        while transport.is_active() and not self._stopping.is_set():
            with interface.exec_requested:
                interface.exec_requested.wait(_CHANNEL_WAIT_SECONDS)
                channels, interface.exec_requests = interface.exec_requests, []
            for channel in channels:
                _answer_exec(channel)
        transport.close()


def _answer_exec(channel: paramiko.Channel) -> None:
    try:
        channel.sendall(FORCED_COMMAND_OUTPUT)
        channel.send_exit_status(0)
    except (OSError, paramiko.SSHException, EOFError):
        pass
    channel.close()


def _parse_authorized_keys(text: str | None) -> set[tuple[str, str]]:
    keys = set()
    for line in (text or "").splitlines():
        fields = line.split()
        if len(fields) >= 2 and not line.lstrip().startswith("#"):
            keys.add((fields[0], fields[1]))
    return keys
