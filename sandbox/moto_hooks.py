"""Hooks into moto's in-process backends that let a sandbox shape its answers.

moto's classes are patched once per process while at least one sandbox is
registered, and restored when the last one leaves. A patched method looks up the
sandbox by the AWS account of the request (each sandbox has its own); requests
for any other account, such as a test's ``mock_aws``, get moto's own behaviour.

Hooked: every API call (recorded), RebootInstances (may be refused, starts a modelled
boot), StopInstances / StartInstances / TerminateInstances, the instance and
system status of DescribeInstanceStatus, and Route 53 GetHealthCheckStatus.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from moto.core.base_backend import BackendDict, backend_lock
from moto.core.responses import ActionResult, BaseResponse
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.instances import Instance, InstanceBackend
from moto.route53.responses import Route53

from sandbox.faults import ApiCall

INTERNAL_USER_AGENT_MARK = "firstline-sandbox-internal"
_RUNNING_STATE_CODE = 16


class RebootRefused(Exception):
    """Raised by a listener to make RebootInstances answer an EC2 error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class MotoListener(Protocol):
    def record_call(self, call: ApiCall) -> None: ...
    def before_reboot(self, instance_ids: list[str]) -> None: ...
    def after_reboot(self, instance_ids: list[str]) -> None: ...
    def after_start(self, instance_ids: list[str]) -> None: ...
    def after_stop(self, instance_ids: list[str]) -> None: ...
    def after_terminate(self, instance_ids: list[str]) -> None: ...
    def is_initializing(self, instance_id: str) -> bool: ...
    def health_check_observations(
        self, health_check_id: str
    ) -> list[dict[str, Any]] | None: ...


_lock = threading.Lock()
_listeners: dict[str, MotoListener] = {}
_originals: dict[tuple[type, str], Any] = {}


def register(account_id: str, listener: MotoListener) -> None:
    with _lock:
        if not _listeners:
            _install()
        _listeners[account_id] = listener


def unregister(account_id: str) -> None:
    """Forget the account's listener and drop everything moto holds for it."""
    with _lock:
        _listeners.pop(account_id, None)
        if not _listeners:
            _uninstall()
    with backend_lock:
        for backend_dict in list(BackendDict._instances):  # type: ignore[misc]
            backend_dict.pop(account_id, None)


def _listener_for(account_id: str | None) -> MotoListener | None:
    return _listeners.get(account_id) if account_id else None


def _install() -> None:
    _patch(BaseResponse, "call_action", _wrap_call_action)
    _patch(InstanceBackend, "reboot_instances", _wrap_reboot_instances)
    _patch(InstanceBackend, "start_instances", _notify_after("after_start"))
    _patch(InstanceBackend, "stop_instances", _notify_after("after_stop"))
    _patch(InstanceBackend, "terminate_instances", _notify_after("after_terminate"))
    _patch(Instance, "instance_status", _wrap_status)
    _patch(Instance, "system_status", _wrap_status)
    _patch(Route53, "get_health_check_status", _wrap_health_check_status)


def _uninstall() -> None:
    for (owner, name), original in _originals.items():
        setattr(owner, name, original)
    _originals.clear()


def _patch(owner: type, name: str, wrap: Callable[[Any], Any]) -> None:
    original = owner.__dict__[name]
    _originals[(owner, name)] = original
    setattr(owner, name, wrap(original))


def _wrap_call_action(original: Callable[..., Any]) -> Callable[..., Any]:
    def call_action(self: BaseResponse) -> Any:
        listener = _listener_for(getattr(self, "current_account", None))
        user_agent = self.headers.get("User-Agent", "")
        if listener is not None and INTERNAL_USER_AGENT_MARK not in user_agent:
            action = self._get_action() or ""
            listener.record_call(ApiCall(self.service_name or "", action, self.region))
        return original(self)

    return call_action


def _wrap_reboot_instances(original: Callable[..., Any]) -> Callable[..., Any]:
    def reboot_instances(self: InstanceBackend, instance_ids: list[str]) -> Any:
        listener = _listener_for(self.account_id)  # type: ignore[attr-defined]
        if listener is None:
            return original(self, instance_ids)
        try:
            listener.before_reboot(list(instance_ids))
        except RebootRefused as refusal:
            raise EC2ClientError(refusal.code, refusal.message) from refusal
        rebooted = original(self, instance_ids)
        listener.after_reboot([instance.id for instance in rebooted])
        return rebooted

    return reboot_instances


def _notify_after(
    event: str,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        def change_state(self: InstanceBackend, instance_ids: list[str]) -> Any:
            changed = original(self, instance_ids)
            listener = _listener_for(self.account_id)  # type: ignore[attr-defined]
            if listener is not None:
                getattr(listener, event)([instance.id for instance, _ in changed])
            return changed

        return change_state

    return wrap


def _wrap_status(original: property) -> property:
    def status(instance: Instance) -> dict[str, Any]:
        listener = _listener_for(instance.owner_id)
        if (
            listener is not None
            and instance.state_code == _RUNNING_STATE_CODE
            and listener.is_initializing(instance.id)
        ):
            return {
                "Status": "initializing",
                "Details": [{"Name": "reachability", "Status": "initializing"}],
            }
        assert original.fget is not None
        result: dict[str, Any] = original.fget(instance)
        return result

    return property(status)


def _wrap_health_check_status(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_health_check_status(self: Route53) -> Any:
        listener = _listener_for(self.current_account)
        if listener is None:
            return original(self)
        health_check_id = self._get_param("HealthCheckId")
        self.backend.get_health_check(health_check_id)  # NoSuchHealthCheck if absent
        observations = listener.health_check_observations(health_check_id)
        if observations is None:
            return original(self)
        return ActionResult({"HealthCheckObservations": observations})

    return get_health_check_status
