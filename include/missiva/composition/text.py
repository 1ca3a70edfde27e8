"""Text helpers for composition: Babel-localized dates and amounts, header-safe strings."""

import re
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from babel.dates import format_date as _babel_date
from babel.numbers import format_currency as _babel_currency
from babel.numbers import format_decimal as _babel_decimal

#: Babel locale per communication language (the brand's ``locales`` may override it).
DEFAULT_LOCALES: dict[str, str] = {"it": "it_IT", "en": "en_GB"}
FALLBACK_LOCALE = "en_GB"

# C0/C1 control characters (CR, LF, TAB, NUL...) and Unicode line/paragraph separators.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def as_date(value: date | str) -> date:
    """A ``date`` from a date, a datetime or an ISO string such as ``'2026-11-02 10:00:00'``."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value.strip()[:10])
    raise TypeError(f"not a date: {value!r}")


def as_decimal(value: Decimal | int | float | str) -> Decimal:
    """An exact ``Decimal`` from a number or a numeric string (floats via their repr)."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise TypeError(f"not an amount: {value!r}")
    amount = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    if not amount.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    return amount


def locale_for(lang: str) -> str:
    """The Babel locale of a language code (``it`` -> ``it_IT``); unknown -> ``en_GB``."""
    return DEFAULT_LOCALES.get(lang, FALLBACK_LOCALE)


@lru_cache(maxsize=8192)  # Babel formatting dominates an e-mail render
def format_date(value: date | str, locale: str, fmt: str = "long") -> str:
    """A date in ``locale``: ``2 novembre 2026`` (it_IT) / ``2 November 2026`` (en_GB)."""
    return _babel_date(as_date(value), fmt, locale=locale)


@lru_cache(maxsize=8192)  # Babel formatting dominates an e-mail render
def format_money(value: Decimal | int | float | str, currency: str, locale: str) -> str:
    """An amount of ``currency`` in ``locale``: ``1.234,50 €`` / ``€1,234.50``."""
    return _babel_currency(as_decimal(value), currency, locale=locale)


@lru_cache(maxsize=8192)  # Babel formatting dominates an e-mail render
def format_number(value: Decimal | int | float | str, locale: str) -> str:
    """A number in ``locale``: ``1.234,5`` / ``1,234.5``."""
    return _babel_decimal(as_decimal(value), locale=locale)


def from_cents(value: int | str) -> Decimal:
    """An amount stored in cents (``premium_cents``) as a ``Decimal`` in units."""
    return as_decimal(int(value)).scaleb(-2)


def long_date(value: date | str, lang: str = "it") -> str:
    """Spell a date out in ``lang``: ``2 novembre 2026`` / ``2 November 2026`` (Babel)."""
    return format_date(value, locale_for(lang))


def iso_date(value: date | str) -> str:
    """The date part as ``YYYY-MM-DD`` (what WeasyPrint reads from ``dcterms`` metadata)."""
    return as_date(value).isoformat()


def clean_header(value: str) -> str:
    """Make ``value`` safe for a one-line header: no control characters, single spaces."""
    return " ".join(_CONTROL_RE.sub(" ", value).split())
