from __future__ import annotations

import pytest

from infra.relay.config import RelayConfig, RetryPolicy, split_deployment
from infra.relay.errors import ConfigurationError

SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:210987654321:secret:prefect-AbCdEf"


class TestRelayConfigFromEnvironment:
    def test_api_url_alone_posts_without_credentials(self) -> None:
        config = RelayConfig.from_environment(
            {"PREFECT_API_URL": "http://127.0.0.1:4200/api/"}
        )

        assert config.events_url == "http://127.0.0.1:4200/api/events"
        assert config.secret_arn is None
        assert config.retry == RetryPolicy()
        assert config.deployment is None
        assert config.delivery == "event"

    def test_empty_secret_arn_means_no_secret(self) -> None:
        config = RelayConfig.from_environment(
            {
                "PREFECT_API_URL": "http://127.0.0.1:4200/api",
                "FIRSTLINE_PREFECT_SECRET_ARN": " ",
            }
        )

        assert config.secret_arn is None

    def test_reads_secret_arn_and_retry_settings(self) -> None:
        config = RelayConfig.from_environment(
            {
                "PREFECT_API_URL": "https://api.prefect.cloud/api/accounts/a/workspaces/w",
                "FIRSTLINE_PREFECT_SECRET_ARN": SECRET_ARN,
                "FIRSTLINE_RELAY_MAX_ATTEMPTS": "5",
                "FIRSTLINE_RELAY_TIMEOUT_SECONDS": "2.5",
                "FIRSTLINE_RELAY_BACKOFF_SECONDS": "0.25",
            }
        )

        assert config.secret_arn == SECRET_ARN
        assert config.retry == RetryPolicy(
            max_attempts=5, timeout_seconds=2.5, backoff_seconds=0.25
        )

    def test_missing_api_url_names_the_variable(self) -> None:
        with pytest.raises(ConfigurationError, match="PREFECT_API_URL is not set"):
            RelayConfig.from_environment({})

    @pytest.mark.parametrize(
        ("name", "value", "expected"),
        [
            ("FIRSTLINE_RELAY_MAX_ATTEMPTS", "three", "expected a number"),
            ("FIRSTLINE_RELAY_MAX_ATTEMPTS", "2.5", "expected a whole number"),
            ("FIRSTLINE_RELAY_MAX_ATTEMPTS", "0", "use 1 to 10"),
            ("FIRSTLINE_RELAY_TIMEOUT_SECONDS", "nan", "expected a finite number"),
            ("FIRSTLINE_RELAY_TIMEOUT_SECONDS", "300", "use 0.1 to 30 seconds"),
            (
                "FIRSTLINE_RELAY_BACKOFF_SECONDS",
                "-1",
                "FIRSTLINE_RELAY_BACKOFF_SECONDS",
            ),
        ],
    )
    def test_bad_retry_setting_names_the_variable(
        self, name: str, value: str, expected: str
    ) -> None:
        environ = {"PREFECT_API_URL": "http://127.0.0.1:4200/api", name: value}

        with pytest.raises(ConfigurationError, match=expected) as raised:
            RelayConfig.from_environment(environ)

        assert name in str(raised.value)


class TestDeploymentSetting:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("remediate-instance/on-alarm", "remediate-instance/on-alarm"),
            ("  remediate-instance/on-alarm\n", "remediate-instance/on-alarm"),
            ("réparer_l'instance/à-l.alarme#2", "réparer_l'instance/à-l.alarme#2"),
        ],
    )
    def test_deployment_makes_the_relay_create_flow_runs(
        self, value: str, expected: str
    ) -> None:
        config = RelayConfig.from_environment(
            {
                "PREFECT_API_URL": "http://127.0.0.1:4200/api",
                "FIRSTLINE_PREFECT_DEPLOYMENT": value,
            }
        )

        assert config.deployment == expected
        assert config.delivery == "flow-run"
        assert split_deployment(expected) == tuple(expected.split("/"))

    def test_empty_deployment_keeps_the_relay_posting_events(self) -> None:
        config = RelayConfig.from_environment(
            {
                "PREFECT_API_URL": "http://127.0.0.1:4200/api",
                "FIRSTLINE_PREFECT_DEPLOYMENT": " \t",
            }
        )

        assert config.deployment is None
        assert config.delivery == "event"

    @pytest.mark.parametrize(
        ("value", "problem"),
        [
            ("remediate-instance", "it has 0 '/'; it needs exactly one"),
            ("remediate-instance/on-alarm/x", "it has 2 '/'; it needs exactly one"),
            ("/on-alarm", "the flow name or the deployment name is empty"),
            ("remediate-instance/", "the flow name or the deployment name is empty"),
            ("remediate instance/on-alarm", "whitespace or control characters"),
            ("remediate-instance/on-alarm\x00", "whitespace or control characters"),
            ("remediate-instance/on\u200balarm", "whitespace or control characters"),
            ("remediate-instance/on-alarm%2F", "cannot contain any of %&<>"),
            ("remediate-instance/" + "x" * 300, "longer than 255 characters"),
        ],
    )
    def test_bad_deployment_names_the_variable_the_value_and_an_example(
        self, value: str, problem: str
    ) -> None:
        environ = {
            "PREFECT_API_URL": "http://127.0.0.1:4200/api",
            "FIRSTLINE_PREFECT_DEPLOYMENT": value,
        }

        with pytest.raises(ConfigurationError) as raised:
            RelayConfig.from_environment(environ)

        message = str(raised.value)
        assert message.startswith(
            f"FIRSTLINE_PREFECT_DEPLOYMENT is {value.strip()[:200]!r}: "
        )
        assert problem in message
        assert "such as 'remediate-instance/on-alarm'" in message
        assert len(message) < 400

    def test_bad_deployment_is_refused_when_given_in_code_too(self) -> None:
        with pytest.raises(ConfigurationError, match="FIRSTLINE_PREFECT_DEPLOYMENT"):
            RelayConfig(prefect_api_url="http://127.0.0.1:4200/api", deployment="")


class TestRelayConfig:
    @pytest.mark.parametrize(
        "url",
        [
            "127.0.0.1:4200/api",
            "ftp://host/api",
            "http:///api",
            "http://[::1/api",
            "http://host:99999/api",
        ],
    )
    def test_url_that_is_not_http_is_refused(self, url: str) -> None:
        with pytest.raises(ConfigurationError, match="expected an http"):
            RelayConfig(prefect_api_url=url)

    def test_url_holding_a_password_is_refused_without_echoing_it(self) -> None:
        with pytest.raises(ConfigurationError) as raised:
            RelayConfig(prefect_api_url="https://admin:hunter2@prefect.example/api")

        assert "hunter2" not in str(raised.value)
        assert "FIRSTLINE_PREFECT_SECRET_ARN" in str(raised.value)

    def test_url_with_a_query_is_refused(self) -> None:
        with pytest.raises(ConfigurationError, match="query"):
            RelayConfig(prefect_api_url="https://prefect.example/api?x=1")

    def test_credential_is_not_sent_in_clear_text_beyond_loopback(self) -> None:
        with pytest.raises(ConfigurationError, match="only over https"):
            RelayConfig(
                prefect_api_url="http://10.0.0.5:4200/api", secret_arn=SECRET_ARN
            )

    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1:4200/api",
            "http://localhost:4200/api",
            "http://[::1]:4200/api",
            "https://10.0.0.5/api",
        ],
    )
    def test_credential_may_go_to_loopback_or_over_https(self, url: str) -> None:
        assert RelayConfig(prefect_api_url=url, secret_arn=SECRET_ARN).secret_arn

    @pytest.mark.parametrize(
        "arn",
        [
            "prefect-secret",
            "arn:aws:secretsmanager:eu-west-1:210987654321:parameter:prefect",
            "arn:aws-cn:secretsmanager:eu-west-1:210987654321:secret:prefect",
            "arn:aws:secretsmanager:eu-west-1:2109876543:secret:prefect",
        ],
    )
    def test_secret_arn_must_be_a_secrets_manager_arn(self, arn: str) -> None:
        with pytest.raises(ConfigurationError, match="FIRSTLINE_PREFECT_SECRET_ARN"):
            RelayConfig(prefect_api_url="https://prefect.example/api", secret_arn=arn)


class TestRetryPolicy:
    def test_delays_double_from_the_backoff_up_to_the_cap(self) -> None:
        policy = RetryPolicy(
            max_attempts=6,
            timeout_seconds=5,
            backoff_seconds=0.5,
            max_backoff_seconds=2,
        )

        delays = [policy.delay_before_seconds(attempt) for attempt in range(1, 7)]

        assert delays == [0.0, 0.5, 1.0, 2.0, 2.0, 2.0]

    def test_defaults_finish_well_inside_the_worst_case_allowed(self) -> None:
        assert RetryPolicy().worst_case_seconds == 3 * 10.0 + 0.5 + 1.0

    def test_policy_that_could_outlast_a_minute_is_refused(self) -> None:
        with pytest.raises(ConfigurationError, match="more than 60 s"):
            RetryPolicy(max_attempts=10, timeout_seconds=10)
