"""All SQL of the API keys."""

import uuid

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.keys.models import ApiKeyRow


async def insert(session: AsyncSession, *, name: str, prefix: str, key_hash: str, scopes: list[str]) -> ApiKeyRow:
    row = ApiKeyRow(name=name, prefix=prefix, key_hash=key_hash, scopes=scopes)
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row


async def find_active_by_hash(session: AsyncSession, key_hash: str) -> ApiKeyRow | None:
    return await session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == key_hash, ApiKeyRow.revoked_at.is_(None)))


async def list_all(session: AsyncSession, include_revoked: bool) -> list[ApiKeyRow]:
    query = select(ApiKeyRow).order_by(ApiKeyRow.created_at)
    if not include_revoked:
        query = query.where(ApiKeyRow.revoked_at.is_(None))
    return list(await session.scalars(query))


async def revoke(session: AsyncSession, id_or_prefix: str) -> list[ApiKeyRow]:
    """Revoke the active key with this id or prefix; returns what was revoked."""
    try:
        by_id = ApiKeyRow.id == uuid.UUID(id_or_prefix)
    except ValueError:
        by_id = None
    match = ApiKeyRow.prefix == id_or_prefix if by_id is None else or_(by_id, ApiKeyRow.prefix == id_or_prefix)
    result = await session.scalars(
        update(ApiKeyRow)
        .where(match, ApiKeyRow.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .returning(ApiKeyRow)
    )
    return list(result)
