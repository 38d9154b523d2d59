"""Real parallel transactions (the app on its own pool): the primary invariant and the address limit
hold under concurrent requests, and no request answers 5xx."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.support.factories import SignedIn, user_with_profile
from tests.support.users import ADDRESSES, add_address, address_body, list_addresses, primaries


@pytest.fixture
async def carol(live_app: Any) -> SignedIn:
    return await user_with_profile(live_app)


@pytest.mark.parametrize(
    ("types", "common_use"),
    [
        (["both"] * 10, "shipping"),
        (["shipping", "both"] * 5, "shipping"),
        (["billing", "both"] * 5, "billing"),
    ],
)
async def test_ten_concurrent_make_primary_leave_one_primary_per_use(
    live_client: httpx.AsyncClient, carol: SignedIn, types: list[str], common_use: str
) -> None:
    addresses = [await add_address(live_client, carol, type=kind) for kind in types]

    responses = await asyncio.gather(
        *(live_client.post(f"{ADDRESSES}/{a['id']}/primary", headers=carol.headers) for a in addresses)
    )

    assert [r.status_code for r in responses] == [200] * 10, [
        r.text for r in responses if r.status_code != 200
    ]
    assert all(r.json()["is_primary"] for r in responses)
    uses = await primaries(live_client, carol)
    # Every address serves the common use: whichever request ran last left exactly one primary there.
    assert len(uses[common_use]) == 1, uses
    # Only `both` addresses serve the other use; a primary there is the same `both` address.
    other_use = "billing" if common_use == "shipping" else "shipping"
    assert uses[other_use] in ([], uses[common_use]), uses
    if types == ["both"] * 10:
        assert uses[other_use] == uses[common_use]


async def test_concurrent_creates_never_exceed_the_limit(
    live_client: httpx.AsyncClient, carol: SignedIn
) -> None:
    responses = await asyncio.gather(
        *(
            live_client.post(ADDRESSES, json=address_body(city=f"City {n}"), headers=carol.headers)
            for n in range(25)
        )
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 20, 409: 5}, [r.text for r in responses if r.status_code not in (201, 409)]
    assert all(r.json()["code"] == "address_limit" for r in responses if r.status_code == 409)
    assert len(await list_addresses(live_client, carol)) == 20
    # Exactly one of them became primary by itself, however the requests interleaved.
    assert len((await primaries(live_client, carol))["shipping"]) == 1


async def test_concurrent_creates_with_is_primary_leave_one_primary(
    live_client: httpx.AsyncClient, carol: SignedIn
) -> None:
    responses = await asyncio.gather(
        *(
            live_client.post(
                ADDRESSES, json=address_body(type="both", is_primary=True), headers=carol.headers
            )
            for _ in range(10)
        )
    )
    assert [r.status_code for r in responses] == [201] * 10
    uses = await primaries(live_client, carol)
    assert len(uses["shipping"]) == 1
    assert uses["billing"] == uses["shipping"]


async def test_concurrent_type_changes_and_make_primary_keep_the_invariant(
    live_client: httpx.AsyncClient, carol: SignedIn
) -> None:
    addresses = [await add_address(live_client, carol, type=kind) for kind in ["shipping", "billing"] * 4]
    requests = []
    for n, address in enumerate(addresses):
        path = f"{ADDRESSES}/{address['id']}"
        if n % 2:
            requests.append(
                live_client.patch(path, json={"type": "both", "is_primary": True}, headers=carol.headers)
            )
        else:
            requests.append(live_client.post(path + "/primary", headers=carol.headers))
    responses = await asyncio.gather(*requests)
    assert [r.status_code for r in responses] == [200] * len(addresses)
    uses = await primaries(live_client, carol)
    assert len(uses["shipping"]) <= 1
    assert len(uses["billing"]) <= 1
    assert uses["shipping"] or uses["billing"]
