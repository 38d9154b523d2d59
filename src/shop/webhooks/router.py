"""Admin routes of webhooks: the endpoints other services receive events at, and their deliveries."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Response, status

from shop.core.db import READS_ONLY
from shop.core.errors import Forbidden, InvalidInput, NotFound
from shop.core.openapi import operation_ids
from shop.core.problems import problem_responses
from shop.core.routing import ADMIN_PREFIX
from shop.core.security import AdminUser
from shop.webhooks.dependencies import DeliveryId, EndpointId, EndpointServiceDep
from shop.webhooks.errors import WebhookTargetNotAllowed
from shop.webhooks.models import PENDING
from shop.webhooks.schemas import (
    DeliveryOut,
    EndpointCreated,
    EndpointIn,
    EndpointOut,
    EndpointUpdate,
    SecretOut,
)

router = APIRouter(
    prefix=f"{ADMIN_PREFIX}/webhooks",
    tags=["webhooks"],
    generate_unique_id_function=operation_ids("webhooks"),
)

_FOUND = problem_responses(Forbidden, NotFound, bearer=True)


@router.get(
    "",
    dependencies=[READS_ONLY],
    response_model=list[EndpointOut],
    responses=problem_responses(Forbidden, bearer=True),
)
async def list_endpoints(_: AdminUser, endpoints: EndpointServiceDep) -> list[EndpointOut]:
    """Every webhook endpoint (admins only), oldest first. Secrets are never shown here."""
    return [EndpointOut.model_validate(endpoint) for endpoint in await endpoints.list_all()]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=EndpointCreated,
    responses=problem_responses(Forbidden, WebhookTargetNotAllowed, InvalidInput, bearer=True),
)
async def create_endpoint(body: EndpointIn, _: AdminUser, endpoints: EndpointServiceDep) -> EndpointCreated:
    """Register an endpoint for some event types (or `["*"]`). The answer holds its signing secret,
    shown only here: messages are signed as Standard Webhooks says. A URL that is not https (in
    production) or whose host is or resolves to a loopback, private, link-local, multicast or
    unspecified address is `422 webhook_target_not_allowed`."""
    created = await endpoints.create(body.url, list(body.events), body.description)
    return EndpointCreated.model_validate(
        {**EndpointOut.model_validate(created.endpoint).model_dump(), "secret": created.secret}
    )


@router.patch(
    "/{endpoint_id}",
    response_model=EndpointOut,
    responses=problem_responses(Forbidden, NotFound, WebhookTargetNotAllowed, InvalidInput, bearer=True),
)
async def update_endpoint(
    endpoint_id: EndpointId, body: EndpointUpdate, _: AdminUser, endpoints: EndpointServiceDep
) -> EndpointOut:
    """Change an endpoint's URL (checked as at creation), event types, description, or pause it
    (`is_active: false`: its deliveries wait until it is active again)."""
    values = body.model_dump(include=body.model_fields_set)
    for required in ("url", "events", "is_active"):
        if required in values and values[required] is None:
            raise InvalidInput(["body", required], "may not be null")
    return EndpointOut.model_validate(await endpoints.update(endpoint_id, values))


@router.delete(
    "/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, responses=_FOUND
)
async def delete_endpoint(endpoint_id: EndpointId, _: AdminUser, endpoints: EndpointServiceDep) -> None:
    """Delete an endpoint; its pending deliveries are dropped."""
    await endpoints.delete(endpoint_id)


@router.post("/{endpoint_id}/rotate-secret", response_model=SecretOut, responses=_FOUND)
async def rotate_secret(endpoint_id: EndpointId, _: AdminUser, endpoints: EndpointServiceDep) -> SecretOut:
    """A new signing secret, shown only here. For 24 hours each message carries two signatures,
    by the new secret and by the previous one, so the receiver can switch at its own pace."""
    return SecretOut(secret=await endpoints.rotate_secret(endpoint_id))


@router.post(
    "/{endpoint_id}/test", status_code=status.HTTP_202_ACCEPTED, response_class=Response, responses=_FOUND
)
async def send_test(endpoint_id: EndpointId, _: AdminUser, endpoints: EndpointServiceDep) -> None:
    """Send a `webhook.test` message to this endpoint alone (delivered like any other)."""
    await endpoints.send_test(endpoint_id)


@router.get(
    "/{endpoint_id}/deliveries", dependencies=[READS_ONLY], response_model=list[DeliveryOut], responses=_FOUND
)
async def list_deliveries(
    endpoint_id: EndpointId,
    _: AdminUser,
    endpoints: EndpointServiceDep,
    status: Literal["pending", "delivered", "failed"] | None = Query(default=None),
) -> list[DeliveryOut]:
    """The endpoint's 50 newest deliveries, optionally of one status."""
    deliveries = await endpoints.list_deliveries(endpoint_id, status)
    return [
        DeliveryOut.model_validate(
            {
                **DeliveryOut.model_validate(delivery).model_dump(),
                "next_attempt_at": delivery.next_attempt_at if delivery.status == PENDING else None,
            }
        )
        for delivery in deliveries
    ]


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,
    responses=_FOUND,
)
async def retry_delivery(
    endpoint_id: EndpointId, delivery_id: DeliveryId, _: AdminUser, endpoints: EndpointServiceDep
) -> None:
    """Try a delivery again at once (a `failed` one gets one more try)."""
    await endpoints.retry(endpoint_id, delivery_id)
