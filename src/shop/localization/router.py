"""HTTP endpoints of the localization context."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["localization"])
