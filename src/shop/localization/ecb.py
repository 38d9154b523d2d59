"""Fetching the ECB's daily reference rates over HTTP (httpx), with a timeout and retries.

The ECB publishes `eurofxref-daily.xml` each TARGET working day at about 16:00 Europe/Frankfurt.
`ECB_RATES_URL` says where to read it (an operator's setting: a mirror or a proxy may stand in).
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx

TIMEOUT_SECONDS = 10.0
ATTEMPTS = 3
BACKOFF_SECONDS = 1.0
MAX_BYTES = 4 * 1024 * 1024  # the daily file is ~2 kB, the whole history ~600 kB
FRANKFURT = ZoneInfo("Europe/Berlin")  # Frankfurt am Main keeps Berlin's time
PUBLICATION = time(16, 0)
# Server errors and throttling are worth another try; other HTTP errors are not.
_RETRYABLE = {429, 500, 502, 503, 504}


class FetchFailed(Exception):
    """The file could not be fetched; the message names the cause in one line."""


async def fetch_ecb(
    url: str,
    *,
    attempts: int = ATTEMPTS,
    wait_seconds: float = TIMEOUT_SECONDS,
    backoff: float = BACKOFF_SECONDS,
) -> str:
    """The body of `url` as text. Raises FetchFailed after `attempts` tries (connection failures,
    timeouts and 5xx are tried again, with a growing pause)."""
    transport = httpx.AsyncHTTPTransport(retries=1)  # connection set-up failures, at once
    cause = "no attempt made"
    async with httpx.AsyncClient(
        transport=transport,
        timeout=wait_seconds,
        follow_redirects=True,
        headers={"Accept": "application/xml"},
    ) as client:
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(backoff * 2 ** (attempt - 1))
            try:
                response = await client.get(url)
            except httpx.TimeoutException:
                cause = f"no answer within {wait_seconds:g} s"
                continue
            except httpx.InvalidURL as exc:
                raise FetchFailed(f"not a usable URL ({exc})") from None
            except httpx.HTTPError as exc:
                cause = f"cannot connect ({type(exc).__name__}: {exc or 'no detail'})"
                continue
            if response.status_code in _RETRYABLE:
                cause = f"HTTP {response.status_code}"
                continue
            if response.status_code != 200:
                raise FetchFailed(f"HTTP {response.status_code}")
            if len(response.content) > MAX_BYTES:
                raise FetchFailed(f"the answer is larger than {MAX_BYTES} bytes")
            try:
                return response.content.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise FetchFailed("the answer is not UTF-8 text") from None
    raise FetchFailed(f"{cause} (after {attempts} attempts)")


def latest_publication(now: datetime) -> date:
    """The day of the ECB's latest publication at `now`: today after 16:00 Frankfurt time on a
    working day (Monday to Friday), else the working day before. (TARGET holidays are not known here:
    on one, the file fetched is the day before's, and nothing new is stored.)"""
    local = now.astimezone(FRANKFURT)
    day = local.date()
    if local.time() < PUBLICATION:
        day -= timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def next_publication(now: datetime) -> datetime:
    """When the ECB publishes next after `now` (16:00 Frankfurt time of the next working day)."""
    local = now.astimezone(FRANKFURT)
    day = local.date()
    if local.time() >= PUBLICATION:
        day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, PUBLICATION, tzinfo=FRANKFURT)
