"""Write a fleet file that points firstline's checks at sandbox instances."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from firstline.fleet import merge
from sandbox.instance import SandboxInstance


def fleet_document(
    instances: Iterable[SandboxInstance],
    *,
    defaults: Mapping[str, Any] | None = None,
    per_instance: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The fleet file's content: explicit 127.0.0.1 targets for every check."""
    regions: dict[str, Any] = {}
    for instance in instances:
        entry: dict[str, Any] = {
            "id": instance.instance_id,
            "name": instance.name,
            "checks": {
                "url": {"host": "127.0.0.1", "port": instance.http_port, "path": "/"},
                "ssh": {"host": "127.0.0.1", "port": instance.ssh_port},
                "route53": {"health_check_id": instance.health_check_id},
            },
        }
        entry = merge(entry, (per_instance or {}).get(instance.instance_id, {}))
        region = regions.setdefault(instance.region, {"instances": []})
        region["instances"].append(entry)
    return {"defaults": dict(defaults or {}), "regions": regions}


def write_fleet_file(
    path: Path,
    instances: Iterable[SandboxInstance],
    *,
    defaults: Mapping[str, Any] | None = None,
    per_instance: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    document = fleet_document(instances, defaults=defaults, per_instance=per_instance)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path
