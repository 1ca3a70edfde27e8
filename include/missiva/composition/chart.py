"""Bar charts drawn as inline SVG from a record's data (e.g. a statement's last months).

No script and no external resource: the same SVG shows in the PDF letter (WeasyPrint)
and on the web page, and the same data always gives the same bytes (``audit rerender``
compares hashes). Text is escaped: labels may come from customer data.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from babel.numbers import format_decimal
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

from missiva.composition.text import (
    FALLBACK_LOCALE,
    format_date,
    format_money,
    format_number,
    from_cents,
)

WIDTH, HEIGHT = 280, 110  # at the letter's 48 % of 170 mm, 11 units print at 9 pt
_TOP, _BOTTOM = 18, 22  # room for the value above a bar and the label below it
BAR_COLOUR, LAST_BAR_COLOUR, AXIS_COLOUR, TEXT_COLOUR = "#9fb3c8", "#0b5c8e", "#52606d", "#1f2933"
_TEXT = f'font-family="Missiva Sans, DejaVu Sans, sans-serif" font-size="11" fill="{TEXT_COLOUR}"'


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str  # the value in full (unit included), for the text alternative
    printed: str = ""  # the value as printed above the bar (default: ``text``)


def bar_chart_svg(bars: Sequence[Bar], title: str) -> Markup:
    """A bar chart of ``bars`` (the last one highlighted), each value printed above its
    bar; a value below zero draws no bar. The text alternative (``aria-label`` on screen,
    ``<title>``, the PDF figure's ``/Alt``) is ``title`` followed by the data it plots."""
    highest = max((bar.value for bar in bars), default=0) or 1
    slot = WIDTH / max(len(bars), 1)
    plot = HEIGHT - _TOP - _BOTTOM
    shapes = [
        f'<line x1="0" y1="{_TOP + plot}" x2="{WIDTH}" y2="{_TOP + plot}" '
        f'stroke="{AXIS_COLOUR}" stroke-width="1"/>'
    ]
    for index, bar in enumerate(bars):
        height = plot * max(bar.value, 0) / highest
        top = _TOP + plot - height
        middle = index * slot + slot / 2
        colour = LAST_BAR_COLOUR if index == len(bars) - 1 else BAR_COLOUR
        shapes += [
            f'<rect x="{index * slot + slot * 0.2:.1f}" y="{top:.1f}" width="{slot * 0.6:.1f}" '
            f'height="{height:.1f}" fill="{colour}"/>',
            f'<text x="{middle:.1f}" y="{top - 4:.1f}" text-anchor="middle" {_TEXT}>'
            f"{escape(bar.printed or bar.text)}</text>",
            f'<text x="{middle:.1f}" y="{HEIGHT - 6}" text-anchor="middle" {_TEXT}>'
            f"{escape(bar.label)}</text>",
        ]
    data = "; ".join(f"{bar.label}: {bar.text}" for bar in bars)
    alternative = escape(f"{title}: {data}" if data else title)
    return Markup(  # noqa: S704 - every text above is escaped
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'aria-label="{alternative}" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}"><title>{alternative}</title>' + "".join(shapes) + "</svg>"
    )


@pass_context
def bar_chart_filter(
    ctx: Context,
    rows: Sequence[Mapping[str, Any]],
    value: str,
    title: str,
    *,
    month: str = "period",
    currency: str | None = None,
    unit: str | None = None,
) -> Markup:
    """``{{ history | bar_chart("total_cents", t.chart_title, currency=currency) }}``: one
    bar per row, labelled with its ``month`` ('YYYY-MM') in the customer's locale; the
    values are cents of ``currency``, or numbers of ``unit``. Bars show the bare number
    (the caption names the unit: labels stay apart at a legible size); the text
    alternative states each value with its unit."""
    locale = ctx.get("locale") or FALLBACK_LOCALE

    def text(amount: int | float) -> tuple[str, str]:
        if currency:
            units = from_cents(amount)
            return format_money(units, currency, locale), format_decimal(
                units, "#,##0.00", locale=locale
            )
        number = format_number(amount, locale)
        return (f"{number} {unit}" if unit else number), number

    bars = [
        Bar(
            format_date(f"{row[month]}-01", locale, "MMM yy"),
            row[value] or 0,
            *text(row[value] or 0),
        )
        for row in rows
    ]
    return bar_chart_svg(bars, title)
