"""The contact policy (caps, cross-channel de-dup, quiet hours) on a SQLite ledger file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from ledger_fixtures import raw_sql
from sqlalchemy import create_engine, inspect

from missiva.records.ledger import Ledger
from missiva.records.migrations import HEAD, MIGRATIONS_DIR, VERSION_TABLE
from missiva.records.models import Base
from missiva.routing.contact_policy import Cap, ContactPolicy, Decision, PolicyConfig, parse_window

# Monday 2 November 2026, 12:00 UTC: 13:00 in Rome, 12:00 in London (no quiet hours)
T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
ROME, LONDON = "Europe/Rome", "Europe/London"


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def policy(url: str) -> Iterator[ContactPolicy]:
    with ContactPolicy(url) as opened:
        yield opened


def reserve(policy: ContactPolicy, n: int, at: datetime = T0, **kw: Any) -> Decision:
    """Reserve content ``n`` for customer C1 (transactional e-mail, Rome) unless overridden."""
    args: dict[str, Any] = {
        "customer_id": "C1",
        "channel": "email",
        "purpose": "transactional",
        "content_key": f"billing/invoice/2026-11/{n}",
        "communication_id": f"comm-{n}",
        "timezone": ROME,
        "now": at,
    }
    return policy.reserve(**{**args, **kw})


# --- schema -----------------------------------------------------------------------------


def test_opening_a_ledger_creates_the_contact_log(url: str) -> None:
    ledger = Ledger(url)
    assert "contact_log" in inspect(ledger.engine).get_table_names()
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head == HEAD  # contact_log came with 0002 and survives every later revision
    assert raw_sql(url, f"SELECT version_num FROM {VERSION_TABLE}") == [(head,)]
    uniques = inspect(ledger.engine).get_unique_constraints("contact_log")
    assert [u["column_names"] for u in uniques] == [["customer_id", "content_key"]]
    with ledger.engine.connect() as conn:  # the model agrees with the migration
        context = MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE, "compare_type": True}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_an_engine_gets_the_schema_too(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'other.db'}")
    policy = ContactPolicy(engine)
    assert reserve(policy, 1).allowed
    assert "contact_log" in inspect(engine).get_table_names()


# --- frequency caps -----------------------------------------------------------------------


def test_transactional_cap_per_day(policy: ContactPolicy) -> None:
    for n in range(5):
        decision = reserve(policy, n, T0 + timedelta(minutes=n))
        assert decision.kind == "allow", decision
    sixth = reserve(policy, 5, T0 + timedelta(hours=1))
    assert sixth == Decision("suppress", "frequency cap: 5 transactional contacts in 1 day")
    assert len(policy.contacts("C1")) == 5
    # another customer, and another purpose, have their own counters
    assert reserve(policy, 5, customer_id="C2").allowed
    assert reserve(policy, 6, purpose="marketing").allowed


def test_a_legally_required_communication_is_exempt_from_the_cap(policy: ContactPolicy) -> None:
    """A claim decision the law requires goes out over the cap, says why, and counts."""
    for n in range(5):
        assert reserve(policy, n, T0 + timedelta(minutes=n)).allowed
    assert reserve(policy, 5, T0 + timedelta(hours=1)).kind == "suppress"
    legal = reserve(policy, 6, T0 + timedelta(hours=1), channel="paper", legally_required=True)
    assert legal == Decision(
        "allow",
        "legally required: exempt from the frequency cap (transactional contact 6, over the "
        "cap of 5 in 1 day)",
        exempt=True,
    )
    assert len(policy.contacts("C1")) == 6  # recorded, and counted against what follows
    assert reserve(policy, 7, T0 + timedelta(hours=2)).kind == "suppress"
    # under the cap, a legally required contact is an ordinary one
    assert not reserve(policy, 8, customer_id="C2", legally_required=True).exempt


def test_the_window_rolls(policy: ContactPolicy) -> None:
    for n in range(5):
        assert reserve(policy, n, T0 + timedelta(minutes=n)).allowed
    # a contact at t counts while now - 1 day < t
    assert reserve(policy, 5, T0 + timedelta(days=1, microseconds=-1)).kind == "suppress"
    assert reserve(policy, 5, T0 + timedelta(days=1)).allowed
    assert reserve(policy, 6, T0 + timedelta(days=1)).kind == "suppress"  # 4 old + 1 new
    assert reserve(policy, 6, T0 + timedelta(days=1, minutes=1)).allowed


def test_marketing_cap_per_week(policy: ContactPolicy) -> None:
    def market(n: int, at: datetime, channel: str = "email") -> Decision:
        return reserve(policy, n, at, purpose="marketing", channel=channel)

    assert market(1, T0).allowed
    assert market(2, T0 + timedelta(days=3), "paper").allowed  # caps span channels
    capped = market(3, T0 + timedelta(days=6, hours=23))
    assert capped.reason == "frequency cap: 2 marketing contacts in 7 days"
    assert market(3, T0 + timedelta(days=7)).allowed  # the first one left the window
    # transactional contacts do not use marketing's budget
    assert reserve(policy, 4, T0 + timedelta(days=7)).allowed


def test_configured_caps(url: str) -> None:
    config = PolicyConfig(caps={"transactional": (1, timedelta(hours=12)), "marketing": (0, "7d")})
    with ContactPolicy(url, config) as policy:
        assert reserve(policy, 1).allowed
        assert reserve(policy, 2).reason == "frequency cap: 1 transactional contact in 12 hours"
        assert reserve(policy, 2, T0 + timedelta(hours=12), channel="paper").allowed
        assert reserve(policy, 3, purpose="marketing").kind == "suppress"  # 0: never
        with pytest.raises(ValueError, match="no frequency cap for purpose 'service'"):
            reserve(policy, 4, purpose="service")


def test_config_from_json_and_toml(tmp_path: Path) -> None:
    data = {
        "caps": {"marketing": {"limit": 1, "window": "30d"}},
        "quiet_hours": {"start": "22:00", "end": "07:30", "channels": ["sms"]},
        "default_timezone": ROME,
    }
    (tmp_path / "policy.json").write_text(json.dumps(data))
    (tmp_path / "policy.toml").write_text(
        'default_timezone = "Europe/Rome"\n'
        '[caps.marketing]\nlimit = 1\nwindow = "30d"\n'
        '[quiet_hours]\nstart = "22:00"\nend = "07:30"\nchannels = ["sms"]\n'
    )
    expected = PolicyConfig(
        caps={"marketing": Cap(1, timedelta(days=30))},
        quiet_start=time(22),
        quiet_end=time(7, 30),
        quiet_channels=frozenset({"sms"}),
        default_timezone=ROME,
    )
    assert PolicyConfig.load(tmp_path / "policy.json") == expected
    assert PolicyConfig.load(tmp_path / "policy.toml") == expected
    assert PolicyConfig.load(None) == PolicyConfig()
    assert PolicyConfig().caps["transactional"] == Cap(5, timedelta(days=1))
    assert parse_window("12h") == timedelta(hours=12)
    with pytest.raises(ValueError, match="unknown settings"):
        PolicyConfig.from_mapping({"cap": {}})


# --- de-duplication across channels -------------------------------------------------------


def test_the_same_content_is_reserved_once_whatever_the_channel(policy: ContactPolicy) -> None:
    assert reserve(policy, 1, channel="email").allowed
    for channel in ("sms", "paper", "email"):
        again = reserve(policy, 1, channel=channel, communication_id=f"comm-1-{channel}")
        assert again == Decision(
            "suppress", "already sent the same content on email (communication comm-1)"
        )
    assert reserve(policy, 1, customer_id="C2").allowed  # another customer
    assert [c.channel for c in policy.contacts("C1")] == ["email"]


def test_reserving_again_for_the_same_communication_is_idempotent(policy: ContactPolicy) -> None:
    assert reserve(policy, 1).allowed
    retried = reserve(policy, 1, T0 + timedelta(minutes=5))
    assert retried.allowed and "already reserved" in retried.reason
    assert len(policy.contacts("C1")) == 1


def test_decide_records_nothing(policy: ContactPolicy) -> None:
    decision = policy.decide("C1", "email", "transactional", "k", ROME, T0)
    assert decision.allowed
    assert policy.contacts("C1") == []


# --- release ------------------------------------------------------------------------------


def test_release_frees_the_content_key_and_the_slot(policy: ContactPolicy) -> None:
    for n in range(5):
        assert reserve(policy, n).allowed
    assert reserve(policy, 5).kind == "suppress"
    assert policy.release("comm-0") is True
    assert policy.release("comm-0") is False
    assert policy.release("never-reserved") is False
    # the failed e-mail's content can now go on paper (a fallback), within the cap
    assert reserve(policy, 0, channel="paper", communication_id="comm-0/fallback-paper").allowed
    assert reserve(policy, 5).kind == "suppress"


# --- quiet hours --------------------------------------------------------------------------


def at_utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def test_quiet_hours_defer_in_the_customers_time_zone(policy: ContactPolicy) -> None:
    now = at_utc(2, 20, 30)  # 21:30 in Rome (UTC+1), 20:30 in London (UTC+0)
    rome = reserve(policy, 1, now, timezone=ROME)
    assert rome == Decision(
        "defer",
        "quiet hours 21:00\u201308:00 Europe/Rome: deferred to 2026-11-03 08:00",
        at_utc(3, 7),
    )
    assert policy.contacts("C1") == []  # deferred, not recorded (and not dropped)
    assert reserve(policy, 1, now, timezone=LONDON).allowed
    london = reserve(policy, 2, at_utc(2, 21, 0), timezone=LONDON)  # 21:00 is quiet
    assert london.not_before == at_utc(3, 8)
    assert london.reason.endswith("Europe/London: deferred to 2026-11-03 08:00")


def test_quiet_hours_after_midnight_end_the_same_morning(policy: ContactPolicy) -> None:
    early = reserve(policy, 1, at_utc(3, 6, 30), timezone=ROME)  # 07:30 in Rome
    assert (early.kind, early.not_before) == ("defer", at_utc(3, 7))
    assert early.reason.endswith("deferred to 2026-11-03 08:00")
    assert reserve(policy, 1, at_utc(3, 7), timezone=ROME).allowed  # 08:00 sharp: allowed
    london = reserve(policy, 2, at_utc(3, 7, 59), timezone=LONDON)  # 07:59 in London
    assert (london.kind, london.not_before) == ("defer", at_utc(3, 8))


def test_quiet_hours_apply_to_sms_and_email_only(policy: ContactPolicy) -> None:
    night = at_utc(2, 23)
    assert reserve(policy, 1, night, channel="sms").kind == "defer"
    assert reserve(policy, 1, night, channel="paper").allowed
    assert reserve(policy, 2, night, channel="portal").allowed


def test_quiet_hours_across_a_dst_change(policy: ContactPolicy) -> None:
    # Rome moves to CEST (UTC+2) at 02:00 on Sunday 29 March 2026
    decision = reserve(policy, 1, datetime(2026, 3, 28, 21, tzinfo=UTC))  # 22:00 CET
    assert decision.not_before == datetime(2026, 3, 29, 6, tzinfo=UTC)  # 08:00 CEST
    assert decision.reason.endswith("deferred to 2026-03-29 08:00")


def test_unknown_or_missing_time_zone_uses_the_default(url: str) -> None:
    with ContactPolicy(url, PolicyConfig(default_timezone=LONDON)) as policy:
        missing = reserve(policy, 1, at_utc(2, 22), timezone=None)
        assert "Europe/London: deferred" in missing.reason
        unknown = reserve(policy, 1, at_utc(2, 22), timezone="Mars/Olympus")
        assert "Europe/London (unknown time zone 'Mars/Olympus')" in unknown.reason
        assert unknown.not_before == at_utc(3, 8)


def test_a_deferred_send_is_decided_again_later(policy: ContactPolicy) -> None:
    first = reserve(policy, 1, at_utc(2, 22))
    assert first.kind == "defer" and first.not_before is not None
    assert reserve(policy, 1, first.not_before).allowed


# Concurrency (processes racing for one customer): tests/component/test_contact_policy_processes.py
