"""A socketserver served from a daemon thread, as the sandbox's HTTP listeners are.

``serve_in_thread`` starts one; ``stop_serving`` stops it and waits for its
thread, leaving the socket to the caller, who may cut open connections before
closing it.
"""

from __future__ import annotations

import socketserver
import threading

# How often a serving loop looks for a shutdown request.
SERVE_POLL_SECONDS = 0.05


def serve_in_thread(server: socketserver.BaseServer, name: str) -> threading.Thread:
    """Serve ``server`` from a daemon thread named ``name``, started."""
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": SERVE_POLL_SECONDS},
        name=name,
        daemon=True,
    )
    thread.start()
    return thread


def stop_serving(server: socketserver.BaseServer, thread: threading.Thread) -> None:
    """Stop the serving loop and wait for its thread; the socket stays open."""
    server.shutdown()
    thread.join()
