"""The demo's Prefect server process: its settings, and a start that fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from firstline.demo.services import (
    EMBEDDED_SERVER_SETTINGS,
    DemoServiceError,
    PrefectServer,
)

pytestmark = pytest.mark.timeout(120)


class TestPrefectServerEnvironment:
    def test_defaults_to_sqlite_in_its_home_with_the_ui_and_embedded_settings(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("PREFECT_API_URL", "http://elsewhere.invalid/api")

        environment = PrefectServer(tmp_path).environment()

        assert environment["PREFECT_API_DATABASE_CONNECTION_URL"] == (
            f"sqlite+aiosqlite:///{tmp_path / 'prefect.db'}"
        )
        assert environment["PREFECT_UI_ENABLED"] == "true"
        assert environment["PREFECT_HOME"] == str(tmp_path)
        assert "PREFECT_API_URL" not in environment
        for name, value in EMBEDDED_SERVER_SETTINGS.items():
            assert environment[name] == value

    def test_extra_settings_win_and_the_ui_can_be_left_out(
        self, tmp_path: Path
    ) -> None:
        extra = {
            "PREFECT_API_DATABASE_CONNECTION_URL": "postgresql+asyncpg://db/prefect",
            "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED": "true",
        }

        environment = PrefectServer(
            tmp_path, ui=False, extra_environment=extra
        ).environment()

        assert environment["PREFECT_UI_ENABLED"] == "false"
        for name, value in extra.items():
            assert environment[name] == value


def test_a_server_that_cannot_start_is_reported_with_its_log_and_stopped(
    tmp_path: Path,
) -> None:
    server = PrefectServer(
        tmp_path,
        ui=False,
        extra_environment={"PREFECT_API_DATABASE_CONNECTION_URL": "nosuchdb://x"},
    )

    with pytest.raises(DemoServiceError, match="exited before it was ready") as error:
        server.start()

    assert str(server.log) in str(error.value)
    assert server.pid is None
