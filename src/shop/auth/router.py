"""HTTP endpoints of the auth context."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["auth"])
admin_router = APIRouter(tags=["admin"])
