"""The web server of a sandbox instance, whose health can be switched at run time.

Modes:

- ``"ok"``: HTTP 200 with a body containing ``firstline-sandbox ok``;
- ``"error"``: HTTP 500;
- ``"hung"``: the connection is accepted and the request read, but no answer comes
  until the mode changes or the server stops;
- ``"down"``: nothing listens on the port (connection refused); leaving ``"down"``
  listens again on the same port.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from sandbox.serving import serve_in_thread, stop_serving

HttpMode = Literal["ok", "error", "hung", "down"]
HTTP_MODES: tuple[HttpMode, ...] = ("ok", "error", "hung", "down")


class _Handler(BaseHTTPRequestHandler):
    server: _Listener
    server_version = "firstline-sandbox"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 (name set by http.server)
        self._answer(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(send_body=False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Keep the test output clean: the sandbox never writes request lines."""

    def _answer(self, send_body: bool) -> None:
        owner = self.server.owner
        mode, released = owner._snapshot()
        if mode == "hung":
            # A hung web server: the request was read, the reply never comes. The
            # connection is dropped once the mode changes or the server stops.
            released.wait()
            self.close_connection = True
            return
        if owner.latency_seconds > 0 and released.wait(owner.latency_seconds):
            self.close_connection = True
            return

        if mode == "error":
            status, text = 500, "firstline-sandbox error: internal server error\n"
        else:
            status, text = 200, f"firstline-sandbox ok: {owner.name}\n"
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)


class _Listener(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    # The default backlog of 5 drops connections under benchmark load, and a
    # dropped SYN costs the client a one-second retransmit.
    request_queue_size = 128

    def __init__(self, owner: InstanceHttpServer, port: int) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.owner._track(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.owner._untrack(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer is routine here, not worth a trace."""


class InstanceHttpServer:
    """An HTTP server on 127.0.0.1 whose answers follow :attr:`mode`.

    The port is chosen by the kernel on the first :meth:`start` and kept for the
    server's life, including across ``"down"`` periods. If another process binds
    that port while the server is down, coming back up raises ``OSError``.
    """

    def __init__(
        self, name: str = "sandbox", mode: HttpMode = "ok", latency_seconds: float = 0.0
    ) -> None:
        _check_mode(mode)
        self.name = name
        self.latency_seconds = latency_seconds
        self._mode: HttpMode = mode
        self._port = 0
        # _lock orders start/stop/mode changes; _state_lock guards what the
        # handler threads read, so a stop that joins them never waits on itself.
        self._lock = threading.RLock()
        self._state_lock = threading.Lock()
        self._release = threading.Event()
        self._connections: set[socket.socket] = set()
        self._listener: _Listener | None = None
        self._serve_thread: threading.Thread | None = None
        self._started = False

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("InstanceHttpServer has no port before start()")
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def mode(self) -> HttpMode:
        return self._mode

    @mode.setter
    def mode(self, mode: HttpMode) -> None:
        _check_mode(mode)
        with self._lock:
            with self._state_lock:
                if mode == self._mode:
                    return
                self._mode = mode
                self._release_waiters()
            if not self._started:
                return
            if mode == "down":
                self._close_listener()
            elif self._listener is None:
                self._open_listener()

    def start(self) -> InstanceHttpServer:
        with self._lock:
            if self._started:
                return self
            if self._mode != "down":
                self._open_listener()
            else:
                # Reserve a port number so that the server has one while down.
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", 0))
                    self._port = probe.getsockname()[1]
            self._started = True
        return self

    def stop(self) -> None:
        with self._lock:
            self._started = False
            with self._state_lock:
                self._release_waiters()
            self._close_listener()

    def __enter__(self) -> InstanceHttpServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _snapshot(self) -> tuple[HttpMode, threading.Event]:
        """The mode and the event set when that mode ends, read together."""
        with self._state_lock:
            return self._mode, self._release

    def _track(self, connection: socket.socket) -> None:
        with self._state_lock:
            self._connections.add(connection)

    def _untrack(self, connection: socket.socket) -> None:
        with self._state_lock:
            self._connections.discard(connection)

    def _open_listener(self) -> None:
        listener = _Listener(self, self._port)
        self._port = listener.server_address[1]
        thread = serve_in_thread(listener, f"sandbox-http-{self.name}")
        self._listener, self._serve_thread = listener, thread

    def _close_listener(self) -> None:
        listener, thread = self._listener, self._serve_thread
        self._listener, self._serve_thread = None, None
        if listener is None or thread is None:
            return
        stop_serving(listener, thread)
        # Like a machine going away: open connections are cut, not drained.
        with self._state_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        listener.server_close()

    def _release_waiters(self) -> None:
        self._release.set()
        self._release = threading.Event()


def _check_mode(mode: str) -> None:
    if mode not in HTTP_MODES:
        raise ValueError(f"unknown HTTP mode {mode!r}; choose one of {HTTP_MODES}")
