"""What a journey is: which data, which checks, which communications, which channels."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

SOURCE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def source_time(moment: datetime) -> str:
    """The source systems' timestamp text, in UTC (naive datetimes are taken as UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime(SOURCE_TIME_FORMAT)


#: (the run's params, interval start, interval end) -> extra SQL parameters, one mapping
#: per execution of the extract SQL
SqlParamSets = Callable[[Mapping[str, Any], datetime, datetime], Sequence[Mapping[str, Any]]]


def one_execution(
    params: Mapping[str, Any], start: datetime, end: datetime
) -> Sequence[Mapping[str, Any]]:
    """The default: the extract SQL runs once, with the run's params only."""
    return ({},)


#: the notice (e-mail or SMS) telling a customer a document is in their portal inbox;
#: any journey sending to the ``portal`` channel sends it (the channels it may take:
#: :func:`missiva.channels.registry.notice_channels`)
PORTAL_NOTICE = "portal_notice"


class JourneyDefinitionError(ValueError):
    """A record asks for a communication its journey does not send."""


@dataclass(frozen=True)
class Journey:
    """One customer journey.

    The extract SQL returns one row per communication to send. Optional columns steer it:
    ``communication`` (one of :attr:`communications`; default :attr:`communication`) and
    ``subject_key`` (what the communication is about, e.g. a policy and its renewal
    window or a claim event: sent once per customer and subject, whichever run finds it;
    without it, once per customer and business key).
    """

    #: the journey's name: its DAG id, its ledger ``journey`` and its idempotency keys
    name: str
    #: the communication every record gets unless its ``communication`` column says otherwise
    communication: str
    #: the consent purpose routing checks (e.g. ``transactional``)
    purpose: str
    #: the channels routing may choose, in fallback order (e.g. ``("email", "paper")``)
    channels: tuple[str, ...]
    #: the extract SQL (``include/sql/<name>_extract.sql``), one row per communication
    extract_sql: Path
    #: the Great Expectations suite (``include/expectations/<name>.json``)
    suite: Path
    #: other communications the extract may ask for, besides :attr:`communication`
    other_communications: tuple[str, ...] = ()
    #: communication -> the channel the law requires (overrides preference; no fallback)
    required_channels: Mapping[str, str] = field(default_factory=dict)
    #: communication -> extra channels that always get a copy (e.g. the portal)
    copies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: extra SQL parameters derived from the run (e.g. dates N days from the interval);
    #: the extract SQL runs once per mapping and the rows are concatenated (e.g. once
    #: per renewal window)
    sql_param_sets: SqlParamSets = one_execution
    #: the business key of a run: its data interval's first day, or the run itself
    #: (on-demand runs, several a day)
    scope: Literal["day", "run"] = "day"
    #: name -> SQL file run with the extract's parameters; its rows carry
    #: :attr:`detail_key`, and each record gets its rows as a list under the name
    #: (e.g. a statement's line items)
    details: Mapping[str, Path] = field(default_factory=dict)
    #: the column joining a record to its ``details`` rows
    detail_key: str = "customer_id"
    #: SQL parameters a preview of one customer binds besides ``customer_id`` (a
    #: requested journey's run params, e.g. the document type)
    preview_params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def communications(self) -> tuple[str, ...]:
        return (self.communication, *self.other_communications)

    def requested(self, record: Mapping[str, Any]) -> str:
        """The communication a record asks for, as it asks."""
        return record.get("communication") or self.communication

    def communication_for(self, record: Mapping[str, Any]) -> str:
        """The communication a record asks for; refused when the journey does not send it."""
        name = self.requested(record)
        if name not in self.communications and name != PORTAL_NOTICE:
            raise JourneyDefinitionError(
                f"journey {self.name} does not send {name!r} "
                f"(it sends: {', '.join(self.communications)})"
            )
        return name

    def required_channel(self, communication: str) -> str | None:
        return self.required_channels.get(communication)

    @staticmethod
    def attachment_name(communication: str) -> str:
        """The PDF's file name when a letter travels as an e-mail attachment."""
        return f"{communication.replace('_', '-')}-letter.pdf"
