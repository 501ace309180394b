"""The ``on-alarm`` deployment as ``prefect.yaml`` describes it, and applying it.

``prefect deploy`` reads ``prefect.yaml`` for a work pool and its worker;
``apply_deployment`` applies the same deployment and trigger without a work pool,
for a process that serves it (``python -m deployments.serve``). Both therefore
create the same automation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import yaml
from prefect import Flow
from prefect.deployments.runner import RunnerDeployment
from prefect.events import DeploymentTriggerTypes, TriggerTypes
from pydantic import TypeAdapter, ValidationError

from firstline.errors import ConfigError

PREFECT_FILE = Path(__file__).with_name("prefect.yaml")
DEPLOYMENT_NAME = "on-alarm"
# What the relay's FIRSTLINE_PREFECT_DEPLOYMENT names: "<flow>/<deployment>".
FULL_DEPLOYMENT_NAME = f"remediate-instance/{DEPLOYMENT_NAME}"

_TRIGGERS: TypeAdapter[DeploymentTriggerTypes] = TypeAdapter(DeploymentTriggerTypes)


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment of ``prefect.yaml``, its triggers checked by Prefect's models."""

    name: str
    entrypoint: str
    description: str
    tags: tuple[str, ...]
    parameters: Mapping[str, Any]
    work_pool_name: str | None
    trigger_specs: tuple[Mapping[str, Any], ...] = field(repr=False)
    source: Path

    def triggers(self) -> list[DeploymentTriggerTypes | TriggerTypes]:
        """New trigger models, named as ``prefect deploy`` names unnamed ones.

        Applying a trigger sets its deployment id on the model, so every apply
        gets models of its own.
        """
        triggers: list[DeploymentTriggerTypes | TriggerTypes] = []
        for index, spec in enumerate(self.trigger_specs, start=1):
            named = {"name": f"{self.name}__automation_{index}", **spec}
            triggers.append(_TRIGGERS.validate_python(named))
        return triggers


def load_spec(
    path: Path = PREFECT_FILE, deployment_name: str = DEPLOYMENT_NAME
) -> DeploymentSpec:
    """The deployment ``deployment_name`` of the ``prefect.yaml`` at ``path``.

    Raises:
        ConfigError: the file cannot be read, has no such deployment, or one of its
            triggers is not a valid Prefect deployment trigger.
    """
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"could not read the deployment file {path}: {exc}") from exc

    entries = document.get("deployments") if isinstance(document, dict) else None
    found = [
        entry
        for entry in entries or []
        if isinstance(entry, dict) and entry.get("name") == deployment_name
    ]
    if len(found) != 1:
        raise ConfigError(
            f"{path} has {len(found)} deployments named {deployment_name!r}; "
            "it needs exactly one"
        )
    entry = found[0]

    spec = DeploymentSpec(
        name=deployment_name,
        entrypoint=str(entry.get("entrypoint") or ""),
        description=str(entry.get("description") or "").strip(),
        tags=tuple(str(tag) for tag in entry.get("tags") or ()),
        parameters=dict(entry.get("parameters") or {}),
        work_pool_name=(entry.get("work_pool") or {}).get("name"),
        trigger_specs=tuple(dict(trigger) for trigger in entry.get("triggers") or ()),
        source=path,
    )
    try:
        spec.triggers()
    except ValidationError as exc:
        raise ConfigError(
            f"a trigger of deployment {deployment_name!r} in {path} is not valid "
            f"for Prefect: {exc}"
        ) from exc
    return spec


def apply_deployment(flow: Flow[..., Any], spec: DeploymentSpec) -> UUID:
    """Create or update the deployment, served (no work pool), with its triggers.

    The deployment's automations are deleted and created again, as
    ``prefect deploy`` does: apply once per server, not once per runner, or
    runners applying at the same moment can leave two automations, and every
    alarm would then start two runs.
    """
    deployment = RunnerDeployment.from_flow(
        flow,
        name=spec.name,
        description=spec.description or None,
        tags=list(spec.tags),
        parameters=dict(spec.parameters),
        triggers=spec.triggers(),
    )
    # Assigned after construction, as Prefect's Runner does, so that the server
    # clears a work pool left by an earlier `prefect deploy`.
    deployment.work_pool_name = None
    deployment.work_queue_name = None
    deployment_id = deployment.apply()
    if not isinstance(deployment_id, UUID):
        raise TypeError("apply_deployment blocks; call it outside an event loop")
    return deployment_id
