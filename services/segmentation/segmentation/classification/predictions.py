"""A customer's predictions (probability alive, expected purchases, CLV) as a read shows them: scored under the
model his classification was computed with, from that model's terms per (repeat purchases, age)."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from segmentation.classification.bases import Basis, NotCached
from segmentation.classification.models import ClassificationRow
from segmentation.classification.schemas import ModelUsed, Predictions
from segmentation.predictive import scoring
from segmentation.predictive.scoring import ScoringModel
from segmentation.readcache import WriteOnceCache

# A model's terms per (repeat purchases, age in days), with room for every pair a million customers have
# (docs/benchmarks.md, "Predictive model").
TERMS: WriteOnceCache[tuple[uuid.UUID, int, int], tuple[float, float, float]] = WriteOnceCache(100_000)


def inputs(row: Any, as_of: date) -> scoring.Inputs | None:
    """What a customer's predictions rest on, from his stored classification; None for prospects."""
    if row.first_order_on is None or not row.purchase_days:
        return None
    return scoring.Inputs(
        purchase_days=row.purchase_days,
        recency_days=(row.last_order_on - row.first_order_on).days,
        age_days=(as_of - row.first_order_on).days,
        repeat_spend=row.repeat_spend,
    )


async def score(
    session: AsyncSession | None, model: ScoringModel, inputs: dict[int, scoring.Inputs]
) -> dict[int, dict[str, float]]:
    """Each customer's predictions under `model`, from the terms of his (repeat purchases, age). Terms that no
    run or ingest tabulated (an old classification's day) are computed here, not stored: a read writes nothing.
    Without a session, from this process's cache alone (NotCached on a miss)."""
    pairs = {(i.repeat_purchases, i.age_days) for i in inputs.values()}
    terms_id = model.terms_id
    terms = {pair: found for pair in pairs if (found := TERMS.get((terms_id, *pair))) is not None}
    if unknown := pairs - terms.keys():
        if session is None:
            raise NotCached("prediction terms")
        fetched = await scoring.fetch_terms(session, model, unknown)
        if missing := sorted(unknown - fetched.keys()):
            computed = scoring.tabulate(model, *(np.array(column) for column in zip(*missing, strict=True)))
            fetched |= {pair: tuple(float(computed[k][i]) for k in scoring.TERMS) for i, pair in enumerate(missing)}
        for pair, found in fetched.items():
            TERMS.put((terms_id, *pair), found)
        terms |= fetched
    return {
        customer_id: scoring.predict(model, customer, terms[(customer.repeat_purchases, customer.age_days)])
        for customer_id, customer in inputs.items()
    }


async def predictions(
    session: AsyncSession | None, shown: list[tuple[ClassificationRow, date, Basis]]
) -> dict[int, Predictions]:
    """Each shown customer's predictions under the model he was classified with."""
    wanted: dict[ScoringModel, dict[int, scoring.Inputs]] = {}
    for row, as_of, basis in shown:
        if basis.model is not None and (found := inputs(row, as_of)) is not None:
            wanted.setdefault(basis.model, {})[row.customer_id] = found
    result: dict[int, Predictions] = {}
    for model, customers in wanted.items():
        for customer_id, figures in (await score(session, model, customers)).items():
            result[customer_id] = Predictions(
                probability_alive=round(figures["probability_alive"], 6),
                expected_purchases=round(figures["expected_purchases"], 6),
                horizon_months=model.horizon_months,
                expected_order_value=money(figures["expected_order_value"]),
                predicted_revenue_12m=money(figures["predicted_revenue_12m"]),
                clv=money(figures["clv"]),
                clv_horizon_months=model.clv_horizon_months,
                margin=model.margin,
                annual_discount_rate=model.annual_discount_rate,
                model=ModelUsed(
                    fit_id=model.fit_id,
                    fitted_at=model.fitted_at,
                    calibration_end=model.calibration_end,
                    purchases=asdict(model.purchases),
                    spend=asdict(model.spend),
                ),
            )
    return result


def money(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal("0.01"))


def rounded(name: str, value: float) -> float | Decimal:
    return round(value, 6) if name in ("probability_alive", "expected_purchases") else money(value)
