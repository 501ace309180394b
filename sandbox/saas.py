"""Fake Slack, OpsGenie / JSM and PagerDuty servers on 127.0.0.1, for tests and demo.

Each fake is one HTTP server on an ephemeral port, served by threads, answering
the part of the vendor's documented contract that firstline uses:

- :class:`FakeSlack`: Web API ``POST /api/chat.postMessage`` (JSON or form body,
  ``Authorization: Bearer``; ``{"ok": true, "channel", "ts"}`` or ``{"ok": false,
  "error": "invalid_auth" | "not_authed" | "channel_not_found" | "no_text"}``), and
  incoming webhooks ``POST /services/T…/B…/<secret>`` (200 ``ok``; 404
  ``no_service``; 400 ``invalid_payload``);
- :class:`FakeOpsGenie`: ``POST {prefix}`` and ``POST {prefix}/{alias}/close?
  identifierType=alias`` with ``Authorization: GenieKey``, 202 ``{"result":
  "Request will be processed", "took", "requestId"}``; 401 for a bad key; 422 for
  a bad body (message missing or over 130 characters, priority not P1-P5,
  description over 15,000 characters). The prefix is ``/v2/alerts`` for OpsGenie
  and ``/jsm/ops/integration/v2/alerts`` for JSM. Alerts are kept by alias: a
  repeat on an open alias raises its count;
- :class:`FakePagerDuty`: ``POST /v2/enqueue``, 202 ``{"status": "success",
  "message": "Event processed", "dedup_key"}``; 400 ``{"status": "invalid event",
  "message", "errors"}`` for a malformed event or an unknown routing key (the fake's
  choice). Incidents are kept by dedup key.

Every fake records each request (method, path, headers without ``Authorization``,
parsed body, the status it answered), with secrets masked: the webhook's secret
path segment and PagerDuty's ``routing_key``. Fault knobs: :meth:`fail_next`
(``n`` answers with a 5xx or any status), :meth:`rate_limit_next` (``n`` answers
429 with ``Retry-After``), and :attr:`down` (nothing listens; the port is kept).
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import parse_qs, urlsplit

from sandbox.serving import serve_in_thread, stop_serving

MASK = "[redacted]"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as a fake received it, secrets masked."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: Any
    status: int


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), "application/json; charset=utf-8"


class _Handler(BaseHTTPRequestHandler):
    server: _Listener
    server_version = "firstline-fake-saas"
    sys_version = ""

    def do_POST(self) -> None:  # noqa: N802 (name set by http.server)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        answer = self.server.owner.receive("POST", self.path, headers, raw)
        body, content_type = answer.encoded()
        self.send_response(answer.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet: the fakes keep their own record of requests."""


class _Listener(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: FakeVendor, port: int) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", port), _Handler)


class FakeVendor:
    """The server, the request record and the fault knobs every fake shares."""

    name: ClassVar[str] = "vendor"

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._faults: deque[Answer] = deque()
        self._requests: list[RecordedRequest] = []
        self._listener: _Listener | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self._down = False

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError(f"fake {self.name} has no port before start()")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        with self._lock:
            if self._listener is None and not self._down:
                self._open_listener()
        return self

    def stop(self) -> None:
        with self._lock:
            self._close_listener()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def down(self) -> bool:
        return self._down

    @down.setter
    def down(self, down: bool) -> None:
        """True: stop listening (connections are refused); False: listen again."""
        with self._lock:
            self._down = down
            if down:
                self._close_listener()
                if not self._port:
                    self._port = _reserve_port()
            elif self._listener is None:
                self._open_listener()

    def fail_next(self, n: int, status: int = 500) -> None:
        """Answer the next ``n`` requests with ``status`` and a vendor-like body."""
        with self._lock:
            self._faults.extend(
                Answer(status, self.fault_body(status)) for _ in range(n)
            )

    def rate_limit_next(self, n: int, retry_after_seconds: int | None = 1) -> None:
        """Answer the next ``n`` requests 429, with ``Retry-After`` unless None."""
        headers = (
            {}
            if retry_after_seconds is None
            else {"Retry-After": str(retry_after_seconds)}
        )
        with self._lock:
            self._faults.extend(
                Answer(429, self.fault_body(429), headers) for _ in range(n)
            )

    @property
    def requests(self) -> tuple[RecordedRequest, ...]:
        with self._lock:
            return tuple(self._requests)

    def request_count(self, path_contains: str = "") -> int:
        return sum(1 for r in self.requests if path_contains in r.path)

    def receive(
        self, method: str, target: str, headers: Mapping[str, str], raw: bytes
    ) -> Answer:
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        body = _parse_body(headers.get("content-type", ""), raw)
        with self._lock:
            answer = self._faults.popleft() if self._faults else None
            if answer is None:
                answer = self.handle(parts.path, query, headers, body)
            self._requests.append(
                RecordedRequest(
                    method=method,
                    path=self.mask_path(parts.path),
                    query=query,
                    headers={k: v for k, v in headers.items() if k != "authorization"},
                    body=self.mask_body(body),
                    status=answer.status,
                )
            )
        return answer

    def handle(
        self, path: str, query: Mapping[str, str], headers: Mapping[str, str], body: Any
    ) -> Answer:
        """Each vendor answers its own paths; the bare fake knows none."""
        return Answer(404, {"message": f"fake {self.name} has no {path}"})

    def fault_body(self, status: int) -> Any:
        return {"message": f"fake {self.name} answers {status}"}

    def mask_path(self, path: str) -> str:
        return path

    def mask_body(self, body: Any) -> Any:
        return body

    def _open_listener(self) -> None:
        listener = _Listener(self, self._port)
        self._port = listener.server_address[1]
        thread = serve_in_thread(listener, f"fake-{self.name}")
        self._listener, self._thread = listener, thread

    def _close_listener(self) -> None:
        listener, thread = self._listener, self._thread
        self._listener, self._thread = None, None
        if listener is None or thread is None:
            return
        stop_serving(listener, thread)
        listener.server_close()


@dataclass(frozen=True)
class SlackPost:
    """A message a fake Slack accepted."""

    channel: str
    text: str | None
    blocks: tuple[Any, ...]
    via: str


class FakeSlack(FakeVendor):
    """Slack's ``chat.postMessage`` and incoming webhooks."""

    name = "slack"

    def __init__(
        self, tokens: Iterable[str] = (), channels: Iterable[str] = ()
    ) -> None:
        super().__init__()
        self._tokens = set(tokens)
        self._channels: dict[str, str] = {}
        self._webhooks: dict[str, str] = {}
        self._messages: list[SlackPost] = []
        for channel in channels:
            self.add_channel(channel)

    @property
    def api_base_url(self) -> str:
        """The value for ``SlackRoute.base_url``."""
        return f"{self.base_url}/api/"

    def add_token(self, token: str) -> None:
        with self._lock:
            self._tokens.add(token)

    def add_channel(self, name: str) -> str:
        """Make a channel; returns its id. ``#ops`` and ``ops`` name the same one."""
        with self._lock:
            channel_id = "C" + secrets.token_hex(5).upper()
            self._channels[name.lstrip("#")] = channel_id
            return channel_id

    def add_webhook(self, channel: str) -> str:
        """Make an incoming webhook posting to ``channel``; returns its URL."""
        team, bot = secrets.token_hex(4).upper(), secrets.token_hex(4).upper()
        path = f"/services/T{team}/B{bot}/{secrets.token_urlsafe(18)}"
        with self._lock:
            self._webhooks[path] = channel
        return self.base_url + path

    @property
    def messages(self) -> tuple[SlackPost, ...]:
        with self._lock:
            return tuple(self._messages)

    def handle(
        self, path: str, query: Mapping[str, str], headers: Mapping[str, str], body: Any
    ) -> Answer:
        if path.startswith("/services/"):
            return self._webhook(path, body)
        if path == "/api/chat.postMessage":
            return self._post_message(headers, body if isinstance(body, dict) else {})
        return Answer(404, {"ok": False, "error": "unknown_method"})

    def _post_message(self, headers: Mapping[str, str], body: dict[str, Any]) -> Answer:
        auth = headers.get("authorization", "")
        token = (
            auth.removeprefix("Bearer ").strip() if auth else str(body.get("token", ""))
        )
        if not token:
            return Answer(200, {"ok": False, "error": "not_authed"})
        if token not in self._tokens:
            return Answer(200, {"ok": False, "error": "invalid_auth"})
        channel = str(body.get("channel", "")).lstrip("#")
        channel_id = self._channels.get(channel)
        if channel_id is None and channel in self._channels.values():
            channel_id = channel
        if channel_id is None:
            return Answer(200, {"ok": False, "error": "channel_not_found"})
        blocks = _blocks(body.get("blocks"))
        if blocks is None:
            return Answer(200, {"ok": False, "error": "invalid_blocks"})
        if not body.get("text") and not blocks:
            return Answer(200, {"ok": False, "error": "no_text"})
        self._messages.append(SlackPost(channel_id, body.get("text"), blocks, "web"))
        ts = f"{1_700_000_000 + len(self._messages)}.{len(self._messages):06d}"
        message = {"type": "message", "text": body.get("text", ""), "ts": ts}
        return Answer(
            200, {"ok": True, "channel": channel_id, "ts": ts, "message": message}
        )

    def _webhook(self, path: str, body: Any) -> Answer:
        channel = self._webhooks.get(path)
        if channel is None:
            return Answer(404, "no_service")
        blocks = _blocks(body.get("blocks")) if isinstance(body, dict) else None
        if blocks is None or not (body.get("text") or blocks):
            return Answer(400, "invalid_payload")
        self._messages.append(SlackPost(channel, body.get("text"), blocks, "webhook"))
        return Answer(200, "ok")

    def fault_body(self, status: int) -> Any:
        error = "ratelimited" if status == 429 else "internal_error"
        return {"ok": False, "error": error}

    def mask_path(self, path: str) -> str:
        if path.startswith("/services/"):
            return path.rsplit("/", 1)[0] + "/" + MASK
        return path


@dataclass
class FakeAlert:
    """An alert as a fake OpsGenie keeps it."""

    alias: str
    message: str
    priority: str
    description: str
    responders: list[Any]
    tags: list[str]
    status: str = "open"
    count: int = 1
    notes: list[str] = field(default_factory=list)


class FakeOpsGenie(FakeVendor):
    """OpsGenie's Alert API v2, or the same API under JSM's ops prefix."""

    name = "opsgenie"
    OPSGENIE_PREFIX = "/v2/alerts"
    JSM_PREFIX = "/jsm/ops/integration/v2/alerts"

    def __init__(self, keys: Iterable[str] = (), *, jsm: bool = False) -> None:
        super().__init__()
        self.prefix = self.JSM_PREFIX if jsm else self.OPSGENIE_PREFIX
        self._keys = set(keys)
        self._alerts: dict[str, FakeAlert] = {}

    def add_key(self, key: str) -> None:
        with self._lock:
            self._keys.add(key)

    @property
    def alerts(self) -> dict[str, FakeAlert]:
        """Alerts by alias (copies)."""
        with self._lock:
            return {a: FakeAlert(**vars(alert)) for a, alert in self._alerts.items()}

    def open_aliases(self) -> tuple[str, ...]:
        return tuple(a for a, alert in self.alerts.items() if alert.status == "open")

    def handle(
        self, path: str, query: Mapping[str, str], headers: Mapping[str, str], body: Any
    ) -> Answer:
        auth = headers.get("authorization", "")
        if (
            not auth.startswith("GenieKey ")
            or auth.removeprefix("GenieKey ") not in self._keys
        ):
            return self._reply(401, message="Could not authenticate")
        if not isinstance(body, dict):
            return self._reply(422, message="Request body is not processable.")
        if path == self.prefix:
            return self._create(body)
        rest = path.removeprefix(self.prefix + "/")
        if rest.endswith("/close") and query.get("identifierType", "id") == "alias":
            return self._close_alert(rest.removesuffix("/close"), body)
        return self._reply(404, message="Could not find the requested resource")

    def _create(self, body: dict[str, Any]) -> Answer:
        message = body.get("message")
        errors: dict[str, str] = {}
        if not isinstance(message, str) or not message.strip():
            errors["message"] = "Message can not be empty."
        elif len(message) > 130:
            errors["message"] = "Message can not be longer than 130 characters."
        if body.get("priority", "P3") not in ("P1", "P2", "P3", "P4", "P5"):
            errors["priority"] = "Priority should be one of [P1, P2, P3, P4, P5]."
        if len(str(body.get("description", ""))) > 15_000:
            errors["description"] = (
                "Description can not be longer than 15000 characters."
            )
        if len(str(body.get("alias", ""))) > 512:
            errors["alias"] = "Alias can not be longer than 512 characters."
        if errors:
            return self._reply(
                422,
                message="Request body is not processable. Please check the errors.",
                errors=errors,
            )
        alias = str(body.get("alias") or uuid.uuid4())
        existing = self._alerts.get(alias)
        if existing is not None and existing.status == "open":
            existing.count += 1
        else:
            self._alerts[alias] = FakeAlert(
                alias=alias,
                message=str(message),
                priority=str(body.get("priority", "P3")),
                description=str(body.get("description", "")),
                responders=list(body.get("responders", [])),
                tags=list(body.get("tags", [])),
            )
        return self._reply(202)

    def _close_alert(self, alias: str, body: dict[str, Any]) -> Answer:
        alert = self._alerts.get(alias)
        if alert is not None and alert.status == "open":
            alert.status = "closed"
            if body.get("note"):
                alert.notes.append(str(body["note"]))
        return self._reply(202)

    def _reply(self, status: int, **extra: Any) -> Answer:
        body: dict[str, Any] = {"took": 0.1, "requestId": str(uuid.uuid4())}
        body.update(extra or {"result": "Request will be processed"})
        return Answer(status, body)

    def fault_body(self, status: int) -> Any:
        message = "Too many requests" if status == 429 else "Internal server error"
        return {"message": message, "took": 0.0, "requestId": str(uuid.uuid4())}


@dataclass
class FakeIncident:
    """An incident as a fake PagerDuty keeps it, by dedup key."""

    dedup_key: str
    summary: str
    severity: str
    status: str = "triggered"
    events: int = 1


class FakePagerDuty(FakeVendor):
    """PagerDuty's Events API v2."""

    name = "pagerduty"
    SEVERITIES = ("critical", "error", "warning", "info")

    def __init__(self, routing_keys: Iterable[str] = ()) -> None:
        super().__init__()
        self._routing_keys = set(routing_keys)
        self._incidents: dict[str, FakeIncident] = {}

    def add_routing_key(self, key: str) -> None:
        with self._lock:
            self._routing_keys.add(key)

    @property
    def incidents(self) -> dict[str, FakeIncident]:
        with self._lock:
            return {k: FakeIncident(**vars(i)) for k, i in self._incidents.items()}

    def triggered_keys(self) -> tuple[str, ...]:
        return tuple(k for k, i in self.incidents.items() if i.status == "triggered")

    def handle(
        self, path: str, query: Mapping[str, str], headers: Mapping[str, str], body: Any
    ) -> Answer:
        if path != "/v2/enqueue":
            return Answer(404, {"status": "not found", "message": "Unknown path"})
        if not isinstance(body, dict):
            return self._invalid("Event object is invalid", "Body is not a JSON object")
        if body.get("routing_key") not in self._routing_keys:
            return self._invalid("Event object is invalid", "Invalid routing key")
        action = body.get("event_action")
        key = str(body.get("dedup_key") or uuid.uuid4().hex)
        if len(key) > 255:
            return self._invalid("Event object is invalid", "dedup_key is too long")
        if action == "trigger":
            return self._trigger(key, body.get("payload"))
        if action in ("acknowledge", "resolve"):
            incident = self._incidents.get(key)
            if incident is not None and action == "resolve":
                incident.status = "resolved"
            return self._accepted(key)
        return self._invalid("Event object is invalid", "'event_action' is invalid")

    def _trigger(self, key: str, payload: Any) -> Answer:
        if not isinstance(payload, dict):
            return self._invalid("Event object is invalid", "'payload' is missing")
        errors = []
        summary = payload.get("summary")
        if not isinstance(summary, str) or not summary:
            errors.append("'payload.summary' is missing or blank")
        elif len(summary) > 1024:
            errors.append("'payload.summary' is longer than 1024 characters")
        if not payload.get("source"):
            errors.append("'payload.source' is missing or blank")
        if payload.get("severity") not in self.SEVERITIES:
            errors.append("'payload.severity' is invalid")
        if errors:
            return self._invalid("Event object is invalid", *errors)
        incident = self._incidents.get(key)
        if incident is not None and incident.status == "triggered":
            incident.events += 1
        else:
            self._incidents[key] = FakeIncident(key, str(summary), payload["severity"])
        return self._accepted(key)

    def _accepted(self, key: str) -> Answer:
        return Answer(
            202, {"status": "success", "message": "Event processed", "dedup_key": key}
        )

    def _invalid(self, message: str, *errors: str) -> Answer:
        return Answer(
            400, {"status": "invalid event", "message": message, "errors": list(errors)}
        )

    def fault_body(self, status: int) -> Any:
        if status == 429:
            return {"status": "throttle event", "message": "Too many requests"}
        return {"status": "error", "message": "Internal server error"}

    def mask_body(self, body: Any) -> Any:
        if isinstance(body, dict) and "routing_key" in body:
            return {**body, "routing_key": MASK}
        return body


def _parse_body(content_type: str, raw: bytes) -> Any:
    text = raw.decode("utf-8", errors="replace")
    if content_type.startswith("application/x-www-form-urlencoded"):
        return {k: v[-1] for k, v in parse_qs(text).items()}
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


def _blocks(value: Any) -> tuple[Any, ...] | None:
    """Blocks given as a list or (form bodies) a JSON string; None when malformed."""
    if value is None:
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return tuple(value) if isinstance(value, list) else None


def _reserve_port() -> int:
    """A port number for a fake that starts out down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
