"""Finding the one EC2 instance a metric alarm watches.

A metric alarm's ``configuration.metrics`` lists metric queries. An ordinary alarm has
one entry with a ``metricStat``; a metric-math alarm adds entries with an
``expression``, and its instances sit on the ``metricStat`` entries the expression
reads. EventBridge writes dimensions as an object (``{"InstanceId": "i-..."}``), not as
the API's list of name/value pairs.
"""

from __future__ import annotations

from .errors import InvalidEvent
from .fields import (
    INSTANCE_ID,
    as_list,
    as_object,
    as_text,
    matching,
    member,
    show,
    text_member,
)

MAX_METRICS = 100
MAX_METRIC_FIELD_LENGTH = 2048
_INSTANCE_ID_LENGTH = len("i-") + 17


def read_instance_id(metrics: object, account_id: str) -> str:
    """The single instance named by the ``InstanceId`` dimensions of ``metrics``.

    Raises:
        InvalidEvent: a query is malformed or reads another account, or the queries
            name no instance or more than one.
    """
    entries = as_list(metrics, "detail.configuration.metrics", MAX_METRICS)
    instance_ids: dict[str, None] = {}
    for index, entry in enumerate(entries):
        where = f"detail.configuration.metrics[{index}]"
        query = as_object(entry, where)
        if "metricStat" in query:
            instance_id = _read_metric_stat(query, where, account_id)
            if instance_id is not None:
                instance_ids[instance_id] = None
        elif "expression" in query:
            text_member(query, "expression", where, MAX_METRIC_FIELD_LENGTH)
        else:
            raise InvalidEvent(f"{where} has neither metricStat nor expression")

    if not instance_ids:
        raise InvalidEvent(
            "no metric of the alarm has an InstanceId dimension; firstline acts only "
            "on alarms watching one EC2 instance"
        )
    if len(instance_ids) > 1:
        raise InvalidEvent(
            f"the alarm's metrics name {len(instance_ids)} instances "
            f"({', '.join(instance_ids)}); the relay does not guess which one to act on"
        )
    return next(iter(instance_ids))


def _read_metric_stat(
    query: dict[str, object], where: str, account_id: str
) -> str | None:
    if "accountId" in query and query["accountId"] != account_id:
        # The instance lives in another account, one the flow holds no credentials
        # for: cross-account alarms are dropped rather than acted on.
        raise InvalidEvent(
            f"{where}.accountId is {show(query['accountId'])}, not the alarm's account "
            f"{account_id}; cross-account alarms are not supported"
        )
    stat = as_object(query["metricStat"], f"{where}.metricStat")
    metric = as_object(
        member(stat, "metric", f"{where}.metricStat"), f"{where}.metricStat.metric"
    )
    if "dimensions" not in metric:
        return None

    dimensions_where = f"{where}.metricStat.metric.dimensions"
    dimensions = as_object(metric["dimensions"], dimensions_where)
    for name, value in dimensions.items():
        as_text(value, f"{dimensions_where}[{show(name)}]", MAX_METRIC_FIELD_LENGTH)
    if "InstanceId" not in dimensions:
        return None
    instance_where = f"{dimensions_where}.InstanceId"
    instance_id = as_text(dimensions["InstanceId"], instance_where, _INSTANCE_ID_LENGTH)
    return matching(
        instance_id,
        INSTANCE_ID,
        instance_where,
        "'i-' and 8 or 17 lowercase hexadecimal digits",
    )
