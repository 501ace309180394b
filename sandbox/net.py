"""Loopback port helpers shared by the sandbox servers."""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections.abc import Callable

LOOPBACK = "127.0.0.1"
_POLL_SECONDS = 0.04
# How often an accept loop looks at its stop flag when nobody connects.
ACCEPT_POLL_SECONDS = 0.05


def reserve_port() -> int:
    """A port the kernel just handed out on 127.0.0.1, for a server to bind next.

    The port is free when this returns, not reserved: a server binding it later can
    lose a race with another process, and then fails with ``OSError``.
    """
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def ensure_port_free(port: int) -> None:
    """Raise ``OSError`` naming the port when something already listens on it."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError as error:
            raise OSError(
                error.errno,
                f"127.0.0.1:{port} is already in use; pick another port "
                "(sandbox.net.reserve_port() returns a free one)",
            ) from error


def is_port_accepting(port: int, timeout_seconds: float = 0.5) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout_seconds):
            return True
    except OSError:
        return False


def wait_for_port(
    port: int, timeout_seconds: float, alive: Callable[[], bool] | None = None
) -> None:
    """Poll until something accepts on ``port``.

    ``alive`` is an optional callable; when it returns False the wait stops early
    (the server process died). Raises ``TimeoutError`` naming the port.
    """
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if is_port_accepting(port, timeout_seconds=_POLL_SECONDS * 5):
            return
        if alive is not None and not alive():
            raise RuntimeError(f"the server for 127.0.0.1:{port} exited while starting")
        time.sleep(_POLL_SECONDS)
    raise TimeoutError(
        f"nothing accepted on 127.0.0.1:{port} within {timeout_seconds} s"
    )


def listen_on_loopback(port: int) -> socket.socket:
    """A non-blocking listening socket on 127.0.0.1:``port`` (0: any free port)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((LOOPBACK, port))
        listener.listen(64)
    except OSError:
        listener.close()
        raise
    listener.setblocking(False)
    return listener


def accept_connections(
    listener: socket.socket,
    stopping: threading.Event,
    handle: Callable[[socket.socket], object],
) -> None:
    """Hand every connection made to ``listener`` (from :func:`listen_on_loopback`)
    to ``handle``, in blocking mode, until ``stopping`` is set.

    A connection the kernel reported and then dropped before ``accept()``, or a
    listener closed meanwhile, is skipped rather than waited for.
    """
    with selectors.DefaultSelector() as selector:
        selector.register(listener, selectors.EVENT_READ)
        while not stopping.is_set():
            if not selector.select(timeout=ACCEPT_POLL_SECONDS):
                continue
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            connection.setblocking(True)
            handle(connection)
