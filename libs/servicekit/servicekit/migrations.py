"""Alembic per component: each owns one schema and keeps its version table there.

A component is a directory with an `alembic.ini` (the gateway, each service). `python -m
servicekit.migrations upgrade` migrates every component found under the current directory.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from servicekit.settings import ServiceSettings, async_database_url
from servicekit.sql import SQL, ident


def discover_components(root: Path) -> list[Path]:
    """Every directory holding an alembic.ini: gateway/ and services/*/."""
    found = [p.parent for p in [root / "gateway" / "alembic.ini", *sorted(root.glob("services/*/alembic.ini"))]]
    return [p for p in found if (p / "alembic.ini").exists()]


def alembic_config(component_dir: Path, database_url: str | None = None) -> Config:
    config = Config(str(component_dir / "alembic.ini"))
    config.set_main_option("script_location", str(component_dir / "migrations"))
    if database_url:
        # ConfigParser interpolation: a literal % must be doubled.
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(component_dir: Path, database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(component_dir, database_url), revision)


def downgrade(component_dir: Path, database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(component_dir, database_url), revision)


def script_heads(component_dir: Path) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(component_dir)).get_heads())


async def database_heads(connection: AsyncConnection, schema: str) -> set[str]:
    """Revisions applied in the schema; empty when it was never migrated."""
    table = ident(schema, "alembic_version")
    exists = await connection.scalar(text("SELECT to_regclass(:t)"), {"t": str(table)})
    if exists is None:
        return set()
    rows = await connection.execute(SQL("SELECT version_num FROM {table}").format(table=table).clause)
    return {row[0] for row in rows}


def run_alembic_env(target_metadata: MetaData) -> None:
    """The body of every component's migrations/env.py."""
    from alembic import context

    schema = target_metadata.schema
    assert schema, "a component's MetaData must name its schema"
    url = context.config.get_main_option("sqlalchemy.url") or ServiceSettings().database_url
    if not url:
        raise RuntimeError("DATABASE_URL is not set")
    options = {
        "target_metadata": target_metadata,
        "version_table_schema": schema,
        "include_schemas": True,
        "include_name": lambda name, type_, _parents: type_ != "schema" or name == schema,
        "compare_type": True,
    }

    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return

    def run(connection: Connection) -> None:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()

    async def run_online() -> None:
        engine = create_async_engine(async_database_url(url), poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                # One migrator per schema at a time (several replicas or Jobs may start together).
                await connection.execute(text("SELECT pg_advisory_lock(hashtext(:s))"), {"s": schema})
                await connection.execute(
                    SQL("CREATE SCHEMA IF NOT EXISTS {schema}").format(schema=ident(schema)).clause
                )
                await connection.commit()
                await connection.run_sync(run)
                await connection.commit()
                await connection.execute(text("SELECT pg_advisory_unlock(hashtext(:s))"), {"s": schema})
        finally:
            await engine.dispose()

    asyncio.run(run_online())


def main(argv: list[str] | None = None) -> int:
    from servicekit.pg import ensure_database_url

    parser = argparse.ArgumentParser(prog="python -m servicekit.migrations", description=__doc__)
    parser.add_argument("action", choices=["upgrade", "downgrade", "heads"])
    parser.add_argument("components", nargs="*", type=Path, help="component dirs (default: all found)")
    parser.add_argument("--revision", default=None, help="target (default: head / base)")
    args = parser.parse_args(argv)
    components = args.components or discover_components(Path.cwd())
    if args.action == "heads":
        for component in components:
            print(f"{component}: {', '.join(sorted(script_heads(component)))}")
        return 0
    url = ensure_database_url()
    for component in components:
        if args.action == "upgrade":
            upgrade(component, url, args.revision or "head")
        else:
            downgrade(component, url, args.revision or "base")
        print(f"{args.action}d {component}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
