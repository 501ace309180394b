"""The SSH port of a sandbox instance: one fixed port whose behaviour can switch.

Modes:

- ``"ok"``: a real SSH daemon (OpenSSH, or paramiko where sshd cannot run);
- ``"silent"``: connections are accepted and never answered;
- ``"banner"``: the OpenSSH identification line, then silence;
- ``"refused"`` and ``"down"``: nothing listens (connection refused). They differ
  only in meaning: a refusing daemon versus a machine that is off or booting.

The host key is generated once in the work dir, so the fingerprint is the same
every time the daemon comes back.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Literal, Protocol

from sandbox.hostkey import HostKey, KeepsHostKey
from sandbox.net import reserve_port
from sandbox.sshd import OpenSshServer, PythonSshServer, sshd_available
from sandbox.tcp import BannerThenSilenceServer, SilentTcpServer

SshMode = Literal["ok", "silent", "banner", "refused", "down"]
SSH_MODES: tuple[SshMode, ...] = ("ok", "silent", "banner", "refused", "down")


class _Server(Protocol):
    def stop(self) -> None: ...


class InstanceSshEndpoint(KeepsHostKey):
    """Owns 127.0.0.1:``port`` for one instance and runs the server its mode needs.

    ``use_openssh`` None picks OpenSSH when :func:`sandbox.sshd.sshd_available`;
    False forces the paramiko daemon. The port is picked free at construction and
    re-bound at each mode change; if another process takes it while nothing
    listens, the next change raises ``OSError`` or ``RuntimeError``.
    """

    def __init__(
        self,
        workdir: Path,
        authorized_keys: str | None = None,
        mode: SshMode = "ok",
        use_openssh: bool | None = None,
    ) -> None:
        _check_mode(mode)
        self.workdir = Path(workdir)
        self.authorized_keys = authorized_keys
        self.use_openssh = sshd_available() if use_openssh is None else use_openssh
        self.port = reserve_port()
        self._mode: SshMode = mode
        self._server: _Server | None = None
        self._started = False
        self._lock = threading.Lock()
        self._host_key: HostKey | None = None

    @property
    def server_kind(self) -> Literal["openssh", "paramiko"]:
        return "openssh" if self.use_openssh else "paramiko"

    @property
    def known_hosts_line(self) -> str:
        return self.host_key.known_hosts_line(self.port)

    @property
    def mode(self) -> SshMode:
        return self._mode

    @mode.setter
    def mode(self, mode: SshMode) -> None:
        self.set_mode(mode)

    def set_mode(self, mode: SshMode) -> None:
        _check_mode(mode)
        with self._lock:
            if mode == self._mode:
                return
            self._mode = mode
            if self._started:
                self._stop_server()
                self._server = self._start_server(mode)

    def start(self) -> InstanceSshEndpoint:
        with self._lock:
            if not self._started:
                self._server = self._start_server(self._mode)
                self._started = True
        return self

    def stop(self) -> None:
        with self._lock:
            self._started = False
            self._stop_server()

    def __enter__(self) -> InstanceSshEndpoint:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _start_server(self, mode: SshMode) -> _Server | None:
        server: OpenSshServer | PythonSshServer | SilentTcpServer
        if mode == "ok":
            self.host_key  # noqa: B018 (generated before either daemon reads it)
            if self.use_openssh:
                server = OpenSshServer(self.workdir, self.port, self.authorized_keys)
            else:
                server = PythonSshServer(self.workdir, self.port, self.authorized_keys)
        elif mode == "silent":
            server = SilentTcpServer(self.port)
        elif mode == "banner":
            server = BannerThenSilenceServer(self.port)
        else:
            return None
        server.start()
        return server

    def _stop_server(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()


def _check_mode(mode: str) -> None:
    if mode not in SSH_MODES:
        raise ValueError(f"unknown SSH mode {mode!r}; choose one of {SSH_MODES}")
