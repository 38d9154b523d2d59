"""Injected values of the webhooks context."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Path, Request

from shop.core.config import Settings
from shop.core.db import SessionDep
from shop.webhooks.service import EndpointService

EndpointId = Annotated[uuid.UUID, Path(description="The endpoint's id (a UUID).")]
DeliveryId = Annotated[uuid.UUID, Path(description="The delivery's id (a UUID).")]


async def get_endpoint_service(session: SessionDep, request: Request) -> EndpointService:
    settings: Settings = request.app.state.settings
    return EndpointService(session, settings)


EndpointServiceDep = Annotated[EndpointService, Depends(get_endpoint_service)]
