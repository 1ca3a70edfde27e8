"""The privacy tables of the ledger database (created by migration ``0007_customer_keys``)."""

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from missiva.records.models import Base, UTCDateTime


class CustomerKey(Base):
    """A customer's data key, wrapped by the master key; ``wrapped`` is ``None`` once erased."""

    __tablename__ = "customer_keys"
    __table_args__ = (Index("ix_customer_keys_customer", "customer_id", "created_at"),)

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64))
    wrapped: Mapped[str | None] = mapped_column(Text)
    master_id: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    erased_by: Mapped[str | None] = mapped_column(Text)
    erase_reason: Mapped[str | None] = mapped_column(Text)


class LegalHold(Base):
    """A customer whose records must be kept: erasure is refused while it stands."""

    __tablename__ = "legal_holds"

    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    placed_by: Mapped[str] = mapped_column(Text)
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime)
