"""A stand-in Prefect API on 127.0.0.1 that records requests and plays a script."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Reply:
    """One scripted answer; ``echo_authorization`` puts the header in the body."""

    status: int = 204
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    echo_authorization: bool = False

    @classmethod
    def json(cls, status: int, document: object) -> Reply:
        """A reply whose body is ``document`` as JSON."""
        return cls(
            status,
            headers=(("Content-Type", "application/json"),),
            body=json.dumps(document).encode(),
        )


DEPLOYMENT_ID = "5b1e7c1a-2f3d-4e5a-8b6c-7d8e9f0a1b2c"
FLOW_RUN_ID = "0e4f6a8b-1c2d-4e3f-9a5b-6c7d8e9f0a1b"


def deployment_reply(deployment_id: str = DEPLOYMENT_ID) -> Reply:
    """Prefect's answer to ``GET /deployments/name/{flow}/{deployment}``."""
    return Reply.json(200, {"id": deployment_id, "name": "on-alarm"})


def flow_run_reply(status: int = 201, flow_run_id: str = FLOW_RUN_ID) -> Reply:
    """Prefect's answer to ``POST /deployments/{id}/create_flow_run``: 201 for a
    new run, 200 for the run an earlier request with the same key created."""
    return Reply.json(status, {"id": flow_run_id, "name": "brave-otter"})


@dataclass
class StubPrefectApi:
    """Answers each request with the next scripted reply, then with 204."""

    requests: list[RecordedRequest] = field(default_factory=list)
    script: list[Reply] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def reply_with(self, *replies: Reply) -> None:
        with self.lock:
            self.script[:] = replies

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.script.clear()

    def record(self, request: RecordedRequest) -> Reply:
        with self.lock:
            self.requests.append(request)
            return self.script.pop(0) if self.script else Reply()


def _handler_for(stub: StubPrefectApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            reply = stub.record(RecordedRequest(method, self.path, headers, body))

            reply_body = reply.body
            if reply.echo_authorization:
                reply_body += headers.get("authorization", "").encode()
            self.send_response(reply.status)
            for name, value in reply.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply_body)))
            self.end_headers()
            self.wfile.write(reply_body)

        def log_message(self, format: str, *args: object) -> None:
            return None

    return Handler


@contextmanager
def running_stub_api() -> Iterator[StubPrefectApi]:
    """A ``StubPrefectApi`` served on an ephemeral port of 127.0.0.1."""
    stub = StubPrefectApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(stub))
    server.daemon_threads = True
    stub.port = server.server_address[1]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
