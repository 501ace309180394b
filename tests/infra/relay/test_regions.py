from __future__ import annotations

import json
from pathlib import Path

import botocore

from infra.relay.regions import PARTITION_OF_REGION, is_known_region

ACCEPTED_PARTITIONS = ("aws", "aws-cn", "aws-us-gov")


def _botocore_regions() -> dict[str, str]:
    endpoints = Path(botocore.__file__).parent / "data" / "endpoints.json"
    partitions = json.loads(endpoints.read_text())["partitions"]
    return {
        region: partition["partition"]
        for partition in partitions
        if partition["partition"] in ACCEPTED_PARTITIONS
        for region in partition["regions"]
    }


class TestRegions:
    def test_list_matches_the_regions_botocore_knows(self) -> None:
        assert dict(PARTITION_OF_REGION) == _botocore_regions(), (
            "infra/relay/regions.py and botocore disagree; add or remove the regions "
            "named in the difference"
        )

    def test_real_region_is_known(self) -> None:
        assert is_known_region("eu-west-1")
        assert is_known_region("cn-north-1")

    def test_lookalikes_and_other_types_are_unknown(self) -> None:
        for region in (
            "eu-west-9",
            "EU-WEST-1",
            "eu-west-1 ",
            "us-iso-east-1",
            None,
            1,
        ):
            assert not is_known_region(region), region
