"""The ASGI app: `shop.main:app` (what `shop serve` and every uvicorn worker import).

Building it reads the settings from the environment and connects to nothing; the database, Redis
and the mail sender start with the app's lifespan. Code that wants an app of its own (tests, tools)
calls `shop.bootstrap.create_app` instead of importing this module."""

from __future__ import annotations

from shop.bootstrap import create_app

app = create_app()
