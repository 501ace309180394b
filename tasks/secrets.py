"""Reading the secrets the fleet file points at, as ``SecretStr`` values.

A secret lives in a Prefect ``Secret`` block or in AWS Secrets Manager. Each call
reads it afresh, so a rotated secret is used on the next run; nothing is cached
and nothing is a task, so no value ends up in a persisted task result. Errors
name the secret's location (``SecretRef.describe``), never its value.
"""

from __future__ import annotations

import json
from typing import Any, cast

from botocore.exceptions import BotoCoreError, ClientError
from prefect.blocks.system import Secret
from pydantic import SecretStr

from firstline.errors import SecretError
from firstline.settings import SecretRef
from tasks.aws import aws_client


def read_secret(
    ref: SecretRef, *, default_region: str, credentials_block: str | None = None
) -> SecretStr:
    """The secret ``ref`` points at; an AWS secret without a region uses
    ``default_region``."""
    if ref.prefect_secret is not None:
        raw = _read_prefect_secret(ref, ref.prefect_secret)
    else:
        assert ref.aws_secret is not None  # SecretRef holds exactly one source
        region = ref.aws_region or default_region
        raw = _read_aws_secret(ref, ref.aws_secret, region, credentials_block)

    if ref.json_key is not None:
        return SecretStr(_pick_json_key(ref, raw, ref.json_key))
    if not isinstance(raw, str):
        raise SecretError(
            f"{ref.describe()} holds a JSON object, not a string. Set json_key to "
            "the key to read."
        )
    return SecretStr(raw)


def _read_prefect_secret(ref: SecretRef, block_name: str) -> object:
    try:
        # Block.load is typed as "maybe a coroutine"; called from sync code it is not.
        block = cast(Secret[Any], Secret.load(block_name))
    except Exception as exc:
        # Prefect reports a missing block as ValueError and an unreachable API as
        # an HTTP error; either way the secret cannot be read.
        raise SecretError(
            f"Failed to load {ref.describe()}: {type(exc).__name__}: {exc}. Create "
            "the Secret block, or check that the Prefect API is reachable."
        ) from exc
    value: object = block.value.get_secret_value()
    return value


def _read_aws_secret(
    ref: SecretRef, secret_id: str, region: str, credentials_block: str | None
) -> str:
    try:
        client = aws_client("secretsmanager", region, credentials_block)
        response = client.get_secret_value(SecretId=secret_id)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        raise SecretError(
            f"Failed to read {ref.describe()} in {region}: {code}. Check the secret's "
            "name and region, and allow secretsmanager:GetSecretValue on it."
        ) from exc
    except BotoCoreError as exc:
        raise SecretError(
            f"Failed to reach Secrets Manager in {region} for {ref.describe()}: "
            f"{exc}. Check the network path and the AWS credentials."
        ) from exc

    if "SecretString" in response:
        text: str = response["SecretString"]
        return text
    try:
        binary: bytes = response["SecretBinary"]
        return binary.decode("utf-8")
    except (KeyError, UnicodeDecodeError):
        # Chained from None: the decode error would carry the secret's bytes.
        raise SecretError(
            f"{ref.describe()} in {region} holds no text value. Store the secret "
            "as a string."
        ) from None


def _pick_json_key(ref: SecretRef, raw: object, json_key: str) -> str:
    document = raw
    if isinstance(raw, str):
        try:
            document = json.loads(raw)
        except json.JSONDecodeError:
            # Chained from None: the decode error keeps the whole text in `.doc`.
            raise SecretError(
                f"{ref.describe()} is not JSON, so json_key {json_key!r} cannot be "
                "read. Drop json_key, or store the secret as a JSON object."
            ) from None
    if not isinstance(document, dict) or json_key not in document:
        raise SecretError(
            f"{ref.describe()} has no key {json_key!r}. Add it to the secret, or fix "
            "json_key in the fleet file."
        )
    value = document[json_key]
    if not isinstance(value, str):
        raise SecretError(
            f"Key {json_key!r} of {ref.describe()} is not a string. Store the value "
            "as a string."
        )
    return value
