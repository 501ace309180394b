"""One sandbox instance: its web and SSH endpoints, its faults and its boots.

The endpoints follow from three things: the EC2 state (running, stopped,
terminated), whether a boot is under way, and the fault set. While an instance is
not running or is booting, both endpoints are down (connection refused).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from sandbox.faults import AfterReboot, Fault, RebootRecord
from sandbox.httpd import HttpMode, InstanceHttpServer
from sandbox.ssh_endpoint import InstanceSshEndpoint, SshMode

Ec2State = Literal["running", "stopped", "terminated"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SandboxInstance:
    """What a test needs to reach one sandbox instance."""

    instance_id: str
    region: str
    name: str
    http_port: int
    ssh_port: int
    health_check_id: str | None
    """The Route 53 health check watching the web server; None without one."""
    ssh_host_key_fingerprint: str
    """``SHA256:...`` as ``ssh-keygen -lf`` prints it."""
    ssh_host_public_key: str
    """``ssh-ed25519 AAAA...``, for pinning the host key."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/"

    @property
    def ssh_known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.ssh_port} {self.ssh_host_public_key}"


def http_mode_for(state: Ec2State, booting: bool, faults: set[Fault]) -> HttpMode:
    if state != "running" or booting:
        return "down"
    if Fault.HUNG in faults:
        return "hung"
    if Fault.HTTP_500 in faults:
        return "error"
    return "ok"


def ssh_mode_for(state: Ec2State, booting: bool, faults: set[Fault]) -> SshMode:
    if state != "running" or booting:
        return "down"
    if Fault.HUNG in faults:
        return "silent"
    if Fault.SSH_REFUSED in faults:
        return "refused"
    if Fault.SSH_BANNER_SILENCE in faults:
        return "banner"
    return "ok"


class InstanceRuntime:
    """The moving parts behind a :class:`SandboxInstance`. Thread-safe."""

    def __init__(
        self,
        *,
        name: str,
        region: str,
        workdir: Path,
        faults: set[Fault],
        boot_seconds: float,
        after_reboot: AfterReboot,
        time_scale: float,
        http_latency_seconds: float,
        ssh_authorized_keys: str | None,
        use_openssh: bool | None,
    ) -> None:
        self.name = name
        self.region = region
        self.boot_seconds = boot_seconds
        self.after_reboot = after_reboot
        self.time_scale = time_scale
        self.instance_id = ""
        self.health_check_id: str | None = None
        self.http = InstanceHttpServer(name, latency_seconds=http_latency_seconds)
        self.ssh = InstanceSshEndpoint(
            workdir, authorized_keys=ssh_authorized_keys, use_openssh=use_openssh
        )
        self._reboots: list[RebootRecord] = []
        self._faults = set(faults)
        self._state: Ec2State = "running"
        self._booting = False
        self._boot_generation = 0
        self._timers: list[threading.Timer] = []
        self._closed = False
        self._changed = threading.Condition(threading.RLock())

    def start(self) -> None:
        with self._changed:
            self.http.start()
            self.ssh.start()
            self._apply()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            timers, self._timers = self._timers, []
            self._changed.notify_all()
        for timer in timers:
            timer.cancel()
            timer.join()
        self.http.stop()
        self.ssh.stop()

    def describe(self) -> SandboxInstance:
        return SandboxInstance(
            instance_id=self.instance_id,
            region=self.region,
            name=self.name,
            http_port=self.http.port,
            ssh_port=self.ssh.port,
            health_check_id=self.health_check_id,
            ssh_host_key_fingerprint=self.ssh.host_key_fingerprint,
            ssh_host_public_key=self.ssh.host_public_key_line,
        )

    @property
    def faults(self) -> frozenset[Fault]:
        with self._changed:
            return frozenset(self._faults)

    @property
    def reboots(self) -> list[RebootRecord]:
        with self._changed:
            return list(self._reboots)

    @property
    def state(self) -> Ec2State:
        return self._state

    @property
    def booting(self) -> bool:
        return self._booting

    def set_faults(self, faults: set[Fault]) -> None:
        with self._changed:
            self._faults = set(faults)
            self._apply()

    def begin_boot(self, record_reboot: bool) -> None:
        """The instance is rebooting (or starting): endpoints down until booted."""
        real_seconds = self.boot_seconds * self.time_scale
        with self._changed:
            if self._closed:
                return
            if record_reboot:
                self._reboots.append(
                    RebootRecord(
                        instance_id=self.instance_id,
                        requested_monotonic=time.monotonic(),
                        requested_at=datetime.now(UTC),
                        boot_seconds=real_seconds,
                        after_reboot=self.after_reboot,
                    )
                )
            self._state = "running"
            self._booting = True
            self._boot_generation += 1
            logger.debug(
                "sandbox instance %s booting for %.2f s", self.instance_id, real_seconds
            )
            self._apply()
            self._schedule_boot_end(real_seconds, self._boot_generation)

    def halt(self, state: Ec2State) -> None:
        """The instance was stopped or terminated: endpoints down, boot abandoned."""
        with self._changed:
            self._state = state
            self._booting = False
            self._boot_generation += 1
            self._apply()
            self._changed.notify_all()

    def finish_boot(self) -> None:
        """End the current boot now, as if its time had run out."""
        with self._changed:
            if self._booting:
                self._end_boot(self._boot_generation)

    def wait_until_booted(self, timeout_seconds: float) -> bool:
        with self._changed:
            return self._changed.wait_for(
                lambda: not self._booting or self._closed, timeout_seconds
            )

    def _schedule_boot_end(self, real_seconds: float, generation: int) -> None:
        # Called with the lock held. An earlier boot's timer is outdated by the
        # generation number; cancelling it only saves it waking up.
        for earlier in self._timers:
            earlier.cancel()
        self._timers = [timer for timer in self._timers if timer.is_alive()]
        timer = threading.Timer(real_seconds, self._end_boot, args=(generation,))
        timer.name = f"sandbox-boot-{self.instance_id}"
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _end_boot(self, generation: int) -> None:
        with self._changed:
            if self._closed or generation != self._boot_generation:
                return
            self._booting = False
            if self.after_reboot is AfterReboot.HEALTHY:
                self._faults.clear()
            logger.debug(
                "sandbox instance %s booted, faults %s",
                self.instance_id,
                sorted(fault.value for fault in self._faults),
            )
            try:
                self._apply()
            except (OSError, RuntimeError):
                # Runs on a timer thread: nobody could catch this, so say it.
                logger.exception(
                    "sandbox instance %s could not bring its endpoints back up",
                    self.instance_id,
                )
            self._changed.notify_all()

    def _apply(self) -> None:
        if self._closed:
            return
        self.http.mode = http_mode_for(self._state, self._booting, self._faults)
        self.ssh.set_mode(ssh_mode_for(self._state, self._booting, self._faults))
