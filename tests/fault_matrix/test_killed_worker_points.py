"""A delivering worker process SIGKILLed at five points of the outbox, and the ledger's
database connections cut mid-deliver, on a Postgres ledger; then the task's retries on
healed servers and :func:`fault_checks.check`.

How each kill lands where it should, without a test hook in the code under test:

- before / during / after the data: the SMTP server holds message 3 at that point
  (its RCPT reply; after the first line of its data; its reply once the whole message
  is in) and sets ``reached``; the test SIGKILLs the worker then;
- after the reply, before the record: a Postgres trigger on the ledger pauses the
  update that records message 3 ``sent`` (``pg_sleep`` inside the worker's own
  transaction, so the server has answered and nothing is recorded yet); the test sees
  the worker's backend sleeping in ``pg_stat_activity``, SIGKILLs the worker and ends
  that backend (its transaction rolls back, as when a machine dies);
- during the fallback: an e-mail is refused (550), recorded ``failed``, and its
  fallback is being composed; the same kind of trigger pauses the fallback's insert into
  the ledger, and the worker is killed there.
"""

from collections.abc import Callable

from fault_runs import check_case, deliver, kill_worker, recover
from fault_servers import AFTER_DATA, BEFORE_DATA, DURING_DATA, Hold
from sqlalchemy import create_engine, make_url, text

from missiva.records.keys import fallback_base, fallback_key
from missiva.records.ledger import Ledger

PAUSE = """
CREATE FUNCTION fault_pause() RETURNS trigger AS $$
BEGIN PERFORM pg_sleep(60); RETURN NEW; END $$ LANGUAGE plpgsql;
CREATE TRIGGER fault_pause BEFORE {event} ON communications FOR EACH ROW
WHEN ({condition}) EXECUTE FUNCTION fault_pause();
"""
SLEEPING = "SELECT pid FROM pg_stat_activity WHERE datname = :db AND wait_event = 'PgSleep'"


def _emails(settings):
    return [c for c in Ledger(settings.ledger_url).communications() if c.channel == "email"]


def _kill_at_smtp_point(settings, smtp, sms, point: str) -> str:
    smtp.holds = {3: Hold(point)}
    first = kill_worker(settings, smtp, sms, smtp.reached.is_set)
    recover(settings, smtp, sms)
    return first


def test_kill_before_data(postgres_day, smtp, sms):
    settings = postgres_day.restore()
    first = _kill_at_smtp_point(settings, smtp, sms, BEFORE_DATA)
    check_case("kill-before-data", first, settings, smtp, sms, expect_review=0)


def test_kill_during_data(postgres_day, smtp, sms):
    """Killed while the server reads the message: the worker cannot know whether the
    end of the data left it (a SIGKILLed process's socket still delivers what its kernel
    buffered, so the server usually gets the whole message): ``review``, received at
    most once."""
    settings = postgres_day.restore()
    first = _kill_at_smtp_point(settings, smtp, sms, DURING_DATA)
    check_case("kill-during-data", first, settings, smtp, sms, expect_review=1)


def test_kill_after_data(postgres_day, smtp, sms):
    settings = postgres_day.restore()
    first = _kill_at_smtp_point(settings, smtp, sms, AFTER_DATA)
    row = check_case("kill-after-data", first, settings, smtp, sms, expect_review=1)
    assert row.received == row.statuses["sent"] + 1  # the one in review arrived, once


class Paused:
    """A Postgres trigger pausing the worker's ledger write; ``reached()`` once it is."""

    def __init__(self, ledger_url: str, event: str, condition: str) -> None:
        self.engine = create_engine(ledger_url, isolation_level="AUTOCOMMIT")
        self.database = make_url(ledger_url).database
        with self.engine.connect() as conn:
            conn.execute(text(PAUSE.format(event=event, condition=condition)))
        self.pid: int | None = None

    def reached(self) -> bool:
        with self.engine.connect() as conn:
            self.pid = conn.execute(text(SLEEPING), {"db": self.database}).scalar()
        return self.pid is not None

    def remove(self) -> None:
        """End the dead worker's paused backend (its transaction rolls back) and the
        trigger."""
        with self.engine.connect() as conn:
            if self.pid is not None:
                conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": self.pid})
            conn.execute(text("DROP TRIGGER fault_pause ON communications"))
            conn.execute(text("DROP FUNCTION fault_pause()"))
        self.engine.dispose()


def _kill_paused(settings, smtp, sms, event: str, condition: str) -> str:
    paused = Paused(settings.ledger_url, event, condition)
    try:
        return kill_worker(settings, smtp, sms, paused.reached)
    finally:
        paused.remove()


def test_kill_after_reply(postgres_day, smtp, sms):
    settings = postgres_day.restore()
    target = _emails(settings)[1]
    condition = f"NEW.communication_id = '{target.communication_id}' AND NEW.status = 'sent'"
    first = _kill_paused(settings, smtp, sms, "UPDATE", condition)
    recover(settings, smtp, sms)
    check_case("kill-after-reply", first, settings, smtp, sms, expect_review=1)
    assert Ledger(settings.ledger_url).get(target.communication_id).status == "review"


def test_kill_during_fallback(postgres_day, smtp, sms):
    """The retry finds the refused e-mail ``failed`` with no fallback recorded, and
    falls back then."""
    settings = postgres_day.restore()
    refused = _emails(settings)[2]
    smtp.refuse = {refused.recipient}
    base = fallback_base(refused.idempotency_key)
    fallbacks = ", ".join(f"'{fallback_key(base, c)}'" for c in ("sms", "paper", "email"))
    first = _kill_paused(settings, smtp, sms, "INSERT", f"NEW.idempotency_key IN ({fallbacks})")
    assert Ledger(settings.ledger_url).get(refused.communication_id).status == "failed"
    recover(settings, smtp, sms)
    check_case("kill-during-fallback", first, settings, smtp, sms, expect_review=0)


def _terminator(pg_admin, database: str) -> Callable[[], None]:
    def terminate() -> None:
        with pg_admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid()"
                ),
                {"db": database},
            )

    return terminate


def test_ledger_dropped(postgres_day, pg_admin, smtp, sms):
    """Every connection to the ledger's database is terminated while the mail server
    takes message 3 (it answers 250 after): the task fails; the message it could not
    record is in doubt (``review``), the rest goes out once."""
    settings = postgres_day.restore()
    database = make_url(settings.ledger_url).database
    smtp.holds = {3: Hold(AFTER_DATA, 0, action=_terminator(pg_admin, database))}
    first = deliver(settings, smtp.port, sms, 1)
    recover(settings, smtp, sms)
    check_case("ledger-dropped", first, settings, smtp, sms, expect_review=1)
