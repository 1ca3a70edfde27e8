"""Legal holds: customers whose records must be kept; erasure is refused while one stands."""

from sqlalchemy import delete
from sqlalchemy.orm import Session

from missiva.privacy.models import LegalHold
from missiva.records.ledger import Ledger
from missiva.records.models import utc_now


def place(ledger: Ledger, customer_id: str, by: str, reason: str) -> None:
    with ledger.write() as session:
        session.merge(
            LegalHold(customer_id=customer_id, reason=reason, placed_by=by, placed_at=utc_now())
        )


def release(ledger: Ledger, customer_id: str) -> bool:
    with ledger.write() as session:
        return (
            session.execute(delete(LegalHold).where(LegalHold.customer_id == customer_id)).rowcount
            == 1
        )


def held(ledger: Ledger, customer_id: str) -> LegalHold | None:
    with Session(ledger.engine) as session:
        return session.get(LegalHold, customer_id)
