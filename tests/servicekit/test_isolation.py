"""The two ways a test gets an empty database (servicekit.testing): emptied before it (TRUNCATE), or its app's
writes rolled back after it; and a rolled-back test that reaches past its one connection fails, loudly."""

import asyncio

import asyncpg
import pytest
from fastapi import APIRouter, FastAPI, Request
from sqlalchemy import func, select, text

from campaigns.db import metadata
from campaigns.main import COMPONENT_DIR
from servicekit.app import create_service_app
from servicekit.db import ReadStatement, SessionDep
from servicekit.errors import AppError
from servicekit.settings import ServiceSettings, plain_database_url
from servicekit.testing import IsolatedDatabase, rolled_back_client

INSERT = "INSERT INTO campaigns.campaigns (name, kind, channel) VALUES (:name, 'loyalty', 'email')"
router = APIRouter()


@router.post("/campaigns/{name}", status_code=201)
async def add(session: SessionDep, name: str) -> None:
    await session.execute(text(INSERT), {"name": name})


@router.post("/campaigns/{name}/refused")
async def add_then_refuse(session: SessionDep, name: str) -> None:
    await session.execute(text(INSERT), {"name": name})
    raise AppError("Refused after writing.", status=409, title="Conflict")


@router.get("/campaigns")
async def names(session: SessionDep) -> list[str]:
    return list(await session.scalars(text("SELECT name FROM campaigns.campaigns ORDER BY name")))


@router.get("/read-pool")
async def read_pool(request: Request) -> int:
    row = await request.app.state.read_pool.fetchrow(ReadStatement(select(func.count()).select_from(text("pg_class"))))
    return row[0]


@router.get("/engine")
async def engine(request: Request) -> int:
    async with request.app.state.engine.connect() as connection:
        return await connection.scalar(text("SELECT 1"))


@router.get("/two-tasks")
async def two_tasks(request: Request) -> None:
    sessions = request.app.state.sessionmaker

    async def other() -> None:
        async with sessions() as session:
            await session.execute(text("SELECT 1"))

    async with sessions() as session:
        await session.execute(text("SELECT 1"))
        await asyncio.create_task(other())


@router.post("/elsewhere/{name}", status_code=201)
async def add_elsewhere(request: Request, name: str) -> None:
    """Commits over a connection of its own, as a background job with its own engine would."""
    connection = await asyncpg.connect(plain_database_url(request.app.state.settings.database_url))
    try:
        await connection.execute(INSERT.replace(":name", "$1"), name)
    finally:
        await connection.close()


def make_app(url: str) -> FastAPI:
    return create_service_app(
        name="isolation-test",
        settings=ServiceSettings(database_url=url, log_json=False),
        metadata=metadata,
        component_dir=COMPONENT_DIR,
        routers=[router],
    )


async def stored(url: str) -> list[str]:
    """What is committed, as any other connection sees it."""
    connection = await asyncpg.connect(url)
    try:
        return [r[0] for r in await connection.fetch("SELECT name FROM campaigns.campaigns ORDER BY name")]
    finally:
        await connection.close()


@pytest.mark.isolation("rollback")
async def test_a_rolled_back_test_sees_its_own_writes_and_leaves_nothing(isolated_db: IsolatedDatabase) -> None:
    async with isolated_db.client(make_app(isolated_db.url)) as client:
        assert (await client.post("/campaigns/A")).status_code == 201
        assert (await client.post("/campaigns/B/refused")).status_code == 409
        assert (await client.post("/campaigns/C")).status_code == 201
        assert (await client.get("/campaigns")).json() == ["A", "C"], "each request commits, or rolls back alone"
        assert await stored(isolated_db.url) == [], "uncommitted for everyone else"
    assert await stored(isolated_db.url) == [], "and rolled back when the test is done"


async def test_a_truncated_test_commits_and_a_rolled_back_one_after_it_starts_empty(
    isolated_db: IsolatedDatabase,
) -> None:
    assert not isolated_db.rolled_back, "unmarked: TRUNCATE"
    async with isolated_db.client(make_app(isolated_db.url)) as client:
        assert (await client.post("/campaigns/A")).status_code == 201
    assert await stored(isolated_db.url) == ["A"], "committed"

    async with rolled_back_client(make_app(isolated_db.url)) as client:
        assert (await client.get("/campaigns")).json() == [], "emptied for the rolled-back test"
        assert (await client.post("/campaigns/B")).status_code == 201
    assert await stored(isolated_db.url) == []


@pytest.mark.parametrize(("path", "what"), [("/read-pool", "app.state.read_pool"), ("/engine", "app.state.engine")])
async def test_the_read_pool_and_the_engine_fail_a_rolled_back_test(database_url: str, path: str, what: str) -> None:
    with pytest.raises(pytest.fail.Exception, match=f"{what}.*cannot see the test's uncommitted data"):
        async with rolled_back_client(make_app(database_url)) as client:
            assert (await client.get(path)).status_code == 500, "refused"
    assert await stored(database_url) == []


async def test_sessions_of_two_tasks_at_once_fail_a_rolled_back_test(database_url: str) -> None:
    with pytest.raises(pytest.fail.Exception, match="Sessions open in two tasks at once"):
        async with rolled_back_client(make_app(database_url)) as client:
            assert (await client.get("/two-tasks")).status_code == 500, "refused"


async def test_rows_committed_over_another_connection_fail_a_rolled_back_test_and_go(database_url: str) -> None:
    with pytest.raises(pytest.fail.Exception, match=r"Rows committed .* in campaigns\.campaigns"):
        async with rolled_back_client(make_app(database_url)) as client:
            assert (await client.post("/elsewhere/A")).status_code == 201
    assert await stored(database_url) == [], "removed, so that the next test starts empty"


@pytest.mark.isolation("rollback")
def test_a_rolled_back_test_cannot_ask_for_db_url(request: pytest.FixtureRequest) -> None:
    with pytest.raises(pytest.fail.Exception, match=r'Mark the test isolation\("truncate"\)'):
        request.getfixturevalue("db_url")
