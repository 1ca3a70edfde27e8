"""Legible mandatory disclosures: no style may make the regulatory blocks small or faint.

Every rule of ``styles/*.css`` whose selector names a regulatory block (``.regulatory``,
``.privacy``, ``.cooling-off``...) is checked: a ``font-size`` of at least 9 pt on paper
(``pt``, ``mm``) and 14 px on screens (``px``, ``rem`` at 16 px), no ``em``/``%`` below
1, a text ``color`` with a contrast of at least 4.5:1 (WCAG AA) on white and on the
rule's own background, no ``opacity`` below 1. ``missiva templates lint`` reports each.
"""

from collections.abc import Iterator
from pathlib import Path

import tinycss2

REGULATORY_SELECTORS = (".regulatory", ".privacy", ".cooling-off", ".disclosure")
MIN_PT, MIN_PX, MIN_CONTRAST = 9.0, 14.0, 4.5
_PX = {"px": 1.0, "rem": 16.0}
_PT = {"pt": 1.0, "mm": 72 / 25.4}


def _luminance(hex_colour: str) -> float:
    digits = hex_colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(foreground: str, background: str) -> float:
    """WCAG contrast ratio of two ``#rrggbb`` colours."""
    high, low = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _declarations(rule) -> dict[str, list]:
    found = tinycss2.parse_declaration_list(rule.content, skip_whitespace=True, skip_comments=True)
    return {
        d.lower_name: [t for t in d.value if t.type not in ("whitespace", "comment")]
        for d in found
        if d.type == "declaration"
    }


def _size_problem(tokens: list) -> str | None:
    if not tokens:
        return None
    token = tokens[0]
    if token.type == "dimension" and token.lower_unit in _PT:
        size = token.value * _PT[token.lower_unit]
        return f"font-size {token.serialize()} is below {MIN_PT:g}pt" if size < MIN_PT else None
    if token.type == "dimension" and token.lower_unit in _PX:
        size = token.value * _PX[token.lower_unit]
        return f"font-size {token.serialize()} is below {MIN_PX:g}px" if size < MIN_PX else None
    relative = token.type == "dimension" and token.lower_unit == "em"
    factor = token.value if relative else token.value / 100 if token.type == "percentage" else 1
    return f"font-size {token.serialize()} makes the text smaller" if factor < 1 else None


def _rule_problems(selector: str, declared: dict[str, list]) -> Iterator[str]:
    problem = _size_problem(declared.get("font-size", []))
    if problem:
        yield f"{selector}: {problem}"
    backgrounds = ["#ffffff"] + [
        t.serialize()
        for t in declared.get("background", []) + declared.get("background-color", [])
        if t.type == "hash"
    ]
    for token in declared.get("color", []):
        if token.type == "hash":
            worst = min(contrast(f"#{token.value}", background) for background in backgrounds)
            if worst < MIN_CONTRAST:
                ratio = f"{worst:.2f}:1 (< {MIN_CONTRAST}:1)"
                yield f"{selector}: color #{token.value} has a contrast of {ratio}"
    for token in declared.get("opacity", []):
        if token.type == "number" and token.value < 1:
            yield f"{selector}: opacity {token.serialize()} makes the text fainter"


def style_problems(templates_dir: Path) -> list[tuple[str, str]]:
    """(stylesheet, problem) for every rule that makes a regulatory block illegible."""
    problems = []
    for path in sorted((templates_dir / "styles").glob("*.css")):
        rules = tinycss2.parse_stylesheet(
            path.read_text(encoding="utf-8"), skip_whitespace=True, skip_comments=True
        )
        for rule in rules:
            if rule.type != "qualified-rule":
                continue
            selector = tinycss2.serialize(rule.prelude).strip()
            if any(name in selector for name in REGULATORY_SELECTORS):
                stylesheet = f"styles/{path.name}"
                problems += [(stylesheet, p) for p in _rule_problems(selector, _declarations(rule))]
    return problems
