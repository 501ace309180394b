"""The fleet file: which instances firstline manages, by region, with defaults.

    defaults:            # optional; any InstanceSettings section
      checks: {url: {port: 8080, path: /health}}
      recovery: {window_seconds: 600}
    regions:
      eu-west-1:
        defaults: {notify: {slack: {channel: "#ops-eu"}}}   # optional
        instances:
          - id: i-0123456789abcdef0
            name: web-1
            checks: {route53: {health_check_id: "abcd-..."}}

An instance's settings are the top defaults, then its region's defaults, then its
own entry, merged key by key; flow parameters may override the result.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from firstline.errors import ConfigError, UnknownInstanceError
from firstline.regions import AWS_REGIONS
from firstline.settings import INSTANCE_ID_PATTERN, InstanceSettings
from firstline.yamlfile import Location, parse_yaml, read_text

Where = Callable[[Location], str]
_TOP_KEYS = {"defaults", "regions"}
_REGION_KEYS = {"defaults", "instances"}


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into ``base`` key by key; mappings merge, rest replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@dataclass(frozen=True)
class Fleet:
    """The parsed fleet file."""

    source: str
    instances: tuple[InstanceSettings, ...]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    region_defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(
            sorted({i.region for i in self.instances} | set(self.region_defaults))
        )

    def find(self, region: str, instance_id: str) -> InstanceSettings | None:
        for instance in self.instances:
            if instance.instance_id == instance_id and instance.region == region:
                return instance
        return None

    def settings_for(
        self,
        region: str,
        instance_id: str,
        overrides: Mapping[str, Any] | None = None,
        *,
        opted_in_by_tag: bool = False,
    ) -> InstanceSettings:
        """Settings of one instance, with flow-parameter overrides applied.

        An instance absent from the file is managed only when its opt-in tag says so;
        it then gets the defaults of its region.
        """
        check_target(region, instance_id)
        listed = self.find(region, instance_id)
        if listed is None and not opted_in_by_tag:
            raise UnknownInstanceError(
                f"{instance_id} in {region} is not in {self.source} and has no "
                "'firstline:managed' tag: firstline acts only on instances opted in; "
                "add it to the fleet file or tag it"
            )

        if listed is not None:
            settings = listed.model_dump(exclude_unset=False)
        else:
            base = merge(self.defaults, self.region_defaults.get(region, {}))
            settings = merge(base, {"instance_id": instance_id, "region": region})
        if not overrides:
            return InstanceSettings.model_validate(settings)

        try:
            return InstanceSettings.model_validate(merge(settings, overrides))
        except ValidationError as exc:
            raise ConfigError(
                f"overrides for {instance_id} ({region}) are not valid: "
                + _describe_errors(exc, lambda _loc: None)
            ) from exc


def check_target(region: str, instance_id: str) -> None:
    """Refuse anything but exactly one well-formed instance in a known region."""
    if not isinstance(instance_id, str) or not re.match(
        INSTANCE_ID_PATTERN, instance_id
    ):
        raise ConfigError(
            f"instance id {instance_id!r} is not an EC2 instance id: expected 'i-' "
            "followed by 8 or 17 lowercase hex digits"
        )
    if region not in AWS_REGIONS:
        raise ConfigError(
            f"region {region!r} is not an AWS region firstline knows: use a code "
            "such as 'us-east-1' or 'eu-west-1'"
        )


def load_fleet(path: str | Path) -> Fleet:
    """Read and validate a fleet file; errors name the file, line and field.

    The file is read on every call; a text already parsed from the same path is
    not parsed again (an alarm storm reads the same file once per run, and YAML
    parsing was a fifth of a runner's work per run). An edited file is a new text,
    parsed afresh; a text that failed to parse fails again.
    """
    path = Path(path)
    return _parse_fleet_text(str(path), read_text(path))


@functools.lru_cache(maxsize=8)
def _parse_fleet_text(source: str, text: str) -> Fleet:
    document, lines = parse_yaml(text, source=source)
    return parse_fleet(document, source=source, lines=lines)


def parse_fleet(
    document: Any, *, source: str, lines: Mapping[Location, int] | None = None
) -> Fleet:
    lines = lines or {}

    def where(location: Location) -> str:
        for end in range(len(location), -1, -1):
            if location[:end] in lines:
                return f"{source}, line {lines[location[:end]]}"
        return source

    if document is None:
        document = {}
    _expect_mapping(document, (), where, "the fleet file")
    _refuse_unknown(document, _TOP_KEYS, (), where)
    defaults = document.get("defaults") or {}
    _expect_mapping(defaults, ("defaults",), where, "'defaults'")
    regions = document.get("regions") or {}
    _expect_mapping(regions, ("regions",), where, "'regions'")

    instances: list[InstanceSettings] = []
    region_defaults: dict[str, Mapping[str, Any]] = {}
    seen: dict[str, str] = {}
    for region, body in regions.items():
        region_loc: Location = ("regions", region)
        if region not in AWS_REGIONS:
            raise ConfigError(
                f"{where(region_loc)}: unknown region {region!r}; use an AWS region "
                "code such as 'us-east-1'"
            )
        body = body or {}
        _expect_mapping(body, region_loc, where, f"region {region!r}")
        _refuse_unknown(body, _REGION_KEYS, region_loc, where)
        own_defaults = body.get("defaults") or {}
        _expect_mapping(own_defaults, (*region_loc, "defaults"), where, "'defaults'")
        region_defaults[region] = own_defaults
        base = merge(defaults, own_defaults)

        entries = body.get("instances") or []
        if not isinstance(entries, list):
            raise ConfigError(
                f"{where((*region_loc, 'instances'))}: 'instances' must be a list of "
                "entries with an 'id'"
            )
        for index, entry in enumerate(entries):
            entry_loc: Location = (*region_loc, "instances", index)
            instance = _parse_instance(
                entry, base, region, entry_loc, where, seen, lines
            )
            instances.append(instance)

    return Fleet(
        source=source,
        instances=tuple(instances),
        defaults=defaults,
        region_defaults=region_defaults,
    )


def _parse_instance(
    entry: Any,
    base: Mapping[str, Any],
    region: str,
    entry_loc: Location,
    where: Where,
    seen: dict[str, str],
    lines: Mapping[Location, int],
) -> InstanceSettings:
    if isinstance(entry, str):
        entry = {"id": entry}
    _expect_mapping(entry, entry_loc, where, "an instance entry")
    entry = dict(entry)
    instance_id = entry.pop("id", None)
    if not isinstance(instance_id, str) or not re.match(
        INSTANCE_ID_PATTERN, instance_id
    ):
        raise ConfigError(
            f"{where((*entry_loc, 'id'))}: instance id {instance_id!r} in {region} is "
            "not an EC2 instance id: expected 'i-' and 8 or 17 lowercase hex digits"
        )
    if instance_id in seen:
        raise ConfigError(
            f"{where(entry_loc)}: instance {instance_id} is listed twice (also in "
            f"{seen[instance_id]}); list each instance once"
        )
    seen[instance_id] = region

    merged = merge(base, {**entry, "instance_id": instance_id, "region": region})
    try:
        return InstanceSettings.model_validate(merged)
    except ValidationError as exc:

        def locate(loc: tuple[Any, ...]) -> str:
            # The bad value may come from the entry, its region's defaults or the
            # top defaults: point at whichever of them wrote it.
            for candidate in (
                (*entry_loc, *loc),
                (*entry_loc[:2], "defaults", *loc),
                ("defaults", *loc),
            ):
                if candidate in lines:
                    return where(candidate)
            return where(entry_loc)

        raise ConfigError(
            f"{where(entry_loc)}: instance {instance_id} ({region}): "
            + _describe_errors(exc, locate)
        ) from exc


def _describe_errors(
    exc: ValidationError, locate: Callable[[tuple[Any, ...]], str | None]
) -> str:
    parts = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        field_name = ".".join(str(p) for p in loc) or "(entry)"
        place = locate(loc)
        prefix = f"[{place}] " if place else ""
        parts.append(f"{prefix}field '{field_name}': {error['msg']}")
    return "; ".join(parts)


def _expect_mapping(value: Any, location: Location, where: Where, what: str) -> None:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where(location)}: {what} must be a mapping of keys")


def _refuse_unknown(
    value: Mapping[Hashable, Any],
    allowed: Iterable[str],
    location: Location,
    where: Any,
) -> None:
    unknown = sorted(str(k) for k in value if k not in set(allowed))
    if unknown:
        raise ConfigError(
            f"{where((*location, unknown[0]))}: unknown key(s) {', '.join(unknown)}; "
            f"allowed here: {', '.join(sorted(allowed))}"
        )
