from __future__ import annotations

import base64
import json

import pytest

from infra.relay.errors import CredentialError
from infra.relay.secret import Credential, parse_secret_value, read_credential
from tests.infra.relay.conftest import create_secret

API_KEY = "pnu_relaytestkey0123456789abcdefghijklmn"
BASIC_AUTH = "firstline:s3cret-p4ss:with-colon"


class TestParseSecretValue:
    def test_api_key_becomes_a_bearer_header(self) -> None:
        credential = parse_secret_value(json.dumps({"api_key": API_KEY}))

        assert credential.authorization_header() == f"Bearer {API_KEY}"

    def test_basic_auth_becomes_a_basic_header(self) -> None:
        credential = parse_secret_value(json.dumps({"basic_auth": BASIC_AUTH}))

        token = base64.b64encode(BASIC_AUTH.encode()).decode()
        assert credential.authorization_header() == f"Basic {token}"

    @pytest.mark.parametrize(
        ("secret_value", "expected"),
        [
            (API_KEY, "is not JSON"),
            (json.dumps([API_KEY]), "exactly one key"),
            (json.dumps({"api_key": API_KEY, "basic_auth": BASIC_AUTH}), "exactly one"),
            (json.dumps({"apikey": API_KEY}), "expected api_key or basic_auth"),
            (json.dumps({"api_key": [API_KEY]}), "must be a string"),
            (json.dumps({"api_key": API_KEY + " x"}), "without spaces"),
            (json.dumps({"api_key": API_KEY + "\n"}), "without spaces"),
            (json.dumps({"basic_auth": "s3cret-p4ss"}), "'user:password'"),
            (json.dumps({"basic_auth": BASIC_AUTH + "\r\n"}), "control characters"),
            (json.dumps({"api_key": "x" * 5000}), "longer than"),
        ],
    )
    def test_malformed_secret_is_refused_without_showing_it(
        self, secret_value: str, expected: str
    ) -> None:
        with pytest.raises(CredentialError, match=expected) as raised:
            parse_secret_value(secret_value)

        for text in (API_KEY, "s3cret-p4ss", "x" * 100):
            assert text not in str(raised.value)
        error = raised.value
        assert error.__cause__ is None
        assert error.__context__ is None or error.__suppress_context__

    def test_repr_hides_the_secret(self) -> None:
        credential = Credential.from_basic_auth(BASIC_AUTH)

        assert "s3cret" not in repr(credential)
        assert "s3cret" not in str(credential)
        assert credential.token not in repr(credential)

    def test_redact_removes_the_password_the_pair_and_the_token(self) -> None:
        credential = Credential.from_basic_auth(BASIC_AUTH)
        text = f"{BASIC_AUTH} | s3cret-p4ss:with-colon | {credential.token}"

        redacted = credential.redact(text)

        assert "s3cret" not in redacted
        assert credential.token not in redacted


class TestReadCredential:
    def test_reads_an_api_key_from_secrets_manager(self, aws_environment: str) -> None:
        arn = create_secret("prefect-api-key", json.dumps({"api_key": API_KEY}))

        credential = read_credential(arn)

        assert credential.authorization_header() == f"Bearer {API_KEY}"

    def test_reads_basic_auth_from_the_secret_s_own_region(
        self, aws_environment: str
    ) -> None:
        arn = create_secret(
            "prefect-basic", json.dumps({"basic_auth": BASIC_AUTH}), region="us-east-2"
        )

        credential = read_credential(arn)

        assert credential.scheme == "Basic"

    def test_missing_secret_names_the_arn_and_the_permission(
        self, aws_environment: str
    ) -> None:
        arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:absent-AbCdEf"

        with pytest.raises(CredentialError) as raised:
            read_credential(arn)

        assert arn in str(raised.value)
        assert "ResourceNotFoundException" in str(raised.value)
        assert "secretsmanager:GetSecretValue" in str(raised.value)

    def test_binary_secret_is_refused(self, aws_environment: str) -> None:
        import boto3

        client = boto3.client("secretsmanager", region_name="eu-west-1")
        arn = client.create_secret(Name="prefect-binary", SecretBinary=b"\x00\x01")[
            "ARN"
        ]

        with pytest.raises(CredentialError, match="has no SecretString"):
            read_credential(arn)

    def test_malformed_secret_value_is_refused_without_showing_it(
        self, aws_environment: str
    ) -> None:
        arn = create_secret("prefect-plain", API_KEY)

        with pytest.raises(CredentialError, match="is not JSON") as raised:
            read_credential(arn)

        assert API_KEY not in str(raised.value)

    def test_unreachable_secrets_manager_raises_credential_error(
        self, aws_environment: str, monkeypatch: pytest.MonkeyPatch, refused_port: int
    ) -> None:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{refused_port}")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
        arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prefect-AbCdEf"

        with pytest.raises(CredentialError, match="could not read"):
            read_credential(arn)
