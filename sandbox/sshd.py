"""SSH daemons for sandbox instances: Debian's OpenSSH, or paramiko when it is absent.

Both listen on 127.0.0.1 only, serve an ed25519 host key generated in their work
dir, allow public-key logins only (from an optional ``authorized_keys`` text) and
answer any command with ``firstline-sandbox ok`` instead of running it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from functools import cache
from pathlib import Path

from sandbox.hostkey import HostKey, KeepsHostKey
from sandbox.net import ensure_port_free, wait_for_port
from sandbox.paramiko_sshd import PythonSshServer

__all__ = ["OpenSshServer", "PythonSshServer", "SshServer", "sshd_available"]

SSHD_PATH = "/usr/sbin/sshd"
FORCED_COMMAND_OUTPUT = "firstline-sandbox ok"
_START_TIMEOUT_SECONDS = 10.0
_STOP_TIMEOUT_SECONDS = 5.0
_FIRST_VERSION_WITH_PENALTIES = (9, 8)


def sshd_available() -> bool:
    """True when the real OpenSSH daemon can run here: installed, with ssh-keygen,
    and this process is root (sshd's privilege separation needs it)."""
    return (
        os.access(SSHD_PATH, os.X_OK)
        and shutil.which("ssh-keygen") is not None
        and os.geteuid() == 0
    )


class OpenSshServer(KeepsHostKey):
    """``/usr/sbin/sshd -D -e`` on 127.0.0.1:``port`` with a config of its own.

    The daemon runs in a process group of its own, so :meth:`stop` also ends the
    per-connection children it forked. ``port`` must be given (sshd cannot report a
    kernel-chosen one); :func:`sandbox.net.reserve_port` picks a free one.
    """

    def __init__(
        self, workdir: Path, port: int, authorized_keys: str | None = None
    ) -> None:
        if port <= 0:
            raise ValueError(f"OpenSshServer needs a concrete port, got {port}")
        self.workdir = Path(workdir)
        self.authorized_keys = authorized_keys
        self._port = port
        self._host_key: HostKey | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> OpenSshServer:
        if self._process is not None:
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        # The readiness probe only sees that *something* accepts on the port.
        ensure_port_free(self._port)
        config_path = self._write_config()
        log_path = self.workdir / f"sshd-{self._port}.log"

        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [SSHD_PATH, "-D", "-e", "-f", str(config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self._process = process
        try:
            wait_for_port(
                self._port,
                _START_TIMEOUT_SECONDS,
                alive=lambda: process.poll() is None,
            )
        except (RuntimeError, TimeoutError) as error:
            self.stop()
            log_text = log_path.read_text(errors="replace").strip()
            raise RuntimeError(
                f"sshd did not start on 127.0.0.1:{self._port} ({error}); "
                f"its log says: {log_text or 'nothing'}"
            ) from error
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait(timeout=_STOP_TIMEOUT_SECONDS)
        # Forked per-connection children outlive a SIGTERM-ed listener.
        _signal_group(process.pid, signal.SIGKILL)
        deadline = time.monotonic() + _STOP_TIMEOUT_SECONDS
        while process_group_members(process.pid) and time.monotonic() < deadline:
            time.sleep(0.01)

    def __enter__(self) -> OpenSshServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _write_config(self) -> Path:
        lines = [
            f"ListenAddress 127.0.0.1:{self._port}",
            f"HostKey {self.host_key.private_key_path}",
            "PidFile none",
            "UsePAM no",
            "StrictModes no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitTTY no",
            "AllowTcpForwarding no",
            "AllowAgentForwarding no",
            "X11Forwarding no",
            "PermitTunnel no",
            "PrintMotd no",
            "MaxStartups 200",
            "LoginGraceTime 30",
            "LogLevel ERROR",
            f"ForceCommand echo {FORCED_COMMAND_OUTPUT}",
        ]
        if self.authorized_keys is None:
            lines += ["PubkeyAuthentication no", "AuthorizedKeysFile none"]
        else:
            keys_path = self.workdir / "authorized_keys"
            keys_path.write_text(self.authorized_keys.strip() + "\n")
            lines += ["PubkeyAuthentication yes", f"AuthorizedKeysFile {keys_path}"]
        if _sshd_version() >= _FIRST_VERSION_WITH_PENALTIES:
            # Many short probes from 127.0.0.1 would otherwise get it refused.
            lines.append("PerSourcePenalties no")

        config_path = self.workdir / f"sshd_config-{self._port}"
        config_path.write_text("\n".join(lines) + "\n")
        return config_path


def process_group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes whose process group is ``pgid``, from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            members.append(int(entry.name))
    return members


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


@cache
def _sshd_version() -> tuple[int, int]:
    result = subprocess.run(
        [SSHD_PATH, "-V"], capture_output=True, text=True, timeout=10, check=False
    )
    match = re.search(r"OpenSSH_(\d+)\.(\d+)", result.stderr + result.stdout)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


SshServer = OpenSshServer | PythonSshServer
