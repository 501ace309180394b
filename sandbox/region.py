"""A local AWS region on 127.0.0.1: moto plus a web server and an SSH port for
every instance, with faults to inject and reboots that take time.

::

    with Sandbox(regions=("us-east-1", "eu-west-1"), time_scale=0.01) as sb:
        inst = sb.add_instance(region="eu-west-1", name="web-1", faults={Fault.HUNG})
        ec2 = boto3.client("ec2", region_name="eu-west-1",
                           endpoint_url=sb.endpoint_url)
        ec2.reboot_instances(InstanceIds=[inst.instance_id])  # 0.6 s boot

Everything the sandbox starts is stopped by :meth:`Sandbox.stop` (or leaving the
``with`` block): servers, sshd processes, timers, and its temporary directory.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from sandbox import moto_hooks
from sandbox.faults import AfterReboot, ApiCall, Fault, RebootRecord
from sandbox.instance import InstanceRuntime, SandboxInstance
from sandbox.listener import SandboxListener
from sandbox.moto_server import SandboxMotoServer
from sandbox.provision import create_health_check, run_instance

# moto accepts any credentials; these are shaped so that no secret scanner
# mistakes them for real AWS keys.
DUMMY_ACCESS_KEY_ID = "firstline-sandbox"
DUMMY_SECRET_ACCESS_KEY = "firstline-sandbox"


# boto3 sessions are not thread-safe, and building one per sandbox would parse the
# service models again each time; every sandbox builds its clients from this one.
_session_lock = threading.Lock()
_session: boto3.session.Session | None = None


def _shared_session() -> boto3.session.Session:
    global _session
    if _session is None:
        _session = boto3.session.Session()
    return _session


class Sandbox:
    """A moto server for one fresh AWS account, in one or more regions.

    ``time_scale`` multiplies every sandbox duration: a 180 s boot with
    ``time_scale=0.01`` lasts 1.8 real seconds. ``route53_latency_seconds`` delays
    each GetHealthCheckStatus answer; ``http_latency_seconds`` each web answer.
    ``ssh_authorized_keys`` (public key lines) lets clients log in to every
    instance's SSH daemon. ``use_openssh`` None uses Debian's sshd when it can run
    (root, installed) and paramiko otherwise; False forces paramiko.
    """

    def __init__(
        self,
        regions: Iterable[str] = ("us-east-1",),
        *,
        time_scale: float = 1.0,
        route53_latency_seconds: float = 0.0,
        http_latency_seconds: float = 0.0,
        ssh_authorized_keys: str | None = None,
        use_openssh: bool | None = None,
    ) -> None:
        self.regions = tuple(regions)
        if not self.regions:
            raise ValueError("Sandbox needs at least one region, e.g. ('us-east-1',)")
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, got {time_scale}")
        self.time_scale = time_scale
        self.http_latency_seconds = http_latency_seconds
        self.ssh_authorized_keys = ssh_authorized_keys
        self.use_openssh = use_openssh
        self.account_id = f"{random.randrange(10**11, 10**12):012d}"
        self._listener = SandboxListener(self.account_id, route53_latency_seconds)
        self._server: SandboxMotoServer | None = None
        self._workdir: Path | None = None
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.RLock()
        self._stopped = False

    @property
    def route53_latency_seconds(self) -> float:
        return self._listener.route53_latency_seconds

    @route53_latency_seconds.setter
    def route53_latency_seconds(self, seconds: float) -> None:
        self._listener.route53_latency_seconds = seconds

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return self._server.endpoint_url

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return self._workdir

    @property
    def api_calls(self) -> list[ApiCall]:
        """Every API call that reached moto from a client other than the sandbox
        itself, in arrival order (a copy)."""
        return self._listener.calls

    @property
    def instances(self) -> list[SandboxInstance]:
        return [runtime.describe() for runtime in self._listener.runtimes()]

    def aws_env(self, region: str | None = None) -> dict[str, str]:
        """Environment variables that point boto3 and the AWS CLI at the sandbox."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": region or self.regions[0],
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def start(self) -> Sandbox:
        with self._lock:
            if self._server is not None:
                return self
            if self._stopped:
                raise RuntimeError(
                    "this Sandbox was stopped and its account dropped; "
                    "create a new Sandbox instead of restarting it"
                )
            if "MOTO_ACCOUNT_ID" in os.environ:
                # moto would put every request in that account, out of the
                # sandbox's reach: faults and reboots would silently not apply.
                raise RuntimeError(
                    "MOTO_ACCOUNT_ID is set; the sandbox needs an AWS account of "
                    "its own: unset MOTO_ACCOUNT_ID before starting a Sandbox"
                )
            self._workdir = Path(tempfile.mkdtemp(prefix="firstline-sandbox-"))
            moto_hooks.register(self.account_id, self._listener)
            self._server = SandboxMotoServer(self.account_id)
            try:
                self._server.start()
                for region in self.regions:
                    # Creates moto's backend for the region (default VPC, AMIs)
                    # now rather than inside the first call under test.
                    self.client("ec2", region).describe_vpcs()
            except BaseException:
                self.stop()
                raise
        return self

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            for runtime in self._listener.runtimes():
                runtime.close()
            if self._server is not None:
                self._server.stop()
                self._server = None
            for client in self._clients.values():
                client.close()
            self._clients.clear()
            moto_hooks.unregister(self.account_id)
            if self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)
                self._workdir = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def add_instance(
        self,
        region: str,
        name: str,
        *,
        faults: Iterable[Fault] = (),
        boot_seconds: float = 60.0,
        after_reboot: AfterReboot = AfterReboot.HEALTHY,
        health_check: bool = True,
        tags: Mapping[str, str] | None = None,
        http_latency_seconds: float | None = None,
    ) -> SandboxInstance:
        """Launch an EC2 instance in moto and start its web server and SSH port.

        ``boot_seconds`` is the boot time before ``time_scale`` applies.
        ``http_latency_seconds`` overrides the sandbox's for this instance.
        """
        if region not in self.regions:
            raise ValueError(f"region {region!r} is not one of {self.regions}")
        runtime = InstanceRuntime(
            name=name,
            region=region,
            workdir=self.workdir / f"{name}-{uuid.uuid4().hex[:8]}",
            faults=set(faults),
            boot_seconds=boot_seconds,
            after_reboot=after_reboot,
            time_scale=self.time_scale,
            http_latency_seconds=(
                self.http_latency_seconds
                if http_latency_seconds is None
                else http_latency_seconds
            ),
            ssh_authorized_keys=self.ssh_authorized_keys,
            use_openssh=self.use_openssh,
        )
        try:
            runtime.start()
            runtime.instance_id = run_instance(
                self.client("ec2", region), name, dict(tags or {})
            )
            if health_check:
                runtime.health_check_id = create_health_check(
                    self.client("route53"), name, runtime.instance_id, runtime.http.port
                )
        except BaseException:
            runtime.close()
            raise
        self._listener.add(runtime)
        return runtime.describe()

    def instance(self, instance_id: str) -> SandboxInstance:
        return self._listener.runtime(instance_id).describe()

    def faults(self, instance_id: str) -> frozenset[Fault]:
        return self._listener.runtime(instance_id).faults

    def set_faults(self, instance_id: str, faults: Iterable[Fault]) -> None:
        """Replace the instance's faults. During a boot they take effect when it
        ends, and AfterReboot.HEALTHY clears them then."""
        self._listener.runtime(instance_id).set_faults(set(faults))

    def set_after_reboot(self, instance_id: str, after_reboot: AfterReboot) -> None:
        self._listener.runtime(instance_id).after_reboot = after_reboot

    def reboots(self, instance_id: str) -> list[RebootRecord]:
        return self._listener.runtime(instance_id).reboots

    def is_booting(self, instance_id: str) -> bool:
        return self._listener.runtime(instance_id).booting

    def wait_until_booted(self, instance_id: str, timeout_seconds: float) -> None:
        """Block until the instance's current boot (if any) has ended."""
        if not self._listener.runtime(instance_id).wait_until_booted(timeout_seconds):
            raise TimeoutError(
                f"{instance_id} was still booting after {timeout_seconds} s"
            )

    def finish_boot(self, instance_id: str) -> None:
        """End the instance's current boot now (no effect when not booting), so a
        test can hold an instance in its boot as long as it likes."""
        self._listener.runtime(instance_id).finish_boot()

    def stop_instance(self, instance_id: str) -> None:
        """StopInstances through the EC2 API (not counted in api_calls)."""
        runtime = self._listener.runtime(instance_id)
        self.client("ec2", runtime.region).stop_instances(InstanceIds=[instance_id])

    def terminate_instance(self, instance_id: str) -> None:
        runtime = self._listener.runtime(instance_id)
        self.client("ec2", runtime.region).terminate_instances(
            InstanceIds=[instance_id]
        )

    def client(self, service: str, region: str | None = None) -> Any:
        """A boto3 client for the sandbox, whose calls stay out of api_calls."""
        key = (service, region or self.regions[0])
        with self._lock, _session_lock:
            if key not in self._clients:
                self._clients[key] = _shared_session().client(
                    service,
                    region_name=key[1],
                    endpoint_url=self.endpoint_url,
                    aws_access_key_id=DUMMY_ACCESS_KEY_ID,
                    aws_secret_access_key=DUMMY_SECRET_ACCESS_KEY,
                    config=Config(
                        user_agent_extra=moto_hooks.INTERNAL_USER_AGENT_MARK,
                        retries={"max_attempts": 1},
                    ),
                )
            return self._clients[key]
