"""The run's note in the Airflow UI, from the report task's return value (pure)."""

from missiva.records.run_report import NOTE_TITLE, run_note

REPORT = {
    "interval": "[2026-11-02 00:00, 2026-11-03 00:00) UTC",
    "extracted": 37,
    "statuses": {"quarantined": 6, "sent": 27, "suppressed": 2, "review": 1, "deferred": 1},
    "sent_by_channel": {"paper": 9, "email": 16, "sms": 2},
    "handled_before": 0,
}


def test_the_note_counts_every_status_and_channel():
    note = run_note(REPORT)
    assert note.startswith(f"{NOTE_TITLE} ([2026-11-02 00:00, 2026-11-03 00:00) UTC): ")
    assert "37 extracted, 27 sent (email: 16, paper: 9, sms: 2)" in note
    for part in ("6 quarantined", "2 suppressed", "1 review", "1 deferred"):
        assert part in note
    assert "failed" not in note and "earlier run" not in note  # zero counts are left out


def test_a_re_run_says_what_earlier_runs_handled():
    note = run_note({**REPORT, "statuses": {}, "sent_by_channel": {}, "handled_before": 37})
    assert "0 sent, 37 already handled by an earlier run." in note
