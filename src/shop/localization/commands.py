"""`shop import-rates FILE`: load the European Central Bank's reference rates (eurofxref XML).

The ECB publishes, for each business day, how much of each currency one euro buys, in the format of
`eurofxref-daily.xml` (one day), `eurofxref-hist-90d.xml` and `eurofxref-hist.xml` (many days):

    <gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01"
                     xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
      <Cube><Cube time="2026-11-20"><Cube currency="USD" rate="1.0852"/>…</Cube></Cube>
    </gesmes:Envelope>

Each becomes an EUR→X rate with source `ECB`, effective at 15:00 UTC of its day. Currencies missing
from the reference data are skipped and counted; importing a file again stores nothing new.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from xml.etree import ElementTree

from tqdm import tqdm

from shop.core.db import Database
from shop.localization.repository import CurrencyRepository, RateRepository, StoredRate
from shop.localization.schemas import plain_decimal

GESMES = "http://www.gesmes.org/xml/2002-08-01"
EUROFXREF = "http://www.ecb.int/vocabulary/2002-08-01/eurofxref"
ECB = "ECB"
EURO = "EUR"
PUBLISHED_AT = time(15, 0, tzinfo=UTC)
BATCH = 5000
PROGRESS_FROM = 2 * BATCH  # rates; smaller files load too fast for a bar to help

_UNSAFE = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_CODE = re.compile(r"^[A-Z]{3}$")


class BadFile(Exception):
    """The file is not a usable ECB reference-rate file; the message says why, in one line."""


@dataclass(frozen=True, slots=True)
class EcbRate:
    day: date
    currency: str
    rate: Decimal


@dataclass(slots=True)
class ImportReport:
    file: str
    days: int = 0
    found: int = 0
    stored: int = 0
    skipped: int = 0
    skipped_codes: set[str] = field(default_factory=set)

    @property
    def already_present(self) -> int:
        return self.found - self.skipped - self.stored

    def __str__(self) -> str:
        text = (
            f"{self.file}: {self.days} day(s), {self.found} rate(s): {self.stored} stored, "
            f"{self.already_present} already present, {self.skipped} skipped"
        )
        if self.skipped_codes:
            text += f" (not in the reference data: {', '.join(sorted(self.skipped_codes))})"
        return text


def _read(file: str) -> str:
    try:
        data = Path(file).read_bytes()
    except OSError as exc:
        raise BadFile(f"cannot read the file: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadFile("not UTF-8 text: not an ECB reference-rate XML file") from None


def _rate(value: str | None, currency: str, day: date) -> Decimal:
    """The rules of a rate given through the API (`schemas.plain_decimal`), for a rate in a file."""
    try:
        return Decimal(plain_decimal(value or "", positive=True))
    except ValueError as exc:
        raise BadFile(f"rate {value!r} of {currency} on {day} is not a plain decimal > 0: it {exc}") from None


def parse_ecb(text: str) -> list[EcbRate]:
    """Every (day, currency, rate) of an eurofxref XML document. Raises BadFile."""
    # No DTD, hence no entity expansion (billion laughs) and no external entities: the ECB's files
    # never carry one.
    if _UNSAFE.search(text):
        raise BadFile("refusing an XML file with a DTD or entity declarations")
    try:
        root = ElementTree.fromstring(text, parser=ElementTree.XMLParser())  # noqa: S314  (no DTD: see above)
    except ElementTree.ParseError as exc:
        raise BadFile(f"not well-formed XML ({exc})") from None
    outer = root.find(f"{{{EUROFXREF}}}Cube")
    if root.tag != f"{{{GESMES}}}Envelope" or outer is None:
        raise BadFile("not an ECB reference-rate file (expected gesmes:Envelope with a Cube of days)")
    rates: list[EcbRate] = []
    for day_cube in outer.iterfind(f"{{{EUROFXREF}}}Cube"):
        try:
            day = date.fromisoformat(day_cube.get("time") or "")
        except ValueError:
            raise BadFile(f"day {day_cube.get('time')!r} is not a YYYY-MM-DD date") from None
        for rate_cube in day_cube.iterfind(f"{{{EUROFXREF}}}Cube"):
            currency = rate_cube.get("currency") or ""
            if not _CODE.fullmatch(currency):
                raise BadFile(f"currency {currency!r} on {day} is not an ISO 4217 code")
            rates.append(EcbRate(day, currency, _rate(rate_cube.get("rate"), currency, day)))
    if not rates:
        raise BadFile("no exchange rates in the file")
    return rates


def _batches(rates: list[StoredRate]) -> Iterator[list[StoredRate]]:
    for start in range(0, len(rates), BATCH):
        yield rates[start : start + BATCH]


async def import_rates(database: Database, file: str) -> str:
    """Import an ECB file into `database`; returns the report. A bad file raises
    SystemExit with a one-line message (no traceback)."""
    try:
        parsed = parse_ecb(_read(file))
    except BadFile as exc:
        raise SystemExit(f"shop import-rates: {file}: {exc}") from None
    except (InvalidOperation, RecursionError) as exc:  # defensive: malformed beyond our checks
        raise SystemExit(f"shop import-rates: {file}: not a usable ECB file ({type(exc).__name__})") from None

    report = ImportReport(file=file, days=len({rate.day for rate in parsed}), found=len(parsed))
    # The command is its own unit of work: all or nothing.
    async with database.unit_of_work() as session:
        rates = RateRepository(session)
        known = await CurrencyRepository(session).list_codes()
        unique: dict[tuple[str, datetime], StoredRate] = {}
        for item in parsed:
            if item.currency not in known or item.currency == EURO:
                report.skipped += 1
                report.skipped_codes.add(item.currency)
                continue
            effective = datetime.combine(item.day, PUBLISHED_AT)
            # A file listing one currency twice on one day: the first entry wins, as on re-import.
            unique.setdefault(
                (item.currency, effective), StoredRate(EURO, item.currency, item.rate, effective, ECB)
            )
        rows = list(unique.values())
        with tqdm(
            total=len(rows),
            unit="rate",
            desc="importing",
            file=sys.stderr,
            disable=len(rows) < PROGRESS_FROM or not sys.stderr.isatty(),
        ) as progress:
            for batch in _batches(rows):
                report.stored += await rates.add_many_ignoring_existing(batch)
                progress.update(len(batch))
    return str(report)
