"""EC2 tasks: describe an instance, read its console, reboot it, wait for it.

Every AWS error that stops a task becomes ``AwsCallError``, naming the call, the
instance, the AWS error code and what to do. Polling after a reboot treats a
failed poll as a blip and tries again at the next poll, unless the error says
that no later poll can succeed (permissions, a malformed or missing instance).
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from prefect import task
from prefect.cache_policies import NO_CACHE

from firstline.errors import AwsCallError
from firstline.logs import get_logger
from firstline.models import InstanceInfo, Readiness
from tasks.aws import aws_client

_NOT_FOUND_CODES = frozenset({"InvalidInstanceID.NotFound"})
_PERMANENT_CODES = frozenset(
    {
        "AccessDenied",
        "AuthFailure",
        "InvalidInstanceID.Malformed",
        "InvalidInstanceID.NotFound",
        "UnauthorizedOperation",
    }
)
_REMEDIES = {
    "UnauthorizedOperation": "Allow ec2:{action} on the instance for firstline's role.",
    "AccessDenied": "Allow ec2:{action} on the instance for firstline's role.",
    "AuthFailure": "Check the AWS credentials firstline runs with.",
    "InvalidInstanceID.NotFound": (
        "The instance no longer exists in this region; remove it from the fleet "
        "file or fix its region."
    ),
    "InvalidInstanceID.Malformed": "Fix the instance id in the fleet file.",
    "IncorrectState": "The instance is not running; look at it in the EC2 console.",
}
_DEFAULT_REMEDY = "Retry later; if it persists, act on the instance in the EC2 console."


def _error_code(exc: ClientError) -> str:
    code: str = exc.response.get("Error", {}).get("Code", "Unknown")
    return code


def _call_error(
    action: str, region: str, instance_id: str, exc: ClientError | BotoCoreError
) -> AwsCallError:
    """An AwsCallError for ``action`` on the instance, saying what to do next."""
    if isinstance(exc, ClientError):
        code = _error_code(exc)
        message = exc.response.get("Error", {}).get("Message", "")
        remedy = _REMEDIES.get(code, _DEFAULT_REMEDY).format(action=action)
        return AwsCallError(
            f"Failed to call {action} for {instance_id} in {region}: {code} "
            f"({message}). {remedy}"
        )
    return AwsCallError(
        f"Failed to reach EC2 in {region} to call {action} for {instance_id}: {exc}. "
        "Check the network path to EC2 (or AWS_ENDPOINT_URL) and the credentials."
    )


@task(
    name="describe-instance",
    task_run_name="describe-instance-{instance_id}",
    cache_policy=NO_CACHE,
)
def describe_instance(
    region: str, instance_id: str, credentials_block: str | None = None
) -> InstanceInfo | None:
    """The instance as EC2 sees it, or None when EC2 does not know it."""
    client = aws_client("ec2", region, credentials_block)
    try:
        response = client.describe_instances(InstanceIds=[instance_id])
    except ClientError as exc:
        if _error_code(exc) in _NOT_FOUND_CODES:
            return None
        raise _call_error("DescribeInstances", region, instance_id, exc) from exc
    except BotoCoreError as exc:
        raise _call_error("DescribeInstances", region, instance_id, exc) from exc

    instances = [
        instance
        for reservation in response.get("Reservations", [])
        for instance in reservation.get("Instances", [])
        if instance.get("InstanceId") == instance_id
    ]
    if not instances:
        return None
    instance: dict[str, Any] = instances[0]
    return InstanceInfo(
        instance_id=instance_id,
        region=region,
        state=instance.get("State", {}).get("Name", "unknown"),
        public_ip=instance.get("PublicIpAddress"),
        private_ip=instance.get("PrivateIpAddress"),
        tags={tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])},
    )


@task(
    name="get-console-output-tail",
    task_run_name="get-console-output-tail-{instance_id}",
    cache_policy=NO_CACHE,
)
def get_console_output_tail(
    region: str, instance_id: str, lines: int, credentials_block: str | None = None
) -> str:
    """The last ``lines`` lines of the instance's console, or "" if it has none."""
    if lines <= 0:
        return ""
    client = aws_client("ec2", region, credentials_block)
    try:
        try:
            response = client.get_console_output(InstanceId=instance_id, Latest=True)
        except ClientError as exc:
            # Only Nitro instances serve the latest output; the others refuse
            # Latest=True and serve what they buffered at the last boot.
            if _error_code(exc) in _PERMANENT_CODES:
                raise
            response = client.get_console_output(InstanceId=instance_id)
    except (ClientError, BotoCoreError) as exc:
        raise _call_error("GetConsoleOutput", region, instance_id, exc) from exc

    # botocore has already decoded the base64 that EC2 sends.
    text: str = response.get("Output") or ""
    return "\n".join(text.splitlines()[-lines:])


@task(
    name="reboot-instance",
    task_run_name="reboot-instance-{instance_id}",
    cache_policy=NO_CACHE,
)
def reboot_instance(
    region: str, instance_id: str, credentials_block: str | None = None
) -> None:
    """Ask EC2 to reboot the instance; EC2 does so asynchronously."""
    client = aws_client("ec2", region, credentials_block)
    try:
        client.reboot_instances(InstanceIds=[instance_id])
    except (ClientError, BotoCoreError) as exc:
        raise _call_error("RebootInstances", region, instance_id, exc) from exc


@task(
    name="wait-until-ready",
    task_run_name="wait-until-ready-{instance_id}",
    cache_policy=NO_CACHE,
)
def wait_until_ready(
    region: str,
    instance_id: str,
    *,
    timeout_seconds: float,
    poll_interval_seconds: float,
    credentials_block: str | None = None,
) -> Readiness:
    """Poll until the instance runs with both status checks ``ok``, or time runs out.

    EC2 reboots asynchronously: a poll made right after ``reboot_instance`` can
    still see the instance as it was before the reboot, running and ``ok``. The
    checks that follow the wait are what tell whether the instance recovered.
    """
    client = aws_client("ec2", region, credentials_block)
    logger = get_logger()
    start = time.monotonic()
    deadline = start + timeout_seconds
    state = instance_status = system_status = "unknown"
    polls = 0

    while True:
        polls += 1
        try:
            state, instance_status, system_status = _poll_status(client, instance_id)
        except ClientError as exc:
            if _error_code(exc) in _PERMANENT_CODES:
                raise _call_error(
                    "DescribeInstanceStatus", region, instance_id, exc
                ) from exc
            logger.debug("Poll %d of %s failed, retrying: %s", polls, instance_id, exc)
        except BotoCoreError as exc:
            logger.debug("Poll %d of %s failed, retrying: %s", polls, instance_id, exc)

        ready = state == "running" and instance_status == system_status == "ok"
        remaining = deadline - time.monotonic()
        if ready or remaining <= 0:
            return Readiness(
                ready=ready,
                state=state,
                instance_status=instance_status,
                system_status=system_status,
                waited_seconds=time.monotonic() - start,
                polls=polls,
            )
        time.sleep(min(poll_interval_seconds, remaining))


def _poll_status(client: Any, instance_id: str) -> tuple[str, str, str]:
    """The instance's state and its instance and system status checks."""
    response = client.describe_instance_status(
        InstanceIds=[instance_id], IncludeAllInstances=True
    )
    for status in response.get("InstanceStatuses", []):
        if status.get("InstanceId") == instance_id:
            return (
                status.get("InstanceState", {}).get("Name", "unknown"),
                status.get("InstanceStatus", {}).get("Status", "unknown"),
                status.get("SystemStatus", {}).get("Status", "unknown"),
            )
    return "unknown", "unknown", "unknown"
