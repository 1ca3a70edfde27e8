"""SMS encoding and segmentation (3GPP TS 23.038, formerly GSM 03.38).

A text that only uses the GSM 7-bit default alphabet and its extension table is sent as
GSM-7: 160 septets in a single message, 153 per segment of a concatenated one (the user
data header takes the rest); extension-table characters (``€ [ ] { } \\ ^ ~ |`` and form
feed) are sent as ESC + character and count 2 septets, never split across segments.
Anything else forces UCS-2 (UTF-16 on the wire): 70 code units alone, 67 per segment;
characters outside the BMP (emoji) take 2 units and are never split either.
"""

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

#: The GSM 7-bit default alphabet (without ESC, 0x1B, which introduces the extension table).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: The extension table: each character costs two septets (ESC + code).
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE = {"GSM-7": 160, "UCS-2": 70}
CONCATENATED = {"GSM-7": 153, "UCS-2": 67}


@dataclass(frozen=True)
class SmsInfo:
    """How a text travels: its encoding, its length in septets/code units, its segments."""

    encoding: Encoding
    units: int
    segments: int


def is_gsm7(text: str) -> bool:
    """Whether every character of ``text`` exists in the GSM-7 alphabet or its extension."""
    return all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text)


def _costs(text: str, encoding: Encoding) -> list[int]:
    if encoding == "GSM-7":
        return [2 if char in GSM7_EXTENSION else 1 for char in text]
    return [2 if ord(char) > 0xFFFF else 1 for char in text]


def analyse(text: str) -> SmsInfo:
    """Encoding, length and segment count of ``text`` (an empty text is one segment)."""
    encoding: Encoding = "GSM-7" if is_gsm7(text) else "UCS-2"
    costs = _costs(text, encoding)
    units = sum(costs)
    if units <= SINGLE[encoding]:
        return SmsInfo(encoding, units, 1)
    capacity, segments, used = CONCATENATED[encoding], 1, 0
    for cost in costs:  # greedy fill: a 2-unit character never straddles two segments
        if used + cost > capacity:
            segments, used = segments + 1, 0
        used += cost
    return SmsInfo(encoding, units, segments)
