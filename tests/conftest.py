"""Shared fixtures: a private Prefect home and one Prefect server for the session."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

# Set before anything imports prefect: its settings are read on import.
_PREFECT_HOME = tempfile.mkdtemp(prefix="firstline-tests-prefect-")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ.setdefault("PREFECT_LOGGING_TO_API_BATCH_INTERVAL", "0.3")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect server (SQLite) shared by every test that needs one."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield
