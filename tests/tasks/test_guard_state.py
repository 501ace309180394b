from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prefect import get_client
from prefect.client.orchestration import SyncPrefectClient
from prefect.settings import PREFECT_API_URL

from tasks import guard_state
from tasks.guard_state import (
    instance_lock,
    instance_lock_name,
    read_reboot_history,
    record_reboot,
)


def new_instance_id() -> str:
    return "i-" + secrets.token_hex(9)[:17]


@pytest.mark.usefixtures("prefect_harness")
class TestInstanceLock:
    def test_a_held_lock_is_refused_at_once_and_free_again_after_release(
        self,
    ) -> None:
        instance_id = new_instance_id()

        with instance_lock("eu-west-1", instance_id, lease_seconds=60) as first:
            with instance_lock("eu-west-1", instance_id, lease_seconds=60) as second:
                assert (first, second) == (True, False)
        with instance_lock("eu-west-1", instance_id, lease_seconds=60) as again:
            assert again

    def test_a_deleted_lock_is_made_again_rather_than_granted_empty(self) -> None:
        instance_id = new_instance_id()
        with instance_lock("eu-west-1", instance_id, lease_seconds=60):
            pass
        with get_client(sync_client=True) as client:
            client.delete_global_concurrency_limit_by_name(
                instance_lock_name("eu-west-1", instance_id)
            )

        with instance_lock("eu-west-1", instance_id, lease_seconds=60) as first:
            with instance_lock("eu-west-1", instance_id, lease_seconds=60) as second:
                assert (first, second) == (True, False)

    def test_the_lease_is_renewed_on_the_server_that_granted_it(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The harness points this thread's settings at its server; the
        # environment names a port where nothing listens, as a worker's
        # environment may name another server than the one a run was given.
        monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
        monkeypatch.setattr(guard_state, "RENEWALS_PER_LEASE", 200)  # every 0.3 s
        renewals: list[tuple[str, int]] = []
        renew = SyncPrefectClient.renew_concurrency_lease

        def recorded(client: SyncPrefectClient, *args: Any, **kwargs: Any) -> Any:
            response = renew(client, *args, **kwargs)
            renewals.append((str(client.api_url), response.status_code))
            return response

        monkeypatch.setattr(SyncPrefectClient, "renew_concurrency_lease", recorded)
        instance_id = new_instance_id()

        with instance_lock("eu-west-1", instance_id, lease_seconds=60) as held:
            time.sleep(1.5)

        assert held
        granted_by = str(PREFECT_API_URL.value()).rstrip("/") + "/"
        assert len(renewals) >= 2
        assert set(renewals) == {(granted_by, 204)}


@pytest.mark.usefixtures("prefect_harness")
class TestRebootHistory:
    def test_reboots_are_kept_per_instance_with_their_incident(self) -> None:
        instance_id = new_instance_id()
        at = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)

        record_reboot("eu-west-1", instance_id, "alarm-1", at)
        record_reboot("eu-west-1", instance_id, "alarm-2", at + timedelta(minutes=5))

        history = read_reboot_history("eu-west-1", instance_id)
        assert [(r.incident, r.at) for r in history] == [
            ("alarm-1", at),
            ("alarm-2", at + timedelta(minutes=5)),
        ]
        assert read_reboot_history("us-east-1", instance_id) == []
