"""The key CLI an operator runs: `python -m gateway.keys create|list|revoke`, against the real database."""

import asyncio
import json
import os
import subprocess
import sys

import asyncpg

from tests.gateway.conftest import Gateway


async def keys_cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "gateway.keys", *args]
    env = {**os.environ, "DATABASE_URL": db_url}
    return await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True, timeout=60)


async def stored_key_rows(db_url: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(db_url, timeout=10)
    try:
        return await connection.fetch("SELECT * FROM gateway.api_keys")
    finally:
        await connection.close()


async def test_create_list_use_and_revoke_a_key(db_url: str, gateway: Gateway) -> None:
    created = await keys_cli(db_url, "create", "--name", "erp", "--scope", "write", "--json")
    assert created.returncode == 0, created.stderr
    new = json.loads(created.stdout)
    key = new["key"]
    assert key.startswith("rk_")
    assert new["prefix"] == key[:11]
    assert new["scopes"] == ["write"]
    assert new["name"] == "erp"

    listed = await keys_cli(db_url, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(k["id"], k["prefix"], k["name"], k["scopes"]) for k in json.loads(listed.stdout)] == [
        (new["id"], new["prefix"], "erp", ["write"])
    ]
    assert key not in listed.stdout

    rows = await stored_key_rows(db_url)
    assert len(rows) == 1
    assert all(key not in str(value) for value in rows[0].values()), "only a hash of the key is stored"

    auth = gateway.auth(key)
    assert (await gateway.client.get("/v1/segmentation/customers", headers=auth)).status_code == 200
    put = await gateway.client.put("/v1/segmentation/customers/E-1", json={"name": "ERP", "kind": "b2b"}, headers=auth)
    assert put.status_code == 201

    revoked = await keys_cli(db_url, "revoke", new["prefix"])
    assert revoked.returncode == 0, revoked.stderr
    assert new["prefix"] in revoked.stdout
    after = await gateway.client.get("/v1/segmentation/customers", headers=auth)
    assert after.status_code == 401
    assert after.json()["detail"] == "The API key is unknown or revoked."

    assert json.loads((await keys_cli(db_url, "list", "--json")).stdout) == [], "revoked keys are hidden by default"
    [shown] = json.loads((await keys_cli(db_url, "list", "--all", "--json")).stdout)
    assert shown["prefix"] == new["prefix"]
    assert shown["revoked_at"] is not None


async def test_revoking_an_unknown_prefix_fails(db_url: str) -> None:
    result = await keys_cli(db_url, "revoke", "rk_nothere")
    assert result.returncode == 1
    assert "no active key with id or prefix 'rk_nothere'" in result.stderr
    assert result.stdout == ""
