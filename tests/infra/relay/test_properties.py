"""Random and mutated events never raise a foreign error and never post by accident."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.relay.config import RelayConfig, RetryPolicy
from infra.relay.fields import ACCOUNT_ID, INSTANCE_ID
from infra.relay.regions import is_known_region
from infra.relay.relay import Relay
from tests.infra.relay.conftest import load_event
from tests.infra.relay.stub_api import StubPrefectApi, running_stub_api

SAMPLES = (
    "metric_alarm",
    "metric_alarm_govcloud_short_instance_id",
    "metric_math_alarm",
    "composite_alarm",
    "metric_alarm_ok",
)
PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

Path = tuple[str | int, ...]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(
        ["ALARM", "aws.cloudwatch", "eu-west-1", "i-0a1b2c3d", "210987654321", "0"]
    ),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def stub() -> Iterator[StubPrefectApi]:
    with running_stub_api() as stub:
        yield stub


def _handle(stub: StubPrefectApi, event: object) -> tuple[str, list[dict[str, Any]]]:
    """The relay's decision on ``event`` and the events it posted to ``stub``."""
    stub.reset()
    relay = Relay(
        RelayConfig(
            prefect_api_url=stub.api_url,
            retry=RetryPolicy(max_attempts=1, timeout_seconds=2),
        )
    )
    decision = relay.handle(event)
    posted = [event for request in stub.requests for event in json.loads(request.body)]
    return decision.decision, posted


def _paths(node: object, prefix: Path = ()) -> Iterator[Path]:
    yield prefix
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _paths(child, (*prefix, index))


def _parent(event: dict[str, Any], path: Path) -> Any:
    node: Any = event
    for step in path[:-1]:
        node = node[step]
    return node


def _posted_only_what_the_event_says(
    event: dict[str, Any], posted: list[dict[str, Any]]
) -> None:
    (prefect_event,) = posted
    labels = prefect_event["resource"]
    assert INSTANCE_ID.fullmatch(labels["aws.ec2.instance-id"])
    assert ACCOUNT_ID.fullmatch(labels["aws.account-id"])
    assert is_known_region(labels["aws.region"])
    assert labels["aws.region"] == event["region"]
    assert labels["aws.account-id"] == event["account"]
    assert labels["aws.ec2.instance-id"] in json.dumps(event["detail"])


@st.composite
def mutated_events(draw: st.DrawFn) -> dict[str, Any]:
    event = load_event(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(list(_paths(event))[1:]))
        parent = _parent(event, path)
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(json_values)
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "delete":
            parent.pop(path[-1])
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = draw(json_values)
        else:
            parent.append(draw(json_values))
    return event


# Paths where any other value (or none) stops the event from being posted.
GUARDED_PATHS: tuple[Path, ...] = (
    ("source",),
    ("detail-type",),
    ("version",),
    ("account",),
    ("region",),
    ("resources",),
    ("resources", 0),
    ("detail",),
    ("detail", "alarmName"),
    ("detail", "state"),
    ("detail", "state", "value"),
    ("detail", "configuration"),
    ("detail", "configuration", "metrics"),
)
REQUIRED_PATHS: tuple[Path, ...] = (
    *GUARDED_PATHS,
    ("id",),
    ("time",),
    ("detail", "state", "reason"),
    ("detail", "state", "timestamp"),
    ("detail", "configuration", "metrics", 0, "metricStat"),
    ("detail", "configuration", "metrics", 0, "metricStat", "metric"),
    ("detail", "configuration", "metrics", 0, "metricStat", "metric", "dimensions"),
    (
        "detail",
        "configuration",
        "metrics",
        0,
        "metricStat",
        "metric",
        "dimensions",
        "InstanceId",
    ),
)


class TestRandomEvents:
    @PROPERTY_SETTINGS
    @given(event=json_values)
    def test_any_json_value_is_dropped_without_a_post(
        self, stub: StubPrefectApi, event: object
    ) -> None:
        decision, posted = _handle(stub, event)

        assert decision == "dropped"
        assert posted == []

    @PROPERTY_SETTINGS
    @given(
        event=st.fixed_dictionaries(
            {
                key: st.one_of(st.just(value), json_values)
                for key, value in load_event("metric_alarm").items()
            }
        )
    )
    def test_envelope_with_random_fields_never_posts_a_foreign_target(
        self, stub: StubPrefectApi, event: dict[str, Any]
    ) -> None:
        decision, posted = _handle(stub, event)

        if decision == "posted":
            _posted_only_what_the_event_says(event, posted)
        else:
            assert posted == []


class TestMutatedEvents:
    @PROPERTY_SETTINGS
    @given(event=mutated_events())
    def test_mutation_raises_nothing_and_posts_only_what_the_event_says(
        self, stub: StubPrefectApi, event: dict[str, Any]
    ) -> None:
        decision, posted = _handle(stub, event)

        assert decision in ("posted", "dropped", "ignored")
        if decision == "posted":
            _posted_only_what_the_event_says(event, posted)
        else:
            assert posted == []

    @PROPERTY_SETTINGS
    @given(
        path=st.sampled_from(GUARDED_PATHS),
        value=json_values,
        name=st.sampled_from(("metric_alarm", "metric_math_alarm")),
    )
    def test_changing_a_guarded_field_never_posts(
        self, stub: StubPrefectApi, path: Path, value: object, name: str
    ) -> None:
        event = load_event(name)
        parent = _parent(event, path)
        original = copy.deepcopy(parent[path[-1]])
        parent[path[-1]] = value

        decision, posted = _handle(stub, event)

        if value == original:
            assert decision == "posted"
        else:
            assert decision in ("dropped", "ignored")
            assert posted == []

    @PROPERTY_SETTINGS
    @given(path=st.sampled_from(REQUIRED_PATHS))
    def test_removing_a_required_field_never_posts(
        self, stub: StubPrefectApi, path: Path
    ) -> None:
        event = load_event("metric_alarm")
        parent = _parent(event, path)
        parent.pop(path[-1])

        decision, posted = _handle(stub, event)

        assert decision == "dropped"
        assert posted == []

    @PROPERTY_SETTINGS
    @given(instance_id=st.text(max_size=24))
    def test_instance_id_not_of_ec2_form_never_posts(
        self, stub: StubPrefectApi, instance_id: str
    ) -> None:
        event = load_event("metric_alarm")
        metric = event["detail"]["configuration"]["metrics"][0]["metricStat"]
        metric["metric"]["dimensions"]["InstanceId"] = instance_id

        decision, posted = _handle(stub, event)

        if INSTANCE_ID.fullmatch(instance_id):
            assert posted[0]["resource"]["aws.ec2.instance-id"] == instance_id
        else:
            assert decision == "dropped"
            assert posted == []
