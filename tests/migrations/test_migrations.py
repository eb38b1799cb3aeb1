"""Every component's migrations run up, down and up again on a clean database, each in its own schema."""

import asyncio
import importlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from servicekit.migrations import discover_components, downgrade, script_heads, upgrade
from servicekit.pg import create_database, drop_database, with_database

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = {path.name: path for path in discover_components(REPO_ROOT)}


def fetch(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        connection = await asyncpg.connect(url, timeout=10)
        try:
            return await connection.fetch(sql, *args)
        finally:
            await connection.close()

    return asyncio.run(run())


def tables_by_schema(url: str) -> dict[str, set[str]]:
    rows = fetch(
        url, "SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
    )
    found: dict[str, set[str]] = {}
    for schema, table in rows:
        found.setdefault(schema, set()).add(table)
    return found


def model_tables(component: str) -> tuple[str, set[str]]:
    """The component's schema and the tables its models declare (importing the app loads every model)."""
    importlib.import_module(f"{component}.main")
    db = importlib.import_module(f"{component}.db")
    return db.SCHEMA, {table.name for table in db.metadata.tables.values()}


@pytest.fixture
def fresh_db(postgres_server_url: str) -> Iterator[str]:
    url = with_database(postgres_server_url, f"migrations_{uuid.uuid4().hex[:8]}")
    create_database(url, drop_first=True)
    try:
        yield url
    finally:
        drop_database(url)


def test_every_component_is_found(repo_root: Path) -> None:
    assert sorted(path.name for path in discover_components(repo_root)) == [
        "campaigns",
        "capacity",
        "gateway",
        "segmentation",
    ]


@pytest.mark.parametrize("component", sorted(COMPONENTS))
def test_upgrade_downgrade_upgrade(component: str, fresh_db: str) -> None:
    component_dir = COMPONENTS[component]
    schema, tables = model_tables(component)
    assert tables, f"{component} declares no tables"

    upgrade(component_dir, fresh_db)
    assert tables_by_schema(fresh_db) == {schema: tables | {"alembic_version"}}, "only its own schema, as modelled"
    applied = fetch(fresh_db, f'SELECT version_num FROM "{schema}".alembic_version')
    assert {row[0] for row in applied} == script_heads(component_dir)

    downgrade(component_dir, fresh_db)
    assert tables_by_schema(fresh_db) == {schema: {"alembic_version"}}
    assert fetch(fresh_db, f'SELECT version_num FROM "{schema}".alembic_version') == []

    upgrade(component_dir, fresh_db)
    assert tables_by_schema(fresh_db) == {schema: tables | {"alembic_version"}}
    applied = fetch(fresh_db, f'SELECT version_num FROM "{schema}".alembic_version')
    assert {row[0] for row in applied} == script_heads(component_dir)
