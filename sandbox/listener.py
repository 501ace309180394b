"""The sandbox's side of the moto hooks: records calls, models reboots and health.

It is called from moto's request threads, so everything here is thread-safe.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sandbox import route53_status
from sandbox.faults import ApiCall, Fault
from sandbox.instance import InstanceRuntime
from sandbox.moto_hooks import RebootRefused


class SandboxListener:
    def __init__(self, account_id: str, route53_latency_seconds: float) -> None:
        self.account_id = account_id
        self.route53_latency_seconds = route53_latency_seconds
        self._lock = threading.Lock()
        self._calls: list[ApiCall] = []
        self._runtimes: dict[str, InstanceRuntime] = {}
        self._by_health_check: dict[str, InstanceRuntime] = {}

    def add(self, runtime: InstanceRuntime) -> None:
        with self._lock:
            self._runtimes[runtime.instance_id] = runtime
            if runtime.health_check_id is not None:
                self._by_health_check[runtime.health_check_id] = runtime

    def runtime(self, instance_id: str) -> InstanceRuntime:
        with self._lock:
            runtime = self._runtimes.get(instance_id)
        if runtime is None:
            raise KeyError(
                f"{instance_id} is not an instance of this sandbox; "
                "add it with Sandbox.add_instance() first"
            )
        return runtime

    def runtimes(self) -> list[InstanceRuntime]:
        with self._lock:
            return list(self._runtimes.values())

    @property
    def calls(self) -> list[ApiCall]:
        with self._lock:
            return list(self._calls)

    def record_call(self, call: ApiCall) -> None:
        with self._lock:
            self._calls.append(call)

    def before_reboot(self, instance_ids: list[str]) -> None:
        for runtime in self._known(instance_ids):
            if Fault.REBOOT_FAILS in runtime.faults:
                raise RebootRefused("UnauthorizedOperation", self._denial(runtime))
            if runtime.state != "running":
                raise RebootRefused(
                    "IncorrectInstanceState",
                    f"The instance '{runtime.instance_id}' is not in a state from "
                    "which it can be rebooted.",
                )

    def after_reboot(self, instance_ids: list[str]) -> None:
        for runtime in self._known(instance_ids):
            runtime.begin_boot(record_reboot=True)

    def after_start(self, instance_ids: list[str]) -> None:
        for runtime in self._known(instance_ids):
            if runtime.state == "stopped":
                runtime.begin_boot(record_reboot=False)

    def after_stop(self, instance_ids: list[str]) -> None:
        for runtime in self._known(instance_ids):
            runtime.halt("stopped")

    def after_terminate(self, instance_ids: list[str]) -> None:
        for runtime in self._known(instance_ids):
            runtime.halt("terminated")

    def is_initializing(self, instance_id: str) -> bool:
        with self._lock:
            runtime = self._runtimes.get(instance_id)
        return runtime is not None and runtime.booting

    def health_check_observations(
        self, health_check_id: str
    ) -> list[dict[str, Any]] | None:
        with self._lock:
            runtime = self._by_health_check.get(health_check_id)
        if runtime is None:
            return None
        if self.route53_latency_seconds > 0:
            time.sleep(self.route53_latency_seconds)
        return route53_status.observations(runtime.http.mode, runtime.faults)

    def _denial(self, runtime: InstanceRuntime) -> str:
        """The message IAM gives when a policy lacks ec2:RebootInstances."""
        resource = (
            f"arn:aws:ec2:{runtime.region}:{self.account_id}:"
            f"instance/{runtime.instance_id}"
        )
        return (
            "You are not authorized to perform this operation. User: "
            f"arn:aws:iam::{self.account_id}:user/firstline is not authorized to "
            f"perform: ec2:RebootInstances on resource: {resource} because no "
            "identity-based policy allows the ec2:RebootInstances action"
        )

    def _known(self, instance_ids: list[str]) -> list[InstanceRuntime]:
        with self._lock:
            return [
                self._runtimes[instance_id]
                for instance_id in instance_ids
                if instance_id in self._runtimes
            ]
