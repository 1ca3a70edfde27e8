"""How far a send got, and who holds it: one ``send_progress`` row per communication
being sent (or owing a fallback), kept out of the hashed communication row.

A send is ``before data`` (nothing the server could deliver has left) until the adapter
reports the message :data:`HANDED_OVER` (its last byte is on the wire; only the server's
reply can tell whether it took it); the reply itself ends the send (``sent``/``failed``),
which removes the row. The row carries the sender's lease (``owner``, ``lease_until``),
so recovery acts only on a dead sender's communications. A permanent failure leaves
:data:`FALLBACK_OWED`, recorded with ``failed`` in one transaction, until its fallback
is composed. The table comes from the Alembic revision ``0006_send_stages``.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from missiva.records.models import Base, UTCDateTime

#: sending, and nothing the server could deliver has left yet: safe to send again
BEFORE_DATA = "before data"
#: the whole message is with the server; without its reply the outcome is unknown
HANDED_OVER = "data handed over"
#: ``failed`` recorded; the fallback channel's communication is still to be composed
FALLBACK_OWED = "fallback owed"


class SendProgress(Base):
    __tablename__ = "send_progress"

    communication_id: Mapped[str] = mapped_column(
        String(36),
        ForeignKey("communications.communication_id", name="fk_send_progress_communication"),
        primary_key=True,
    )
    stage: Mapped[str] = mapped_column(String(32))
    #: the sender holding the communication (``host:pid:task``), while it is ``sending``
    owner: Mapped[str | None] = mapped_column(String(512))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class Progress:
    """What to record about a send: its stage and, while sending, its lease."""

    stage: str
    owner: str | None = None
    lease_until: datetime | None = None
