"""One contact policy for every journey, enforced in the ledger database.

Three rules, checked in this order for a customer, a channel and a purpose
(``transactional`` or ``marketing``):

1. **No duplicate content across channels.** A ``content_key`` (e.g.
   ``journey/communication/business_key``) is reserved at most once per customer,
   whatever the channel (a unique constraint on ``contact_log``). A communication that
   failed permanently is :meth:`ContactPolicy.release`-d so a fallback can take it.
2. **Quiet hours** in the customer's time zone (default 21:00-08:00) for the channels
   they apply to (default: the channels declared with ``quiet_hours``): the
   send is *deferred*, not dropped, with the next allowed moment as ``not_before``.
3. **Frequency caps** per purpose over a rolling window (default 5 transactional a day,
   2 marketing a week): a contact at ``t`` counts while ``now - window < t``. A legally
   required communication is exempt (``legally_required``): it is allowed, recorded
   and counted, and its decision says so (``exempt``).

:meth:`ContactPolicy.reserve` checks and records in one transaction under a
per-customer lock (Postgres: ``pg_advisory_xact_lock``; SQLite: ``BEGIN IMMEDIATE``),
so two journeys running at once can never both take the last slot of a cap.
:meth:`ContactPolicy.decide` is the same check without recording (a preview).
Every ``suppress``/``defer`` carries a human reason for the ledger.

The ``contact_log`` table comes from the Alembic revision ``0002_contact_policy``;
its model is declared on :class:`missiva.records.models.Base`.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Index, String, UniqueConstraint, delete, func, insert, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from missiva.channels import registry
from missiva.records.database import ADVISORY_LOCK, ensure_schema, lock_key, prepare_engine
from missiva.records.ledger import Ledger
from missiva.records.models import Base, UTCDateTime

DASH = "\u2013"  # en dash, for "21:00-08:00" in reasons


class ContactLogEntry(Base):
    """One contact reserved for a customer (counted by the caps, keyed for de-dup)."""

    __tablename__ = "contact_log"
    __table_args__ = (
        UniqueConstraint("customer_id", "content_key", name="uq_contact_log_customer_content"),
        Index("ix_contact_log_customer_purpose_at", "customer_id", "purpose", "at"),
    )

    communication_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(16))
    content_key: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


LOG = ContactLogEntry.__table__


# --- configuration ---------------------------------------------------------------------


@dataclass(frozen=True)
class Cap:
    """At most ``limit`` contacts in any rolling ``window``."""

    limit: int
    window: timedelta


DEFAULT_CAPS: dict[str, Cap] = {
    "transactional": Cap(5, timedelta(days=1)),
    "marketing": Cap(2, timedelta(days=7)),
}

_DURATION = re.compile(r"^\s*(\d+)\s*([dhm])\s*$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_window(value: str | int | float) -> timedelta:
    """``"7d"``, ``"12h"``, ``"30m"``; a bare number is seconds."""
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"contact policy: window {value!r} is not like '7d', '12h' or '30m'")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def _window(value: timedelta | str | int | float) -> timedelta:
    return value if isinstance(value, timedelta) else parse_window(value)


def _parse_time(value: str | time) -> time:
    return value if isinstance(value, time) else time.fromisoformat(value)


@dataclass(frozen=True)
class PolicyConfig:
    """Caps per purpose (a :class:`Cap` or ``(limit, window)``, the window a timedelta or
    ``"7d"``/``"12h"``/``"30m"``); quiet hours (local wall time) and the channels they apply to.

    ``quiet_start == quiet_end`` disables quiet hours. ``default_timezone`` is used when
    a customer has none (or an unknown one).
    """

    caps: Mapping[str, Cap] = field(default_factory=lambda: dict(DEFAULT_CAPS))
    quiet_start: time = time(21, 0)
    quiet_end: time = time(8, 0)
    quiet_channels: frozenset[str] = field(
        default_factory=lambda: frozenset(registry.names(quiet_hours=True))
    )
    default_timezone: str = "UTC"

    def __post_init__(self) -> None:
        caps = {
            purpose: cap if isinstance(cap, Cap) else Cap(int(cap[0]), _window(cap[1]))
            for purpose, cap in self.caps.items()
        }
        for purpose, cap in caps.items():
            if cap.limit < 0 or cap.window <= timedelta(0):
                raise ValueError(f"contact policy: invalid cap for {purpose!r}: {cap}")
        object.__setattr__(self, "caps", caps)
        object.__setattr__(self, "quiet_channels", frozenset(self.quiet_channels))
        ZoneInfo(self.default_timezone)  # fail early on a typo

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> PolicyConfig:
        """From parsed JSON/TOML::

        {"caps": {"transactional": {"limit": 5, "window": "1d"},
                  "marketing": {"limit": 2, "window": "7d"}},
         "quiet_hours": {"start": "21:00", "end": "08:00", "channels": ["email", "sms"]},
         "default_timezone": "Europe/Rome"}

        Missing keys keep their defaults.
        """
        unknown = set(data) - {"caps", "quiet_hours", "default_timezone"}
        if unknown:
            raise ValueError(f"contact policy: unknown settings {sorted(unknown)}")
        kwargs: dict[str, Any] = {}
        if "caps" in data:
            kwargs["caps"] = {
                purpose: Cap(int(cap["limit"]), parse_window(cap["window"]))
                for purpose, cap in data["caps"].items()
            }
        quiet = data.get("quiet_hours") or {}
        if "start" in quiet:
            kwargs["quiet_start"] = _parse_time(quiet["start"])
        if "end" in quiet:
            kwargs["quiet_end"] = _parse_time(quiet["end"])
        if "channels" in quiet:
            kwargs["quiet_channels"] = frozenset(quiet["channels"])
        if "default_timezone" in data:
            kwargs["default_timezone"] = data["default_timezone"]
        return cls(**kwargs)

    @classmethod
    def load(cls, path: str | Path | None = None) -> PolicyConfig:
        """From a ``.json`` or ``.toml`` file; the defaults when ``path`` is ``None``."""
        if path is None:
            return cls()
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        return cls.from_mapping(data)


# --- decisions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """``allow``; ``suppress`` (do not send, ever, for this request); ``defer`` (send at
    ``not_before``, a UTC datetime, after deciding again)."""

    kind: Literal["allow", "suppress", "defer"]
    reason: str
    not_before: datetime | None = None
    #: allowed over the frequency cap because the law requires the communication
    exempt: bool = False

    @property
    def allowed(self) -> bool:
        return self.kind == "allow"


def _utc(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.now(UTC)
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def human_window(window: timedelta) -> str:
    """``1 day``, ``7 days``, ``12 hours``, ``90 minutes``."""
    seconds = int(window.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            return _plural(seconds // size, unit)
    return _plural(seconds, "second")


def quiet_hours_end(now: datetime, zone: ZoneInfo, start: time, end: time) -> datetime | None:
    """The local moment quiet hours end, when ``now`` falls inside them; else ``None``.

    Quiet hours are ``[start, end)`` in local wall time, across midnight when
    ``start > end`` (21:00-08:00). The end is built from the local date, so a DST change
    in the night is handled by the time zone database.
    """
    if start == end:
        return None
    local = now.astimezone(zone)
    wall = local.time().replace(tzinfo=None)
    if start < end:
        inside, next_day = start <= wall < end, False
    else:
        inside, next_day = wall >= start or wall < end, wall >= start
    if not inside:
        return None
    day = local.date() + timedelta(days=1 if next_day else 0)
    return datetime.combine(day, end, tzinfo=zone)


# --- the policy ------------------------------------------------------------------------


class ContactPolicy:
    """The contact policy over a ledger database.

    ``target``: a :class:`~missiva.records.ledger.Ledger` (shares its engine), a database URL
    (opens one; :meth:`close` it) or an SQLAlchemy engine. The schema is brought to
    head (``contact_log`` comes with revision ``0002_contact_policy``).
    """

    def __init__(self, target: Ledger | Engine | str, config: PolicyConfig | None = None) -> None:
        self.config = config or PolicyConfig()
        self._owned: Ledger | None = None
        if isinstance(target, str):
            self._owned = Ledger(target)
            engine = self._owned.engine
        elif isinstance(target, Ledger):
            engine = target.engine
        else:
            engine = prepare_engine(target)  # writers lock up front, as the ledger's do
            ensure_schema(engine)
        self.engine: Engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._writer = engine.execution_options(missiva_write=True)

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()

    def __enter__(self) -> ContactPolicy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- public API ----------------------------------------------------------------

    def decide(
        self,
        customer_id: str,
        channel: str,
        purpose: str,
        content_key: str,
        timezone: str | None = None,
        now: datetime | None = None,
        *,
        communication_id: str | None = None,
        legally_required: bool = False,
    ) -> Decision:
        """What :meth:`reserve` would answer now, without recording anything."""
        with self.engine.connect() as conn:
            args = (customer_id, channel, purpose, content_key, communication_id, timezone)
            return self._evaluate(conn, *args, _utc(now), legally_required)[0]

    def reserve(
        self,
        customer_id: str,
        channel: str,
        purpose: str,
        content_key: str,
        communication_id: str,
        timezone: str | None = None,
        now: datetime | None = None,
        *,
        legally_required: bool = False,
    ) -> Decision:
        """Check the policy and, when allowed, record the contact at ``now``: atomically.

        Idempotent per ``communication_id``: reserving again (a retried task) answers
        ``allow`` without recording a second contact. ``legally_required``: exempt from
        the frequency cap (the contact is still recorded and counted).
        """
        now = _utc(now)
        args = (customer_id, channel, purpose, content_key, communication_id, timezone, now)
        try:
            with self._writer.begin() as conn:
                if self._postgres:
                    conn.execute(ADVISORY_LOCK, {"key": customer_lock(customer_id)})
                decision, record = self._evaluate(conn, *args, legally_required)
                if record:
                    conn.execute(
                        insert(LOG).values(
                            communication_id=communication_id,
                            customer_id=customer_id,
                            channel=channel,
                            purpose=purpose,
                            content_key=content_key,
                            at=now,
                        )
                    )
                return decision
        except IntegrityError:
            # only reachable by a writer that bypassed the lock: the constraint holds
            with self.engine.connect() as conn:
                decision, record = self._evaluate(conn, *args, legally_required)
            if record:
                raise
            return decision

    def release(self, communication_id: str) -> bool:
        """Forget the reservation of a communication whose send failed permanently (its
        content key and its slot in the cap become free again). ``False``: none held."""
        with self._writer.begin() as conn:
            deleted = conn.execute(delete(LOG).where(LOG.c.communication_id == communication_id))
            return deleted.rowcount > 0

    def contacts(self, customer_id: str) -> list[ContactLogEntry]:
        """The customer's recorded contacts, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(LOG)
                .where(LOG.c.customer_id == customer_id)
                .order_by(LOG.c.at, LOG.c.communication_id)
            ).all()
        return [ContactLogEntry(**row._mapping) for row in rows]

    # --- the rules ----------------------------------------------------------------

    def _zone(self, timezone: str | None) -> tuple[ZoneInfo, str]:
        name = timezone or self.config.default_timezone
        try:
            return ZoneInfo(name), name
        except (ZoneInfoNotFoundError, ValueError):
            fallback = self.config.default_timezone
            return ZoneInfo(fallback), f"{fallback} (unknown time zone {name!r})"

    def _evaluate(
        self,
        conn: Connection,
        customer_id: str,
        channel: str,
        purpose: str,
        content_key: str,
        communication_id: str | None,
        timezone: str | None,
        now: datetime,
        legally_required: bool = False,
    ) -> tuple[Decision, bool]:
        """The decision, and whether a new contact must be recorded for it."""
        cap = self.config.caps.get(purpose)
        if cap is None:
            raise ValueError(
                f"contact policy: no frequency cap for purpose {purpose!r} "
                f"(configured: {sorted(self.config.caps)})"
            )
        if communication_id is not None and _held(conn, communication_id):
            return Decision("allow", f"already reserved for {communication_id}"), False
        early = _duplicate(conn, customer_id, content_key) or self._quiet(channel, timezone, now)
        if early is not None:
            return early, False
        used = conn.scalar(
            select(func.count()).where(
                LOG.c.customer_id == customer_id,
                LOG.c.purpose == purpose,
                LOG.c.at > now - cap.window,
            )
        )
        window = human_window(cap.window)
        if used >= cap.limit and legally_required:
            why = f"legally required: exempt from the frequency cap ({purpose} contact "
            why += f"{used + 1}, over the cap of {cap.limit} in {window})"
            return Decision("allow", why, exempt=True), True
        if used >= cap.limit:
            capped = f"frequency cap: {_plural(cap.limit, f'{purpose} contact')} in {window}"
            return Decision("suppress", capped), False
        return Decision("allow", f"{purpose} contact {used + 1} of {cap.limit} in {window}"), True

    def _quiet(self, channel: str, timezone: str | None, now: datetime) -> Decision | None:
        """A deferral to the end of quiet hours, when ``now`` falls inside them."""
        if channel not in self.config.quiet_channels:
            return None
        zone, zone_name = self._zone(timezone)
        until = quiet_hours_end(now, zone, self.config.quiet_start, self.config.quiet_end)
        if until is None:
            return None
        start = self.config.quiet_start.strftime("%H:%M")
        end = self.config.quiet_end.strftime("%H:%M")
        return Decision(
            "defer",
            f"quiet hours {start}{DASH}{end} {zone_name}: deferred to {until:%Y-%m-%d %H:%M}",
            until.astimezone(UTC),
        )


def _held(conn: Connection, communication_id: str) -> bool:
    held = select(LOG.c.channel).where(LOG.c.communication_id == communication_id)
    return conn.execute(held).first() is not None


def _duplicate(conn: Connection, customer_id: str, content_key: str) -> Decision | None:
    """A suppression when the customer already got the same content on any channel."""
    same = conn.execute(
        select(LOG.c.channel, LOG.c.communication_id).where(
            LOG.c.customer_id == customer_id, LOG.c.content_key == content_key
        )
    ).first()
    if same is None:
        return None
    return Decision(
        "suppress",
        f"already sent the same content on {same.channel} (communication {same.communication_id})",
    )


def customer_lock(customer_id: str) -> int:
    """The advisory lock key that serialises one customer's reservations (Postgres)."""
    return lock_key(f"missiva.contact_policy/{customer_id}")
