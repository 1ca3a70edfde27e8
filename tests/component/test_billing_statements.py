"""Billing statements without Airflow: the extract and its details on the demo data at
the month boundaries, the generic detail attachment, and the SVG chart."""

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from missiva.composition.chart import Bar, bar_chart_filter, bar_chart_svg
from missiva.devtools.seed import seed
from missiva.journeys.billing_statements import BILLING_STATEMENTS
from missiva.sources.extract import attach_details, extract

OCTOBER = (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
NOVEMBER = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


@pytest.fixture(scope="module")
def core_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("billing") / "core.db"
    seed(path, customers=60, seed=11)
    return path


def _statements(core_db: Path, interval) -> list[dict]:
    """The journey's extract with its details attached, as the extract stage does."""
    url = f"sqlite:///{core_db}"
    records = extract(url, BILLING_STATEMENTS.extract_sql, *interval).to_dict(orient="records")
    for name, sql_file in BILLING_STATEMENTS.details.items():
        rows = extract(url, sql_file, *interval).to_dict(orient="records")
        attach_details(records, name, rows, BILLING_STATEMENTS.detail_key)
    return records


def _accounts(core_db: Path) -> dict[str, dict]:
    with sqlite3.connect(core_db) as conn:
        conn.row_factory = sqlite3.Row
        return {r["account_id"]: dict(r) for r in conn.execute("SELECT * FROM billing_accounts")}


@pytest.mark.parametrize(("interval", "period"), [(OCTOBER, "2026-10"), (NOVEMBER, "2026-11")])
def test_one_statement_per_account_billed_in_the_month(core_db, interval, period):
    statements = _statements(core_db, interval)
    with sqlite3.connect(core_db) as conn:
        sql = "SELECT DISTINCT account_id FROM statement_lines WHERE period = ?"
        billed = {row[0] for row in conn.execute(sql, (period,))}
    assert sorted(s["account_id"] for s in statements) == sorted(billed)
    for s in statements:
        assert s["period"] == period and s["subject_key"] == f"{s['account_id']}/{period}"
        assert len(s["lines"]) == s["line_count"] >= 2
        assert sum(line["amount_cents"] for line in s["lines"]) == s["total_cents"]
        assert sum(line["usage_quantity"] or 0 for line in s["lines"]) == s["usage_quantity"]
        months = [h["period"] for h in s["history"]]
        assert months == sorted(months) and months[-1] == period and len(months) <= 6
        assert s["history"][-1]["total_cents"] == s["total_cents"]
        assert s["preferred_channel"] == ("email" if s["paperless"] else "paper")


def test_month_boundaries(core_db):
    accounts = _accounts(core_db)
    october = {s["account_id"] for s in _statements(core_db, OCTOBER)}
    november = {s["account_id"] for s in _statements(core_db, NOVEMBER)}
    opened_in_november = {a for a, row in accounts.items() if row["opened_on"] >= "2026-11-01"}
    closed_on_1_october = {a for a, row in accounts.items() if row["closed_on"] == "2026-10-01"}
    opened_mid_october = {a for a, row in accounts.items() if row["opened_on"] == "2026-10-15"}
    assert opened_in_november and closed_on_1_october and opened_mid_october
    assert opened_in_november <= november - october
    assert not closed_on_1_october & (october | november)
    assert opened_mid_october <= october & november
    six_months = next(s for s in _statements(core_db, NOVEMBER) if len(s["history"]) == 6)
    assert six_months["history"][0]["period"] == "2026-06", "six months: June to November"


def test_households_and_second_accounts_in_the_demo_data(core_db):
    statements = _statements(core_db, OCTOBER)
    paper = [s for s in statements if not s["paperless"]]
    addresses = {}
    for s in paper:
        address = (s["address_line1"], s["postal_code"], s["city"])
        addresses.setdefault(address, set()).add(s["customer_id"])
    assert any(len(customers) > 1 for customers in addresses.values()), "a shared address"
    customers = [s["customer_id"] for s in paper]
    assert any(customers.count(c) > 1 for c in customers), "two statements for one addressee"


def test_attach_details_groups_rows_by_key_in_query_order():
    records = [{"account_id": "A2", "x": 1}, {"account_id": "A1"}, {"account_id": "A3"}]
    rows = [
        {"account_id": "A1", "line_no": 1},
        {"account_id": "A2", "line_no": 1},
        {"account_id": "A1", "line_no": 2},
    ]
    attach_details(records, "lines", rows, "account_id")
    assert records == [
        {"account_id": "A2", "x": 1, "lines": [{"line_no": 1}]},
        {"account_id": "A1", "lines": [{"line_no": 1}, {"line_no": 2}]},
        {"account_id": "A3", "lines": []},
    ]


def test_bar_chart_is_deterministic_escaped_and_scaled():
    bars = [Bar("<b>May</b>", 50, "50 €"), Bar("Jun", 100, "100 €"), Bar("Jul", -10, "-10 €")]
    svg = bar_chart_svg(bars, 'Amounts "&" more')
    assert svg == bar_chart_svg(bars, 'Amounts "&" more')
    assert "<b>" not in svg and "&lt;b&gt;May&lt;/b&gt;" in svg
    alternative = (
        "Amounts &#34;&amp;&#34; more: &lt;b&gt;May&lt;/b&gt;: 50 €; Jun: 100 €; Jul: -10 €"
    )
    assert f'aria-label="{alternative}"' in svg and f"<title>{alternative}</title>" in svg
    heights = [float(part.split('"')[0]) for part in svg.split('height="')[2:]]
    assert heights == [35.0, 70.0, 0.0], "scaled to the highest bar; no bar below zero"
    assert svg.count("<rect") == 3 and "<script" not in svg


def test_bar_chart_filter_formats_months_and_values_in_the_customer_locale():
    env = ImmutableSandboxedEnvironment(autoescape=True)
    env.filters["bar_chart"] = bar_chart_filter
    history = [
        {"period": "2026-09", "total_cents": 123456, "km": 1200},
        {"period": "2026-10", "total_cents": 5000, "km": None},
    ]
    template = env.from_string(
        "{{ h | bar_chart('total_cents', 'Importi', currency='EUR') }}"
        "{{ h | bar_chart('km', 'Km', unit='km') }}"
    )
    html = template.render(h=history, locale="it_IT")
    assert "set 26" in html and "ott 26" in html
    assert "1234,56\xa0€" in html or "1.234,56\xa0€" in html
    assert "1.200 km" in html and html.count("<svg") == 2
