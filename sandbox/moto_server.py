"""moto's threaded server, bound to 127.0.0.1 and to one AWS account per sandbox.

Every request is stamped with the sandbox's account id (moto's
``x-moto-account-id`` header), so two sandboxes in one process, or a sandbox and a
test using ``moto.mock_aws``, never see each other's resources. :meth:`stop` closes
the listening socket and every open client connection and joins the threads.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import ThreadedWSGIServer

from sandbox.serving import never_wait_in_accept

_SERVE_POLL_SECONDS = 0.05
_START_TIMEOUT_SECONDS = 30.0

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _QuietRequestHandler(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """No access log: the sandbox records API calls itself."""

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002
        """Client disconnects are routine here (stop() cuts connections)."""


class _TrackingServer(ThreadedWSGIServer):
    daemon_threads = False
    block_on_close = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connections cut by stop() end here: a routine event, not worth a trace."""

    def cut_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _stamp_account(app: WsgiApp, account_id: str) -> WsgiApp:
    def stamped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        environ["HTTP_X_MOTO_ACCOUNT_ID"] = account_id
        return app(environ, start_response)

    return stamped


class SandboxMotoServer(ThreadedMotoServer):
    """A moto server on 127.0.0.1 (port 0: the kernel chooses) for one account."""

    def __init__(self, account_id: str, port: int = 0) -> None:
        super().__init__(ip_address="127.0.0.1", port=port, verbose=False)
        self.account_id = account_id
        self._startup_error: BaseException | None = None
        self._tracking_server: _TrackingServer | None = None

    @property
    def endpoint_url(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    def _server_entry(self) -> None:
        app = _stamp_account(
            DomainDispatcherApplication(create_backend_app), self.account_id
        )
        try:
            server = _TrackingServer(
                self._ip_address, self._port, app, handler=_QuietRequestHandler
            )
        except BaseException as error:  # werkzeug exits on a bind error
            self._startup_error = error
            self._server_ready_event.set()
            return
        never_wait_in_accept(server)
        self._server = self._tracking_server = server
        self._server_ready_event.set()
        server.serve_forever(poll_interval=_SERVE_POLL_SECONDS)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server_entry, name="sandbox-moto-server", daemon=True
        )
        self._thread.start()
        if not self._server_ready_event.wait(_START_TIMEOUT_SECONDS):
            raise TimeoutError("the sandbox moto server did not start within 30 s")
        if self._startup_error is not None:
            self._thread.join()
            raise RuntimeError(
                f"the sandbox moto server could not listen on "
                f"{self._ip_address}:{self._port}"
            ) from self._startup_error

    def stop(self) -> None:
        server, thread = self._tracking_server, self._thread
        self._server_ready_event.clear()
        if server is None or thread is None:
            return
        # serve_forever() closes the listener and joins the request threads once
        # it returns; those threads sit in keep-alive reads until cut.
        server.shutdown()
        server.cut_connections()
        thread.join()
        self._server, self._tracking_server, self._thread = None, None, None
