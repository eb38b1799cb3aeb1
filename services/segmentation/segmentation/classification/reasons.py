"""Each classification's reasons, built when read from the figures stored with it and the thresholds and
cut points it was computed with: the rule's inputs, so that the frontend can say why. Amounts, ratios and
other decimals are exact, shown as strings as everywhere in the API; where a customer's revenue ties with the
last customer of a class and the tie falls into two classes, the reasons say so."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from segmentation.classification.compute import CutPoints
from segmentation.classification.models import ClassificationRow
from segmentation.classification.schemas import Predictions
from segmentation.company.schemas import Thresholds

# The class each end closes and the one after it, for the reasons' words.
_CLASSES = {"a": ("A", "B"), "b": ("B", "C"), "top_n": ("in the top N", "not")}


def _ties(revenue: Decimal, cut: CutPoints, names: tuple[str, ...]) -> list[dict[str, Any]]:
    """The ends of `names` at `revenue` where customers with that revenue fall into two classes: how many have
    it, how many rank up to the class's last customer (by external id, byte by byte), and who he is."""
    ties = []
    for name in names:
        end = cut.end(name)
        if end is None or end.revenue != revenue or not end.tie_split:
            continue
        within, after = _CLASSES[name]
        ties.append(
            {
                "revenue_12m": end.revenue,
                "customers": end.tied,
                "up_to_last": end.tied_in_class,
                "last_external_id": end.last_external_id,
                "broken_by": "external_id",
                "said": (
                    f"tie at {end.revenue} with {end.tied} customers, broken by external id: {within} up to "
                    f"{end.last_external_id}, {after} after"
                ),
            }
        )
    return ties


def _days(since: date | None, as_of: date) -> int | None:
    return None if since is None else (as_of - since).days


def _potential_source(row: ClassificationRow, predicted: Predictions | None) -> str:
    if row.potential_estimated:
        return "estimate"
    return "predicted_revenue_12m" if row.potential is None and predicted is not None else "revenue_12m"


def explain(
    row: ClassificationRow, as_of: date, t: Thresholds, cut: CutPoints, predicted: Predictions | None = None
) -> dict[str, Any]:
    """`predicted`: the customer's predictions under the model he was classified with, if any."""
    return {
        "lifecycle": {
            "first_order_on": row.first_order_on,
            "last_order_on": row.last_order_on,
            "days_since_first_order": _days(row.first_order_on, as_of),
            "days_since_last_order": _days(row.last_order_on, as_of),
            "reactivated_on": row.reactivated_on,
            "gap_before_reactivation_days": row.reactivation_gap_days,
            "new_customer_days": t.new_customer_days,
            "lapsed_after_days": t.lapsed_after_days,
            "reactivation_gap_days": t.reactivation_gap_days,
            "time_zone": t.time_zone,
        },
        "z_stage": {"booked_orders": row.order_count, "interactions": row.interactions},
        "abc": {
            "revenue_12m": row.revenue_12m,
            "a_share": t.abc_a_share,
            "b_share": t.abc_b_share,
            "a_min_revenue": cut.abc_a_min_revenue,
            "b_min_revenue": cut.abc_b_min_revenue,
            "a_last_external_id": cut.abc_a_last_external_id,
            "b_last_external_id": cut.abc_b_last_external_id,
            "ties": _ties(row.revenue_12m, cut, ("a", "b")),
        },
        "key_account": {
            "erp_flag": row.erp_key_account,
            "in_top_n": row.in_top_n,
            "top_n": t.key_account_top_n,
            "top_n_min_revenue": cut.key_account_top_n_min_revenue,
            "top_n_last_external_id": cut.key_account_top_n_last_external_id,
            "ties": _ties(row.revenue_12m, cut, ("top_n",)),
            "min_revenue": t.key_account_min_revenue,
        },
        "payment": {
            "invoices": row.invoices,
            "average_days_late": row.average_days_late,
            "overdue_invoices_12m": row.overdue_invoices_12m,
            "max_dunning_level": row.max_dunning_level,
            "late_average_days": t.late_average_days,
            "late_overdue_invoices": t.late_overdue_invoices,
            "prepayment_dunning_level": t.prepayment_dunning_level,
            "prepayment_average_days": t.prepayment_average_days,
        },
        "order_value": {
            "average_order_value": row.average_order_value,
            "minimum_order_value": t.minimum_order_value,
        },
        "quadrant": {
            "revenue_12m": row.revenue_12m,
            "revenue_split": cut.matrix_revenue_split,
            "potential": row.potential
            if row.potential is not None or predicted is None
            else predicted.predicted_revenue_12m,
            "potential_source": _potential_source(row, predicted),
            "potential_split": cut.matrix_potential_split,
        },
        "phase": {
            "recent_revenue": row.recent_revenue,
            "previous_revenue": row.previous_revenue,
            "trend_window_days": t.trend_window_days,
            "growth_ratio": t.growth_ratio,
            "sharp_fall_ratio": t.sharp_fall_ratio,
            "probability_alive": predicted.probability_alive if predicted else None,
            "at_risk_probability_alive": t.at_risk_probability_alive if predicted else None,
        },
    }
