"""boto3 clients that reach a sandbox the way firstline will: from its environment."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from sandbox import Sandbox

# One session for every test client: a new one would parse the service models
# again. Clients are built from the test thread only (sessions are not
# thread-safe); the clients themselves may be shared across threads.
_SESSION = boto3.session.Session()
CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1})


class AwsClients:
    """Builds boto3 clients from ``Sandbox.aws_env()``, one per service and region,
    and closes them all."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        self._clients: dict[tuple[str, str], Any] = {}

    def __call__(self, service: str, region: str = "us-east-1") -> Any:
        if (service, region) in self._clients:
            return self._clients[service, region]
        env = self._sandbox.aws_env(region)
        client = _SESSION.client(
            service,
            region_name=env["AWS_DEFAULT_REGION"],
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            config=CLIENT_CONFIG,
        )
        self._clients[service, region] = client
        return client

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
