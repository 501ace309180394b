from __future__ import annotations

import re
import threading
import time

import pytest
import requests

from sandbox.__main__ import main
from tests.sandbox.helpers import port_refuses

pytestmark = pytest.mark.timeout(60)

START_TIMEOUT_SECONDS = 30.0


class TestMain:
    def test_prints_the_endpoints_and_instances_then_stops_cleanly(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        stop = threading.Event()
        runner = threading.Thread(target=main, args=(["--time-scale", "0.01"], stop))
        runner.start()
        printed = ""
        try:
            deadline = time.monotonic() + START_TIMEOUT_SECONDS
            while "Running" not in printed and time.monotonic() < deadline:
                time.sleep(0.05)
                printed += capsys.readouterr().out
        finally:
            stop.set()
            runner.join(START_TIMEOUT_SECONDS)

        urls = re.findall(r"http://127\.0\.0\.1:\d+/", printed)
        assert not runner.is_alive()
        assert "export AWS_ENDPOINT_URL=http://127.0.0.1:" in printed
        assert {"web-healthy", "web-hung", "web-reboot-denied"} <= set(
            re.findall(r"web-[a-z0-9-]+", printed)
        )
        assert len(urls) == 4
        for url in urls:
            port = int(url.rsplit(":", 1)[1].rstrip("/"))
            assert port_refuses(port)
        with pytest.raises(requests.ConnectionError):
            requests.get(urls[0], timeout=1)
