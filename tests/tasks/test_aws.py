"""boto3 client construction: caching, endpoints, timeouts and credential blocks."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from prefect_aws import AwsCredentials

from sandbox import Sandbox
from tasks.aws import aws_client, clear_aws_clients

REGION = "eu-west-1"


class TestAwsClient:
    def test_clients_are_kept_per_service_and_region(self, aws_env: Sandbox) -> None:
        ec2 = aws_client("ec2", REGION)

        assert aws_client("ec2", REGION) is ec2
        assert aws_client("ec2", "us-east-1") is not ec2
        assert aws_client("route53", REGION) is not ec2

    def test_clearing_the_cache_builds_new_clients(self, aws_env: Sandbox) -> None:
        ec2 = aws_client("ec2", REGION)

        clear_aws_clients()

        assert aws_client("ec2", REGION) is not ec2

    def test_clients_follow_aws_endpoint_url(self, aws_env: Sandbox) -> None:
        client = aws_client("ec2", REGION)

        assert client.meta.endpoint_url == aws_env.endpoint_url
        assert client.meta.region_name == REGION

    def test_clients_have_timeouts_and_standard_retries(self, aws_env: Sandbox) -> None:
        config = aws_client("ec2", REGION).meta.config

        assert config.connect_timeout == 5.0
        assert config.read_timeout == 15.0
        assert config.retries == {"mode": "standard", "total_max_attempts": 3}

    def test_one_client_serves_calls_from_many_threads(self, aws_env: Sandbox) -> None:
        instance = aws_env.add_instance(region=REGION, name="aws-threads")

        def count_reservations(_: int) -> int:
            client = aws_client("ec2", REGION)
            response = client.describe_instances(InstanceIds=[instance.instance_id])
            return len(response["Reservations"])

        with ThreadPoolExecutor(max_workers=8) as pool:
            counts = list(pool.map(count_reservations, range(16)))

        assert counts == [1] * 16

    def test_a_credentials_block_supplies_keys_and_endpoint(
        self,
        prefect_harness: None,
        aws_env: Sandbox,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        instance = aws_env.add_instance(region=REGION, name="aws-block")
        sandbox_env = aws_env.aws_env()
        AwsCredentials(
            aws_access_key_id=sandbox_env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=sandbox_env["AWS_SECRET_ACCESS_KEY"],
            aws_client_parameters={"endpoint_url": aws_env.endpoint_url},
        ).save("firstline-test-sandbox", overwrite=True)
        # Without the block, these would lead nowhere.
        monkeypatch.delenv("AWS_ENDPOINT_URL")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA" + "WRONG" * 3 + "0")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")

        client = aws_client("ec2", REGION, "firstline-test-sandbox")
        response = client.describe_instances(InstanceIds=[instance.instance_id])

        assert client.meta.endpoint_url == aws_env.endpoint_url
        assert len(response["Reservations"]) == 1
