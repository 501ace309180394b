"""The SSH check: is the instance's SSH server alive enough to exchange keys?

By default the check opens a TCP connection, reads the server's banner and runs
the key exchange, then hangs up: no user name, no credentials, no agent and no
local key is ever offered to the target. The host key's SHA256 fingerprint, as
``ssh-keygen -l`` prints it, goes into the result.

With ``settings.auth``, the check logs in with a private key read from a secret
and runs one command; the server's host key must be one of the pinned keys and is
never added on first sight. A refused key or a non-zero exit status fails the
check.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import socket
import threading
import time
from dataclasses import dataclass, field

import paramiko
from paramiko.pkey import UnknownKeyType
from prefect import task
from prefect.cache_policies import NO_CACHE

from firstline.errors import CheckError, SecretError
from firstline.models import CheckName, CheckResult, CheckStatus, InstanceInfo
from firstline.settings import SshAuthSettings, SshCheckSettings
from tasks._checks import CheckClock, instance_host
from tasks.secrets import read_secret

OUTPUT_LIMIT_BYTES = 64 * 1024
_BACKSTOP_SECONDS = 1.0
DETAIL_OUTPUT_CHARS = 120
_PRIVATE_KEY_CLASSES: tuple[type[paramiko.PKey], ...] = (
    paramiko.Ed25519Key,
    paramiko.ECDSAKey,
    paramiko.RSAKey,
)


@dataclass(frozen=True)
class _Outcome:
    status: CheckStatus
    detail: str
    evidence: dict[str, str] = field(default_factory=dict)


class _UnpinnedHostKeyError(paramiko.SSHException):
    """The server's host key is of a type none of the pinned keys has."""

    def __init__(self, key: paramiko.PKey) -> None:
        super().__init__(f"host key {host_key_fingerprint(key)} is not pinned")
        self.key = key


class _RejectUnpinnedHostKey(paramiko.MissingHostKeyPolicy):
    """Like paramiko's RejectPolicy, but keeps the key it rejected.

    paramiko compares the server's key with the pinned keys registered for the
    host itself (a mismatch raises BadHostKeyException); this policy only acts
    if no key is registered under the name paramiko looks up, and then refuses.
    """

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        raise _UnpinnedHostKeyError(key)


def host_key_fingerprint(key: paramiko.PKey) -> str:
    """``SHA256:<base64 without padding>``, the way ``ssh-keygen -l`` prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def run_ssh_check(
    instance: InstanceInfo,
    settings: SshCheckSettings,
    credentials_block: str | None = None,
) -> CheckResult:
    """Shake hands with the instance's SSH server, or log in and run a command."""
    if not settings.enabled:
        clock = CheckClock(CheckName.SSH, instance, "ssh (disabled)")
        return clock.result(CheckStatus.SKIPPED, "the SSH check is disabled")
    host = instance_host(instance, CheckName.SSH, settings.host, settings.address)
    shown_host = f"[{host}]" if ":" in host else host
    clock = CheckClock(CheckName.SSH, instance, f"ssh {shown_host}:{settings.port}")

    if settings.auth is None:
        outcome = _handshake(host, settings.port, settings.timeout_seconds)
    else:
        private_key = _load_private_key(instance, settings.auth, credentials_block)
        pinned_keys = _parse_pinned_keys(instance, settings.auth)
        outcome = _log_in_and_run(host, settings, private_key, pinned_keys)
    return clock.result(outcome.status, outcome.detail, outcome.evidence)


check_ssh_handshake = task(
    name="check-ssh-handshake",
    task_run_name="check-ssh-handshake-{instance.instance_id}",
    cache_policy=NO_CACHE,
    retries=0,
)(run_ssh_check)


def _handshake(host: str, port: int, timeout_seconds: float) -> _Outcome:
    """Banner and key exchange only; the transport never authenticates."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout_seconds)
    except OSError as exc:
        return _Outcome(CheckStatus.FAILED, _describe_error(exc, timeout_seconds))

    transport: paramiko.Transport | None = None
    try:
        transport = paramiko.Transport(sock)
        # paramiko's own timers are a backstop; the wait below decides.
        transport.banner_timeout = timeout_seconds + _BACKSTOP_SECONDS
        transport.handshake_timeout = timeout_seconds + _BACKSTOP_SECONDS
        negotiated = threading.Event()
        transport.start_client(event=negotiated)
        finished = negotiated.wait(timeout_seconds)
        error = transport.get_exception()
        if error is not None or not transport.is_active():
            detail = _describe_error(error or EOFError(), timeout_seconds)
            return _Outcome(CheckStatus.FAILED, _after_banner(transport, detail))
        if not finished and not transport.remote_version:
            detail = f"no SSH banner within {timeout_seconds:g} s"
            return _Outcome(CheckStatus.FAILED, detail)
        if not finished:
            detail = f"no key exchange within {timeout_seconds:g} s"
            return _Outcome(CheckStatus.FAILED, _after_banner(transport, detail))
        evidence = _host_key_evidence(transport)
        detail = (
            f"SSH handshake completed: {evidence['server_banner']}, "
            f"{evidence['host_key_type']} {evidence['host_key_fingerprint']}"
        )
        return _Outcome(CheckStatus.PASSED, detail, evidence)
    except (paramiko.SSHException, EOFError, OSError) as exc:
        return _Outcome(CheckStatus.FAILED, _describe_error(exc, timeout_seconds))
    finally:
        if transport is not None:
            transport.close()
        sock.close()


def _log_in_and_run(
    host: str,
    settings: SshCheckSettings,
    private_key: paramiko.PKey,
    pinned_keys: list[paramiko.PKey],
) -> _Outcome:
    """Log in with the key, accepting only a pinned host key, and run the command."""
    assert settings.auth is not None
    auth, port, timeout_seconds = settings.auth, settings.port, settings.timeout_seconds
    try:
        sock = socket.create_connection((host, port), timeout=timeout_seconds)
    except OSError as exc:
        return _Outcome(CheckStatus.FAILED, _describe_error(exc, timeout_seconds))

    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(_RejectUnpinnedHostKey())
    known_name = host if port == 22 else f"[{host}]:{port}"
    for key in pinned_keys:
        client.get_host_keys().add(known_name, key.get_name(), key)
    pinned = ", ".join(host_key_fingerprint(key) for key in pinned_keys)
    try:
        client.connect(
            host,
            port=port,
            username=auth.username,
            pkey=private_key,
            sock=sock,
            timeout=timeout_seconds,
            banner_timeout=timeout_seconds,
            auth_timeout=timeout_seconds,
            channel_timeout=timeout_seconds,
            allow_agent=False,
            look_for_keys=False,
        )
        transport = client.get_transport()
        if transport is None:
            raise paramiko.SSHException("the session closed after logging in")
        outcome = _run_command(transport, auth, pinned)
        return outcome
    except paramiko.BadHostKeyException as exc:
        detail = (
            f"host key {host_key_fingerprint(exc.key)} does not match the pinned "
            f"key {host_key_fingerprint(exc.expected_key)}"
        )
        evidence = {
            "host_key_fingerprint": host_key_fingerprint(exc.key),
            "pinned_fingerprints": pinned,
        }
        return _Outcome(CheckStatus.FAILED, detail, evidence)
    except _UnpinnedHostKeyError as exc:
        detail = (
            f"host key {exc.key.get_name()} {host_key_fingerprint(exc.key)} matches "
            f"no pinned key ({pinned})"
        )
        evidence = {
            "host_key_fingerprint": host_key_fingerprint(exc.key),
            "pinned_fingerprints": pinned,
        }
        return _Outcome(CheckStatus.FAILED, detail, evidence)
    except paramiko.AuthenticationException:
        detail = f"the server refused the key for user {auth.username!r}"
        return _Outcome(CheckStatus.FAILED, detail, {"pinned_fingerprints": pinned})
    except (paramiko.SSHException, EOFError, OSError) as exc:
        return _Outcome(CheckStatus.FAILED, _describe_error(exc, timeout_seconds))
    finally:
        client.close()
        sock.close()


def _run_command(
    transport: paramiko.Transport, auth: SshAuthSettings, pinned: str
) -> _Outcome:
    """Run ``auth.command`` and wait, within its timeout, for its exit status."""
    timeout_seconds = auth.command_timeout_seconds
    deadline = time.monotonic() + timeout_seconds
    channel = transport.open_session(timeout=timeout_seconds)
    channel.set_combine_stderr(True)
    channel.settimeout(timeout_seconds)
    channel.exec_command(auth.command)

    output = b""
    try:
        while chunk := channel.recv(4096):
            if len(output) < OUTPUT_LIMIT_BYTES:
                output += chunk
            channel.settimeout(max(deadline - time.monotonic(), 0.001))
        finished = channel.status_event.wait(max(deadline - time.monotonic(), 0))
    except TimeoutError:
        finished = False
    finally:
        channel.close()

    first_line = output.decode("utf-8", errors="replace").strip().split("\n")[0]
    first_line = first_line[:DETAIL_OUTPUT_CHARS]
    evidence = {
        **_host_key_evidence(transport),
        "command": auth.command,
        "pinned_fingerprints": pinned,
        "output": first_line,
    }
    if not finished:
        detail = f"{auth.command!r} did not finish within {timeout_seconds:g} s"
        return _Outcome(CheckStatus.FAILED, detail, evidence)
    exit_status = channel.exit_status
    evidence["exit_status"] = str(exit_status)
    detail = f"{auth.command!r} as {auth.username} exited {exit_status}: {first_line}"
    status = CheckStatus.PASSED if exit_status == 0 else CheckStatus.FAILED
    return _Outcome(status, detail, evidence)


def _host_key_evidence(transport: paramiko.Transport) -> dict[str, str]:
    key = transport.get_remote_server_key()
    return {
        "server_banner": transport.remote_version,
        "host_key_type": key.get_name(),
        "host_key_fingerprint": host_key_fingerprint(key),
    }


def _after_banner(transport: paramiko.Transport, detail: str) -> str:
    if transport.remote_version:
        return f"banner {transport.remote_version!r}, then {detail}"
    return detail


def _describe_error(exc: BaseException, timeout_seconds: float) -> str:
    """A short reason for an SSH conversation that went wrong."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout_seconds:g} s"
    if isinstance(exc, EOFError):
        return "the server closed the connection during the handshake"
    if isinstance(exc, paramiko.SSHException):
        text = str(exc)
        if text.startswith("Error reading SSH protocol banner"):
            return f"no SSH banner within {timeout_seconds:g} s"
        if text == "No existing session":
            return f"no key exchange within {timeout_seconds:g} s"
        return f"SSH protocol error: {text}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"connection failed: {exc.strerror}"
    return f"{type(exc).__name__}: {exc}"


def _load_private_key(
    instance: InstanceInfo, auth: SshAuthSettings, credentials_block: str | None
) -> paramiko.PKey:
    try:
        secret = read_secret(
            auth.private_key,
            default_region=instance.region,
            credentials_block=credentials_block,
        )
    except SecretError as exc:
        raise CheckError(
            f"The SSH check of {instance.instance_id} cannot log in: {exc}"
        ) from exc

    # Passphrase-protected keys are not supported: the settings have no field
    # for the passphrase, so such a key fails here like any unreadable key.
    text = secret.get_secret_value()
    for key_class in _PRIVATE_KEY_CLASSES:
        try:
            return key_class.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError):
            continue
    raise CheckError(
        f"The private key in {auth.private_key.describe()} for the SSH check of "
        f"{instance.instance_id} is not an unencrypted Ed25519, ECDSA or RSA key. "
        "Store the key in OpenSSH or PEM format, without a passphrase."
    )


def _parse_pinned_keys(
    instance: InstanceInfo, auth: SshAuthSettings
) -> list[paramiko.PKey]:
    keys = []
    for number, line in enumerate(auth.known_host_keys, start=1):
        parts = line.split()
        try:
            if len(parts) < 2:
                raise ValueError("expected '<key type> <base64 key>'")
            keys.append(
                paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1]))
            )
        except (
            ValueError,
            binascii.Error,
            paramiko.SSHException,
            UnknownKeyType,
        ) as exc:
            raise CheckError(
                f"Pinned host key {number} of the SSH check of {instance.instance_id} "
                f"cannot be read ({exc}). Write it as ssh-keyscan prints it, e.g. "
                "'ssh-ed25519 AAAA...'."
            ) from exc
    return keys
