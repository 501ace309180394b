"""A TCP proxy on 127.0.0.1 that can hold back the server's first bytes.

In front of a sandbox instance's sshd, ``first_bytes_delay_seconds=0.5`` makes
the SSH banner, and so the handshake, arrive half a second late: an SSH check
that takes about 500 ms. With ``count_requests`` it also counts the HTTP/1.1
requests clients send through it (the benchmarks use this to count what an
idle runner asks a Prefect server).
"""

from __future__ import annotations

import socket
import threading
import time

_CHUNK_BYTES = 64 * 1024
_REQUEST_LINE_END = b" HTTP/1.1\r\n"


class DelayProxy:
    """Forwards every connection to ``target_port`` on 127.0.0.1."""

    def __init__(self, target_port: int, *, first_bytes_delay_seconds: float = 0.0):
        self.target_port = target_port
        self.first_bytes_delay_seconds = first_bytes_delay_seconds
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._requests = 0
        self._closed = False
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(
            target=self._accept, name=f"delay-proxy-{self.port}", daemon=True
        )

    @property
    def requests(self) -> int:
        """HTTP/1.1 request lines seen from clients so far."""
        with self._lock:
            return self._requests

    def start(self) -> DelayProxy:
        self._thread.start()
        return self

    def close(self) -> None:
        with self._lock:
            self._closed = True
            sockets, self._sockets = self._sockets, []
        self._listener.close()
        for sock in sockets:
            _close_quietly(sock)

    def __enter__(self) -> DelayProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                # What a client of a host with nothing listening would see.
                _close_quietly(client)
                continue
            with self._lock:
                if self._closed:
                    _close_quietly(client)
                    _close_quietly(upstream)
                    return
                self._sockets += [client, upstream]
            threading.Thread(
                target=self._pump, args=(client, upstream, 0.0, True), daemon=True
            ).start()
            threading.Thread(
                target=self._pump,
                args=(upstream, client, self.first_bytes_delay_seconds, False),
                daemon=True,
            ).start()

    def _pump(
        self,
        source: socket.socket,
        sink: socket.socket,
        first_delay_seconds: float,
        from_client: bool,
    ) -> None:
        try:
            first = True
            while chunk := source.recv(_CHUNK_BYTES):
                if first and first_delay_seconds > 0:
                    time.sleep(first_delay_seconds)
                first = False
                if from_client:
                    with self._lock:
                        self._requests += chunk.count(_REQUEST_LINE_END)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            # Half-close so the other side sees the end; the other pump closes.
            try:
                sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass


def _close_quietly(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass
