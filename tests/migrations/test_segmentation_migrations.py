"""Segmentation's migrations that rebuild what holds data: nothing stored is lost, and the result is what runs
rely on for their speed."""

import pytest

from segmentation.classification.models import ClassificationRow
from segmentation.orderdays import index as day_index
from servicekit.migrations import upgrade

from .test_migrations import COMPONENTS, fetch, fresh_db  # noqa: F401 (a fixture)

SEGMENTATION = COMPONENTS["segmentation"]
CUSTOMER = "INSERT INTO segmentation.customers (external_id, name, kind) VALUES ('C-1', 'C-1', 'b2b') RETURNING id"


@pytest.fixture
def before_rebuilds(fresh_db: str) -> str:  # noqa: F811
    """A database at the revision before classifications were rebuilt (0009_base_currency, just before
    0010_classifications_rebuilt and 0011_orders_day_index)."""
    upgrade(SEGMENTATION, fresh_db, "20261123_09")
    return fresh_db


def test_classifications_are_kept_and_laid_out_as_the_model(before_rebuilds: str) -> None:
    customer_id = fetch(before_rebuilds, CUSTOMER)[0][0]
    fetch(
        before_rebuilds,
        """
        INSERT INTO segmentation.classifications (customer_id, as_of, lifecycle, z_stage, abc, key_account, payment,
            quadrant, phase, order_count, revenue_12m, below_minimum_order_value, first_order_on, last_order_on,
            recent_revenue, previous_revenue, interactions, invoices, average_days_late, overdue_invoices_12m,
            max_dunning_level, erp_key_account, potential_estimated, in_top_n, classified_on, purchase_days,
            repeat_spend)
        VALUES ($1, DATE '2026-06-30', 'active', 'Z3', 'A', true, 'late', 'top', 'growth', 2, 250.00, false,
            DATE '2026-01-02', DATE '2026-05-01', 150.00, 100.00, 1, 2, 12.5, 1, 2, false, false, true,
            DATE '2026-06-01', 2, 150.00)""",
        customer_id,
    )
    before = [dict(row) for row in fetch(before_rebuilds, "SELECT * FROM segmentation.classifications")]

    upgrade(SEGMENTATION, before_rebuilds)
    after = [dict(row) for row in fetch(before_rebuilds, "SELECT * FROM segmentation.classifications")]
    assert after == before, "every value kept"
    columns = fetch(
        before_rebuilds,
        """
        SELECT attname, attisdropped FROM pg_attribute
        WHERE attrelid = 'segmentation.classifications'::regclass AND attnum > 0 ORDER BY attnum""",
    )
    # What a run's insert needs to copy its rows whole (compute._store); a dropped column would be in every row.
    assert [(name, dropped) for name, dropped in columns] == [
        (c.name, False) for c in ClassificationRow.__table__.columns
    ]
    key = fetch(
        before_rebuilds,
        """SELECT conname FROM pg_constraint
                                    WHERE conrelid = 'segmentation.classifications'::regclass AND contype = 'p'""",
    )
    assert [row[0] for row in key] == ["pk_classifications"]


def test_the_orders_day_index_is_built_for_the_stored_time_zone(before_rebuilds: str) -> None:
    fetch(
        before_rebuilds,
        """INSERT INTO segmentation.settings (id, thresholds)
                              VALUES (1, '{"time_zone": "America/New_York"}')""",
    )
    upgrade(SEGMENTATION, before_rebuilds)
    indexes = fetch(
        before_rebuilds,
        """SELECT indexname, indexdef FROM pg_indexes
                                        WHERE schemaname = 'segmentation' AND tablename = 'orders'
                                          AND indexname NOT IN ('pk_orders', 'uq_orders_external_id')""",
    )
    assert [name for name, _ in indexes] == [day_index.index_name("America/New_York")]
    assert "America/New_York" in indexes[0][1]
