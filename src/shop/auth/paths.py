"""Where auth's endpoints are: every capability's router under `AUTH_PREFIX`, which the pages post to
and the bearer guard's policy names."""

from __future__ import annotations

from shop.core.routing import API_PREFIX

AUTH_PREFIX = f"{API_PREFIX}/auth"
