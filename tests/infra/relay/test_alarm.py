from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from infra.relay.alarm import (
    MAX_EVENT_BYTES,
    AlarmFired,
    AlarmIgnored,
    read_alarm_event,
)
from infra.relay.errors import InvalidEvent
from tests.infra.relay.conftest import EVENTS_DIR, load_event

MALFORMED_REASONS = {
    "malformed_account_not_digits": "event.account",
    "malformed_alarm_arn_other_region": "event.resources[0]",
    "malformed_configuration_change": "CloudWatch Alarm Configuration Change",
    "malformed_cross_account_metric": "cross-account alarms are not supported",
    "malformed_custom_source": "event.source",
    "malformed_dimensions_as_api_list": "dimensions must be an object",
    "malformed_instance_id_command_substitution": "InstanceId is",
    "malformed_instance_id_path_characters": "InstanceId is",
    "malformed_instance_id_shell_characters": "InstanceId is",
    "malformed_instance_id_uppercase": "InstanceId is",
    "malformed_missing_detail": "event.detail is missing",
    "malformed_missing_instance_dimension": "no metric of the alarm has an InstanceId",
    "malformed_missing_state_timestamp": "detail.state.timestamp is missing",
    "malformed_oversized_alarm_name": "detail.alarmName is 304 characters long",
    "malformed_reason_data_not_json": "detail.state.reasonData is not JSON",
    "malformed_state_value_not_string": "detail.state.value must be a string",
    "malformed_timestamp": "detail.state.timestamp is",
    "malformed_unknown_region": 'event.region is "us-north-9"',
    "malformed_wrong_source": 'event.source is "aws.ec2"',
    "metric_math_alarm_two_instances": "name 2 instances",
}
FIRING = {
    "metric_alarm": "i-0a1b2c3d4e5f60718",
    "metric_alarm_govcloud_short_instance_id": "i-5f3e2d1c",
    "metric_math_alarm": "i-0fedcba9876543210",
}
IGNORED = {
    "composite_alarm": "composite alarm",
    "metric_alarm_ok": "state OK",
    "metric_alarm_insufficient_data": "state INSUFFICIENT_DATA",
}


def _dimensions(event: dict[str, Any], index: int = 0) -> dict[str, Any]:
    metric = event["detail"]["configuration"]["metrics"][index]["metricStat"]
    dimensions: dict[str, Any] = metric["metric"]["dimensions"]
    return dimensions


class TestStoredEvents:
    def test_every_stored_event_has_an_expected_outcome(self) -> None:
        stored = {path.stem for path in EVENTS_DIR.glob("*.json")}

        assert stored == set(MALFORMED_REASONS) | set(FIRING) | set(IGNORED)

    @pytest.mark.parametrize("name", sorted(FIRING))
    def test_alarm_that_fired_names_its_instance(self, name: str) -> None:
        alarm = read_alarm_event(load_event(name))

        assert isinstance(alarm, AlarmFired)
        assert alarm.instance_id == FIRING[name]

    @pytest.mark.parametrize("name", sorted(IGNORED))
    def test_composite_and_non_alarm_states_are_ignored(self, name: str) -> None:
        alarm = read_alarm_event(load_event(name))

        assert isinstance(alarm, AlarmIgnored)
        assert IGNORED[name] in alarm.reason

    @pytest.mark.parametrize("name", sorted(MALFORMED_REASONS))
    def test_malformed_event_is_dropped_with_its_reason(self, name: str) -> None:
        with pytest.raises(InvalidEvent) as raised:
            read_alarm_event(load_event(name))

        assert MALFORMED_REASONS[name] in str(raised.value)


class TestMetricAlarm:
    def test_reads_instance_region_and_account_from_the_event(self) -> None:
        alarm = read_alarm_event(load_event("metric_alarm"))

        assert alarm == AlarmFired(
            eventbridge_event_id="6f1c2b7e-0d4a-4c1e-9a53-2b8f1e7c4d90",
            alarm_name="firstline-cpu-high-web-1",
            alarm_arn=(
                "arn:aws:cloudwatch:eu-west-1:210987654321:alarm:"
                "firstline-cpu-high-web-1"
            ),
            state_value="ALARM",
            state_reason=load_event("metric_alarm")["detail"]["state"]["reason"],
            state_timestamp=datetime(2025, 3, 14, 9, 26, 53, 415000, tzinfo=UTC),
            instance_id="i-0a1b2c3d4e5f60718",
            region="eu-west-1",
            account_id="210987654321",
        )

    def test_govcloud_alarm_arn_uses_the_govcloud_partition(self) -> None:
        event = load_event("metric_alarm_govcloud_short_instance_id")

        alarm = read_alarm_event(event)

        assert isinstance(alarm, AlarmFired)
        assert (alarm.region, alarm.account_id) == ("us-gov-west-1", "123456789012")

    def test_alarm_arn_in_the_wrong_partition_is_dropped(self) -> None:
        event = load_event("metric_alarm_govcloud_short_instance_id")
        event["resources"] = [event["resources"][0].replace("aws-us-gov", "aws")]

        with pytest.raises(InvalidEvent, match=r"event\.resources\[0\]"):
            read_alarm_event(event)

    @pytest.mark.parametrize(
        ("timestamp", "expected"),
        [
            ("2025-03-14T11:26:53.415+0200", datetime(2025, 3, 14, 9, 26, 53, 415000)),
            ("2025-03-14T09:26:53Z", datetime(2025, 3, 14, 9, 26, 53)),
            ("2025-03-14T09:26:53.4+0000", datetime(2025, 3, 14, 9, 26, 53, 400000)),
        ],
    )
    def test_state_timestamp_is_read_in_utc(
        self, timestamp: str, expected: datetime
    ) -> None:
        event = load_event("metric_alarm")
        event["detail"]["state"]["timestamp"] = timestamp

        alarm = read_alarm_event(event)

        assert isinstance(alarm, AlarmFired)
        assert alarm.state_timestamp == expected.replace(tzinfo=UTC)

    @pytest.mark.parametrize(
        "timestamp",
        ["2025-03-14T09:26:53.415", "2025-02-30T09:26:53.415+0000", "", "now"],
    )
    def test_timestamp_without_zone_or_impossible_is_dropped(
        self, timestamp: str
    ) -> None:
        event = load_event("metric_alarm")
        event["detail"]["state"]["timestamp"] = timestamp

        with pytest.raises(InvalidEvent, match=r"detail\.state\.timestamp"):
            read_alarm_event(event)

    @pytest.mark.parametrize(
        "instance_id",
        ["i-0a1b2c3d\n", "i-0a1b2c3d4", "i-0a1b2c3g", " i-0a1b2c3d", "i-", 12345678],
    )
    def test_odd_instance_id_is_dropped(self, instance_id: object) -> None:
        event = load_event("metric_alarm")
        _dimensions(event)["InstanceId"] = instance_id

        with pytest.raises(InvalidEvent, match="InstanceId"):
            read_alarm_event(event)

    def test_alarm_without_dimensions_names_no_instance(self) -> None:
        event = load_event("metric_alarm")
        del event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"][
            "dimensions"
        ]

        with pytest.raises(InvalidEvent, match="no metric of the alarm"):
            read_alarm_event(event)

    def test_other_dimensions_beside_the_instance_are_accepted(self) -> None:
        event = load_event("metric_alarm")
        _dimensions(event)["ImageId"] = "ami-0123456789abcdef0"

        alarm = read_alarm_event(event)

        assert isinstance(alarm, AlarmFired)
        assert alarm.instance_id == "i-0a1b2c3d4e5f60718"

    def test_query_with_neither_metric_stat_nor_expression_is_dropped(self) -> None:
        event = load_event("metric_math_alarm")
        del event["detail"]["configuration"]["metrics"][0]["expression"]

        with pytest.raises(InvalidEvent, match="neither metricStat nor expression"):
            read_alarm_event(event)

    def test_metrics_beside_an_alarm_rule_are_dropped(self) -> None:
        event = load_event("metric_alarm")
        event["detail"]["configuration"]["alarmRule"] = "ALARM(other)"

        with pytest.raises(InvalidEvent, match="both metrics and alarmRule"):
            read_alarm_event(event)

    def test_reason_data_must_hold_a_json_object(self) -> None:
        event = load_event("metric_alarm")
        event["detail"]["state"]["reasonData"] = "[1, 2]"

        with pytest.raises(InvalidEvent, match="reasonData must be an object"):
            read_alarm_event(event)

    def test_deeply_nested_reason_data_is_dropped(self) -> None:
        event = load_event("metric_alarm")
        event["detail"]["state"]["reasonData"] = "[" * 5000

        with pytest.raises(InvalidEvent, match="reasonData is not JSON"):
            read_alarm_event(event)

    def test_reason_may_span_lines_but_names_may_not(self) -> None:
        event = load_event("metric_alarm")
        event["detail"]["state"]["reason"] = "set by hand:\n\tdisk full"

        alarm = read_alarm_event(event)

        assert isinstance(alarm, AlarmFired)
        assert alarm.state_reason == "set by hand:\n\tdisk full"

    def test_reason_data_may_be_absent(self) -> None:
        event = load_event("metric_alarm")
        del event["detail"]["state"]["reasonData"]

        assert isinstance(read_alarm_event(event), AlarmFired)


class TestMetricMathAlarm:
    def test_one_instance_on_several_metric_stats_is_acted_on(self) -> None:
        alarm = read_alarm_event(load_event("metric_math_alarm"))

        assert isinstance(alarm, AlarmFired)
        assert alarm.instance_id == "i-0fedcba9876543210"

    def test_two_instances_are_dropped_naming_both(self) -> None:
        with pytest.raises(InvalidEvent) as raised:
            read_alarm_event(load_event("metric_math_alarm_two_instances"))

        assert "i-0fedcba9876543210" in str(raised.value)
        assert "i-0123456789abcdef0" in str(raised.value)
        assert "does not guess" in str(raised.value)

    def test_an_instance_id_on_the_expression_is_not_read(self) -> None:
        event = load_event("metric_math_alarm")
        event["detail"]["configuration"]["metrics"][0]["dimensions"] = {
            "InstanceId": "i-0123456789abcdef0"
        }

        alarm = read_alarm_event(event)

        assert isinstance(alarm, AlarmFired)
        assert alarm.instance_id == "i-0fedcba9876543210"


class TestCompositeAlarm:
    def test_is_ignored_with_the_child_alarms_its_rule_names(self) -> None:
        alarm = read_alarm_event(load_event("composite_alarm"))

        assert isinstance(alarm, AlarmIgnored)
        assert alarm.child_alarms == (
            "firstline-cpu-high-web-1",
            "firstline-status-check-web-1",
        )

    def test_without_an_alarm_rule_is_dropped(self) -> None:
        event = load_event("composite_alarm")
        del event["detail"]["configuration"]["alarmRule"]

        with pytest.raises(InvalidEvent, match="neither metrics"):
            read_alarm_event(event)


class TestEnvelope:
    @pytest.mark.parametrize("event", [None, [], "event", 5, True, 1.5])
    def test_event_that_is_not_an_object_is_dropped(self, event: object) -> None:
        with pytest.raises(InvalidEvent, match="must be an object"):
            read_alarm_event(event)

    def test_event_larger_than_eventbridge_allows_is_dropped(self) -> None:
        event = load_event("metric_alarm")
        event["detail"]["configuration"]["description"] = "x" * MAX_EVENT_BYTES

        with pytest.raises(InvalidEvent, match="bytes; the limit is"):
            read_alarm_event(event)

    def test_event_that_is_not_json_is_dropped(self) -> None:
        event = load_event("metric_alarm")
        event["detail"]["previousState"] = {"reason": "\ud800"}

        with pytest.raises(InvalidEvent, match="cannot be written back as JSON"):
            read_alarm_event(event)

    @pytest.mark.parametrize(
        ("field", "value", "expected"),
        [
            ("version", "1", "event.version"),
            ("id", "a b", "event.id"),
            ("id", "x" * 65, "event.id"),
            ("time", "yesterday", "event.time"),
            ("region", "EU-WEST-1", "event.region"),
            ("resources", [], "event.resources"),
            ("account", "0210987654321", "event.account"),
        ],
    )
    def test_odd_envelope_field_is_dropped(
        self, field: str, value: object, expected: str
    ) -> None:
        event = load_event("metric_alarm")
        event[field] = value

        with pytest.raises(InvalidEvent) as raised:
            read_alarm_event(event)

        assert str(raised.value).startswith(expected)

    def test_two_resources_are_dropped(self) -> None:
        event = load_event("metric_alarm")
        event["resources"].append(event["resources"][0])

        with pytest.raises(InvalidEvent, match="has 2 entries"):
            read_alarm_event(event)

    def test_message_shows_at_most_a_bounded_part_of_a_value(self) -> None:
        event = load_event("metric_alarm")
        event["source"] = "s" * 10_000

        with pytest.raises(InvalidEvent) as raised:
            read_alarm_event(event)

        assert len(str(raised.value)) < 200

    def test_control_characters_in_the_alarm_name_are_dropped(self) -> None:
        event = load_event("metric_alarm")
        name = "cpu\x1b[31mhigh"
        event["detail"]["alarmName"] = name
        event["resources"] = ["arn:aws:cloudwatch:eu-west-1:210987654321:alarm:" + name]

        with pytest.raises(InvalidEvent, match="control characters"):
            read_alarm_event(event)
