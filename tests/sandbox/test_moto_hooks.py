"""The sandbox's moto hooks, seen as firstline sees them: through boto3 over HTTP."""

from __future__ import annotations

import time

import pytest
import requests
from botocore.exceptions import ClientError

from sandbox import AfterReboot, ApiCall, Fault, Sandbox, SandboxInstance
from tests.sandbox.aws_clients import AwsClients
from tests.sandbox.helpers import port_refuses, remote_host_key

pytestmark = pytest.mark.timeout(60)

HTTP_TIMEOUT_SECONDS = 1.0
BOOT_SECONDS = 60.0  # 0.3 real seconds at the fixture's time_scale
HELD_BOOT_SECONDS = 6000.0  # 30 real seconds: the test ends it with finish_boot()


def http_outcome(instance: SandboxInstance) -> str:
    try:
        response = requests.get(instance.url, timeout=HTTP_TIMEOUT_SECONDS)
    except requests.ConnectionError:
        return "refused"
    except requests.Timeout:
        return "timeout"
    return str(response.status_code)


def instance_status(aws: AwsClients, instance: SandboxInstance) -> tuple[str, str]:
    statuses = aws("ec2", instance.region).describe_instance_status(
        InstanceIds=[instance.instance_id]
    )["InstanceStatuses"]
    status = statuses[0]
    return status["InstanceStatus"]["Status"], status["SystemStatus"]["Status"]


def instance_state(aws: AwsClients, instance: SandboxInstance) -> str:
    reservations = aws("ec2", instance.region).describe_instances(
        InstanceIds=[instance.instance_id]
    )["Reservations"]
    state: str = reservations[0]["Instances"][0]["State"]["Name"]
    return state


def route53_statuses(aws: AwsClients, instance: SandboxInstance) -> set[str]:
    observations = aws("route53").get_health_check_status(
        HealthCheckId=instance.health_check_id
    )["HealthCheckObservations"]
    return {observation["StatusReport"]["Status"] for observation in observations}


def reboot(aws: AwsClients, instance: SandboxInstance) -> None:
    aws("ec2", instance.region).reboot_instances(InstanceIds=[instance.instance_id])


class TestReboot:
    @pytest.mark.parametrize(
        ("after_reboot", "http_after"),
        [(AfterReboot.HEALTHY, "200"), (AfterReboot.BROKEN, "500")],
    )
    def test_reboot_takes_the_endpoints_down_then_back_per_after_reboot(
        self,
        sandbox: Sandbox,
        aws: AwsClients,
        after_reboot: AfterReboot,
        http_after: str,
    ) -> None:
        instance = sandbox.add_instance(
            "eu-west-1",
            "web-reboot",
            faults={Fault.HTTP_500},
            boot_seconds=HELD_BOOT_SECONDS,
            after_reboot=after_reboot,
        )
        assert http_outcome(instance) == "500"

        reboot(aws, instance)
        assert http_outcome(instance) == "refused"
        assert port_refuses(instance.ssh_port)
        sandbox.finish_boot(instance.instance_id)

        assert http_outcome(instance) == http_after
        assert remote_host_key(instance.ssh_port) == instance.ssh_host_public_key
        expected_faults = (
            {Fault.HTTP_500} if after_reboot is AfterReboot.BROKEN else set()
        )
        assert sandbox.faults(instance.instance_id) == expected_faults

    def test_boot_lasts_boot_seconds_times_time_scale(
        self, sandbox: Sandbox, aws: AwsClients
    ) -> None:
        instance = sandbox.add_instance(
            "us-east-1", "web-timed", faults={Fault.HUNG}, boot_seconds=BOOT_SECONDS
        )
        real_boot_seconds = BOOT_SECONDS * sandbox.time_scale

        reboot(aws, instance)
        requested = sandbox.reboots(instance.instance_id)[0].requested_monotonic
        deadline = requested + real_boot_seconds + 3.0
        while http_outcome(instance) != "200" and time.monotonic() < deadline:
            time.sleep(0.02)
        elapsed = time.monotonic() - requested

        assert real_boot_seconds <= elapsed < real_boot_seconds + 1.5

    def test_instance_status_is_initializing_while_booting_and_state_stays_running(
        self, sandbox: Sandbox, aws: AwsClients
    ) -> None:
        instance = sandbox.add_instance(
            "eu-west-1", "web-status", boot_seconds=HELD_BOOT_SECONDS
        )
        assert instance_status(aws, instance) == ("ok", "ok")

        reboot(aws, instance)
        during = instance_status(aws, instance), instance_state(aws, instance)
        sandbox.finish_boot(instance.instance_id)

        assert during == (("initializing", "initializing"), "running")
        assert instance_status(aws, instance) == ("ok", "ok")

    def test_each_reboot_is_recorded_with_its_real_boot_time(
        self, sandbox: Sandbox, aws: AwsClients
    ) -> None:
        instance = sandbox.add_instance(
            "us-east-1", "web-records", after_reboot=AfterReboot.BROKEN
        )
        before = time.monotonic()

        reboot(aws, instance)
        reboot(aws, instance)

        records = sandbox.reboots(instance.instance_id)
        assert [record.instance_id for record in records] == [instance.instance_id] * 2
        assert (
            before <= records[0].requested_monotonic <= records[1].requested_monotonic
        )
        assert records[0].boot_seconds == pytest.approx(60 * sandbox.time_scale)
        assert records[0].after_reboot is AfterReboot.BROKEN
        assert records[0].requested_at.tzinfo is not None

    def test_reboot_fails_fault_makes_the_api_call_fail_and_nothing_reboots(
        self, sandbox: Sandbox, aws: AwsClients
    ) -> None:
        instance = sandbox.add_instance(
            "eu-west-1", "web-denied", faults={Fault.REBOOT_FAILS, Fault.HTTP_500}
        )

        with pytest.raises(ClientError) as raised:
            reboot(aws, instance)

        error = raised.value.response["Error"]
        assert error["Code"] == "UnauthorizedOperation"
        assert f"instance/{instance.instance_id}" in error["Message"]
        assert sandbox.reboots(instance.instance_id) == []
        assert http_outcome(instance) == "500"

    def test_rebooting_a_stopped_instance_is_an_incorrect_state(
        self, sandbox: Sandbox, aws: AwsClients
    ) -> None:
        instance = sandbox.add_instance("us-east-1", "web-stopped")
        sandbox.stop_instance(instance.instance_id)

        with pytest.raises(ClientError) as raised:
            reboot(aws, instance)

        assert raised.value.response["Error"]["Code"] == "IncorrectInstanceState"
        assert instance_state(aws, instance) == "stopped"


class TestStopAndTerminate:
    def test_stop_through_the_api_takes_the_endpoints_down(
        self, sandbox: Sandbox, aws: AwsClients
    ) -> None:
        instance = sandbox.add_instance("eu-west-1", "web-stop")

        aws("ec2", "eu-west-1").stop_instances(InstanceIds=[instance.instance_id])

        assert http_outcome(instance) == "refused"
        assert port_refuses(instance.ssh_port)
        assert instance_state(aws, instance) == "stopped"

    def test_start_after_stop_boots_the_instance_back(
        self, sandbox: Sandbox, aws: AwsClients
    ) -> None:
        instance = sandbox.add_instance(
            "eu-west-1", "web-start", boot_seconds=HELD_BOOT_SECONDS
        )
        sandbox.stop_instance(instance.instance_id)

        aws("ec2", "eu-west-1").start_instances(InstanceIds=[instance.instance_id])
        assert http_outcome(instance) == "refused"
        assert instance_status(aws, instance) == ("initializing", "initializing")
        sandbox.finish_boot(instance.instance_id)

        assert http_outcome(instance) == "200"
        assert instance_status(aws, instance) == ("ok", "ok")

    def test_terminate_takes_the_endpoints_down_for_good(
        self, sandbox: Sandbox, aws: AwsClients
    ) -> None:
        instance = sandbox.add_instance("us-east-1", "web-gone")

        sandbox.terminate_instance(instance.instance_id)

        assert http_outcome(instance) == "refused"
        assert port_refuses(instance.ssh_port)
        assert instance_state(aws, instance) == "terminated"

    def test_stop_during_a_boot_keeps_the_instance_down(
        self, sandbox: Sandbox, aws: AwsClients
    ) -> None:
        instance = sandbox.add_instance(
            "us-east-1", "web-stop-mid-boot", boot_seconds=BOOT_SECONDS
        )
        reboot(aws, instance)

        sandbox.stop_instance(instance.instance_id)
        # Past the moment the abandoned boot would have ended: nothing may revive.
        time.sleep(BOOT_SECONDS * sandbox.time_scale + 0.1)

        assert http_outcome(instance) == "refused"
        assert not sandbox.is_booting(instance.instance_id)


class TestRoute53HealthCheck:
    def test_healthy_instance_reports_success_from_every_checker(
        self, sandbox: Sandbox, aws: AwsClients
    ) -> None:
        instance = sandbox.add_instance("us-east-1", "web-r53-ok")

        observations = aws("route53").get_health_check_status(
            HealthCheckId=instance.health_check_id
        )["HealthCheckObservations"]

        assert len(observations) == 8
        assert {o["StatusReport"]["Status"][:8] for o in observations} == {"Success:"}
        assert all(o["StatusReport"]["CheckedTime"] for o in observations)

    def test_route53_failure_fault_reports_failure_while_the_web_server_is_fine(
        self, sandbox: Sandbox, aws: AwsClients
    ) -> None:
        instance = sandbox.add_instance(
            "us-east-1", "web-r53-fail", faults={Fault.ROUTE53_FAILURE}
        )

        statuses = route53_statuses(aws, instance)

        assert http_outcome(instance) == "200"
        assert statuses == {
            "Failure: HTTP Status Code 500, Internal Server Error. "
            "Resolved IP: 127.0.0.1"
        }

    @pytest.mark.parametrize(
        ("faults", "reason"),
        [({Fault.HUNG}, "Connection timed out"), ({Fault.HTTP_500}, "Code 500")],
    )
    def test_health_check_follows_the_web_server(
        self, sandbox: Sandbox, aws: AwsClients, faults: set[Fault], reason: str
    ) -> None:
        instance = sandbox.add_instance("eu-west-1", "web-r53-follow", faults=faults)

        (status,) = route53_statuses(aws, instance)

        assert status.startswith("Failure:")
        assert reason in status

    def test_health_check_fails_while_booting_and_recovers(
        self, sandbox: Sandbox, aws: AwsClients
    ) -> None:
        instance = sandbox.add_instance(
            "eu-west-1", "web-r53-boot", boot_seconds=HELD_BOOT_SECONDS
        )

        reboot(aws, instance)
        (during,) = route53_statuses(aws, instance)
        sandbox.finish_boot(instance.instance_id)
        (after,) = route53_statuses(aws, instance)

        assert during.startswith("Failure: Connection refused")
        assert after.startswith("Success:")

    def test_health_check_is_a_real_moto_http_check_on_the_instance_port(
        self, sandbox: Sandbox, aws: AwsClients
    ) -> None:
        instance = sandbox.add_instance("us-east-1", "web-r53-config")

        config = aws("route53").get_health_check(
            HealthCheckId=instance.health_check_id
        )["HealthCheck"]["HealthCheckConfig"]

        assert (config["Type"], config["IPAddress"], config["Port"]) == (
            "HTTP",
            "127.0.0.1",
            instance.http_port,
        )

    def test_latency_delays_each_status_answer(
        self, sandbox: Sandbox, aws: AwsClients
    ) -> None:
        instance = sandbox.add_instance("us-east-1", "web-r53-slow")
        route53_statuses(aws, instance)  # the client's first call costs extra
        sandbox.route53_latency_seconds = 0.3
        try:
            started = time.monotonic()
            route53_statuses(aws, instance)
            elapsed = time.monotonic() - started
        finally:
            sandbox.route53_latency_seconds = 0.0

        assert elapsed >= 0.3


class TestApiCalls:
    def test_client_calls_are_recorded_with_service_action_and_region(
        self, sandbox: Sandbox, aws: AwsClients
    ) -> None:
        instance = sandbox.add_instance("eu-west-1", "web-calls")
        already = len(sandbox.api_calls)

        aws("ec2", "eu-west-1").describe_instances(InstanceIds=[instance.instance_id])
        reboot(aws, instance)
        aws("route53").get_health_check_status(HealthCheckId=instance.health_check_id)
        identity = aws("sts").get_caller_identity()
        aws("cloudwatch", "eu-west-1").describe_alarms()
        aws("secretsmanager", "eu-west-1").list_secrets()

        assert sandbox.api_calls[already:] == [
            ApiCall("ec2", "DescribeInstances", "eu-west-1"),
            ApiCall("ec2", "RebootInstances", "eu-west-1"),
            ApiCall("route53", "GetHealthCheckStatus", "us-east-1"),
            ApiCall("sts", "GetCallerIdentity", "us-east-1"),
            ApiCall("cloudwatch", "DescribeAlarms", "eu-west-1"),
            ApiCall("secretsmanager", "ListSecrets", "eu-west-1"),
        ]
        assert identity["Account"] == sandbox.account_id

    def test_read_only_calls_are_told_apart_from_mutating_ones(self) -> None:
        assert not ApiCall("ec2", "DescribeInstanceStatus", "us-east-1").is_mutating
        assert not ApiCall("route53", "GetHealthCheckStatus", "us-east-1").is_mutating
        assert ApiCall("ec2", "RebootInstances", "us-east-1").is_mutating
        assert ApiCall("ec2", "StopInstances", "us-east-1").is_mutating

    def test_the_sandbox_own_calls_are_not_recorded(self, sandbox: Sandbox) -> None:
        already = len(sandbox.api_calls)

        instance = sandbox.add_instance("us-east-1", "web-quiet")
        sandbox.stop_instance(instance.instance_id)

        assert sandbox.api_calls[already:] == []

    def test_a_refused_reboot_is_still_recorded(
        self, sandbox: Sandbox, aws: AwsClients
    ) -> None:
        instance = sandbox.add_instance(
            "us-east-1", "web-refused", faults={Fault.REBOOT_FAILS}
        )

        with pytest.raises(ClientError):
            reboot(aws, instance)

        assert sandbox.api_calls[-1] == ApiCall("ec2", "RebootInstances", "us-east-1")
