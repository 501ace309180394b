"""The AWS region codes firstline accepts; anything else is refused.

One closed list serves the fleet file, the flow and the relay: it lives with the
relay, whose Lambda bundle can hold nothing but the standard library.
"""

from __future__ import annotations

from infra.relay.regions import PARTITION_OF_REGION

AWS_REGIONS: frozenset[str] = frozenset(PARTITION_OF_REGION)
