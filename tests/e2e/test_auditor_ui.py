"""The auditor page "Communications" served by a real ``airflow api-server``, driven in
a real headless Chromium.

The ledger and archive hold one onboarding run made by the core stages (real PDFs,
e-mails delivered to a real SMTP server) and the demo ledger's other kinds of rows
(:func:`auditor_fixtures.add_demo_rows`). Users (SimpleAuthManager roles): ``auditor``
(user: reads contact data), ``viewer`` (viewer: contact data masked, may not ingest),
``provider`` (op: may ingest delivery events) and ``admin``.

Needs Debian's Chromium at /usr/bin/chromium: skipped without it, failed when CI=true.
"""

from __future__ import annotations

import email
import hashlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from email.policy import default as default_policy
from pathlib import Path

import httpx
import pytest
from auditor_fixtures import (
    QUOTED_EMAIL,
    QUOTED_NATIONAL_PHONE,
    QUOTED_PHONE,
    RUN,
    ApiServer,
    Home,
    add_demo_rows,
    api_server,
    build_home,
)
from browser import CHROMIUM_ARGS, VIEWPORTS, chromium_path, reflow_and_axe
from ledger_fixtures import fields, raw_sql

from missiva.journeys import ONBOARDING
from missiva.paths import TEMPLATES_DIR
from missiva.print_stage import print_stage
from missiva.privacy.erase import erase
from missiva.privacy.sealing import SealedStore, sealed
from missiva.records.ledger import Ledger
from missiva.records.models import Communication
from missiva.records.store import LocalArtifactStore

pytestmark = pytest.mark.e2e

USERS = {"auditor": "user", "viewer": "viewer", "provider": "op", "admin": "admin"}
SCREENSHOT = Path("/tmp/missiva-auditor.png")
DIALOGS: list[str] = []  # alert() & co. opened by any page: must stay empty


@dataclass(frozen=True)
class Stack:
    server: ApiServer
    home: Home
    demo: list[Communication]

    @property
    def url(self) -> str:
        return self.server.url

    def page_url(self, comm: Communication, suffix: str = "") -> str:
        return f"{self.url}/missiva/communications/{comm.communication_id}{suffix}"

    def store(self) -> SealedStore:
        archive = LocalArtifactStore(self.home.settings.home / "archive")
        return sealed(archive, Ledger(self.home.settings.ledger_url))

    def archived(self, comm: Communication) -> bytes:
        return self.store().get(comm.artifact_uri, comm.artifact_sha256)

    def input_record(self, comm: Communication) -> dict:
        return json.loads(self.store().get(comm.input_uri, comm.data_sha256))

    def attached_pdf(self, comm: Communication) -> bytes:
        message = email.message_from_bytes(self.archived(comm), policy=default_policy)
        return next(message.iter_attachments()).get_content()


@pytest.fixture(scope="module")
def stack(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("missiva-auditor")
    with api_server(airflow_db, root, USERS) as server:
        home = build_home(root, customers=16)  # while the server starts
        demo = add_demo_rows(home.settings)
        server.wait_healthy()
        yield Stack(server, home, demo)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Session-scoped so that it is checked before the (slow) Airflow fixtures."""
    return chromium_path()


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def logged_in(browser, stack: Stack, user: str):
    """A page signed in through Airflow's login form, landed on /missiva/."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.on("dialog", lambda dialog: DIALOGS.append(dialog.message) or dialog.dismiss())
    page.goto(f"{stack.url}/missiva/")  # not signed in: sent to the login page
    assert "/auth/login" in page.url
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", stack.server.passwords[user])
    page.click("button[type=submit]")
    page.wait_for_url(f"{stack.url}/missiva/")
    return page


@pytest.fixture(scope="module")
def auditor_page(browser, stack: Stack):
    page = logged_in(browser, stack, "auditor")
    yield page
    page.context.close()


@pytest.fixture(scope="module")
def viewer_page(browser, stack: Stack):
    page = logged_in(browser, stack, "viewer")
    yield page
    page.context.close()


def download(page, selector: str) -> bytes:
    with page.expect_download() as info:
        page.click(selector)
    return Path(info.value.path()).read_bytes()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_anonymous_requests_are_refused(stack: Stack) -> None:
    comm = stack.home.first("email")
    urls = [
        f"{stack.url}/missiva/",
        f"{stack.url}/missiva/customers/{comm.customer_id}",
        stack.page_url(comm),
        stack.page_url(comm, "/artifact?download=1"),
        stack.page_url(comm, "/attachments/0"),
    ]
    with httpx.Client(follow_redirects=False) as client:
        for url in urls:
            assert client.get(url).status_code == 401, url
            forged = client.get(url, headers={"Authorization": "Bearer not-a-jwt"})
            assert forged.status_code in (401, 403), url
            stale = client.get(url, headers={"Cookie": "_token=not-a-jwt"})
            assert stale.status_code in (401, 403), url
        browser_like = client.get(urls[0], headers={"Accept": "text/html"})
        assert browser_like.status_code == 303
        assert browser_like.headers["location"] == "/auth/login?next=%2Fmissiva%2F"
        assert client.get(f"{stack.url}/missiva/static/auditor.css").status_code == 200


def test_search_by_journey_run_and_dates(auditor_page, stack: Stack) -> None:
    page = auditor_page
    days = sorted({c.created_at.date().isoformat() for c in stack.home.communications})
    page.goto(f"{stack.url}/missiva/")
    page.fill("input[name=journey]", "onboarding")
    page.fill("input[name=run_id]", "scheduled__2026-11-02T00:00:00+00:00")
    page.fill("input[name=since]", days[0])
    page.fill("input[name=until]", days[-1])
    page.click("button[type=submit]")
    total = len(stack.home.communications)
    assert page.inner_text("[data-testid=count]") == f"{total} communications"
    page.fill("input[name=run_id]", "manual__never")
    page.click("button[type=submit]")
    assert page.inner_text("[data-testid=count]") == "0 communications"


def test_auditor_finds_opens_and_downloads(auditor_page, stack: Stack) -> None:
    page = auditor_page
    emailed, paper = stack.home.first("email"), stack.home.first("paper")
    page.goto(f"{stack.url}/missiva/")

    page.fill("input[name=customer_id]", emailed.customer_id)
    page.click("button[type=submit]")
    assert page.inner_text("[data-testid=count]") == "1 communication"
    row = page.locator("table.list tbody tr")
    assert emailed.recipient in row.inner_text()
    assert "sent" in row.inner_text() and "email" in row.inner_text()
    assert f"v{emailed.template_version}" in row.inner_text()

    row.locator("a.open").click()
    page.wait_for_url(stack.page_url(emailed))
    assert page.inner_text("[data-testid=recipient]") == emailed.recipient
    run_link = page.locator("[data-testid=dag-run]")
    assert run_link.get_attribute("href") == (
        "/dags/onboarding/runs/scheduled__2026-11-02T00%3A00%3A00%2B00%3A00"
    )
    assert run_link.get_attribute("target") == "_top"
    events = page.inner_text("[data-testid=events]")
    assert "composed" in events and "sending" in events and "sent" in events
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    eml = download(page, "[data-testid=download-artifact]")
    assert sha256(eml) == emailed.artifact_sha256
    pdf = download(page, "[data-testid=download-attachment]")
    assert pdf.startswith(b"%PDF-")
    assert sha256(pdf) == sha256(stack.attached_pdf(emailed))
    assert page.inner_text("[data-testid=attachment-sha256]") == sha256(pdf)

    page.goto(stack.page_url(paper))
    letter = download(page, "[data-testid=download-artifact]")
    assert letter.startswith(b"%PDF-") and sha256(letter) == paper.artifact_sha256
    inline = page.context.request.get(stack.page_url(paper, "/artifact"))
    assert inline.headers["content-type"] == "application/pdf"
    assert inline.headers["content-disposition"].startswith("inline")

    page.click(f"text={paper.customer_id}")
    timeline = page.inner_text("[data-testid=timeline]")
    for kind in ("composed", "sending", "sent"):
        assert kind in timeline
    assert "paper" in timeline

    # each page, search and download is in Airflow's audit log, with who asked and the answer
    logged = audit_log(stack, "auditor")
    assert {e["event"] for e in logged} == {
        "missiva.search",
        "missiva.communication",
        "missiva.customer",
        "missiva.artifact",
        "missiva.attachment",
    }
    downloads = [e for e in logged if e["event"] == "missiva.artifact"]
    assert {(e["communication_id"], e["status"]) for e in downloads} == {
        (emailed.communication_id, 200),
        (paper.communication_id, 200),
    }
    searched = [e for e in logged if e["event"] == "missiva.search"]
    assert {"customer_id": emailed.customer_id, "method": "GET", "status": 200}.items() <= (
        searched[-1].items()
    )


def test_customer_data_is_shown_as_text_never_run(auditor_page, stack: Stack) -> None:
    """The seed injects markup into names; the page shows it escaped, and no script runs."""
    page = auditor_page
    injected = [
        (c, value)
        for c in stack.home.communications
        for value in stack.input_record(c).values()
        if isinstance(value, str) and "<script" in value
    ]
    assert injected, "the seed no longer injects markup: pick another probe"
    comm, value = injected[0]
    page.goto(stack.page_url(comm))
    assert value in page.inner_text("[data-testid=record]")
    assert page.locator("main script").count() == 0
    assert DIALOGS == []


def test_the_nav_entry_embeds_the_page(auditor_page, stack: Stack) -> None:
    page = auditor_page
    page.goto(f"{stack.url}/plugin/communications")
    nav = page.get_by_role("link", name="Communications")
    nav.first.wait_for()
    frame = page.frame_locator("iframe")
    assert frame.locator("h1").inner_text() == "Communications"


def test_non_auditor_sees_contact_data_masked(viewer_page, stack: Stack) -> None:
    page = viewer_page
    emailed = stack.home.first("email")
    page.fill("input[name=customer_id]", emailed.customer_id)
    page.click("button[type=submit]")
    assert page.inner_text("[data-testid=count]") == "1 communication"
    assert emailed.recipient not in page.content()
    assert "•••" in page.inner_text("table.list")

    page.goto(stack.page_url(emailed))
    assert "contact data masked" in page.inner_text("[data-testid=who]")
    assert emailed.recipient not in page.content()
    assert page.inner_text("[data-testid=recipient]").startswith(f"{emailed.recipient[0]}•••@")
    record = page.inner_text("[data-testid=record]")
    assert emailed.customer_id in record
    person = stack.input_record(emailed)
    for field in ("first_name", "last_name", "email", "phone", "address_line1", "city"):
        assert str(person[field]) not in page.inner_text("main"), field
    assert page.locator("[data-testid=download-artifact]").count() == 0
    assert page.locator("[data-testid=artifact-sha256]").inner_text() == emailed.artifact_sha256
    refused = page.context.request.get(stack.page_url(emailed, "/artifact?download=1"))
    assert refused.status == 403

    paper = stack.home.first("paper")
    page.goto(stack.page_url(paper))
    *contact, _country = paper.recipient.splitlines()  # name, street, town (the country is shown)
    for line in contact:
        assert line not in page.inner_text("main"), line

    page.click(f"text={paper.customer_id}")
    assert "sent" in page.inner_text("[data-testid=timeline]")
    for line in contact:
        assert line not in page.inner_text("main"), line


def bearer(stack: Stack, user: str) -> dict[str, str]:
    token = httpx.post(
        f"{stack.url}/auth/token",
        json={"username": user, "password": stack.server.passwords[user]},
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def audit_log(stack: Stack, owner: str) -> list[dict]:
    """Airflow's audit log rows of Missiva pages for ``owner``: event, then ``extra``."""
    with sqlite3.connect(stack.server.airflow_home / "airflow.db") as db:
        rows = db.execute(
            "SELECT event, extra FROM log WHERE event LIKE 'missiva.%' AND owner = ? ORDER BY id",
            (owner,),
        ).fetchall()
    return [{"event": event} | json.loads(extra) for event, extra in rows]


def test_contact_data_follows_the_auth_manager_roles(stack: Stack) -> None:
    """SimpleAuthManager: ``user`` and above read contact data, a viewer does not."""
    emailed = stack.home.first("email")
    for user, allowed in (("admin", True), ("auditor", True), ("provider", True)):
        with httpx.Client(headers=bearer(stack, user)) as client:
            page = client.get(stack.page_url(emailed))
            assert page.status_code == 200
            assert (emailed.recipient in page.text) is allowed, user
            assert client.get(stack.page_url(emailed, "/artifact")).status_code == 200
    with httpx.Client(headers=bearer(stack, "viewer")) as client:
        refused = client.get(stack.page_url(emailed, "/attachments/0"))
        assert refused.status_code == 403
        assert "Missiva contact data" in refused.json()["detail"]
    refusals = [e for e in audit_log(stack, "viewer") if e["status"] == 403]
    assert ("missiva.attachment", emailed.communication_id) in {
        (e["event"], e["communication_id"]) for e in refusals
    }


def ingest(stack: Stack, reports: list[dict], user: str) -> httpx.Response:
    url = f"{stack.url}/missiva/events/ingest"
    return httpx.post(url, json=reports, headers=bearer(stack, user), timeout=30)


def test_only_a_permitted_user_can_ingest_delivery_events(viewer_page, stack: Stack) -> None:
    """A viewer can neither bounce a sent e-mail nor turn a review item into sent."""
    sent = [c for c in stack.home.communications if c.status == "sent" and c.channel == "email"]
    bounced, review = sent[1], stack.demo[2]
    assert review.status == "review"
    reports = [
        {"communication_id": bounced.communication_id, "event": "hard_bounce", "reason": "550"},
        {"communication_id": review.communication_id, "event": "delivered"},
    ]
    for user in ("viewer", "auditor"):  # over the API with their tokens
        refused = ingest(stack, reports, user)
        assert refused.status_code == 403, user
        assert "Missiva delivery events" in refused.json()["detail"]
    # in Chromium: the signed-in viewer's browser posts with its session cookie (from an
    # Airflow page: the Communications pages' CSP allows no script to connect anywhere)
    viewer_page.goto(f"{stack.url}/api/v2/monitor/health")
    status = viewer_page.evaluate(
        """async ([url, body]) => (await fetch(url, {method: "POST", body,
            headers: {"Content-Type": "application/json"}})).status""",
        [f"{stack.url}/missiva/events/ingest", json.dumps(reports)],
    )
    assert status == 403
    with Ledger(stack.home.settings.ledger_url) as ledger:
        assert ledger.get(bounced.communication_id).status == "sent"
        assert ledger.get(review.communication_id).status == "review"
    refused = [e for e in audit_log(stack, "viewer") if e["event"] == "missiva.ingest"]
    assert [(e["method"], e["status"]) for e in refused] == [("POST", 403), ("POST", 403)]

    applied = ingest(stack, reports, "provider")
    assert applied.status_code == 200, applied.text
    assert applied.json()["applied"] == 2
    with Ledger(stack.home.settings.ledger_url) as ledger:
        assert ledger.get(bounced.communication_id).status == "bounced"
        assert ledger.get(review.communication_id).status == "sent"
    [logged] = [e for e in audit_log(stack, "provider") if e["event"] == "missiva.ingest"]
    assert (logged["status"], logged["applied"], logged["rejected"]) == (200, 2, 0)


def contact_lines(comm: Communication) -> list[str]:
    """The recipient's lines, without a postal address's last line (the country: shown);
    none for the portal (its recipient is the customer's account, their id)."""
    if comm.channel == "portal":
        return []
    lines = (comm.recipient or "").splitlines()
    return lines[:-1] if comm.channel == "paper" else lines


@pytest.mark.parametrize("user", ["admin", "viewer"])
def test_every_communication_page_renders(stack: Stack, user: str) -> None:
    comms = stack.home.communications + stack.demo
    statuses = {"sent", "suppressed", "quarantined", "failed", "review"}
    assert statuses <= {c.status for c in comms}
    assert {None, "email", "sms", "paper", "portal"} <= {c.channel for c in comms}
    quoted = (QUOTED_PHONE, QUOTED_NATIONAL_PHONE, QUOTED_EMAIL)
    with httpx.Client(headers=bearer(stack, user), timeout=30) as client:
        for comm in comms:
            for url in (stack.page_url(comm), f"{stack.url}/missiva/customers/{comm.customer_id}"):
                page = client.get(url)
                assert page.status_code == 200, (comm.status, comm.channel, url)
                if user == "viewer":
                    for contact in (*contact_lines(comm), *quoted):
                        assert contact not in page.text, (contact, url)
    reasons = [c.reason or "" for c in stack.demo]
    assert all(any(value in reason for reason in reasons) for value in quoted)
    pages = [e for e in audit_log(stack, user) if e["event"] == "missiva.communication"]
    opened = {e["communication_id"] for e in pages if e["status"] == 200}
    assert {c.communication_id for c in comms} <= opened


def test_a_communication_page_shows_its_template_versions_approval(
    auditor_page, stack: Stack
) -> None:
    """Who approved the version it went out under and when, as the library's approvals
    record it (the shipped approvals were given without a diff report); a version the
    library holds no approval of is flagged."""
    page = auditor_page
    emailed = stack.home.first("email")
    approvals = TEMPLATES_DIR / "communications" / emailed.template / "approvals.json"
    approval = next(
        a for a in json.loads(approvals.read_text()) if a["version"] == emailed.template_version
    )
    page.goto(stack.page_url(emailed))
    assert page.inner_text("[data-testid=approved-by]") == approval["approved_by"]
    shown = page.inner_text("[data-testid=template-approval]")
    assert approval["approved_at"].replace("T", " ").removesuffix("+00:00") in shown
    assert page.inner_text("[data-testid=approval-report]") == "none recorded"

    unapproved = fields(9000_07, template="welcome", template_version="0.9.0")
    with Ledger(stack.home.settings.ledger_url) as ledger:
        ledger.add(**unapproved | {"run_id": "manual__demo"})
    page.goto(f"{stack.url}/missiva/communications/{unapproved['communication_id']}")
    assert "no approval on record" in page.inner_text("[data-testid=template-approval]")
    assert page.locator("[data-testid=approved-by]").count() == 0


def test_an_edited_row_fails_verification(auditor_page, stack: Stack) -> None:
    """Someone with write access to the ledger database changes a paper letter's
    recipient; its archive still matches, but the row no longer matches its digest."""
    letters = [c for c in stack.home.communications if c.status == "sent" and c.channel == "paper"]
    edited, intact = letters[1], letters[0]
    assert edited.communication_id != stack.home.communications[-1].communication_id
    raw_sql(
        stack.home.settings.ledger_url,
        "UPDATE communications SET recipient = 'Someone Else' WHERE communication_id = :id",
        id=edited.communication_id,
    )
    page = auditor_page
    page.goto(stack.page_url(edited))
    assert page.inner_text("[data-testid=integrity]") == "verification failed"
    assert "the row was edited" in page.inner_text("[data-testid=row-check]")
    assert "matches the archive" not in page.inner_text("main")
    page.goto(stack.page_url(intact))
    assert page.inner_text("[data-testid=integrity]") == "matches the archive"
    assert page.locator("[data-testid=row-check]").count() == 0


def test_a_letter_page_checks_its_print_batch_manifest(auditor_page, stack: Stack) -> None:
    """The day's letters batched: a letter's page names the manifest holding it, checked
    against the hash the ledger chained; an edited manifest is named there as failed."""
    settings = stack.home.settings
    assert len(print_stage(ONBOARDING, RUN, settings)) == 1
    letter = stack.home.first("paper")
    page = auditor_page
    page.goto(stack.page_url(letter))
    assert page.inner_text("[data-testid=held-in]").startswith("print manifest onboarding/")
    assert page.inner_text("[data-testid=held-in-check]") == "matches the ledger"
    (manifest,) = settings.print_dir.rglob("*.manifest.json")
    original = manifest.read_bytes()
    manifest.write_bytes(original.replace(b'"sheets": ', b'"sheets": 1', 1))
    try:
        page.goto(stack.page_url(letter))
        assert page.inner_text("[data-testid=held-in-check]") == "check failed"
        assert "the manifest was edited or replaced" in page.inner_text(
            "[data-testid=held-in-problem]"
        )
    finally:
        manifest.write_bytes(original)


def test_an_altered_artifact_is_never_served(stack: Stack) -> None:
    """Runs last: it alters one archived letter (of a communication no other test uses)."""
    comm = [c for c in stack.home.communications if c.status == "sent"][-1]
    assert comm not in (stack.home.first("email"), stack.home.first("paper"))
    path = stack.home.settings.home / "archive" / comm.artifact_uri.removeprefix("archive:")
    path.chmod(0o644)
    path.write_bytes(path.read_bytes() + b"%% altered")
    with httpx.Client(headers=bearer(stack, "auditor")) as client:
        refused = client.get(stack.page_url(comm, "/artifact?download=1"))
        assert refused.status_code == 409
        assert "does not match its sha256" in refused.json()["detail"]
        page = client.get(stack.page_url(comm))
        assert page.status_code == 200
        assert "archive check failed" in page.text
        assert "download-artifact" not in page.text


@pytest.fixture(scope="module")
def auditor_checks(auditor_page, stack: Stack) -> dict:
    """Reflow and axe-core results of the auditor pages at 320 px and 1280 px."""
    page = auditor_page
    emailed, paper = stack.home.first("email"), stack.home.first("paper")
    urls = [
        f"{stack.url}/missiva/?journey=onboarding",
        f"{stack.url}/missiva/customers/{emailed.customer_id}",
        stack.page_url(emailed),
        stack.page_url(paper),
    ]
    results = {}
    try:
        for width in VIEWPORTS.values():
            page.set_viewport_size({"width": width, "height": 900})
            for url in urls:
                page.goto(url)
                results[url.removeprefix(stack.url), width] = reflow_and_axe(page)
    finally:
        page.set_viewport_size({"width": 1400, "height": 1000})
    return results


def test_auditor_pages_reflow_at_320_px(auditor_checks: dict) -> None:
    """No sideways scrolling of the page (wide data tables scroll in their own box)."""
    overflow = {key: result["overflow_px"] for key, result in auditor_checks.items()}
    assert overflow == dict.fromkeys(auditor_checks, 0)


def test_auditor_pages_have_no_axe_violations(auditor_checks: dict) -> None:
    violations = {key: result["violations"] for key, result in auditor_checks.items()}
    assert violations == {key: [] for key in auditor_checks}


def test_an_erased_customer_shows_the_erasure(auditor_page, stack: Stack) -> None:
    """Runs after the accessibility checks: erases one e-mailed customer no other test
    opens; the page says when and by whom, and nothing of the archive is served."""
    sent = [c for c in stack.home.communications if c.status == "sent"]
    comm = next(
        c for c in sent if c.channel == "email" and c not in (stack.home.first("email"), sent[-1])
    )
    settings = stack.home.settings
    with Ledger(settings.ledger_url) as ledger:
        archive = sealed(LocalArtifactStore(settings.home / "archive"), ledger)
        erase(ledger, archive, comm.customer_id, "dpo@missiva.example", "request 2026-118")
    page = auditor_page
    page.goto(stack.page_url(comm))
    notice = page.inner_text("[data-testid=erased]")
    assert notice.startswith("Customer erased on ") and "by dpo@missiva.example" in notice
    assert page.inner_text("[data-testid=integrity]") == "sealed, key destroyed"
    assert "Customer erased on " in page.inner_text("[data-testid=record-erased]")
    assert page.inner_text("[data-testid=recipient]").startswith("erased-")
    assert page.locator("[data-testid=download-artifact]").count() == 0
    assert page.locator("[data-testid=row-check]").count() == 0, "the ledger still verifies"
    with httpx.Client(headers=bearer(stack, "auditor")) as client:
        refused = client.get(stack.page_url(comm, "/artifact?download=1"))
    assert refused.status_code == 410
    assert "erased on" in refused.json()["detail"]
