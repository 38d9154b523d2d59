"""Injected values of the users context: its services, built per request on the request's session, and
lookups that 404 as chained dependencies."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Path, Request

from shop.core.config import Settings
from shop.core.db import ReadSessionDep, SessionDep
from shop.core.events import EventsDep
from shop.core.security import CurrentUser
from shop.localization.public import message_language
from shop.users.models import Address
from shop.users.service import AddressService, ProfileService

AddressId = Annotated[uuid.UUID, Path(description="The address's id (a UUID).")]


async def get_profile_service(session: SessionDep, events: EventsDep) -> ProfileService:
    return ProfileService(session, events=events)


async def get_profile_reader(session: ReadSessionDep) -> ProfileService:
    """The profile service of a route that only reads: its session refuses writes."""
    return ProfileService(session)


async def get_address_service(session: SessionDep, request: Request, events: EventsDep) -> AddressService:
    # ADDRESS_VALIDATION, and the language of the messages of a refused address (Accept-Language).
    settings: Settings = request.app.state.settings
    return AddressService(
        session,
        events=events,
        strict=settings.address_validation == "strict",
        language=message_language(request.headers.get("accept-language")),
    )


async def get_address_reader(session: ReadSessionDep) -> AddressService:
    """The address service of a route that only reads: its session refuses writes."""
    return AddressService(session)


ProfileServiceDep = Annotated[ProfileService, Depends(get_profile_service)]
ProfileReaderDep = Annotated[ProfileService, Depends(get_profile_reader)]
AddressServiceDep = Annotated[AddressService, Depends(get_address_service)]
AddressReaderDep = Annotated[AddressService, Depends(get_address_reader)]


async def owned_address(user: CurrentUser, address_id: AddressId, addresses: AddressReaderDep) -> Address:
    """The caller's address; someone else's is a 404 exactly like a missing one."""
    return await addresses.get(user.user_id, address_id)


OwnedAddress = Annotated[Address, Depends(owned_address)]
