"""The auditor page's view helpers, free of the web framework: masking contact data,
checking a row against its recorded digest, formatting, file names and the parts of
archived e-mails."""

import email
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from email.policy import default as default_policy
from typing import Any
from urllib.parse import quote

import phonenumbers

from missiva.channels import registry
from missiva.records.models import row_digest

MASK = "•••"
#: field names that hold contact data (consent flags such as ``consent_email_*`` do not)
_CONTACT_KEY = re.compile(
    r"^(?!consent_).*(name|e-?mail|phone|mobile|fax|address|street|postal|zip|city)", re.I
)
_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
#: how phone numbers are looked for in text: any international (+...) number that could
#: exist (fictional ranges included), and national numbers valid in a region
_INTERNATIONAL = ("ZZ", phonenumbers.Leniency.POSSIBLE)


def mask_value(value: Any) -> str:
    """``mario.rossi@example.it`` -> ``m•••@•••.it``; anything else -> ``•••``."""
    text = str(value)
    if _EMAIL.fullmatch(text.strip()):
        local, _, domain = text.strip().partition("@")
        return f"{local[:1]}{MASK}@{MASK}.{domain.rsplit('.', 1)[-1]}"
    return MASK


class Masker:
    """Hides contact data from users without the right to read it (a no-op otherwise).

    Fields whose name looks like contact data are masked whole; in any other text, the
    known contact values, anything shaped like an e-mail address and any phone number
    (international, or national in one of ``regions``: ISO country codes) are masked.
    """

    def __init__(
        self, enabled: bool, known: Iterable[Any] = (), regions: Iterable[str] = ()
    ) -> None:
        self.enabled = enabled
        values = {line.strip() for v in known if v for line in str(v).splitlines()}
        self._known = sorted((v for v in values if len(v) >= 3), key=len, reverse=True)
        national = {r.strip().upper() for r in regions if isinstance(r, str) and r.strip()}
        self._phone_scans = [_INTERNATIONAL]
        self._phone_scans += [(r, phonenumbers.Leniency.VALID) for r in sorted(national)]

    @staticmethod
    def contact_values(record: Mapping[str, Any]) -> list[Any]:
        """The values of a record's contact fields (to mask wherever they appear)."""
        return [v for k, v in record.items() if _CONTACT_KEY.search(k) and v]

    def value(self, value: Any) -> Any:
        return mask_value(value) if self.enabled and value not in (None, "") else value

    def text(self, value: Any) -> Any:
        if not self.enabled or not isinstance(value, str):
            return value
        for known in self._known:
            value = re.sub(re.escape(known), MASK, value, flags=re.I)
        value = _EMAIL.sub(lambda m: mask_value(m.group()), value)
        for region, leniency in self._phone_scans:
            value = _mask_phones(value, region, leniency)
        return value

    def record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        return {
            k: self.value(v) if _CONTACT_KEY.search(k) else self.text(v) for k, v in record.items()
        }


def phone_regions(record: Mapping[str, Any], recipients: Iterable[Any]) -> list[str]:
    """Where national phone numbers may come from: the record's ``country`` and the
    countries of the recipients that are phone numbers."""
    regions = [record.get("country")]
    for recipient in recipients:
        try:
            number = phonenumbers.parse(str(recipient))
        except phonenumbers.NumberParseException:  # not a phone number (or none)
            continue
        regions.append(phonenumbers.region_code_for_number(number))
    return regions


def _mask_phones(text: str, region: str, leniency: Any) -> str:
    found = phonenumbers.PhoneNumberMatcher(text, region, leniency=leniency)
    for match in reversed(list(found)):
        raw = match.raw_string  # may start with the "(" of a parenthesised aside: keep it
        opening = "(" if raw.startswith("(") and ")" not in raw else ""
        text = text[: match.start] + opening + MASK + text[match.end :]
    return text


def row_problem(row: Any, events: list[Mapping[str, Any]]) -> str | None:
    """Why a communication row (a ``Communication`` as stored) fails verification, or
    ``None``: its columns must match the ``row_digest`` recorded in its latest event
    (``events``: as :func:`missiva.records.audit.show` lists them, oldest first)."""
    if not events:
        return "no event records this communication (the row was inserted)"
    latest = events[-1]
    recorded = latest["detail"].get("row_digest") if isinstance(latest["detail"], dict) else None
    if recorded is None:
        return f"its latest event {latest['event_id']} records no row digest"
    if recorded != row_digest(row):
        return (
            f"the row differs from the digest recorded in event {latest['event_id']} "
            "(the row was edited)"
        )
    return None


# --- pages --------------------------------------------------------------------------------


def attachments(data: bytes) -> list[dict[str, Any]]:
    message = email.message_from_bytes(data, policy=default_policy)
    return [
        {
            "index": i,
            "filename": part.get_filename() or f"attachment-{i}",
            "content_type": part.get_content_type(),
            "content": part.get_content(),
        }
        for i, part in enumerate(message.iter_attachments())
    ]


def midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC)


def parse_day(value: str, name: str, errors: list[str]) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        errors.append(f"{name}: not a date (YYYY-MM-DD): {value!r}")
        return None


def fmt_time(value: Any) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def dag_run_url(airflow: str, dag_id: str, run_id: str) -> str:
    """The Airflow 3 UI page of one DAG run."""
    return f"{airflow}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def safe_filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:120] or "artifact"


def artifact_name(comm: Mapping[str, Any]) -> tuple[str, str]:
    """The file name and media type of a communication's archived artifact."""
    channel = registry.get(comm["channel"])
    return f"{comm['communication_id']}{channel.extension}", channel.content_type
