"""Audiences: the customers a filter matches, streamed as NDJSON with their predictions (what campaigns plan with)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from types import SimpleNamespace

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from segmentation.classification import repository
from segmentation.classification.bases import finished_run
from segmentation.classification.predictions import inputs, rounded, score
from segmentation.classification.schemas import ProfileFilters
from segmentation.classification.views import holds_as_of

AUDIENCE_BATCH = 5000


# Predicted figures in each audience line: what campaigns score members by. Null without a model or orders.
AUDIENCE_PREDICTIONS = (
    "probability_alive",
    "expected_purchases",
    "expected_order_value",
    "predicted_revenue_12m",
    "clv",
)


async def audience_lines(sessions: async_sessionmaker[AsyncSession], filters: ProfileFilters) -> AsyncIterator[bytes]:
    """The matching customers as NDJSON, streamed from a server-side cursor (never all in memory), each with
    his predictions under the last run's model (the terms are read on a second connection, batch by batch)."""
    async with sessions() as session, session.begin(), sessions() as terms_session:
        latest = await finished_run(session, await repository.latest_run_id(session))
        model = latest.model if latest else None
        result = await session.stream(repository.audience_query(filters).execution_options(yield_per=AUDIENCE_BATCH))
        async for partition in result.partitions():
            members = [dict(row._mapping) for row in partition]
            facts = [
                SimpleNamespace(last_order_on=m["last_order_on"], **{k: m.pop(k) for k in repository.PREDICTION_INPUTS})
                for m in members
            ]
            scored: dict[int, dict[str, float]] = {}
            if model is not None:
                wanted = {f.customer_id: i for f in facts if (i := inputs(f, holds_as_of(f, latest))) is not None}
                scored = await score(terms_session, model, wanted) if wanted else {}
            lines = []
            for member, fact in zip(members, facts, strict=True):
                figures = scored.get(fact.customer_id)
                for name in AUDIENCE_PREDICTIONS:
                    member[name] = None if figures is None else rounded(name, figures[name])
                if member["potential"] is None and figures is not None:
                    member["potential"] = member["predicted_revenue_12m"]
                lines.append(json.dumps(member, default=_json_value) + "\n")
            yield "".join(lines).encode()


def _json_value(value: object) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)
