"""The AWS regions the relay accepts, with the partition each belongs to.

The list is closed on purpose: an event naming any other region is dropped. It holds
the public regions of the ``aws``, ``aws-cn`` and ``aws-us-gov`` partitions as
botocore 1.43 lists them. The isolated partitions (``aws-iso*``) and the European
Sovereign Cloud (``aws-eusc``) are left out: a Prefect API outside them cannot be
reached from there. A region AWS opens later must be added here before the relay
acts on its alarms; tests/infra/relay/test_regions.py compares this list with
botocore's.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TypeGuard

_AWS_REGIONS = (
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
)
_AWS_CN_REGIONS = ("cn-north-1", "cn-northwest-1")
_AWS_US_GOV_REGIONS = ("us-gov-east-1", "us-gov-west-1")

PARTITION_OF_REGION: MappingProxyType[str, str] = MappingProxyType(
    {
        **dict.fromkeys(_AWS_REGIONS, "aws"),
        **dict.fromkeys(_AWS_CN_REGIONS, "aws-cn"),
        **dict.fromkeys(_AWS_US_GOV_REGIONS, "aws-us-gov"),
    }
)
"""Region code (``eu-west-1``) to partition (``aws``), for every accepted region."""


def is_known_region(region: object) -> TypeGuard[str]:
    """Whether ``region`` is exactly one of the accepted region codes."""
    return isinstance(region, str) and region in PARTITION_OF_REGION
