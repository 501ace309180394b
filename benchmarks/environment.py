"""The process environment every measure runs in: a private Prefect home, no
telemetry, a Prefect server on 127.0.0.1, and boto3 pointed at a sandbox.

Prefect reads some settings when it is imported, so ``prepare_process`` runs
before anything imports it, and every measure imports Prefect lazily.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Prefect's own logs stay at WARNING: one INFO line per check would drown the
# benchmark's progress lines and cost time of their own.
_QUIET = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.5",
}


def prepare_process(workdir: Path) -> None:
    """Give this process a Prefect home of its own under ``workdir``."""
    home = workdir / "prefect-home"
    home.mkdir(parents=True, exist_ok=True)
    for name in [n for n in os.environ if n.startswith("PREFECT_")]:
        del os.environ[name]
    os.environ.update(_QUIET)
    os.environ["PREFECT_HOME"] = str(home)


def make_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="firstline-bench-"))


@contextmanager
def prefect_server(
    home: Path, extra_environment: Mapping[str, str] | None = None
) -> Iterator[Any]:
    """A ``prefect server start`` on SQLite, with this process pointed at it."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from tests.prefect_server import running_prefect_server

    home.mkdir(parents=True, exist_ok=True)
    with running_prefect_server(home, extra_environment) as server:
        previous = os.environ.get("PREFECT_API_URL")
        # The environment for child processes, the settings for this one.
        os.environ["PREFECT_API_URL"] = server.api_url
        try:
            with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
                yield server
        finally:
            if previous is None:
                os.environ.pop("PREFECT_API_URL", None)
            else:
                os.environ["PREFECT_API_URL"] = previous


@contextmanager
def aws_pointed_at(sandbox: Any) -> Iterator[None]:
    """boto3 (and firstline's cached clients) talk to ``sandbox`` inside."""
    from tasks.aws import clear_aws_clients

    saved = {name: os.environ.get(name) for name in sandbox.aws_env()}
    os.environ.update(sandbox.aws_env())
    clear_aws_clients()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        clear_aws_clients()
