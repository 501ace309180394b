"""The CDK context the app accepts, and what it refuses with which message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from firstline.errors import ConfigError
from infra.config import EXAMPLE_FLEET, InfraConfig

URL = "https://api.prefect.cloud/api/accounts/a1/workspaces/w1"
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:prefect-AbCdEf"


def config_from(environ: dict[str, str] | None = None, **context: Any) -> InfraConfig:
    context.setdefault("prefect_api_url", URL)
    return InfraConfig.from_context(context.get, environ or {})


class TestDefaults:
    def test_only_the_prefect_api_url_is_required(self) -> None:
        config = config_from()

        assert config == InfraConfig(fleet_path=EXAMPLE_FLEET, prefect_api_url=URL)
        assert config.account is None
        assert config.secret_arn_for("eu-west-1") is None
        assert config.relay_max_event_age_seconds == 3600
        assert config.log_retention_days == 30
        assert config.workers_region == "us-east-1"
        assert config.worker_role is False
        assert config.prefect_deployment == "remediate-instance/on-alarm"

    def test_missing_prefect_api_url_says_how_to_give_it(self) -> None:
        with pytest.raises(ConfigError, match="-c prefect_api_url=https://"):
            InfraConfig.from_context(lambda key: None, {})


class TestFleetPath:
    def test_context_wins_over_the_environment(self) -> None:
        config = config_from({"FIRSTLINE_FLEET_FILE": "env.yaml"}, fleet="ctx.yaml")

        assert config.fleet_path == Path("ctx.yaml")

    def test_environment_wins_over_the_example(self) -> None:
        config = config_from({"FIRSTLINE_FLEET_FILE": "env.yaml"})

        assert config.fleet_path == Path("env.yaml")


class TestAccount:
    def test_context_account_wins_over_the_cli_default(self) -> None:
        config = config_from(
            {"CDK_DEFAULT_ACCOUNT": "222222222222"}, account="111111111111"
        )

        assert config.account == "111111111111"

    def test_cli_default_account_is_used_when_no_context_names_one(self) -> None:
        config = config_from({"CDK_DEFAULT_ACCOUNT": "222222222222"})

        assert config.account == "222222222222"

    def test_account_must_have_twelve_digits(self) -> None:
        with pytest.raises(ConfigError, match="'account' '12345' is not a 12-digit"):
            config_from(account="12345")


class TestPrefectApiUrl:
    def test_trailing_slash_is_dropped(self) -> None:
        assert config_from(prefect_api_url=URL + "/").prefect_api_url == URL

    @pytest.mark.parametrize(
        "url", ["http://prefect.internal/api", "ftp://prefect.internal/api", "/api"]
    )
    def test_url_must_be_https(self, url: str) -> None:
        with pytest.raises(ConfigError, match="is not an https:// URL"):
            config_from(prefect_api_url=url)

    def test_url_carrying_a_password_is_refused_without_echoing_it(self) -> None:
        with pytest.raises(ConfigError, match="user name or password") as raised:
            config_from(prefect_api_url="https://admin:hunter2@prefect.example.com/api")

        assert "hunter2" not in str(raised.value)

    def test_url_with_a_query_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="query or fragment"):
            config_from(prefect_api_url=URL + "?key=value")


class TestPrefectSecret:
    def test_one_arn_serves_every_region(self) -> None:
        config = config_from(prefect_secret_arn=SECRET_ARN)

        assert config.secret_arn_for("eu-west-1") == SECRET_ARN
        assert config.secret_arn_for("us-east-1") == SECRET_ARN

    def test_regions_without_an_arn_get_a_created_secret(self) -> None:
        config = config_from(prefect_secret_arn={"eu-west-1": SECRET_ARN})

        assert config.secret_arn_for("eu-west-1") == SECRET_ARN
        assert config.secret_arn_for("us-east-1") is None

    @pytest.mark.parametrize(
        "arn",
        [
            "prefect-api-key",
            "arn:aws:secretsmanager:eu-west-1:111111111111:secret:prefect",
            "arn:aws:ssm:eu-west-1:111111111111:parameter/prefect-AbCdEf",
        ],
    )
    def test_only_complete_secret_arns_are_accepted(self, arn: str) -> None:
        with pytest.raises(ConfigError, match="complete ARN of a Secrets Manager"):
            config_from(prefect_secret_arn=arn)

    def test_mapping_keys_must_be_regions(self) -> None:
        with pytest.raises(ConfigError, match="'prefect_secret_arn.eu-west-9'"):
            config_from(prefect_secret_arn={"eu-west-9": SECRET_ARN})


class TestPrefectDeployment:
    def test_context_names_another_deployment(self) -> None:
        config = config_from(prefect_deployment=" remediate-instance/on-alarm-eu ")

        assert config.prefect_deployment == "remediate-instance/on-alarm-eu"

    def test_empty_value_makes_the_relay_post_events(self) -> None:
        assert config_from(prefect_deployment="").prefect_deployment is None

    @pytest.mark.parametrize(
        "value", ["on-alarm", "remediate instance/on-alarm", "a/b/c", "/on-alarm"]
    )
    def test_malformed_name_is_refused_naming_the_context_key(self, value: str) -> None:
        with pytest.raises(ConfigError) as raised:
            config_from(prefect_deployment=value)

        assert str(raised.value).startswith(
            f"context 'prefect_deployment' is {value!r}"
        )
        assert "such as 'remediate-instance/on-alarm'" in str(raised.value)

    def test_value_that_is_not_a_string_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="must be a string"):
            config_from(prefect_deployment=["remediate-instance/on-alarm"])


class TestNumbersAndFlags:
    def test_cli_strings_are_read_as_numbers_and_flags(self) -> None:
        config = config_from(
            relay_max_event_age_seconds="600",
            log_retention_days="7",
            worker_role="true",
        )

        assert config.relay_max_event_age_seconds == 600
        assert config.log_retention_days == 7
        assert config.worker_role is True

    def test_event_age_beyond_lambdas_bounds_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="between 60 and 21600"):
            config_from(relay_max_event_age_seconds=30)

    def test_retention_not_offered_by_cloudwatch_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="one of 1, 3, 5, 7, 14, 30"):
            config_from(log_retention_days=10)

    def test_flag_that_is_not_a_boolean_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="'worker_role' 'sometimes'"):
            config_from(worker_role="sometimes")

    def test_worker_role_service_must_be_a_service_principal(self) -> None:
        with pytest.raises(ConfigError, match="not a service principal"):
            config_from(worker_role_service="arn:aws:iam::111111111111:root")

    def test_workers_region_must_be_known(self) -> None:
        with pytest.raises(ConfigError, match="'workers_region' 'moon-1'"):
            config_from(workers_region="moon-1")


class TestFleetAccounts:
    def test_accounts_come_as_a_list_or_a_comma_separated_string(self) -> None:
        from_list = config_from(
            account="111111111111", fleet_accounts=["222222222222", "333333333333"]
        )
        from_text = config_from(
            account="111111111111", fleet_accounts="222222222222, 333333333333"
        )

        assert from_list.fleet_accounts == ("222222222222", "333333333333")
        assert from_text.fleet_accounts == from_list.fleet_accounts

    def test_worker_account_itself_gets_no_access_role(self) -> None:
        config = config_from(
            worker_account="111111111111",
            fleet_accounts="111111111111,222222222222,222222222222",
        )

        assert config.worker_account == "111111111111"
        assert config.fleet_accounts == ("222222222222",)

    def test_other_accounts_need_to_know_whom_to_trust(self) -> None:
        with pytest.raises(ConfigError, match="set context 'worker_account'"):
            config_from(fleet_accounts="222222222222")

    def test_malformed_account_in_the_list_is_named(self) -> None:
        with pytest.raises(ConfigError, match="'fleet_accounts' '2222'"):
            config_from(account="111111111111", fleet_accounts="2222")
