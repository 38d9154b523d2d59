"""The errors the webhooks context owns."""

from __future__ import annotations

from shop.core.errors import ShopError


class WebhookTargetNotAllowed(ShopError):
    """The URL may not receive webhooks: not https in production, or its host is (or resolves to) a
    loopback, private, link-local, multicast or unspecified address."""

    status, code, detail = 422, "webhook_target_not_allowed", "This URL may not receive webhooks."
