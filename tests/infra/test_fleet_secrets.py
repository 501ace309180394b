"""The AWS secrets a fleet file names, found wherever a SecretRef may sit."""

from __future__ import annotations

from firstline.fleet import parse_fleet
from infra.fleet_secrets import AwsSecretRef, aws_secret_refs

KEY_ARN = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:ssh-key-AbCdEf"


class TestAwsSecretRefs:
    def test_refs_are_found_in_every_section_and_region(self) -> None:
        fleet = parse_fleet(
            {
                "defaults": {
                    "notify": {
                        "slack": {"token": {"aws_secret": "slack"}, "channel": "#o"},
                        "pager": {"kind": "opsgenie", "key": {"prefect_secret": "og"}},
                    }
                },
                "regions": {
                    "eu-west-1": {
                        "instances": [
                            {
                                "id": "i-0a1b2c3d",
                                "checks": {
                                    "ssh": {
                                        "auth": {
                                            "username": "ec2-user",
                                            "private_key": {"aws_secret": KEY_ARN},
                                            "known_host_keys": ["ssh-ed25519 AAAA"],
                                        }
                                    }
                                },
                            }
                        ]
                    },
                    "us-east-1": {
                        "defaults": {
                            "notify": {
                                "pager": {
                                    "key": {
                                        "prefect_secret": None,
                                        "aws_secret": "og",
                                        "aws_region": "us-west-2",
                                    }
                                }
                            }
                        },
                        "instances": ["i-0a1b2c3e"],
                    },
                },
            },
            source="fleet.yaml",
        )

        assert aws_secret_refs(fleet) == (
            AwsSecretRef("eu-west-1", KEY_ARN),
            AwsSecretRef("eu-west-1", "slack"),
            AwsSecretRef("us-east-1", "slack"),
            AwsSecretRef("us-west-2", "og"),
        )
        assert aws_secret_refs(fleet)[0].is_arn
        assert not aws_secret_refs(fleet)[1].is_arn

    def test_fleet_without_aws_secrets_names_none(self) -> None:
        fleet = parse_fleet(
            {"regions": {"eu-west-1": {"instances": ["i-0a1b2c3d"]}}}, source="f"
        )

        assert aws_secret_refs(fleet) == ()
