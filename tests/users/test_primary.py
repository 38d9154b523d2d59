"""Primary addresses: at most one per user and per use (shipping, billing); `both` serves both uses."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from tests.support.factories import SignedIn
from tests.support.users import ADDRESSES, add_address, address_body, list_addresses, primaries


def one(address_id: str) -> str:
    return f"{ADDRESSES}/{address_id}"


async def make_primary(client: httpx.AsyncClient, user: SignedIn, address_id: str) -> dict[str, Any]:
    response = await client.post(one(address_id) + "/primary", headers=user.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def flags(client: httpx.AsyncClient, user: SignedIn) -> dict[str, bool]:
    return {address["id"]: address["is_primary"] for address in await list_addresses(client, user)}


# --- a new address -----------------------------------------------------------------------------


async def test_the_first_address_of_a_use_becomes_primary_by_itself(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    shipping = await add_address(client, alice, type="shipping")
    second = await add_address(client, alice, type="shipping")
    billing = await add_address(client, alice, type="billing")  # billing had no primary yet
    assert (shipping["is_primary"], second["is_primary"], billing["is_primary"]) == (True, False, True)
    assert await primaries(client, alice) == {"shipping": [shipping["id"]], "billing": [billing["id"]]}


async def test_a_both_address_is_not_primary_when_one_of_its_uses_has_a_primary(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    shipping = await add_address(client, alice, type="shipping")
    both = await add_address(client, alice, type="both")
    assert both["is_primary"] is False
    assert await primaries(client, alice) == {"shipping": [shipping["id"]], "billing": []}


async def test_a_first_both_address_is_primary_for_both_uses(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    both = await add_address(client, alice, type="both")
    shipping = await add_address(client, alice, type="shipping")
    billing = await add_address(client, alice, type="billing")
    assert both["is_primary"] is True
    assert shipping["is_primary"] is False
    assert billing["is_primary"] is False
    assert await primaries(client, alice) == {"shipping": [both["id"]], "billing": [both["id"]]}


async def test_is_primary_true_on_create_takes_primary_from_addresses_sharing_a_use(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    both = await add_address(client, alice, type="both")
    shipping = await add_address(client, alice, type="shipping", is_primary=True)
    assert shipping["is_primary"] is True
    # `both` shared the shipping use, so it lost primary — for billing too: billing has none now.
    assert await primaries(client, alice) == {"shipping": [shipping["id"]], "billing": []}
    billing = await add_address(client, alice, type="billing")
    assert billing["is_primary"] is True
    assert (await flags(client, alice))[both["id"]] is False


async def test_is_primary_true_on_create_leaves_the_other_use_alone(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    shipping = await add_address(client, alice, type="shipping")
    billing = await add_address(client, alice, type="billing")
    new_billing = await add_address(client, alice, type="billing", is_primary=True)
    assert await primaries(client, alice) == {"shipping": [shipping["id"]], "billing": [new_billing["id"]]}
    assert (await flags(client, alice))[billing["id"]] is False


async def test_is_primary_false_on_create_is_respected(client: httpx.AsyncClient, alice: SignedIn) -> None:
    address = await add_address(client, alice, type="both", is_primary=False)
    assert address["is_primary"] is False
    assert await primaries(client, alice) == {"shipping": [], "billing": []}
    # ...and the next address, with no primary in its uses, becomes primary by itself.
    assert (await add_address(client, alice, type="shipping"))["is_primary"] is True


# --- POST /{id}/primary ------------------------------------------------------------------------


async def test_make_primary_moves_primary_within_a_use(client: httpx.AsyncClient, alice: SignedIn) -> None:
    first = await add_address(client, alice, type="shipping")
    second = await add_address(client, alice, type="shipping")
    billing = await add_address(client, alice, type="billing")
    body = await make_primary(client, alice, second["id"])
    assert body["id"] == second["id"]
    assert body["is_primary"] is True
    assert await primaries(client, alice) == {"shipping": [second["id"]], "billing": [billing["id"]]}
    assert (await flags(client, alice))[first["id"]] is False


async def test_making_a_both_address_primary_takes_primary_from_both_uses(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    shipping = await add_address(client, alice, type="shipping")
    billing = await add_address(client, alice, type="billing")
    both = await add_address(client, alice, type="both")
    assert both["is_primary"] is False
    await make_primary(client, alice, both["id"])
    assert await primaries(client, alice) == {"shipping": [both["id"]], "billing": [both["id"]]}
    current = await flags(client, alice)
    assert current[shipping["id"]] is False
    assert current[billing["id"]] is False


async def test_making_a_shipping_address_primary_leaves_a_both_address_billing_less(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    both = await add_address(client, alice, type="both")
    billing = await add_address(client, alice, type="billing")
    shipping = await add_address(client, alice, type="shipping")
    await make_primary(client, alice, shipping["id"])
    assert await primaries(client, alice) == {"shipping": [shipping["id"]], "billing": []}
    await make_primary(client, alice, billing["id"])
    assert await primaries(client, alice) == {"shipping": [shipping["id"]], "billing": [billing["id"]]}
    assert (await flags(client, alice))[both["id"]] is False


async def test_make_primary_twice_changes_nothing(client: httpx.AsyncClient, alice: SignedIn) -> None:
    address = await add_address(client, alice, type="both")
    again = await make_primary(client, alice, address["id"])
    assert again == address


async def test_make_primary_touches_the_updated_at_of_the_address_that_lost_it(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    first = await add_address(client, alice)
    second = await add_address(client, alice)
    await make_primary(client, alice, second["id"])
    after = (await client.get(one(first["id"]), headers=alice.headers)).json()
    assert after["is_primary"] is False
    assert after["updated_at"] != first["updated_at"]


# --- PUT and PATCH -----------------------------------------------------------------------------


async def test_patch_is_primary_true_and_false(client: httpx.AsyncClient, alice: SignedIn) -> None:
    first = await add_address(client, alice, type="billing")
    second = await add_address(client, alice, type="billing")
    response = await client.patch(one(second["id"]), json={"is_primary": True}, headers=alice.headers)
    assert response.json()["is_primary"] is True
    assert await primaries(client, alice) == {"shipping": [], "billing": [second["id"]]}

    response = await client.patch(one(second["id"]), json={"is_primary": False}, headers=alice.headers)
    assert response.json()["is_primary"] is False
    # Nothing else becomes primary by itself.
    assert await primaries(client, alice) == {"shipping": [], "billing": []}
    assert (await flags(client, alice))[first["id"]] is False


async def test_put_with_is_primary_true_takes_primary(client: httpx.AsyncClient, alice: SignedIn) -> None:
    first = await add_address(client, alice, type="shipping")
    second = await add_address(client, alice, type="shipping")
    response = await client.put(
        one(second["id"]), json=address_body(type="shipping", is_primary=True), headers=alice.headers
    )
    assert response.json()["is_primary"] is True
    assert await primaries(client, alice) == {"shipping": [second["id"]], "billing": []}
    assert (await flags(client, alice))[first["id"]] is False


async def test_put_without_is_primary_keeps_the_flag(client: httpx.AsyncClient, alice: SignedIn) -> None:
    primary = await add_address(client, alice, type="shipping")
    other = await add_address(client, alice, type="shipping")
    kept = await client.put(one(primary["id"]), json=address_body(city="York"), headers=alice.headers)
    assert kept.json()["is_primary"] is True
    still_not = await client.put(one(other["id"]), json=address_body(city="York"), headers=alice.headers)
    assert still_not.json()["is_primary"] is False


async def test_a_type_change_that_collides_makes_the_edited_address_yield(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    shipping = await add_address(client, alice, type="shipping")
    billing = await add_address(client, alice, type="billing")
    response = await client.patch(one(shipping["id"]), json={"type": "both"}, headers=alice.headers)
    assert response.status_code == 200, response.text
    assert response.json()["is_primary"] is False
    assert await primaries(client, alice) == {"shipping": [], "billing": [billing["id"]]}


async def test_a_type_change_with_is_primary_true_takes_primary(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    shipping = await add_address(client, alice, type="shipping")
    billing = await add_address(client, alice, type="billing")
    response = await client.patch(
        one(shipping["id"]), json={"type": "both", "is_primary": True}, headers=alice.headers
    )
    assert response.json()["is_primary"] is True
    assert await primaries(client, alice) == {"shipping": [shipping["id"]], "billing": [shipping["id"]]}
    assert (await flags(client, alice))[billing["id"]] is False


async def test_a_type_change_without_a_collision_keeps_primary(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    shipping = await add_address(client, alice, type="shipping")
    response = await client.patch(one(shipping["id"]), json={"type": "both"}, headers=alice.headers)
    assert response.json()["is_primary"] is True
    assert await primaries(client, alice) == {"shipping": [shipping["id"]], "billing": [shipping["id"]]}
    response = await client.put(one(shipping["id"]), json=address_body(type="billing"), headers=alice.headers)
    assert response.json()["is_primary"] is True
    assert await primaries(client, alice) == {"shipping": [], "billing": [shipping["id"]]}


async def test_a_non_primary_address_changing_type_stays_non_primary(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    await add_address(client, alice, type="shipping")
    second = await add_address(client, alice, type="shipping")
    response = await client.patch(one(second["id"]), json={"type": "billing"}, headers=alice.headers)
    assert response.json()["is_primary"] is False


# --- delete ------------------------------------------------------------------------------------


async def test_deleting_a_primary_address_promotes_none(client: httpx.AsyncClient, alice: SignedIn) -> None:
    primary = await add_address(client, alice, type="both")
    other = await add_address(client, alice, type="both")
    assert (await client.delete(one(primary["id"]), headers=alice.headers)).status_code == 204
    assert await primaries(client, alice) == {"shipping": [], "billing": []}
    # The next new address of a use with no primary becomes primary by itself.
    newest = await add_address(client, alice, type="billing")
    assert newest["is_primary"] is True
    assert (await flags(client, alice))[other["id"]] is False


# --- the database's own guard ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("shipping", "shipping"),
        ("shipping", "both"),
        ("billing", "both"),
        ("both", "both"),
        ("billing", "billing"),
    ],
)
async def test_the_database_refuses_two_primaries_for_one_use(app: Any, first: str, second: str) -> None:
    insert = text(
        "INSERT INTO users.addresses (user_id, type, is_primary, first_name, last_name, address_line_1, "
        "city, postal_code, country_code) VALUES (:uid, :type, true, 'A', 'B', 'C', 'D', 'E', 'GB')"
    )
    uid = "6b1b4c8e-6f0e-4e0b-9a53-2d5b2a0f4c11"
    async with app.state.database.sessions() as session:
        await session.execute(insert, {"uid": uid, "type": first})
        with pytest.raises(IntegrityError, match="uq_addresses_primary_"):
            await session.execute(insert, {"uid": uid, "type": second})
        await session.rollback()


async def test_the_database_allows_one_primary_per_use(app: Any) -> None:
    insert = text(
        "INSERT INTO users.addresses (user_id, type, is_primary, first_name, last_name, address_line_1, "
        "city, postal_code, country_code) VALUES (:uid, :type, :primary, 'A', 'B', 'C', 'D', 'E', 'GB')"
    )
    uid = "6b1b4c8e-6f0e-4e0b-9a53-2d5b2a0f4c12"
    async with app.state.database.sessions() as session:
        for kind, primary in [("shipping", True), ("billing", True), ("both", False), ("shipping", False)]:
            await session.execute(insert, {"uid": uid, "type": kind, "primary": primary})
        await session.rollback()
