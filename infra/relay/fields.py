"""Checks on single values taken from an untrusted event.

Every check either returns the value with a precise type or raises ``InvalidEvent``
with a message naming the field (``detail.state.value``) and what was wrong. The
messages quote offending values through ``show``, which bounds their length.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from .errors import InvalidEvent

INSTANCE_ID = re.compile(r"i-(?:[0-9a-f]{8}|[0-9a-f]{17})")
ACCOUNT_ID = re.compile(r"[0-9]{12}")
EVENTBRIDGE_EVENT_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z-]{0,63}")

_TIMESTAMP_FORMATS = ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z")
_MAX_TIMESTAMP_LENGTH = 40
_SHOWN_LENGTH = 64
_LINE_BREAKS = "\t\n\r"


def show(value: object) -> str:
    """A short JSON rendering of an untrusted value, for an error message."""
    try:
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError, RecursionError):
        text = f"<{type(value).__name__}>"
    if len(text) > _SHOWN_LENGTH:
        return text[:_SHOWN_LENGTH] + "..."
    return text


def member(mapping: Mapping[str, object], key: str, where: str) -> object:
    """The value under ``key``, which must be present."""
    if key not in mapping:
        raise InvalidEvent(f"{where}.{key} is missing")
    return mapping[key]


def as_object(value: object, where: str) -> dict[str, object]:
    """``value`` as a JSON object."""
    if not isinstance(value, dict):
        raise InvalidEvent(f"{where} must be an object, not {show(value)}")
    return value


def as_list(value: object, where: str, max_items: int) -> list[object]:
    """``value`` as a non-empty JSON list of at most ``max_items`` entries."""
    if not isinstance(value, list):
        raise InvalidEvent(f"{where} must be a list, not {show(value)}")
    if not 1 <= len(value) <= max_items:
        raise InvalidEvent(
            f"{where} has {len(value)} entries; expected 1 to {max_items}"
        )
    return value


def as_text(
    value: object,
    where: str,
    max_length: int,
    *,
    allow_empty: bool = False,
    allow_line_breaks: bool = False,
) -> str:
    """``value`` as a string of bounded length, free of control characters.

    ``allow_line_breaks`` lets free text (an alarm's reason) hold tabs and newlines.
    """
    if not isinstance(value, str):
        raise InvalidEvent(f"{where} must be a string, not {show(value)}")
    if not value and not allow_empty:
        raise InvalidEvent(f"{where} is empty")
    if len(value) > max_length:
        raise InvalidEvent(
            f"{where} is {len(value)} characters long; the limit is {max_length}"
        )
    allowed = _LINE_BREAKS if allow_line_breaks else ""
    if any(_is_control(char) and char not in allowed for char in value):
        raise InvalidEvent(f"{where} contains control characters: {show(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidEvent(f"{where} is not valid Unicode: {show(value)}") from None
    return value


def text_member(
    mapping: Mapping[str, object],
    key: str,
    where: str,
    max_length: int,
    *,
    allow_empty: bool = False,
    allow_line_breaks: bool = False,
) -> str:
    """The string under ``key``, which must be present."""
    return as_text(
        member(mapping, key, where),
        f"{where}.{key}",
        max_length,
        allow_empty=allow_empty,
        allow_line_breaks=allow_line_breaks,
    )


def matching(value: str, pattern: re.Pattern[str], where: str, expected: str) -> str:
    """``value`` if the whole of it matches ``pattern``."""
    if pattern.fullmatch(value) is None:
        raise InvalidEvent(f"{where} is {show(value)}; expected {expected}")
    return value


def as_timestamp(value: object, where: str) -> datetime:
    """An AWS timestamp (``2019-10-02T17:04:40.989+0000`` or ``...40Z``) in UTC."""
    text = as_text(value, where, _MAX_TIMESTAMP_LENGTH)
    for timestamp_format in _TIMESTAMP_FORMATS:
        try:
            parsed = datetime.strptime(text, timestamp_format)
            return parsed.astimezone(UTC)
        except (ValueError, OverflowError):
            continue
    raise InvalidEvent(
        f"{where} is {show(text)}; expected a time such as 2019-10-02T17:04:40.989+0000"
    )


def _is_control(char: str) -> bool:
    return ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0
