"""The Secrets Manager secrets the fleet file names, for the worker's policy.

Only where a secret lives is read from the fleet file (a ``SecretRef``); its
value never passes through the CDK app.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import BaseModel

from firstline.fleet import Fleet
from firstline.settings import SecretRef


@dataclass(frozen=True, order=True)
class AwsSecretRef:
    """A secret given by ARN, or by name in a region of the worker's account."""

    region: str
    name_or_arn: str

    @property
    def is_arn(self) -> bool:
        return self.name_or_arn.startswith("arn:")


def aws_secret_refs(fleet: Fleet) -> tuple[AwsSecretRef, ...]:
    """Every distinct AWS secret the fleet's settings refer to, sorted."""
    refs = set()
    for instance in fleet.instances:
        for ref in _secret_refs(instance):
            if ref.aws_secret is not None:
                region = ref.aws_region or instance.region
                refs.add(AwsSecretRef(region=region, name_or_arn=ref.aws_secret))
    return tuple(sorted(refs))


def _secret_refs(model: BaseModel) -> Iterator[SecretRef]:
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretRef):
            yield value
        elif isinstance(value, BaseModel):
            yield from _secret_refs(value)
        elif isinstance(value, tuple):
            for item in value:
                if isinstance(item, BaseModel):
                    yield from _secret_refs(item)
