"""The synthetic data: deterministic, shaped like a customer base, and importable as it is."""

from datetime import date

import httpx

from segmentation.synthetic import generate, to_csv

AS_OF = date(2026, 11, 23)


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data() -> None:
    assert generate(200, seed=5, as_of=AS_OF) == generate(200, seed=5, as_of=AS_OF)
    assert generate(200, seed=5, as_of=AS_OF).orders != generate(200, seed=6, as_of=AS_OF).orders


def test_it_looks_like_a_customer_base() -> None:
    data = generate(3000, seed=1, as_of=AS_OF)
    customers = {row[0] for row in data.customers[1:]}
    buyers = {row[1] for row in data.orders[1:]}
    orders_per_customer = (len(data.orders) - 1) / len(customers)
    assert 7 <= orders_per_customer <= 13, orders_per_customer
    assert buyers <= customers
    assert 0.05 < 1 - len(buyers) / len(customers) < 0.25, "some customers never ordered"
    one_time_buyers = sum(1 for b in buyers if sum(1 for o in data.orders[1:] if o[1] == b) == 1)
    assert one_time_buyers > 0.1 * len(buyers), "first-time buyers who never came back exist"
    late = [row for row in data.invoices[1:] if int(row[8]) > 0]
    assert 0.02 < len(late) / (len(data.invoices) - 1) < 0.4, "some invoices were dunned"
    inquiries = {row[1] for row in data.interactions[1:] if row[2] in ("inquiry", "lead")}
    assert inquiries - buyers, "some prospects only asked"
    assert all(row[2] <= "2026-11-23" for row in data.orders[1:])


async def test_every_generated_row_imports_cleanly(client: httpx.AsyncClient) -> None:
    data = generate(300, seed=2, as_of=AS_OF)
    for entity, rows in data.entities():
        response = await client.post(
            f"/v1/segmentation/imports/{entity}", content=to_csv(rows), headers={"Content-Type": "text/csv"}
        )
        job = response.json()
        assert (job["status"], job["rows_rejected"], job["rows_accepted"]) == ("succeeded", 0, len(rows) - 1), job
