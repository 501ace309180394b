"""Reading secrets from Secrets Manager (sandbox) and Prefect Secret blocks."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError
from prefect.blocks.system import Secret

from firstline.errors import SecretError
from firstline.settings import SecretRef
from sandbox import Sandbox
from tasks.secrets import read_secret

REGION = "eu-west-1"
VALUE = "s3cr3t-value-for-tests"


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_aws_secret(sandbox: Sandbox, text: str, region: str = REGION) -> str:
    name = unique_name("firstline/test")
    sandbox.client("secretsmanager", region).create_secret(Name=name, SecretString=text)
    return name


class TestReadAwsSecret:
    def test_reads_a_plain_string_secret(self, aws_env: Sandbox) -> None:
        name = create_aws_secret(aws_env, VALUE)

        secret = read_secret(SecretRef(aws_secret=name), default_region=REGION)

        assert secret.get_secret_value() == VALUE

    def test_reads_one_key_of_a_json_secret(self, aws_env: Sandbox) -> None:
        name = create_aws_secret(aws_env, json.dumps({"token": VALUE, "other": "x"}))
        ref = SecretRef(aws_secret=name, json_key="token")

        assert read_secret(ref, default_region=REGION).get_secret_value() == VALUE

    def test_reads_a_secret_from_its_own_region(self, aws_env: Sandbox) -> None:
        name = create_aws_secret(aws_env, VALUE, region="us-east-1")
        ref = SecretRef(aws_secret=name, aws_region="us-east-1")

        assert read_secret(ref, default_region=REGION).get_secret_value() == VALUE

    def test_missing_secret_raises_naming_the_secret(self, aws_env: Sandbox) -> None:
        ref = SecretRef(aws_secret="firstline/absent")

        with pytest.raises(SecretError) as raised:
            read_secret(ref, default_region=REGION)

        assert "aws-secret:firstline/absent" in str(raised.value)
        assert "ResourceNotFoundException" in str(raised.value)
        assert isinstance(raised.value.__cause__, ClientError)

    def test_missing_json_key_raises_without_the_value(self, aws_env: Sandbox) -> None:
        name = create_aws_secret(aws_env, json.dumps({"token": VALUE}))
        ref = SecretRef(aws_secret=name, json_key="password")

        with pytest.raises(SecretError, match="has no key 'password'") as raised:
            read_secret(ref, default_region=REGION)

        assert VALUE not in str(raised.value)

    def test_json_key_on_a_text_secret_raises_without_the_value(
        self, aws_env: Sandbox
    ) -> None:
        name = create_aws_secret(aws_env, VALUE)
        ref = SecretRef(aws_secret=name, json_key="token")

        with pytest.raises(SecretError, match="is not JSON") as raised:
            read_secret(ref, default_region=REGION)

        assert VALUE not in str(raised.value)
        assert raised.value.__cause__ is None


class TestReadPrefectSecret:
    def test_reads_a_string_secret_block(self, prefect_harness: None) -> None:
        name = unique_name("firstline-test")
        Secret(value=VALUE).save(name)

        secret = read_secret(SecretRef(prefect_secret=name), default_region=REGION)

        assert secret.get_secret_value() == VALUE

    def test_reads_one_key_of_a_json_secret_block(self, prefect_harness: None) -> None:
        name = unique_name("firstline-test")
        Secret(value={"token": VALUE}).save(name)
        ref = SecretRef(prefect_secret=name, json_key="token")

        assert read_secret(ref, default_region=REGION).get_secret_value() == VALUE

    def test_json_secret_block_without_json_key_raises(
        self, prefect_harness: None
    ) -> None:
        name = unique_name("firstline-test")
        Secret(value={"token": VALUE}).save(name)

        with pytest.raises(SecretError, match="Set json_key") as raised:
            read_secret(SecretRef(prefect_secret=name), default_region=REGION)

        assert VALUE not in str(raised.value)

    def test_missing_secret_block_raises_naming_the_block(
        self, prefect_harness: None
    ) -> None:
        ref = SecretRef(prefect_secret="firstline-absent")

        with pytest.raises(SecretError, match="prefect-secret:firstline-absent"):
            read_secret(ref, default_region=REGION)
