"""LocalPostgres: a real PostgreSQL on 127.0.0.1, started and stopped cleanly."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess

import asyncpg

from sandbox.postgres import LocalPostgres


def is_listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def server_facts(dsn: str) -> tuple[str, str, int]:
    connection = await asyncpg.connect(dsn)
    try:
        address = await connection.fetchval("select inet_server_addr()::text")
        database = await connection.fetchval("select current_database()")
        answer = await connection.fetchval("select 41 + 1")
    finally:
        await connection.close()
    return address, database, answer


class TestLocalPostgres:
    def test_it_serves_its_database_on_loopback_and_leaves_nothing_behind(
        self,
    ) -> None:
        with LocalPostgres() as postgres:
            port, pid, directory = postgres.port, postgres.pid, postgres.directory
            address, database, answer = asyncio.run(
                server_facts(postgres.dsn("prefect"))
            )
            psql = subprocess.run(
                [
                    str(postgres.bin_dir / "psql"),
                    postgres.dsn("prefect"),
                    "-tAc",
                    "show listen_addresses",
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            url = postgres.sqlalchemy_url("prefect")

        assert (address, database, answer) == ("127.0.0.1/32", "prefect", 42)
        assert psql.stdout.strip() == "127.0.0.1"
        assert url == f"postgresql+asyncpg://postgres@127.0.0.1:{port}/prefect"
        assert pid is not None and not os.path.exists(f"/proc/{pid}")
        assert directory is not None and not directory.exists()
        assert not is_listening(port)
