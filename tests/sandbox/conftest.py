from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox import Sandbox
from tests.sandbox.aws_clients import AwsClients
from tests.sandbox.helpers import ClientKey, make_client_key


@pytest.fixture(scope="session")
def client_key() -> ClientKey:
    """A client key pair generated for this test run (never stored)."""
    return make_client_key()


@pytest.fixture(scope="module")
def sandbox(client_key: ClientKey) -> Iterator[Sandbox]:
    """One sandbox per test module; each test adds the instances it needs.

    With time_scale 0.005 a 60 s boot lasts 0.3 s.
    """
    with Sandbox(
        regions=("us-east-1", "eu-west-1"),
        time_scale=0.005,
        ssh_authorized_keys=client_key.public_line,
    ) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def aws(sandbox: Sandbox) -> Iterator[AwsClients]:
    clients = AwsClients(sandbox)
    yield clients
    clients.close()
