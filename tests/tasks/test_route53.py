"""The Route 53 check against the sandbox's moto server."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from firstline.errors import CheckError
from firstline.models import CheckName, CheckStatus, InstanceInfo
from firstline.settings import Route53CheckSettings
from sandbox import Fault, Sandbox, SandboxInstance
from tasks.route53 import fails_under_policy, run_route53_check

SUCCESS = "Success: HTTP Status Code 200, OK. Resolved IP: 192.0.2.1"
FAILURE = (
    "Failure: Connection timed out. The endpoint or the internet connection is down."
)


def info_for(instance: SandboxInstance) -> InstanceInfo:
    return InstanceInfo(
        instance_id=instance.instance_id,
        region=instance.region,
        state="running",
        public_ip=None,
        private_ip="127.0.0.1",
        tags={"Name": instance.name},
    )


class TestRunRoute53Check:
    def test_route53_check_passes_when_every_checker_reports_success(
        self, aws_env: Sandbox
    ) -> None:
        instance = aws_env.add_instance(region="eu-west-1", name="r53-ok")
        settings = Route53CheckSettings(health_check_id=instance.health_check_id)

        result = run_route53_check(info_for(instance), settings)

        assert result.status is CheckStatus.PASSED
        assert result.check is CheckName.ROUTE53
        assert result.target == f"route53 {instance.health_check_id}"
        assert result.detail == "0 of 8 checkers report failure (policy any)"
        assert result.evidence["checkers"] == "8"

    def test_route53_check_fails_when_the_checkers_report_failure(
        self, aws_env: Sandbox
    ) -> None:
        instance = aws_env.add_instance(
            region="eu-west-1", name="r53-bad", faults={Fault.ROUTE53_FAILURE}
        )
        settings = Route53CheckSettings(health_check_id=instance.health_check_id)

        result = run_route53_check(info_for(instance), settings)

        assert result.status is CheckStatus.FAILED
        assert result.detail.startswith(
            "8 of 8 checkers report failure (policy any): Failure: HTTP Status Code 500"
        )
        assert result.evidence["failing_checkers"] == "8"

    def test_route53_check_under_majority_fails_when_all_checkers_fail(
        self, aws_env: Sandbox
    ) -> None:
        instance = aws_env.add_instance(
            region="eu-west-1", name="r53-web-500", faults={Fault.HTTP_500}
        )
        settings = Route53CheckSettings(
            health_check_id=instance.health_check_id, policy="majority"
        )

        result = run_route53_check(info_for(instance), settings)

        assert result.status is CheckStatus.FAILED
        assert "(policy majority)" in result.detail

    def test_route53_check_is_skipped_without_a_health_check(self) -> None:
        instance = InstanceInfo(
            "i-0123456789abcdef0", "eu-west-1", "running", None, None, {}
        )

        result = run_route53_check(instance, Route53CheckSettings())

        assert result.status is CheckStatus.SKIPPED
        assert result.detail == "no Route 53 health check is set"

    def test_route53_check_is_skipped_when_disabled(self) -> None:
        instance = InstanceInfo(
            "i-0123456789abcdef0", "eu-west-1", "running", None, None, {}
        )
        settings = Route53CheckSettings(
            enabled=False, health_check_id="4a1f3c5e-0000-4000-8000-000000000000"
        )

        result = run_route53_check(instance, settings)

        assert result.status is CheckStatus.SKIPPED
        assert result.detail == "the Route 53 check is disabled"

    def test_route53_check_raises_for_a_health_check_that_does_not_exist(
        self, aws_env: Sandbox
    ) -> None:
        instance = aws_env.add_instance(
            region="eu-west-1", name="r53-missing", health_check=False
        )
        missing_id = "4a1f3c5e-0000-4000-8000-000000000000"
        settings = Route53CheckSettings(health_check_id=missing_id)

        with pytest.raises(CheckError) as raised:
            run_route53_check(info_for(instance), settings)

        message = str(raised.value)
        assert missing_id in message
        assert "NoSuchHealthCheck" in message
        assert "Fix checks.route53.health_check_id" in message
        assert isinstance(raised.value.__cause__, ClientError)


class TestFailsUnderPolicy:
    @pytest.mark.parametrize(
        ("failing", "policy", "fails"),
        [
            (0, "any", False),
            (1, "any", True),
            (3, "majority", False),
            (4, "majority", False),
            (5, "majority", True),
            (8, "majority", True),
        ],
    )
    def test_policy_decides_how_many_failing_checkers_fail_the_check(
        self, failing: int, policy: str, fails: bool
    ) -> None:
        statuses = [FAILURE] * failing + [SUCCESS] * (8 - failing)

        assert fails_under_policy(statuses, policy) is fails  # type: ignore[arg-type]
