from __future__ import annotations

import uuid

from prefect.server.events.schemas.events import Event

from infra.relay.alarm import AlarmFired, read_alarm_event
from infra.relay.prefect_event import (
    EVENT_ID_NAMESPACE,
    build_prefect_event,
    prefect_event_id,
)
from tests.infra.relay.conftest import load_event


def _fired(name: str = "metric_alarm") -> AlarmFired:
    alarm = read_alarm_event(load_event(name))
    assert isinstance(alarm, AlarmFired)
    return alarm


class TestBuildPrefectEvent:
    def test_event_is_valid_for_the_prefect_server_schema(self) -> None:
        body = build_prefect_event(_fired())

        event = Event.model_validate(body)

        assert event.event == "firstline.alarm.fired"
        assert event.resource.id == "aws.ec2.instance.i-0a1b2c3d4e5f60718"
        assert event.related[0].role == "alarm"

    def test_resource_labels_name_instance_region_and_account(self) -> None:
        body = build_prefect_event(_fired("metric_alarm_govcloud_short_instance_id"))

        assert body["resource"] == {
            "prefect.resource.id": "aws.ec2.instance.i-5f3e2d1c",
            "prefect.resource.name": "i-5f3e2d1c",
            "aws.ec2.instance-id": "i-5f3e2d1c",
            "aws.region": "us-gov-west-1",
            "aws.account-id": "123456789012",
        }

    def test_payload_describes_the_alarm(self) -> None:
        alarm = _fired()

        body = build_prefect_event(alarm)

        assert body["occurred"] == "2025-03-14T09:26:53.415000+00:00"
        assert body["payload"] == {
            "alarm_name": "firstline-cpu-high-web-1",
            "alarm_arn": alarm.alarm_arn,
            "state_value": "ALARM",
            "state_reason": alarm.state_reason,
            "state_timestamp": "2025-03-14T09:26:53.415000+00:00",
            "eventbridge_event_id": "6f1c2b7e-0d4a-4c1e-9a53-2b8f1e7c4d90",
            "instance_id": "i-0a1b2c3d4e5f60718",
            "region": "eu-west-1",
            "account_id": "210987654321",
        }


class TestPrefectEventId:
    def test_is_the_uuid5_of_the_eventbridge_id_in_the_project_namespace(
        self,
    ) -> None:
        body = build_prefect_event(_fired())

        assert body["id"] == str(
            uuid.uuid5(EVENT_ID_NAMESPACE, "6f1c2b7e-0d4a-4c1e-9a53-2b8f1e7c4d90")
        )

    def test_namespace_is_the_project_url_namespace(self) -> None:
        assert EVENT_ID_NAMESPACE == uuid.uuid5(
            uuid.NAMESPACE_URL,
            "https://github.com/firstline-ops/firstline#relay-events",
        )

    def test_same_eventbridge_id_gives_the_same_id_and_others_differ(self) -> None:
        assert prefect_event_id("a") == prefect_event_id("a")
        assert prefect_event_id("a") != prefect_event_id("b")
