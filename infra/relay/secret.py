"""The Prefect credential, read from an AWS Secrets Manager secret.

The secret's value is a JSON object with exactly one key: ``{"api_key": "pnu_..."}``
for Prefect Cloud (sent as ``Authorization: Bearer``) or
``{"basic_auth": "user:password"}`` for a self-hosted server (sent as
``Authorization: Basic``). No message or log line written here contains the value:
parse errors are raised ``from None`` because a ``JSONDecodeError`` carries the whole
document it failed on. botocore logs every response body at DEBUG, the secret's too,
so that logger is held at INFO while the secret is read.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import CredentialError

_MAX_SECRET_LENGTH = 4096
_REDACTED = "<redacted>"


@dataclass(frozen=True, repr=False)
class Credential:
    """An ``Authorization`` header value and the secret texts it is built from."""

    scheme: str
    token: str
    secret_texts: tuple[str, ...]

    @classmethod
    def from_api_key(cls, api_key: str) -> Credential:
        """A Prefect Cloud API key, sent as a bearer token."""
        if not api_key or not all("!" <= char <= "~" for char in api_key):
            raise CredentialError(
                "the api_key in the Prefect secret must be printable ASCII without "
                "spaces"
            )
        return cls("Bearer", api_key, (api_key,))

    @classmethod
    def from_basic_auth(cls, basic_auth: str) -> Credential:
        """A self-hosted server's ``user:password`` string, sent as basic auth."""
        user, separator, password = basic_auth.partition(":")
        if not user or not separator:
            raise CredentialError(
                "the basic_auth in the Prefect secret must read 'user:password'"
            )
        if any(ord(char) < 0x20 or ord(char) == 0x7F for char in basic_auth):
            raise CredentialError(
                "the basic_auth in the Prefect secret contains control characters"
            )
        token = base64.b64encode(basic_auth.encode("utf-8")).decode("ascii")
        texts = tuple(text for text in (basic_auth, password, token) if text)
        return cls("Basic", token, texts)

    def authorization_header(self) -> str:
        """The value of the ``Authorization`` header."""
        return f"{self.scheme} {self.token}"

    def redact(self, text: str) -> str:
        """``text`` with every piece of the secret replaced by a marker."""
        for secret_text in sorted(self.secret_texts, key=len, reverse=True):
            text = text.replace(secret_text, _REDACTED)
        return text

    def __repr__(self) -> str:
        return f"Credential(scheme={self.scheme!r}, token={_REDACTED})"


def parse_secret_value(secret_value: str) -> Credential:
    """The credential held by a secret's JSON value."""
    if len(secret_value) > _MAX_SECRET_LENGTH:
        raise CredentialError(
            f"the Prefect secret is longer than {_MAX_SECRET_LENGTH} characters"
        )
    try:
        document = json.loads(secret_value)
    except (ValueError, RecursionError):
        raise CredentialError(
            'the Prefect secret is not JSON; store {"api_key": "..."} or '
            '{"basic_auth": "user:password"}'
        ) from None
    if not isinstance(document, dict) or len(document) != 1:
        raise CredentialError(
            "the Prefect secret must be a JSON object with exactly one key, api_key "
            "or basic_auth"
        )

    ((key, value),) = document.items()
    if key not in ("api_key", "basic_auth"):
        raise CredentialError(
            f"the Prefect secret's key is {key[:32]!r}; expected api_key or basic_auth"
        )
    if not isinstance(value, str):
        raise CredentialError(f"the Prefect secret's {key} must be a string")
    if key == "api_key":
        return Credential.from_api_key(value)
    return Credential.from_basic_auth(value)


def read_credential(secret_arn: str) -> Credential:
    """Read and parse the secret ``secret_arn`` with the boto3 of the Lambda runtime.

    Raises:
        CredentialError: Secrets Manager could not be reached, refused the read, or
            the value is not one the relay understands.
    """
    # Imported here so that importing the relay needs only the standard library.
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    region = secret_arn.split(":")[3]
    try:
        client = boto3.client("secretsmanager", region_name=region)
        with _botocore_bodies_unlogged():
            response = client.get_secret_value(SecretId=secret_arn)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "unknown")
        raise CredentialError(
            f"Secrets Manager refused to read {secret_arn} ({code}); check that the "
            "secret exists and that the relay's role may call "
            "secretsmanager:GetSecretValue on it"
        ) from error
    except BotoCoreError as error:
        raise CredentialError(
            f"could not read {secret_arn} from Secrets Manager in {region}: {error}"
        ) from error

    secret_value = response.get("SecretString")
    if not isinstance(secret_value, str):
        raise CredentialError(
            f"the secret {secret_arn} has no SecretString; store the credential as "
            "a JSON text"
        )
    return parse_secret_value(secret_value)


@contextmanager
def _botocore_bodies_unlogged() -> Iterator[None]:
    parsers_logger = logging.getLogger("botocore.parsers")
    level = parsers_logger.level
    parsers_logger.setLevel(max(level, logging.INFO))
    try:
        yield
    finally:
        parsers_logger.setLevel(level)
