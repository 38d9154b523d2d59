"""HTTP endpoints of the users context: the caller's own profile and addresses."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from shop.core.errors import InvalidInput, NotFound
from shop.core.openapi import operation_ids
from shop.core.problems import problem_responses
from shop.core.routing import API_PREFIX
from shop.core.security import CurrentUser
from shop.localization.public import UnknownCurrency, UnknownLanguage
from shop.users.dependencies import (
    AddressId,
    AddressReaderDep,
    AddressServiceDep,
    OwnedAddress,
    ProfileReaderDep,
    ProfileServiceDep,
)
from shop.users.errors import AddressLimit
from shop.users.schemas import AddressIn, AddressOut, AddressUpdate, ProfileOut, ProfileReplace, ProfileUpdate

router = APIRouter(
    prefix=API_PREFIX,
    tags=["users"],
    generate_unique_id_function=operation_ids("users"),
    responses=problem_responses(bearer=True),
)

_PROFILE_ERRORS = problem_responses(InvalidInput, UnknownLanguage, UnknownCurrency)
_ADDRESS_ERRORS = problem_responses(NotFound, InvalidInput)
# --- profile -----------------------------------------------------------------------------------


@router.get("/profile", response_model=ProfileOut)
async def get_profile(user: CurrentUser, profiles: ProfileReaderDep) -> ProfileOut:
    """The caller's profile. Every user has one from registration on, with `preferred_language` the
    best active match of the registration's `Accept-Language` (else `en`) and `preferred_currency`
    `USD`."""
    return ProfileOut.model_validate(await profiles.get(user.user_id))


@router.put("/profile", response_model=ProfileOut, responses=_PROFILE_ERRORS)
async def replace_profile(user: CurrentUser, body: ProfileReplace, profiles: ProfileServiceDep) -> ProfileOut:
    """Set every editable field of the caller's profile. A name or phone left out becomes null; a
    language or currency left out becomes the default (`en`, `USD`).

    `phone` is taken in international form (`+44 20 7946 0958`) and stored as E.164
    (`+442079460958`). `preferred_language` and `preferred_currency` must be active codes
    (`GET /languages`, `GET /currencies`): otherwise 422 `unknown_language` / `unknown_currency`."""
    return ProfileOut.model_validate(await profiles.replace(user.user_id, body))


@router.patch("/profile", response_model=ProfileOut, responses=_PROFILE_ERRORS)
async def update_profile(user: CurrentUser, body: ProfileUpdate, profiles: ProfileServiceDep) -> ProfileOut:
    """Change only the fields sent; the rules are those of `PUT /profile`. Names and phone may be set
    to null to clear them."""
    return ProfileOut.model_validate(await profiles.update(user.user_id, body))


# --- addresses ---------------------------------------------------------------------------------


@router.get("/addresses", response_model=list[AddressOut])
async def list_addresses(user: CurrentUser, addresses: AddressReaderDep) -> list[AddressOut]:
    """The caller's addresses (at most 20): primary ones first, then the newest first."""
    return [AddressOut.model_validate(address) for address in await addresses.list_for(user.user_id)]


@router.post(
    "/addresses",
    response_model=AddressOut,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(AddressLimit, InvalidInput),
)
async def create_address(
    user: CurrentUser, body: AddressIn, addresses: AddressServiceDep, request: Request, response: Response
) -> AddressOut:
    """Add an address (at most 20 per user: 409 `address_limit`).

    Per user and per use (shipping, billing) at most one address is primary; a `both` address serves
    both uses. `is_primary: true` makes the new address primary and takes primary from the caller's
    addresses that share a use with it; `is_primary: false` keeps it from being primary. Left out, the
    new address becomes primary by itself when none of its uses has a primary address yet (so a `both`
    address added while a shipping address is primary is not primary).

    The address must follow its country's rules (unless ADDRESS_VALIDATION=off): the fields it requires,
    its postal code's pattern, a region among its regions (stored as the data's key: `california` →
    `CA`). A failure is `422 validation_error` whose `errors` name the field with a `type` of
    `address.required`, `address.invalid_postal_code` or `address.invalid_region`, and a `msg` in the
    language of `Accept-Language`; GET /countries/{code}/address-format tells a form the rules. The
    answer's `formatted` writes the address as its country does."""
    address = await addresses.create(user.user_id, body)
    response.headers["Location"] = request.url_for("get_address", address_id=address.id).path
    return AddressOut.model_validate(address)


@router.get("/addresses/{address_id}", response_model=AddressOut, responses=_ADDRESS_ERRORS)
async def get_address(address: OwnedAddress) -> AddressOut:
    """One of the caller's addresses. Another user's address is 404, exactly like a missing one."""
    return AddressOut.model_validate(address)


@router.put("/addresses/{address_id}", response_model=AddressOut, responses=_ADDRESS_ERRORS)
async def replace_address(
    user: CurrentUser, address_id: AddressId, body: AddressIn, addresses: AddressServiceDep
) -> AddressOut:
    """Replace every field of one of the caller's addresses; an optional field left out becomes null.

    `is_primary: true` makes it primary (taking primary from the caller's addresses sharing a use with
    it), `false` makes it not primary; left out, the address keeps its flag — except when a new `type`
    would give a use two primary addresses: then this address stops being primary.

    The address must follow its country's rules (unless ADDRESS_VALIDATION=off): the fields it requires,
    its postal code's pattern, a region among its regions (stored as the data's key: `california` →
    `CA`). A failure is `422 validation_error` whose `errors` name the field with a `type` of
    `address.required`, `address.invalid_postal_code` or `address.invalid_region`, and a `msg` in the
    language of `Accept-Language`; GET /countries/{code}/address-format tells a form the rules. The
    answer's `formatted` writes the address as its country does."""
    return AddressOut.model_validate(await addresses.replace(user.user_id, address_id, body))


@router.patch("/addresses/{address_id}", response_model=AddressOut, responses=_ADDRESS_ERRORS)
async def update_address(
    user: CurrentUser, address_id: AddressId, body: AddressUpdate, addresses: AddressServiceDep
) -> AddressOut:
    """Change only the fields sent; the rules are those of `PUT /addresses/{address_id}`."""
    return AddressOut.model_validate(await addresses.update(user.user_id, address_id, body))


@router.delete(
    "/addresses/{address_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=_ADDRESS_ERRORS,
)
async def delete_address(user: CurrentUser, address_id: AddressId, addresses: AddressServiceDep) -> None:
    """Delete one of the caller's addresses. Deleting a primary address makes no other address
    primary: choose the next one with `POST /addresses/{address_id}/primary`."""
    await addresses.delete(user.user_id, address_id)


@router.post("/addresses/{address_id}/primary", response_model=AddressOut, responses=_ADDRESS_ERRORS)
async def make_address_primary(
    user: CurrentUser, address_id: AddressId, addresses: AddressServiceDep
) -> AddressOut:
    """Make the address the primary one of each use it serves, taking primary from the caller's other
    addresses that share a use with it. Doing it again changes nothing."""
    return AddressOut.model_validate(await addresses.make_primary(user.user_id, address_id))
