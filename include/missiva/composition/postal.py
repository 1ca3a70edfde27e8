"""The recipient's address as printed in the envelope window, line by line.

One function for the letter (``blocks/address.html``) and for the envelope JSON and the
print manifest (:mod:`missiva.channels.paper`), so that they hold the same lines.
Italian order: postcode then town in capitals; UK order: town, then postcode (both in
capitals); abroad, the country's English name in capitals on the last line.
"""

import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context

from missiva.paths import TEMPLATES_DIR

COUNTRY_NAMES = {
    "GB": "UNITED KINGDOM",
    "IE": "IRELAND",
    "FR": "FRANCE",
    "DE": "GERMANY",
    "ES": "SPAIN",
    "CH": "SWITZERLAND",
    "AT": "AUSTRIA",
    "SM": "SAN MARINO",
    "VA": "VATICAN CITY",
}


@cache
def home_country() -> str:
    """The sender's country (``brand.json`` ``country``): no country line for it."""
    brand = json.loads((TEMPLATES_DIR / "brand.json").read_text(encoding="utf-8"))
    return str(brand.get("country", "IT")).upper()


def _text(value: Any) -> str:
    return " ".join(str(value or "").split())


def window_lines(record: Mapping[str, Any], home: str | None = None) -> list[str]:
    """The address block's lines (empty optional lines left out)."""
    code = _text(record.get("country")).upper()
    city, postcode = _text(record.get("city")).upper(), _text(record.get("postal_code"))
    town = [city, postcode.upper()] if code == "GB" else [f"{postcode} {city}".strip()]
    lines = [
        _text(f"{_text(record.get('first_name'))} {_text(record.get('last_name'))}"),
        _text(record.get("address_line1")),
        _text(record.get("address_line2")),
        *town,
    ]
    if code and code != (home or home_country()):
        lines.append(COUNTRY_NAMES.get(code, code))
    return [line for line in lines if line]


@pass_context
def window_lines_global(ctx: Context) -> list[str]:
    """``{% for line in window_lines() %}``: the template's record, brand's country."""
    return window_lines(ctx, ctx["brand"].get("country"))
