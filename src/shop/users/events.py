"""The users context's public events, published inside the transaction of the change (re-exported by
`public.py`). Each carries the object as the API answers it, JSON-ready."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ProfileUpdated:
    user_id: uuid.UUID
    profile: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class AddressCreated:
    user_id: uuid.UUID
    address: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class AddressUpdated:
    user_id: uuid.UUID
    address: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class AddressDeleted:
    user_id: uuid.UUID
    address_id: uuid.UUID
