"""The company's configuration changed in part: PATCH /v1/segmentation/config takes a JSON Merge Patch (RFC 7396)."""

import asyncio

import httpx

CONFIG = "/v1/segmentation/config"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


async def patch(client: httpx.AsyncClient, body: object, headers: dict[str, str] = MERGE_PATCH) -> httpx.Response:
    return await client.patch(CONFIG, json=body, headers=headers)


async def test_a_patch_changes_what_it_names_and_keeps_the_rest(client: httpx.AsyncClient) -> None:
    config = (await client.get(CONFIG)).json()
    put = config | {"lapsed_after_days": 400, "reactivation_gap_days": 400, "time_zone": "Europe/Berlin"}
    assert (await client.put(CONFIG, json=put)).status_code == 200

    response = await patch(client, {"new_customer_days": 60, "abc_a_share": "0.7"})

    assert response.status_code == 200
    assert response.json() == put | {"new_customer_days": 60, "abc_a_share": "0.7"}
    assert (await client.get(CONFIG)).json() == response.json(), "stored as answered"


async def test_null_restores_the_default_and_objects_are_merged_member_by_member(client: httpx.AsyncClient) -> None:
    first = await patch(
        client,
        {"lapsed_after_days": 500, "reactivation_gap_days": 500, "exchange_rates": {"USD": "0.92", "CHF": "1.05"}},
    )
    assert first.status_code == 200

    second = await patch(
        client,
        {"lapsed_after_days": None, "reactivation_gap_days": None, "exchange_rates": {"CHF": None, "GBP": "1.17"}},
    )

    assert second.status_code == 200
    config = (await client.get(CONFIG)).json()
    assert (config["lapsed_after_days"], config["reactivation_gap_days"]) == (365, 365), "the defaults again"
    assert config["exchange_rates"] == {"USD": "0.92", "GBP": "1.17"}, "USD kept, CHF removed, GBP added"


async def test_plain_json_is_taken_as_a_merge_patch_too(client: httpx.AsyncClient) -> None:
    response = await patch(client, {"late_average_days": 21}, headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()["late_average_days"]) == (200, 21)


async def test_a_bad_value_is_named_and_nothing_changes(client: httpx.AsyncClient) -> None:
    before = (await client.get(CONFIG)).json()

    response = await patch(client, {"new_customer_days": 30, "abc_a_share": "1.5", "time_zone": "Mars/Olympus"})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert {e["field"] for e in response.json()["errors"]} == {"body.abc_a_share", "body.time_zone"}
    assert (await client.get(CONFIG)).json() == before, "not even the valid new_customer_days"


async def test_a_patch_that_contradicts_the_stored_rest_is_refused(client: httpx.AsyncClient) -> None:
    # Valid on its own, but with the stored reactivation gap (365) a reactivated customer would not have lapsed.
    response = await patch(client, {"lapsed_after_days": 400})
    assert response.status_code == 422
    assert "reactivation_gap_days must be at least lapsed_after_days" in response.text
    assert (await client.get(CONFIG)).json()["lapsed_after_days"] == 365


async def test_unknown_members_and_bodies_that_are_not_objects_are_refused(client: httpx.AsyncClient) -> None:
    unknown = await patch(client, {"lapsed_after_dayz": 400})
    assert (unknown.status_code, [e["field"] for e in unknown.json()["errors"]]) == (422, ["body.lapsed_after_dayz"])
    for body in ([{"lapsed_after_days": 400}], "lapsed", 7):
        response = await patch(client, body)
        assert response.status_code == 422, body
        assert response.json()["errors"][0]["field"] == "body"


async def test_patches_at_the_same_time_lose_nothing(client: httpx.AsyncClient) -> None:
    currencies = ["USD", "CHF", "GBP", "JPY", "SEK", "NOK", "DKK", "PLN", "CZK", "HUF"]
    responses = await asyncio.gather(
        *(patch(client, {"exchange_rates": {code: f"0.{i + 1}"}}) for i, code in enumerate(currencies))
    )
    assert {r.status_code for r in responses} == {200}
    rates = (await client.get(CONFIG)).json()["exchange_rates"]
    assert rates == {code: f"0.{i + 1}" for i, code in enumerate(currencies)}, "every rate, none overwritten"
