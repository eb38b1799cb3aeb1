"""Each customer's predictions from the current model, as of a day, computed where the figures are.

Every prediction is the probability alive (closed form in x, t_x and T) times factors that depend on a
customer only through (x, T): purchases if alive over the horizon, over 12 months, and discounted over the
CLV's horizon (`model.purchases_if_alive`, `model.discounted_purchases_if_alive`). Those factors are tabulated
once per distinct pair (x, age in days) in `prediction_terms` with numpy and scipy, and joined in SQL: a run
scores a million customers without moving them out of Postgres, and a read computes the same figures from
the stored ones (`predict`).

A customer's inputs, all stored with his classification: purchase days (x = purchase days - 1; orders of one
day are one purchase, as in the fit), recency = last - first order day, age = as-of day - first order day, and
the spend of his repeat purchase days (the Gamma-Gamma mean spend times x).
"""

from __future__ import annotations

import asyncio
import math
import uuid
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from segmentation.db import SCHEMA
from segmentation.predictive import model
from segmentation.predictive.model import BgNbdParams, GammaGammaParams
from servicekit.sql import SQL, ident

_SCHEMA = ident(SCHEMA)
# An ingest's few pairs are tabulated inline: a thread pays off only for a run's many (docs/benchmarks.md).
THREAD_ABOVE_PAIRS = 2000
# exp() of a double overflows past 709; Postgres raises instead of returning infinity or 0.
EXP_LIMIT = 700


@dataclass(frozen=True)
class ScoringModel:
    """The fit a run scores with, and the horizons and discount rate of its terms; the same for the ingests
    after that run, so that a customer's figures never mix two models."""

    fit_id: uuid.UUID
    fitted_at: str
    calibration_end: date
    purchases: BgNbdParams
    spend: GammaGammaParams
    horizon_months: int
    clv_horizon_months: int
    annual_discount_rate: float
    margin: float
    at_risk_probability_alive: float

    @property
    def terms_id(self) -> uuid.UUID:
        """Terms depend on the fit, the horizons and the discount rate, not on the margin or the as-of day."""
        key = f"{self.fit_id}|{self.horizon_months}|{self.clv_horizon_months}|{self.annual_discount_rate!r}"
        return uuid.uuid5(uuid.NAMESPACE_URL, key)

    @classmethod
    def of(cls, fit: Any, thresholds: Any) -> ScoringModel:
        """From a succeeded fit (`schemas.Fit`) and the thresholds (`Thresholds`) of the run."""
        return cls(
            fit_id=fit.id,
            fitted_at=fit.finished_at.isoformat(),
            calibration_end=fit.calibration_end,
            purchases=BgNbdParams(fit.purchases.r, fit.purchases.alpha, fit.purchases.a, fit.purchases.b),
            spend=GammaGammaParams(fit.spend.p, fit.spend.q, fit.spend.gamma),
            horizon_months=thresholds.prediction_horizon_months,
            clv_horizon_months=thresholds.clv_horizon_months,
            annual_discount_rate=float(thresholds.clv_annual_discount_rate),
            margin=float(thresholds.clv_margin),
            at_risk_probability_alive=float(thresholds.at_risk_probability_alive),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "fit_id": str(self.fit_id),
            "fitted_at": self.fitted_at,
            "calibration_end": self.calibration_end.isoformat(),
            "purchases": asdict(self.purchases),
            "spend": asdict(self.spend),
            "horizon_months": self.horizon_months,
            "clv_horizon_months": self.clv_horizon_months,
            "annual_discount_rate": self.annual_discount_rate,
            "margin": self.margin,
            "at_risk_probability_alive": self.at_risk_probability_alive,
        }

    @classmethod
    def from_json(cls, values: dict[str, Any] | None) -> ScoringModel | None:
        if not values:
            return None
        return cls(
            fit_id=uuid.UUID(values["fit_id"]),
            fitted_at=values["fitted_at"],
            calibration_end=date.fromisoformat(values["calibration_end"]),
            purchases=BgNbdParams(**values["purchases"]),
            spend=GammaGammaParams(**values["spend"]),
            horizon_months=int(values["horizon_months"]),
            clv_horizon_months=int(values["clv_horizon_months"]),
            annual_discount_rate=float(values["annual_discount_rate"]),
            margin=float(values["margin"]),
            at_risk_probability_alive=float(values["at_risk_probability_alive"]),
        )


# --- The terms per (x, age) ---------------------------------------------------------------------------------


TERMS = ("purchases", "purchases_12m", "discounted_purchases")


def tabulate(m: ScoringModel, repeat_purchases: np.ndarray, age_days: np.ndarray) -> dict[str, np.ndarray]:
    """The factors of each pair: purchases if alive over the horizon, over 12 months, discounted over the CLV's."""
    x = np.asarray(repeat_purchases, dtype=np.float64)
    age = np.asarray(age_days, dtype=np.float64) / model.DAYS_PER_WEEK
    return {
        "purchases": model.purchases_if_alive(m.purchases, x, age, m.horizon_months * model.WEEKS_PER_MONTH),
        "purchases_12m": model.purchases_if_alive(m.purchases, x, age, model.WEEKS_PER_YEAR),
        "discounted_purchases": model.discounted_purchases_if_alive(
            m.purchases,
            x,
            age,
            horizon_weeks=m.clv_horizon_months * model.WEEKS_PER_MONTH,
            annual_discount_rate=m.annual_discount_rate,
        ),
    }


async def ensure_terms(session: AsyncSession, m: ScoringModel, pairs_sql: SQL) -> int:
    """Tabulate the pairs (repeat_purchases, age_days) that `pairs_sql` selects and the table lacks; returns how
    many were added. Concurrent ingests may add the same pair: the first one's stays (they are equal)."""
    missing_pairs = SQL("""
        SELECT DISTINCT p.repeat_purchases, p.age_days FROM ({pairs}) p
        WHERE NOT EXISTS (SELECT FROM {schema}.prediction_terms t WHERE t.terms_id = :terms_id
                          AND t.repeat_purchases = p.repeat_purchases AND t.age_days = p.age_days)""")
    statement = missing_pairs.format(pairs=pairs_sql, schema=_SCHEMA)
    missing = (await session.execute(statement.clause, {"terms_id": m.terms_id})).all()
    if not missing:
        return 0
    x = np.array([row[0] for row in missing], dtype=np.int64)
    age = np.array([row[1] for row in missing], dtype=np.int64)
    if x.size > THREAD_ABOVE_PAIRS:
        terms = await asyncio.to_thread(tabulate, m, x, age)
    else:
        terms = tabulate(m, x, age)
    insert = SQL("""
        INSERT INTO {schema}.prediction_terms
            (terms_id, repeat_purchases, age_days, purchases, purchases_12m, discounted_purchases)
        SELECT :terms_id, * FROM unnest(CAST(:x AS int[]), CAST(:age AS int[]), CAST(:purchases AS float8[]),
                                        CAST(:purchases_12m AS float8[]), CAST(:discounted AS float8[]))
        ON CONFLICT DO NOTHING""").format(schema=_SCHEMA)
    params = {
        "terms_id": m.terms_id,
        "x": x.tolist(),
        "age": age.tolist(),
        "purchases": terms["purchases"].tolist(),
        "purchases_12m": terms["purchases_12m"].tolist(),
        "discounted": terms["discounted_purchases"].tolist(),
    }
    await session.execute(insert.clause, params)
    return int(x.size)


async def drop_other_terms(session: AsyncSession, m: ScoringModel | None) -> None:
    """Only the terms of the model in use are read; a run drops the others."""
    await session.execute(
        SQL("DELETE FROM {schema}.prediction_terms WHERE terms_id IS DISTINCT FROM :terms_id")
        .format(schema=_SCHEMA)
        .clause,
        {"terms_id": m.terms_id if m else None},
    )


# --- The same figures in SQL, for runs and ingests ----------------------------------------------------------


def probability_alive_sql(m: ScoringModel, x: SQL, recency_days: SQL, age_days: SQL) -> SQL:
    """P(alive | x, t_x, T), the columns given as SQL: 1 without repeat purchases (`model.probability_alive`)."""
    p = m.purchases
    log_odds = SQL(
        "ln({a}) - ln({b} + {x} - 1) + ({r} + {x}) * "
        "(ln({alpha} + {age_days}::float8 / 7) - ln({alpha} + {recency_days}::float8 / 7))"
    ).format(
        a=float(p.a),
        b=float(p.b),
        r=float(p.r),
        alpha=float(p.alpha),
        x=x,
        age_days=age_days,
        recency_days=recency_days,
    )
    bounded = SQL("least({limit}, greatest(-{limit}, {log_odds}))").format(limit=EXP_LIMIT, log_odds=log_odds)
    # <= 0, not = 0: prospects (x = -1) pass through here too, and ln() of a negative number raises.
    return SQL("(CASE WHEN {x} <= 0 THEN 1.0 ELSE 1.0 / (1.0 + exp({bounded})) END)").format(x=x, bounded=bounded)


def expected_spend_sql(m: ScoringModel, x: SQL, repeat_spend: SQL) -> SQL:
    """E[spend per purchase | x, m] = p (gamma + m x) / (p x + q - 1), with m x the repeat days' spend."""
    s = m.spend
    return SQL("({p} * ({gamma} + {repeat_spend}::float8) / ({p} * {x} + {q} - 1))").format(
        p=float(s.p), gamma=float(s.gamma), q=float(s.q), x=x, repeat_spend=repeat_spend
    )


# --- The same figures in Python, for reads -------------------------------------------------------------------


@dataclass(frozen=True)
class Inputs:
    purchase_days: int
    recency_days: int
    age_days: int
    repeat_spend: Decimal

    @property
    def repeat_purchases(self) -> int:
        return self.purchase_days - 1


async def fetch_terms(
    session: AsyncSession, m: ScoringModel, pairs: set[tuple[int, int]]
) -> dict[tuple[int, int], tuple[float, float, float]]:
    if not pairs:
        return {}
    xs, ages = zip(*sorted(pairs), strict=True)
    statement = SQL("""
        SELECT t.repeat_purchases, t.age_days, t.purchases, t.purchases_12m, t.discounted_purchases
        FROM {schema}.prediction_terms t
        JOIN unnest(CAST(:x AS int[]), CAST(:age AS int[])) AS p(x, age)
          ON t.repeat_purchases = p.x AND t.age_days = p.age
        WHERE t.terms_id = :terms_id""").format(schema=_SCHEMA)
    rows = await session.execute(statement.clause, {"terms_id": m.terms_id, "x": list(xs), "age": list(ages)})
    return {(row[0], row[1]): (row[2], row[3], row[4]) for row in rows}


def predict(m: ScoringModel, inputs: Inputs, terms: tuple[float, float, float]) -> dict[str, float]:
    """The customer's predictions, as the SQL of a run computes them."""
    x = inputs.repeat_purchases
    purchases, purchases_12m, discounted = terms
    p = m.purchases
    if x == 0:
        alive = 1.0
    else:
        log_odds = (
            math.log(p.a)
            - math.log(p.b + x - 1)
            + (p.r + x) * (math.log(p.alpha + inputs.age_days / 7.0) - math.log(p.alpha + inputs.recency_days / 7.0))
        )
        alive = 1.0 / (1.0 + math.exp(min(EXP_LIMIT, max(-EXP_LIMIT, log_odds))))
    s = m.spend
    spend = s.p * (s.gamma + float(inputs.repeat_spend)) / (s.p * x + s.q - 1)
    return {
        "probability_alive": alive,
        "expected_purchases": alive * purchases,
        "expected_order_value": spend,
        "predicted_revenue_12m": alive * purchases_12m * spend,
        "clv": m.margin * spend * alive * discounted,
    }
