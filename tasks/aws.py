"""boto3 clients for the tasks: one place for credentials, timeouts and retries.

Clients are kept per (service, region, credentials block) for a limited time, so
that rotated credentials and roles assumed for an hour are picked up again.
boto3 clients are thread-safe, sessions are not: the default-chain session is
shared (it caches the parsed service models) but only used under a lock, and a
credentials block gives a new session each time.

Endpoints follow boto3's own rules, so ``AWS_ENDPOINT_URL`` and
``AWS_ENDPOINT_URL_<SERVICE>`` point the clients at a local sandbox; an
``AwsCredentials`` block may also name an endpoint in its client parameters.
"""

from __future__ import annotations

import threading
import time
from typing import Any, cast

import boto3
from botocore.config import Config
from prefect_aws import AwsCredentials

CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 15.0
MAX_ATTEMPTS = 3
CLIENT_MAX_AGE_SECONDS = 900.0

_CLIENT_CONFIG = Config(
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
    read_timeout=READ_TIMEOUT_SECONDS,
    retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
)

_ClientKey = tuple[str, str, str | None]

_clients: dict[_ClientKey, tuple[Any, float]] = {}
_clients_lock = threading.Lock()
_default_session: boto3.session.Session | None = None
_default_session_lock = threading.Lock()


def aws_client(service: str, region: str, credentials_block: str | None = None) -> Any:
    """A boto3 client for ``service`` in ``region``.

    With ``credentials_block``, the named prefect-aws ``AwsCredentials`` block
    supplies the session; without it, boto3's default credential chain does.
    """
    key = (service, region, credentials_block)
    now = time.monotonic()
    with _clients_lock:
        cached = _clients.get(key)
    if cached is not None and now - cached[1] < CLIENT_MAX_AGE_SECONDS:
        return cached[0]

    # Built outside the lock: loading a block is a call to the Prefect API. Two
    # threads may both build a client for one key; the second one is kept.
    client = _build_client(service, region, credentials_block)
    with _clients_lock:
        _clients[key] = (client, now)
    return client


def clear_aws_clients() -> None:
    """Forget every cached client and session, e.g. after the environment changed."""
    global _default_session
    with _clients_lock:
        _clients.clear()
    with _default_session_lock:
        _default_session = None


def _build_client(service: str, region: str, credentials_block: str | None) -> Any:
    global _default_session
    if credentials_block is None:
        with _default_session_lock:
            if _default_session is None:
                _default_session = boto3.session.Session()
            return _default_session.client(
                service, region_name=region, config=_CLIENT_CONFIG
            )

    # Block.load is typed as "maybe a coroutine"; called from sync code it is not.
    credentials = cast(AwsCredentials, AwsCredentials.load(credentials_block))
    session = credentials.get_boto3_session()
    overrides: dict[str, Any] = credentials.aws_client_parameters.get_params_override()
    config = _CLIENT_CONFIG.merge(overrides.pop("config", Config()))
    return session.client(service, region_name=region, config=config, **overrides)
