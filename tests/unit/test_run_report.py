"""The run report as an operator reads it: a re-run of an interval says it sent nothing
new (what the earlier run handled is counted as such), a reason is one line whatever order its
channels were tried in, and portal notices read as sentences."""

from datetime import UTC, datetime

import pytest
from ledger_fixtures import email_fields, fields, send

from missiva.records.ledger import Ledger
from missiva.records.run_report import grouped_reason, summarize

FIRST = "scheduled__2026-11-03T00:00:00+00:00"
RERUN = "manual__2026-11-03T10:00:00+00:00"
SENT_AT = datetime(2026, 11, 3, 9, tzinfo=UTC)
NO_CHANNEL = "no consented channel with valid contact data: "


@pytest.fixture
def ledger(tmp_path):
    """Run FIRST sent 2 e-mails and 1 letter, suppressed 2 customers for the same reason
    (channels listed in two orders) and 1 portal notice; RERUN of the same interval
    found each of the 5 records handled (its validate stage records that)."""
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        for run_id in (FIRST, RERUN):
            ledger.record_run(
                dag_id="onboarding",
                run_id=run_id,
                journey="onboarding",
                business_key="2026-11-02",
                interval_start=datetime(2026, 11, 2, tzinfo=UTC),
                interval_end=datetime(2026, 11, 3, tzinfo=UTC),
                extracted=5,
            )
        for n in (1, 2):
            ledger.add(**email_fields(n, run_id=FIRST))
            send(ledger, n, SENT_AT)
        ledger.add(**fields(3, run_id=FIRST, channel="paper", recipient="Via Roma 1"))
        send(ledger, 3, SENT_AT)
        for n, order in ((4, ("email", "sms")), (5, ("sms", "email"))):
            reason = NO_CHANNEL + "; ".join(f"{ch}: no transactional consent" for ch in order)
            ledger.add(**fields(n, run_id=FIRST, status="suppressed", reason=reason))
        ledger.record_handled_before("onboarding", RERUN, 5)
        notice = fields(6, run_id=FIRST, status="suppressed", reason="no e-mail or phone")
        notice["idempotency_key"] = fields(1)["idempotency_key"] + "/copy-portal/notice"
        ledger.add(**notice)
        yield ledger


def test_a_rerun_reports_nothing_new(ledger):
    lines = summarize(ledger, "onboarding", RERUN).lines()
    assert "  sent by this run: 0" in lines
    assert "  already handled by an earlier run: 5 (not sent again)" in lines
    assert not any(line.startswith("  suppressed") for line in lines)
    assert "  records extracted: 5" in lines
    assert not any("customers considered" in line for line in lines)


def test_the_first_run_reports_what_it_sent(ledger):
    summary = summarize(ledger, "onboarding", FIRST)
    assert "  sent by this run: 3 (email: 2, paper: 1)" in summary.lines()
    assert not any("earlier run" in line for line in summary.lines())
    assert summary.as_dict()["sent_by_this_run"] == 3


def test_one_reason_is_one_line_whatever_the_channel_order(ledger):
    lines = summarize(ledger, "onboarding", FIRST).lines()
    reasons = [line for line in lines if NO_CHANNEL in line]
    assert reasons == [
        f"    2 x {NO_CHANNEL}email: no transactional consent; sms: no transactional consent"
    ]


def test_portal_notices_read_as_a_sentence(ledger):
    lines = summarize(ledger, "onboarding", FIRST).lines()
    assert "  portal notices: 1 not sent (suppressed: no e-mail or phone)" in lines


@pytest.mark.parametrize(
    "reason",
    [
        "customer is flagged do-not-contact",
        "expect_x(email): malformed e-mail address; expect_y(city): missing city",
    ],
)
def test_reasons_without_per_channel_parts_are_kept_as_they_are(reason):
    assert grouped_reason(reason) == reason
