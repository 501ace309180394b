from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
import requests

from sandbox import ApiCall, Fault, Sandbox
from tests.sandbox.aws_clients import AwsClients
from tests.sandbox.helpers import (
    ClientKey,
    port_refuses,
    remote_host_key,
    run_command,
)

pytestmark = pytest.mark.timeout(60)

SUBPROCESS_TIMEOUT_SECONDS = 60


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command_line = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text.encode() in command_line and state != "Z":
            found.append(int(entry.name))
    return found


class TestSandboxInstances:
    def test_instance_is_a_running_moto_instance_with_its_name_and_tags(
        self, sandbox: Sandbox, aws: AwsClients
    ) -> None:
        instance = sandbox.add_instance(
            "eu-west-1", "web-1", tags={"firstline:managed": "true"}
        )

        described = aws("ec2", "eu-west-1").describe_instances(
            Filters=[{"Name": "tag:firstline:managed", "Values": ["true"]}]
        )["Reservations"]

        (found,) = [
            ec2_instance
            for reservation in described
            for ec2_instance in reservation["Instances"]
            if ec2_instance["InstanceId"] == instance.instance_id
        ]
        tags = {tag["Key"]: tag["Value"] for tag in found["Tags"]}
        assert tags == {"Name": "web-1", "firstline:managed": "true"}
        assert found["State"]["Name"] == "running"
        assert found["Placement"]["AvailabilityZone"].startswith("eu-west-1")
        (vpc,) = aws("ec2", "eu-west-1").describe_vpcs(VpcIds=[found["VpcId"]])["Vpcs"]
        assert vpc["IsDefault"]

    def test_instances_live_in_their_own_region_only(
        self, sandbox: Sandbox, aws: AwsClients
    ) -> None:
        east = sandbox.add_instance("us-east-1", "web-east")
        west = sandbox.add_instance("eu-west-1", "web-west")

        def ids_in(region: str) -> set[str]:
            reservations = aws("ec2", region).describe_instances()["Reservations"]
            return {i["InstanceId"] for r in reservations for i in r["Instances"]}

        assert east.instance_id in ids_in("us-east-1") - ids_in("eu-west-1")
        assert west.instance_id in ids_in("eu-west-1") - ids_in("us-east-1")

    def test_endpoints_answer_on_loopback_with_the_reported_host_key(
        self, sandbox: Sandbox
    ) -> None:
        instance = sandbox.add_instance("us-east-1", "web-endpoints")

        response = requests.get(instance.url, timeout=2)

        assert "firstline-sandbox ok" in response.text
        assert remote_host_key(instance.ssh_port) == instance.ssh_host_public_key
        assert instance.ssh_host_key_fingerprint.startswith("SHA256:")
        assert instance.ssh_known_hosts_line.startswith("[127.0.0.1]:")

    def test_authorized_client_key_logs_in_to_every_instance(
        self, sandbox: Sandbox, client_key: ClientKey
    ) -> None:
        instance = sandbox.add_instance("eu-west-1", "web-login")

        output = run_command(
            instance.ssh_port, client_key.private, "uptime", getpass.getuser()
        )

        assert output == b"firstline-sandbox ok\n"

    def test_instance_without_health_check_has_none(self, sandbox: Sandbox) -> None:
        instance = sandbox.add_instance("us-east-1", "web-plain", health_check=False)

        assert instance.health_check_id is None

    def test_faults_can_be_changed_at_run_time(self, sandbox: Sandbox) -> None:
        instance = sandbox.add_instance("us-east-1", "web-flip")

        sandbox.set_faults(instance.instance_id, {Fault.HTTP_500, Fault.SSH_REFUSED})

        assert requests.get(instance.url, timeout=2).status_code == 500
        assert port_refuses(instance.ssh_port)
        assert sandbox.faults(instance.instance_id) == {
            Fault.HTTP_500,
            Fault.SSH_REFUSED,
        }

    def test_http_latency_can_be_set_per_instance(self, sandbox: Sandbox) -> None:
        instance = sandbox.add_instance(
            "us-east-1", "web-slow", health_check=False, http_latency_seconds=0.2
        )
        started = time.monotonic()

        requests.get(instance.url, timeout=2)

        assert time.monotonic() - started >= 0.2

    def test_unknown_region_and_unknown_instance_are_rejected(
        self, sandbox: Sandbox
    ) -> None:
        with pytest.raises(ValueError, match="ap-south-1"):
            sandbox.add_instance("ap-south-1", "web-nowhere")
        with pytest.raises(KeyError, match="i-0000"):
            sandbox.faults("i-0000")


class TestSandboxClients:
    def test_aws_env_points_a_plain_boto3_client_at_the_sandbox(
        self, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        instance = sandbox.add_instance("eu-west-1", "web-env")
        for key, value in sandbox.aws_env("eu-west-1").items():
            monkeypatch.setenv(key, value)

        ec2 = boto3.session.Session().client("ec2")
        try:
            reservations = ec2.describe_instances(InstanceIds=[instance.instance_id])
        finally:
            ec2.close()

        assert reservations["Reservations"][0]["Instances"][0]["InstanceId"] == (
            instance.instance_id
        )

    def test_calls_from_another_process_reach_moto_and_are_recorded(
        self, sandbox: Sandbox
    ) -> None:
        instance = sandbox.add_instance("eu-west-1", "web-subprocess")
        script = (
            "import boto3, json; ec2 = boto3.client('ec2'); "
            "print(json.dumps(ec2.describe_instance_status("
            f"InstanceIds=['{instance.instance_id}'])['InstanceStatuses']))"
        )

        result = subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, **sandbox.aws_env("eu-west-1")},
            capture_output=True,
            text=True,
            timeout=SUBPROCESS_TIMEOUT_SECONDS,
            check=True,
        )

        (status,) = json.loads(result.stdout)
        assert status["InstanceStatus"]["Status"] == "ok"
        assert sandbox.api_calls[-1] == ApiCall(
            "ec2", "DescribeInstanceStatus", "eu-west-1"
        )

    def test_concurrent_calls_from_many_threads_are_all_answered_and_recorded(
        self, sandbox: Sandbox, aws: AwsClients
    ) -> None:
        instance = sandbox.add_instance("us-east-1", "web-busy")
        ec2, route53 = aws("ec2"), aws("route53")  # boto3 clients are thread-safe
        already = len(sandbox.api_calls)

        def check(_: int) -> str:
            ec2.describe_instance_status(InstanceIds=[instance.instance_id])
            observations = route53.get_health_check_status(
                HealthCheckId=instance.health_check_id
            )["HealthCheckObservations"]
            status: str = observations[0]["StatusReport"]["Status"]
            return status

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(check, range(24)))

        assert {status[:8] for status in statuses} == {"Success:"}
        assert len(sandbox.api_calls) - already == 48


class TestSandboxLifecycle:
    def test_exit_stops_every_server_process_thread_and_directory(self) -> None:
        threads_before = set(threading.enumerate())
        with Sandbox(time_scale=0.005) as sandbox:
            instance = sandbox.add_instance("us-east-1", "web-short-lived")
            hung = sandbox.add_instance("us-east-1", "web-hung", faults={Fault.HUNG})
            workdir = sandbox.workdir
            sshd_running = processes_mentioning(str(workdir))
            # A boot still pending and a request still hanging when the block ends.
            sandbox.client("ec2").reboot_instances(InstanceIds=[instance.instance_id])
            with pytest.raises(requests.Timeout):
                requests.get(hung.url, timeout=(1, 0.1))
            moto_port = int(sandbox.endpoint_url.rsplit(":", 1)[1])

        assert len(sshd_running) == 1, "the healthy instance's sshd ran"
        assert processes_mentioning(str(workdir)) == []
        assert not workdir.exists()
        for port in (moto_port, instance.http_port, hung.http_port, hung.ssh_port):
            assert port_refuses(port)
        leftovers = [
            thread.name
            for thread in set(threading.enumerate()) - threads_before
            if thread.name.startswith("sandbox-")
        ]
        assert leftovers == []

    def test_two_sandboxes_do_not_see_each_other(self) -> None:
        with Sandbox() as first, Sandbox() as second:
            mine = first.add_instance("us-east-1", "web-first", health_check=False)

            theirs = second.client("ec2").describe_instances()["Reservations"]
            checks = second.client("route53").list_health_checks()["HealthChecks"]

            assert first.account_id != second.account_id
            assert theirs == []
            assert checks == []
            assert mine.instance_id in {i.instance_id for i in first.instances}

    def test_a_sandbox_refuses_to_start_under_a_fixed_moto_account(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("MOTO_ACCOUNT_ID", "123456789012")

        with pytest.raises(RuntimeError, match="unset MOTO_ACCOUNT_ID"):
            Sandbox().start()

    def test_a_stopped_sandbox_cannot_be_started_again(self) -> None:
        sandbox = Sandbox()
        sandbox.stop()

        with pytest.raises(RuntimeError, match="create a new Sandbox"):
            sandbox.start()

    def test_a_sandbox_needs_a_region_and_a_positive_time_scale(self) -> None:
        with pytest.raises(ValueError, match="at least one region"):
            Sandbox(regions=())
        with pytest.raises(ValueError, match="time_scale"):
            Sandbox(time_scale=0)
