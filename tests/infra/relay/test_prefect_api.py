from __future__ import annotations

import base64
import json
import logging

import pytest

from infra.relay.config import RetryPolicy
from infra.relay.errors import PrefectRejected, PrefectUnavailable
from infra.relay.prefect_api import call_api, post_events
from infra.relay.secret import Credential
from tests.infra.relay.conftest import SleepRecorder
from tests.infra.relay.stub_api import Reply, StubPrefectApi, running_stub_api

EVENT = {"event": "firstline.alarm.fired", "id": "3f1e0c0a-5d1e-5c3b-9a51-0a7d3b6e2f11"}
FAST = RetryPolicy(max_attempts=3, timeout_seconds=1.0, backoff_seconds=0.5)
PASSWORD = "s3cret-p4ss-relay"


def _events_url(stub: StubPrefectApi) -> str:
    return stub.api_url + "/events"


class TestPostEvents:
    def test_posts_a_json_list_to_the_events_endpoint(
        self, stub_api: StubPrefectApi
    ) -> None:
        attempts = post_events([EVENT], _events_url(stub_api), None, FAST)

        (request,) = stub_api.requests
        assert attempts == 1
        assert (request.method, request.path) == ("POST", "/api/events")
        assert json.loads(request.body) == [EVENT]
        assert request.headers["content-type"] == "application/json"
        assert "authorization" not in request.headers

    def test_sends_an_api_key_as_a_bearer_token(self, stub_api: StubPrefectApi) -> None:
        credential = Credential.from_api_key("pnu_abc123")

        post_events([EVENT], _events_url(stub_api), credential, FAST)

        assert stub_api.requests[0].headers["authorization"] == "Bearer pnu_abc123"

    def test_sends_basic_auth_as_base64_of_user_and_password(
        self, stub_api: StubPrefectApi
    ) -> None:
        credential = Credential.from_basic_auth(f"admin:{PASSWORD}")

        post_events([EVENT], _events_url(stub_api), credential, FAST)

        header = stub_api.requests[0].headers["authorization"]
        scheme, token = header.split(" ")
        assert scheme == "Basic"
        assert base64.b64decode(token).decode() == f"admin:{PASSWORD}"

    def test_retries_503_with_backoff_until_the_server_accepts(
        self, stub_api: StubPrefectApi
    ) -> None:
        stub_api.reply_with(Reply(503), Reply(503))
        sleep = SleepRecorder()

        attempts = post_events([EVENT], _events_url(stub_api), None, FAST, sleep=sleep)

        assert attempts == 3
        assert len(stub_api.requests) == 3
        assert sleep.waits == [0.5, 1.0]

    def test_raises_unavailable_after_the_last_500(
        self, stub_api: StubPrefectApi, caplog: pytest.LogCaptureFixture
    ) -> None:
        stub_api.reply_with(*[Reply(500, body=b"database is locked")] * 3)
        caplog.set_level(logging.WARNING, logger="firstline.relay")

        with pytest.raises(PrefectUnavailable) as raised:
            post_events(
                [EVENT], _events_url(stub_api), None, FAST, sleep=SleepRecorder()
            )

        assert len(stub_api.requests) == 3
        assert "in 3 attempts" in str(raised.value)
        assert "HTTP 500 database is locked" in str(raised.value)
        messages = [record.getMessage() for record in caplog.records]
        assert len(messages) == 2
        assert messages[0].endswith(
            "attempt 1/3: HTTP 500 database is locked; next attempt in 0.50 s"
        )
        assert messages[1].endswith(
            "attempt 2/3: HTTP 500 database is locked; next attempt in 1.00 s"
        )

    def test_retries_refused_connections_then_raises(self, refused_port: int) -> None:
        sleep = SleepRecorder()

        with pytest.raises(PrefectUnavailable, match="Connection refused"):
            post_events(
                [EVENT],
                f"http://127.0.0.1:{refused_port}/api/events",
                None,
                FAST,
                sleep=sleep,
            )

        assert sleep.waits == [0.5, 1.0]

    def test_retries_a_server_that_never_answers_then_raises(
        self, silent_port: int
    ) -> None:
        policy = RetryPolicy(max_attempts=2, timeout_seconds=0.2, backoff_seconds=0)

        with pytest.raises(PrefectUnavailable, match="timed out"):
            post_events(
                [EVENT],
                f"http://127.0.0.1:{silent_port}/api/events",
                None,
                policy,
                sleep=SleepRecorder(),
            )

    def test_429_waits_as_long_as_retry_after_asks_within_the_cap(
        self, stub_api: StubPrefectApi
    ) -> None:
        stub_api.reply_with(
            Reply(429, headers=(("Retry-After", "3"),)),
            Reply(503, headers=(("Retry-After", "3600"),)),
        )
        sleep = SleepRecorder()

        post_events([EVENT], _events_url(stub_api), None, FAST, sleep=sleep)

        assert sleep.waits == [3.0, 1.0]

    @pytest.mark.parametrize(
        ("status", "expected"),
        [
            (401, "refused the relay's credential"),
            (403, "FIRSTLINE_PREFECT_SECRET_ARN"),
            (404, "set PREFECT_API_URL to the API root"),
            (422, "rejected the event's shape"),
            (400, "check PREFECT_API_URL and the server's logs"),
        ],
    )
    def test_4xx_raises_at_once_saying_what_to_fix(
        self, stub_api: StubPrefectApi, status: int, expected: str
    ) -> None:
        stub_api.reply_with(Reply(status, body=b'{"detail": "no"}'))

        with pytest.raises(PrefectRejected, match=expected) as raised:
            post_events([EVENT], _events_url(stub_api), None, FAST)

        assert raised.value.status_code == status
        assert f"HTTP {status}" in str(raised.value)
        assert len(stub_api.requests) == 1

    def test_422_message_carries_the_server_s_detail(
        self, stub_api: StubPrefectApi
    ) -> None:
        stub_api.reply_with(Reply(422, body=b'{"detail": "field required: id"}'))

        with pytest.raises(PrefectRejected, match="field required: id"):
            post_events([EVENT], _events_url(stub_api), None, FAST)

    @pytest.mark.parametrize("status", [301, 302, 307, 308])
    def test_redirect_is_not_followed_with_the_credential(
        self, stub_api: StubPrefectApi, status: int
    ) -> None:
        credential = Credential.from_api_key("pnu_abc123")
        with running_stub_api() as elsewhere:
            location = _events_url(elsewhere)
            stub_api.reply_with(Reply(status, headers=(("Location", location),)))

            with pytest.raises(PrefectRejected, match="redirects to") as raised:
                post_events([EVENT], _events_url(stub_api), credential, FAST)

            assert elsewhere.requests == []
        assert location in str(raised.value)

    def test_credential_echoed_by_the_server_is_redacted(
        self, stub_api: StubPrefectApi, caplog: pytest.LogCaptureFixture
    ) -> None:
        credential = Credential.from_basic_auth(f"admin:{PASSWORD}")
        stub_api.reply_with(
            Reply(
                503,
                body=f"bad password {PASSWORD} in ".encode(),
                echo_authorization=True,
            ),
            Reply(
                401,
                body=f"bad password {PASSWORD} in ".encode(),
                echo_authorization=True,
            ),
        )
        caplog.set_level(logging.DEBUG)

        with pytest.raises(PrefectRejected) as raised:
            post_events(
                [EVENT], _events_url(stub_api), credential, FAST, sleep=SleepRecorder()
            )

        assert "bad password <redacted>" in caplog.text
        for text in (PASSWORD, credential.token):
            assert text not in caplog.text
            assert text not in str(raised.value)

    def test_secret_cut_by_the_detail_limit_is_not_partly_shown(
        self, stub_api: StubPrefectApi
    ) -> None:
        credential = Credential.from_basic_auth(f"admin:{PASSWORD}")
        stub_api.reply_with(Reply(400, body=b"x" * 290 + PASSWORD.encode()))

        with pytest.raises(PrefectRejected) as raised:
            post_events([EVENT], _events_url(stub_api), credential, FAST)

        assert PASSWORD[:6] not in str(raised.value)


class TestCallApi:
    def test_get_sends_no_body_and_returns_the_parsed_answer(
        self, stub_api: StubPrefectApi
    ) -> None:
        stub_api.reply_with(Reply.json(200, {"id": "d1", "name": "on-alarm"}))

        answer = call_api("GET", stub_api.api_url + "/deployments/name/f/d", None, FAST)

        (request,) = stub_api.requests
        assert (request.method, request.path) == ("GET", "/api/deployments/name/f/d")
        assert request.body == b""
        assert "content-type" not in request.headers
        assert (answer.status_code, answer.attempts) == (200, 1)
        assert answer.document == {"id": "d1", "name": "on-alarm"}

    def test_status_the_caller_handles_is_returned_without_a_retry(
        self, stub_api: StubPrefectApi
    ) -> None:
        stub_api.reply_with(Reply.json(404, {"detail": "Deployment not found"}))

        answer = call_api(
            "POST",
            stub_api.api_url + "/deployments/x/create_flow_run",
            None,
            FAST,
            body={"parameters": {}},
            handled_statuses=frozenset({404}),
        )

        assert answer.status_code == 404
        assert answer.document == {"detail": "Deployment not found"}
        assert answer.detail == '{"detail": "Deployment not found"}'
        assert len(stub_api.requests) == 1

    def test_answer_that_is_not_json_has_no_document(
        self, stub_api: StubPrefectApi
    ) -> None:
        stub_api.reply_with(Reply(200, body=b"<html>welcome</html>"))

        answer = call_api("GET", stub_api.api_url + "/anything", None, FAST)

        assert answer.document is None
        assert answer.detail == "<html>welcome</html>"

    def test_answer_larger_than_a_mebibyte_is_refused(
        self, stub_api: StubPrefectApi
    ) -> None:
        stub_api.reply_with(Reply(200, body=b" " * (1024 * 1024 + 1)))

        with pytest.raises(PrefectRejected, match="more than 1048576 bytes"):
            call_api("GET", stub_api.api_url + "/anything", None, FAST)

    def test_422_names_what_the_relay_sent(self, stub_api: StubPrefectApi) -> None:
        stub_api.reply_with(Reply(422, body=b'{"detail": "bad tags"}'))

        with pytest.raises(PrefectRejected, match="rejected the flow run's shape"):
            call_api(
                "POST", stub_api.api_url + "/x", None, FAST, body={}, subject="flow run"
            )
