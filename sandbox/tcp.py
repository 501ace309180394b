"""TCP servers that accept connections and then stall, as a sick SSH daemon does.

:class:`SilentTcpServer` never sends a byte; :class:`BannerThenSilenceServer` sends
an OpenSSH identification line and then nothing. Both hold every connection open
until stopped, without reading from it.
"""

from __future__ import annotations

import socket
import threading
from typing import Self

from sandbox.net import accept_connections, listen_on_loopback

OPENSSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1\r\n"


class SilentTcpServer:
    """Accepts on 127.0.0.1 and never answers. ``port=0`` lets the kernel choose."""

    greeting = b""

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError(f"{type(self).__name__} has no port before start()")
        return self._port

    def start(self) -> Self:
        listener = listen_on_loopback(self._port)
        self._port = int(listener.getsockname()[1])
        self._listener = listener
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._accept_loop, name=f"sandbox-{type(self).__name__}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        accept_connections(listener, self._stopping, self._hold)

    def _hold(self, connection: socket.socket) -> None:
        if self.greeting:
            try:
                connection.sendall(self.greeting)
            except OSError:
                connection.close()
                return
        with self._lock:
            self._connections.append(connection)


class BannerThenSilenceServer(SilentTcpServer):
    """Sends ``SSH-2.0-OpenSSH_9.2p1`` and then nothing: the client's key exchange
    is never answered."""

    greeting = OPENSSH_BANNER
