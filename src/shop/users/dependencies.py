"""Services of the users context, built per request on the request's session."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shop.core.db import SessionDep
from shop.users.service import AddressService, ProfileService


def profile_service(session: SessionDep, request: Request) -> ProfileService:
    # Accept-Language picks the language of a profile that has to be created on first use.
    return ProfileService(session, accept_language=request.headers.get("accept-language"))


def address_service(session: SessionDep) -> AddressService:
    return AddressService(session)


ProfileServiceDep = Annotated[ProfileService, Depends(profile_service)]
AddressServiceDep = Annotated[AddressService, Depends(address_service)]
