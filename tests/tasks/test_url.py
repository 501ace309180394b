"""The URL check against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from uuid import UUID

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import TaskRun
from prefect.exceptions import ObjectNotFound
from prefect.states import State

from firstline.errors import CheckError
from firstline.models import CheckName, CheckStatus, InstanceInfo
from firstline.settings import UrlCheckSettings
from sandbox import InstanceHttpServer
from tasks.url import check_url, run_url_check

INSTANCE_ID = "i-0123456789abcdef0"


def make_instance(
    private_ip: str | None = "127.0.0.1", public_ip: str | None = None
) -> InstanceInfo:
    return InstanceInfo(
        instance_id=INSTANCE_ID,
        region="eu-west-1",
        state="running",
        public_ip=public_ip,
        private_ip=private_ip,
        tags={"Name": "web-1"},
    )


@pytest.fixture
def server() -> Iterator[InstanceHttpServer]:
    with InstanceHttpServer("web-1") as http:
        yield http


class TestRunUrlCheck:
    def test_url_check_passes_when_the_server_answers_200_with_the_text(
        self, server: InstanceHttpServer
    ) -> None:
        settings = UrlCheckSettings(
            url=server.url, body_contains="firstline-sandbox ok"
        )

        result = run_url_check(make_instance(), settings)

        assert result.status is CheckStatus.PASSED
        assert result.check is CheckName.URL
        assert result.target == server.url
        assert result.evidence["status_code"] == "200"
        assert "body contains 'firstline-sandbox ok'" in result.detail

    def test_url_check_fails_on_http_500(self, server: InstanceHttpServer) -> None:
        server.mode = "error"

        result = run_url_check(make_instance(), UrlCheckSettings(url=server.url))

        assert result.status is CheckStatus.FAILED
        assert result.detail == "HTTP 500 Internal Server Error, expected 200-399"
        assert result.evidence["status_code"] == "500"

    def test_url_check_passes_on_500_when_500_is_expected(
        self, server: InstanceHttpServer
    ) -> None:
        server.mode = "error"
        settings = UrlCheckSettings(url=server.url, expected_status="500")

        assert run_url_check(make_instance(), settings).passed

    def test_url_check_fails_with_a_timeout_when_the_server_hangs(
        self, server: InstanceHttpServer
    ) -> None:
        server.mode = "hung"
        settings = UrlCheckSettings(url=server.url, timeout_seconds=0.3)

        result = run_url_check(make_instance(), settings)

        assert result.status is CheckStatus.FAILED
        assert result.detail == "no answer within 0.3 s"
        assert 0.3 <= result.duration_seconds < 2.0

    def test_url_check_fails_when_the_connection_is_refused(
        self, server: InstanceHttpServer
    ) -> None:
        server.mode = "down"

        result = run_url_check(make_instance(), UrlCheckSettings(url=server.url))

        assert result.status is CheckStatus.FAILED
        assert result.detail == "connection refused"

    def test_url_check_fails_when_the_body_lacks_the_text(
        self, server: InstanceHttpServer
    ) -> None:
        settings = UrlCheckSettings(url=server.url, body_contains="version 2")

        result = run_url_check(make_instance(), settings)

        assert result.status is CheckStatus.FAILED
        assert result.detail == "HTTP 200 OK, body lacks 'version 2'"

    def test_url_check_fails_with_a_tls_error_when_https_meets_plain_http(
        self, server: InstanceHttpServer
    ) -> None:
        settings = UrlCheckSettings(
            scheme="https", host="127.0.0.1", port=server.port, verify_tls=False
        )

        result = run_url_check(make_instance(), settings)

        assert result.status is CheckStatus.FAILED
        assert result.detail.startswith("TLS error: ")

    def test_url_is_built_from_the_instance_private_ip(
        self, server: InstanceHttpServer
    ) -> None:
        settings = UrlCheckSettings(address="private", port=server.port, path="/health")

        result = run_url_check(make_instance(private_ip="127.0.0.1"), settings)

        assert result.target == f"http://127.0.0.1:{server.port}/health"
        assert result.passed

    def test_url_is_built_from_an_explicit_host_when_the_instance_has_no_ip(
        self, server: InstanceHttpServer
    ) -> None:
        settings = UrlCheckSettings(host="127.0.0.1", port=server.port, method="HEAD")

        result = run_url_check(make_instance(private_ip=None), settings)

        assert result.target == f"http://127.0.0.1:{server.port}/"
        assert result.passed

    def test_url_check_raises_when_the_instance_has_no_ip_of_that_kind(self) -> None:
        settings = UrlCheckSettings(address="public", port=8080)

        with pytest.raises(CheckError, match="no public IP address"):
            run_url_check(make_instance(public_ip=None), settings)

    def test_url_check_raises_when_head_is_asked_for_body_text(self) -> None:
        settings = UrlCheckSettings(
            url="http://127.0.0.1:9/", method="HEAD", body_contains="ok"
        )

        with pytest.raises(CheckError, match="HEAD request has no body"):
            run_url_check(make_instance(), settings)

    def test_url_check_is_skipped_when_disabled(self) -> None:
        result = run_url_check(make_instance(), UrlCheckSettings(enabled=False))

        assert result.status is CheckStatus.SKIPPED

    def test_url_check_logs_one_info_line_with_its_outcome(
        self, server: InstanceHttpServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        server.mode = "error"
        caplog.set_level(logging.INFO, logger="firstline")

        run_url_check(make_instance(), UrlCheckSettings(url=server.url))

        lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
        assert len(lines) == 1
        assert lines[0].startswith(f"url check of {INSTANCE_ID} at {server.url} failed")


class TestCheckUrlTask:
    def test_check_url_runs_as_a_task_named_after_the_instance(
        self, prefect_harness: None, server: InstanceHttpServer
    ) -> None:
        @flow
        def probe(instance: InstanceInfo, settings: UrlCheckSettings) -> State:
            return check_url(instance, settings, return_state=True)

        state = probe(make_instance(), UrlCheckSettings(url=server.url))

        assert state.result().passed
        assert state.state_details.task_run_id is not None
        task_run = wait_for_task_run(state.state_details.task_run_id)
        assert task_run.name == f"check-url-{INSTANCE_ID}"


def wait_for_task_run(task_run_id: UUID, timeout_seconds: float = 20.0) -> TaskRun:
    """The task run, once the server has recorded it (runs are reported as events)."""
    deadline = time.monotonic() + timeout_seconds
    with get_client(sync_client=True) as client:
        while True:
            try:
                return client.read_task_run(task_run_id)
            except ObjectNotFound:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
