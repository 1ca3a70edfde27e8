"""``missiva preview COMMUNICATION --customer ID``: the customer's record as the journey
extracts it from the core systems (details included), every rendition written."""

import io
import sqlite3
from pathlib import Path

import pytest
from browser import chromium_path
from PIL import Image
from pypdf import PdfReader

from missiva.cli import main
from missiva.composition import proof_visual
from missiva.devtools.seed import seed


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    seed(home / "core.db", customers=40)
    return home


@pytest.fixture(autouse=True)
def _home(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISSIVA_HOME", str(home))


def _query(home: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(home / "core.db") as db:
        return db.execute(sql).fetchall()


def _pdf_text(path: Path) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(path.read_bytes())).pages)


def test_billing_statement_of_a_month_with_its_line_items(home: Path, tmp_path: Path) -> None:
    (account, customer), *_ = _query(
        home,
        "SELECT a.account_id, a.customer_id FROM billing_accounts a "
        "JOIN statement_lines l USING (account_id) WHERE l.period = '2026-10' "
        "AND a.paperless = 0 ORDER BY a.account_id LIMIT 1",
    )
    lines = _query(
        home,
        f"SELECT description FROM statement_lines WHERE account_id = '{account}' "
        "AND period = '2026-10' ORDER BY line_no",
    )
    out = tmp_path / "statement"
    argv = ["preview", "billing_statement", "--customer", customer, "--out", str(out)]
    assert main([*argv, "--since", "2026-10-01", "--until", "2026-11-01"]) == 0
    text = _pdf_text(out / "letter.pdf")
    assert account in text
    for (description,) in lines:
        assert description.split(" - ")[0] in text
    assert (out / "index.html").is_file() and (out / "web.html").is_file()


def test_without_the_interval_it_says_what_to_give(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ((customer,),) = _query(home, "SELECT customer_id FROM billing_accounts LIMIT 1")
    argv = ["preview", "billing_statement", "--customer", customer, "--out", str(tmp_path)]
    assert main(argv) == 1
    error = capsys.readouterr().err
    assert f"no billing_statement for customer {customer!r}" in error
    assert "--since/--until" in error
    assert not any(tmp_path.iterdir())


def test_welcome_with_the_customers_own_data(home: Path, tmp_path: Path) -> None:
    customer, first_name = _query(
        home,
        "SELECT customer_id, first_name FROM customers WHERE customer_id IN "
        "(SELECT customer_id FROM customers GROUP BY customer_id HAVING COUNT(*) = 1) "
        "ORDER BY customer_id LIMIT 1",
    )[0]
    out = tmp_path / "welcome"
    assert main(["preview", "welcome", "--customer", customer, "--out", str(out)]) == 0
    assert first_name in (out / "email.html").read_text(encoding="utf-8")
    assert customer in _pdf_text(out / "letter.pdf")


def test_unknown_customer_or_communication(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["preview", "welcome", "--customer", "C999999", "--out", str(tmp_path)]) == 1
    assert "no welcome for customer 'C999999'" in capsys.readouterr().err
    assert main(["preview", "nothing", "--customer", "C000001", "--out", str(tmp_path)]) == 1
    assert "no journey sends 'nothing'" in capsys.readouterr().err


def test_policy_certificate_of_a_customer_with_a_policy(home: Path, tmp_path: Path) -> None:
    ((customer, policy),) = _query(
        home,
        # the customer's first policy, as the request's extract picks it
        "SELECT customer_id, policy_id FROM policies "
        "ORDER BY customer_id, start_date, policy_id LIMIT 1",
    )
    out = tmp_path / "certificate"
    assert main(["preview", "policy_certificate", "--customer", customer, "--out", str(out)]) == 0
    assert policy in _pdf_text(out / "letter.pdf")


def test_phone_and_desktop_screenshots_of_the_email_and_web_page(
    home: Path, tmp_path: Path
) -> None:
    chromium_path()
    out = tmp_path / "welcome"
    assert main(["preview", "welcome", "--customer", "C000002", "--out", str(out)]) == 0
    index = (out / "index.html").read_text(encoding="utf-8")
    for page in ("email", "web"):
        heights = {}
        for view, width in (("phone", 320), ("desktop", 1280)):
            png = f"{page}-{view}.png"
            with Image.open(out / png) as shot:
                assert shot.width == width, f"{png}: the view's width"
                assert len(shot.convert("RGB").getcolors(1 << 24)) > 50, "rendered, not blank"
                heights[view] = shot.height
            assert f'<a href="{png}"><img class="shot" src="{png}"' in index
        assert heights["phone"] > 800 and heights["phone"] > heights["desktop"], (
            f"{page}: the whole page, reflowed longer on a phone"
        )


def test_without_chromium_the_preview_says_why_there_is_no_screenshot(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a machine without Chromium: the module's binary path points at nothing
    monkeypatch.setattr(proof_visual, "CHROMIUM", tmp_path / "no-chromium")
    out = tmp_path / "welcome"
    assert main(["preview", "welcome", "--customer", "C000002", "--out", str(out)]) == 0
    assert not list(out.glob("*.png")) and (out / "web.html").exists()
    index = (out / "index.html").read_text(encoding="utf-8")
    assert index.count("No screenshot: screenshots need Chromium at") == 2
