"""Injected values of the localization context: its services, built per request on the request's
session, and BASE_CURRENCY."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shop.core.config import Settings
from shop.core.db import DatabaseDep, ReadSessionDep, SessionDep
from shop.core.events import EventsDep
from shop.localization.active import ActiveCurrencies
from shop.localization.service import CurrencyService, LanguageService, RateService


async def get_base_currency(request: Request) -> str:
    """BASE_CURRENCY: the pivot of cross rates, and the default `base` of /exchange-rates."""
    settings: Settings = request.app.state.settings
    return settings.base_currency


BaseCurrency = Annotated[str, Depends(get_base_currency)]


async def get_language_service(session: SessionDep) -> LanguageService:
    return LanguageService(session)


async def get_currency_service(session: SessionDep) -> CurrencyService:
    return CurrencyService(session)


async def get_rate_service(session: SessionDep, pivot: BaseCurrency, events: EventsDep) -> RateService:
    return RateService(session, pivot=pivot, events=events)


# The services of the routes that only read: their session refuses writes (ADR 0007).
async def get_language_reader(session: ReadSessionDep) -> LanguageService:
    return LanguageService(session)


async def get_currency_reader(session: ReadSessionDep) -> CurrencyService:
    return CurrencyService(session)


async def get_rate_reader(session: ReadSessionDep, pivot: BaseCurrency) -> RateService:
    return RateService(session, pivot=pivot)


LanguageServiceDep = Annotated[LanguageService, Depends(get_language_service)]
CurrencyServiceDep = Annotated[CurrencyService, Depends(get_currency_service)]
RateServiceDep = Annotated[RateService, Depends(get_rate_service)]
LanguageReaderDep = Annotated[LanguageService, Depends(get_language_reader)]
CurrencyReaderDep = Annotated[CurrencyService, Depends(get_currency_reader)]
RateReaderDep = Annotated[RateService, Depends(get_rate_reader)]


async def get_active_currencies(request: Request, database: DatabaseDep) -> ActiveCurrencies:
    """The app's one `ActiveCurrencies`, made on first use."""
    state = request.app.state
    active: ActiveCurrencies | None = getattr(state, "active_currencies", None)
    if active is None:
        active = state.active_currencies = ActiveCurrencies(database)
    return active


ActiveCurrenciesDep = Annotated[ActiveCurrencies, Depends(get_active_currencies)]
