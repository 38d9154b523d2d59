"""HTTP endpoints of the users context."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["users"])
