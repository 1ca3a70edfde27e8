"""Record-level checks every journey gets, beyond its GX suite: what is knowable about a
record before composing it and would otherwise break a header, an envelope or a send.

- no text field holds control characters (CR, LF, NUL...) or bidi overrides/isolates
  (:mod:`missiva.text_safety`), nor more than :data:`MAX_FIELD_CHARS` characters; JSON
  fields (a statement's lines) are checked string by string;
- first and last names are not blank;
- the postal address of a customer who prefers paper fits the letter's envelope window
  (for anyone else routing skips paper when it does not:
  :func:`missiva.channels.paper.paper_contact`);
- the e-mail address, when there is one, is one the SMTP path can carry
  (``email-validator``: a non-ASCII domain goes IDNA-encoded, a non-ASCII local part
  needs the server's SMTPUTF8, decided at delivery).
"""

import json
from collections.abc import Iterator, Mapping
from typing import Any

from missiva.channels.paper import paper_contact
from missiva.channels.smtp import email_contact
from missiva.text_safety import unsafe_characters

MAX_FIELD_CHARS = 2_000
NAME_FIELDS = ("first_name", "last_name")


def _texts(value: Any) -> Iterator[str]:
    """The strings of a value: itself, or every string inside a JSON array/object."""
    if isinstance(value, str):
        if value[:1] in "[{":
            try:
                yield from _texts(json.loads(value))
                return
            except ValueError:
                pass
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _texts(key)
            yield from _texts(item)


def _field_problems(name: str, value: Any) -> Iterator[str]:
    for text in _texts(value):
        if unsafe := unsafe_characters(text):
            yield f"{name} contains {', '.join(unsafe)}"
        if len(text) > MAX_FIELD_CHARS:
            yield f"{name} is {len(text):,} characters long (at most {MAX_FIELD_CHARS:,})"


def record_problems(record: Mapping[str, Any]) -> list[str]:
    """Why ``record`` must be quarantined (empty when it may be composed)."""
    problems = [
        problem
        for name, value in record.items()
        if isinstance(value, str | list | tuple | Mapping)  # numbers, dates, None: no text
        for problem in dict.fromkeys(_field_problems(name, value))
    ]
    problems += [
        f"{name} is blank"
        for name in NAME_FIELDS
        if isinstance(record.get(name), str) and not record[name].strip()
    ]
    if not problems and record.get("preferred_channel") == "paper":
        problems += filter(None, [paper_contact(record)[1]])
    if record.get("email"):
        problems += filter(None, [email_contact(record)[1]])
    return problems
