"""Injected values of the users context: its services, built per request on the request's session, and
lookups that 404 as chained dependencies."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Path, Request

from shop.core.config import Settings
from shop.core.db import SAFE_METHODS, DatabaseDep, SessionDep
from shop.core.events import EventsDep
from shop.core.security import CurrentUser
from shop.localization.public import message_language
from shop.users.models import Address
from shop.users.service import AddressService, ProfileService

AddressId = Annotated[uuid.UUID, Path(description="The address's id (a UUID).")]


async def get_profile_service(
    session: SessionDep, database: DatabaseDep, request: Request, events: EventsDep
) -> ProfileService:
    # Accept-Language picks the language of a profile that has to be created on first use; a reading
    # request's session cannot write it, so that creation gets a transaction of its own.
    return ProfileService(
        session,
        accept_language=request.headers.get("accept-language"),
        database=database if request.method in SAFE_METHODS else None,
        events=events,
    )


async def get_address_service(session: SessionDep, request: Request, events: EventsDep) -> AddressService:
    # ADDRESS_VALIDATION, and the language of the messages of a refused address (Accept-Language).
    settings: Settings = request.app.state.settings
    return AddressService(
        session,
        events=events,
        strict=settings.address_validation == "strict",
        language=message_language(request.headers.get("accept-language")),
    )


ProfileServiceDep = Annotated[ProfileService, Depends(get_profile_service)]
AddressServiceDep = Annotated[AddressService, Depends(get_address_service)]


async def owned_address(user: CurrentUser, address_id: AddressId, addresses: AddressServiceDep) -> Address:
    """The caller's address; someone else's is a 404 exactly like a missing one."""
    return await addresses.get(user.user_id, address_id)


OwnedAddress = Annotated[Address, Depends(owned_address)]
