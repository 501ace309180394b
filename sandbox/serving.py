"""A socketserver served from a daemon thread, as the sandbox's HTTP listeners are.

``serve_in_thread`` starts one; ``stop_serving`` stops it and waits for its
thread, leaving the socket to the caller, who may cut open connections before
closing it. ``never_wait_in_accept`` keeps a serving loop free to see a stop.
"""

from __future__ import annotations

import socketserver
import threading

# How often a serving loop looks for a shutdown request.
SERVE_POLL_SECONDS = 0.05


def never_wait_in_accept(server: socketserver.TCPServer) -> None:
    """Make ``server``'s listening socket non-blocking.

    Linux may report a listener readable and then drop the pending connection
    (a client that gave up) before ``accept()``; a blocking listener then waits
    in ``accept()`` for the next client and never sees ``shutdown()``. A
    non-blocking one gets ``BlockingIOError``, which socketserver ignores, and
    goes back to its loop. Accepted connections stay blocking.
    """
    server.socket.setblocking(False)


def serve_in_thread(server: socketserver.TCPServer, name: str) -> threading.Thread:
    """Serve ``server`` from a daemon thread named ``name``, started."""
    never_wait_in_accept(server)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": SERVE_POLL_SECONDS},
        name=name,
        daemon=True,
    )
    thread.start()
    return thread


def stop_serving(server: socketserver.TCPServer, thread: threading.Thread) -> None:
    """Stop the serving loop and wait for its thread; the socket stays open."""
    server.shutdown()
    thread.join()
