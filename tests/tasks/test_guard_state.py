from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
from prefect import get_client

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
