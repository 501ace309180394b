"""A throwaway PostgreSQL cluster on 127.0.0.1, from Debian's ``postgresql`` package.

::

    with LocalPostgres() as postgres:
        url = postgres.sqlalchemy_url("prefect")   # postgresql+asyncpg://...

The cluster lives in a new temporary directory and listens on a free port of
127.0.0.1 (and a Unix socket in that directory), with ``trust`` authentication
for the ``postgres`` role: fit for a demo or a benchmark on one machine, never
for anything reachable from elsewhere. PostgreSQL refuses to run as root, so as
root the cluster belongs to the ``postgres`` system user and its programs run
as that user, the server as a direct child so that stopping it stops the server.
Leaving the ``with`` block stops the server and removes the directory.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Self

START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0
SUPERUSER = "postgres"


class PostgresError(RuntimeError):
    """The local PostgreSQL could not be set up, started or reached."""


def postgres_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding ``postgres``."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"),
        key=lambda path: int(Path(path).parts[-3]),
    )
    if not found:
        raise PostgresError(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres); "
            "run `make system-deps` or `apt-get install postgresql`"
        )
    return Path(found[-1]).parent


class LocalPostgres:
    """One PostgreSQL server of its own; see the module."""

    def __init__(self, *, databases: tuple[str, ...] = ("prefect",)) -> None:
        self.bin_dir = postgres_bin_dir()
        self.version = self.bin_dir.parent.name
        self.databases = databases
        self.port = 0
        self.directory: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._run_as = SUPERUSER if os.geteuid() == 0 else None

    @property
    def data_dir(self) -> Path:
        if self.directory is None:
            raise PostgresError("this PostgreSQL is not started; call start() first")
        return self.directory / "data"

    @property
    def log(self) -> Path:
        if self.directory is None:
            raise PostgresError("this PostgreSQL is not started; call start() first")
        return self.directory / "postgres.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def sqlalchemy_url(self, database: str = "prefect") -> str:
        """The URL for Prefect's ``PREFECT_API_DATABASE_CONNECTION_URL``."""
        return f"postgresql+asyncpg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        """A libpq URL, for ``psql`` or ``asyncpg.connect``."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> Self:
        """Create the cluster, start the server and create ``databases``."""
        if self._process is not None:
            raise PostgresError("this PostgreSQL is already running")
        self.directory = Path(tempfile.mkdtemp(prefix="firstline-postgres-"))
        try:
            self._initdb()
            self.port = _free_port()
            self._launch()
            self._wait_until_ready()
            for database in self.databases:
                self._run(self.bin_dir / "createdb", *self._connection(), database)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            # SIGINT is PostgreSQL's "fast" shutdown: end sessions, write, exit.
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _initdb(self) -> None:
        assert self.directory is not None
        if self._run_as is not None:
            user = pwd.getpwnam(self._run_as)
            os.chown(self.directory, user.pw_uid, user.pw_gid)
        self._run(
            self.bin_dir / "initdb",
            "--pgdata",
            str(self.data_dir),
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-sync",
        )

    def _launch(self) -> None:
        assert self.directory is not None
        command = [
            str(self.bin_dir / "postgres"),
            "-D",
            str(self.data_dir),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-k",
            str(self.directory),
            # A throwaway cluster: durability traded for speed.
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
        ]
        with self.log.open("ab") as log_file:
            self._process = subprocess.Popen(
                command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                **self._owner(),
            )

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            process = self._process
            if process is None or process.poll() is not None:
                raise PostgresError(
                    f"postgres exited at start; its log ends:\n{self._log_tail()}"
                )
            ready = subprocess.run(
                [str(self.bin_dir / "pg_isready"), *self._connection(), "-q"],
                check=False,
            )
            if ready.returncode == 0:
                return
            if time.monotonic() >= deadline:
                raise PostgresError(
                    f"postgres did not accept connections on 127.0.0.1:{self.port} "
                    f"within {START_TIMEOUT_SECONDS:.0f} s; log:\n{self._log_tail()}"
                )
            time.sleep(0.2)

    def _connection(self) -> list[str]:
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER]

    def _owner(self) -> dict[str, Any]:
        """Popen's arguments that run a program as the cluster's owner."""
        if self._run_as is None:
            return {}
        user = pwd.getpwnam(self._run_as)
        return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    def _run(self, program: Path, *arguments: str) -> None:
        completed = subprocess.run(
            [str(program), *arguments],
            capture_output=True,
            text=True,
            check=False,
            cwd=self.directory,
            **self._owner(),
        )
        if completed.returncode != 0:
            raise PostgresError(
                f"{program.name} failed with status {completed.returncode}: "
                f"{completed.stderr.strip() or completed.stdout.strip()}"
            )

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return "(no log)"


def _free_port() -> int:
    # The kernel's pick is free again once this socket closes; postgres then
    # fails to start if another process took it first, which start() reports.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
