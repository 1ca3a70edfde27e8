"""Tests for the composition engine (welcome communication, e-mail and PDF letter).

Other renditions, regulatory blocks and the library tools: test_composition_channels.py,
test_composition_sms.py and test_templates_library.py.
"""

import datetime
import io
import json
import shutil
from pathlib import Path

import pytest
from pypdf import PdfReader

from missiva.composition import (
    AssetAccessError,
    Composer,
    EmailContent,
    TemplateAssetFetcher,
    TemplateError,
    clean_header,
    long_date,
    sample_record,
)
from missiva.paths import TEMPLATES_DIR
from missiva.reference import reference_code

A4_PT = (595.28, 841.89)
MM = 72 / 25.4
DATED = {"communication_id": "welcome-C000123-20261102", "letter_date": datetime.date(2026, 11, 2)}


def make_record(**overrides: object) -> dict[str, object]:
    """A customer record as the pipeline passes it, plus communication_id / letter_date."""
    record: dict[str, object] = {
        "row_id": 7,
        "customer_id": "C000123",
        "first_name": "Giulia",
        "last_name": "Bianchi",
        "email": "giulia.bianchi@example.com",
        "phone": None,
        "language": "it",
        "timezone": "Europe/Rome",
        "address_line1": "Via Roma 10",
        "address_line2": None,
        "postal_code": "00184",
        "city": "Roma",
        "country": "IT",
        "preferred_channel": "letter",
        "do_not_contact": "false",
        "joined_at": "2026-10-30 09:15:00",
        "consent_email_transactional": "true",
        "consent_paper_transactional": "true",
        "consent_sms_transactional": "false",
        "policy_id": "POL-2026-000123",
        "product": "Casa Serena",
        "communication_id": "welcome-C000123-20261102",
        "letter_date": datetime.date(2026, 11, 2),
    }
    record.update(overrides)
    return record


ENGLISH = {
    "language": "en",
    "first_name": "John",
    "last_name": "Smith",
    "address_line1": "10 Downing Street",
    "postal_code": "SW1A 2AA",
    "city": "London",
    "country": "GB",
}
HOSTILE = {
    "first_name": '<img src="file:///etc/passwd">',
    "last_name": "<style>@import url(http://127.0.0.1:9/x.css)</style>",
    "address_line1": "{{ 7*7 }} {% raw %}",
    "city": "{{ self.__init__.__globals__ }}",
    "product": "{{ 7*7 }} {% raw %} <script>alert(1)</script>",
}


@pytest.fixture(scope="module")
def composer() -> Composer:
    return Composer()


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


# -- e-mail -------------------------------------------------------------------------------


def test_template_version(composer: Composer) -> None:
    meta = json.loads((TEMPLATES_DIR / "communications/welcome/meta.json").read_text())
    assert composer.template_version("welcome") == meta["version"] == "1.2.0"
    assert composer.status("welcome") == "approved"


def test_email_italian(composer: Composer) -> None:
    email = composer.render_email("welcome", make_record())
    assert isinstance(email, EmailContent)
    assert email.subject == "Ti diamo il benvenuto in Missiva, Giulia"
    assert '<html lang="it" dir="ltr">' in email.html
    for body in (email.html, email.text):
        assert "Gentile Giulia Bianchi," in body
        assert "POL-2026-000123" in body
        assert "30 ottobre 2026" in body
        assert "Cordiali saluti" in body
        assert "Regolamento (UE) 2016/679" in body  # regulatory block in the footer
        assert "Dear" not in body
    assert "<p" not in email.text and "Informativa" in email.html


def test_email_english(composer: Composer) -> None:
    email = composer.render_email("welcome", make_record(**ENGLISH))
    assert email.subject == "Welcome to Missiva, John"
    assert '<html lang="en" dir="ltr">' in email.html
    for body in (email.html, email.text):
        assert "Dear John Smith," in body
        assert "30 October 2026" in body
        assert "Kind regards" in body
        assert "Privacy" in body.title()
        assert "Gentile" not in body and "Cordiali" not in body


def test_unknown_language_falls_back_to_default(composer: Composer) -> None:
    email = composer.render_email("welcome", make_record(language=None))
    assert email.subject.startswith("Ti diamo il benvenuto")


def test_optional_fields_may_be_none(composer: Composer) -> None:
    email = composer.render_email("welcome", make_record(policy_id=None, product=None))
    assert "None" not in email.text and "None" not in email.html
    assert "Numero di polizza" not in email.text


def test_email_escapes_html_and_template_syntax(composer: Composer) -> None:
    email = composer.render_email("welcome", make_record(**HOSTILE))
    # css-inline re-serializes the document: text keeps < and > escaped, quotes need not be
    assert "<img" not in email.html and '&lt;img src="file:///etc/passwd"&gt;' in email.html
    assert "<style>@import" not in email.html and "&lt;style&gt;@import" in email.html
    assert "<script>" not in email.html and "&lt;script&gt;alert(1)" in email.html
    # the plain-text part is not HTML: data appears verbatim, never evaluated
    assert '<img src="file:///etc/passwd">' in email.text
    assert "{{ 7*7 }} {% raw %} <script>" in email.text and "49" not in email.text
    assert email.subject == 'Ti diamo il benvenuto in Missiva, <img src="file:///etc/passwd">'


@pytest.mark.parametrize(
    "first_name",
    ["Giulia\r\nBcc: victim@example.com", "Giulia\nX-Injected: 1", "Giulia\u2028\x00\x85\tX"],
)
def test_subject_has_no_control_characters(composer: Composer, first_name: str) -> None:
    subject = composer.render_email("welcome", make_record(first_name=first_name)).subject
    assert subject.startswith("Ti diamo il benvenuto in Missiva, Giulia")
    assert not any(ord(char) < 32 or 0x7F <= ord(char) <= 0x9F for char in subject)
    assert "\u2028" not in subject and "  " not in subject


def test_clean_header() -> None:
    assert clean_header(" a\r\n\tb\x00c  ") == "a b c"


def test_long_date() -> None:
    assert long_date(datetime.date(2026, 11, 2), "it") == "2 novembre 2026"
    assert long_date("2026-01-31 10:00:00", "en") == "31 January 2026"


# -- errors -------------------------------------------------------------------------------


def test_missing_field_names_template_and_field(composer: Composer) -> None:
    record = make_record()
    del record["communication_id"]
    with pytest.raises(TemplateError) as info:
        composer.render_letter_html("welcome", record)
    message = str(info.value)
    assert "'communication_id'" in message
    assert "layouts/letter.html" in message


def test_missing_field_in_block_names_the_block(composer: Composer) -> None:
    record = {**sample_record(TEMPLATES_DIR, "claim_acknowledgement", "it"), **DATED}
    del record["product"]
    with pytest.raises(TemplateError, match=r"blocks/claim_details\.html.*'product'"):
        composer.render_letter_html("claim_acknowledgement", record)


@pytest.mark.parametrize("value", [None, "", "   "])
def test_required_field_missing_or_empty(composer: Composer, value: object) -> None:
    with pytest.raises(TemplateError, match=r"communications/welcome/letter\.html.*'postal_code'"):
        composer.render_letter_pdf("welcome", make_record(postal_code=value))
    with pytest.raises(TemplateError, match=r"'first_name'"):
        composer.render_email("welcome", make_record(first_name=value))


def test_unknown_or_malformed_communication(composer: Composer) -> None:
    with pytest.raises(TemplateError, match="nope"):
        composer.template_version("nope")
    with pytest.raises(TemplateError, match="invalid communication name"):
        composer.render_email("../layouts", make_record())


def test_unapproved_communication_is_refused(tmp_path: Path) -> None:
    """Any change to the folder (here: a new version in meta.json) makes it a draft."""
    library = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, library)
    meta_path = library / "communications/welcome/meta.json"
    meta = json.loads(meta_path.read_text())
    meta["version"] = "9.9.9"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(TemplateError, match=r"'welcome' version 9\.9\.9 is a draft"):
        Composer(library).render_email("welcome", make_record())
    email = Composer(library, production=False).render_email("welcome", make_record())
    assert "Giulia" in email.subject


# -- letter -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected", "unexpected"),
    [
        (
            {},
            ["Gentile Giulia Bianchi", "00184 ROMA", "Milano, 2 novembre 2026", "Pagina 1 di 1"],
            "Dear",
        ),
        (
            ENGLISH,
            [
                "Dear John Smith",
                "LONDON\nSW1A 2AA\nUNITED KINGDOM",
                "2 November 2026",
                "Page 1 of 1",
            ],
            "Gentile",
        ),
    ],
)
def test_letter_pdf_content(
    composer: Composer, overrides: dict[str, str], expected: list[str], unexpected: str
) -> None:
    record = make_record(**overrides)
    pdf = composer.render_letter_pdf("welcome", record)
    assert pdf.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (float(box.width), float(box.height)) == pytest.approx(A4_PT, abs=0.5)
    text = pdf_text(pdf)
    for snippet in expected:
        assert snippet in text
    assert unexpected not in text
    assert "POL-2026-000123" in text
    assert reference_code(record["communication_id"]) in text  # never broken across lines
    assert reader.metadata is not None
    assert reader.metadata.creation_date is not None
    assert reader.metadata.creation_date.date() == datetime.date(2026, 11, 2)


def test_letter_address_sits_in_the_dl_window(composer: Composer) -> None:
    """The recipient name is printed inside a window 20mm from the left, 45mm from the top."""
    pdf = composer.render_letter_pdf("welcome", make_record())
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    found: list[tuple[float, float]] = []

    def visitor(text: str, cm: list[float], tm: list[float], *_: object) -> None:
        if text.strip() == "Giulia Bianchi":
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            found.append((x / MM, (float(page.mediabox.height) - y) / MM))

    page.extract_text(visitor_text=visitor)
    assert found, "recipient name not found on the page"
    x_mm, y_mm = found[0]
    assert 20 <= x_mm <= 30
    assert 45 <= y_mm <= 85


def test_letter_pdf_is_deterministic(composer: Composer) -> None:
    record = make_record()
    first = composer.render_letter_pdf("welcome", record)
    assert composer.render_letter_pdf("welcome", record) == first
    assert Composer().render_letter_pdf("welcome", record) == first
    other = composer.render_letter_pdf("welcome", make_record(customer_id="C000124"))
    assert other != first


def test_letter_pdf_is_pdfa(composer: Composer) -> None:
    reader = PdfReader(io.BytesIO(composer.render_letter_pdf("welcome", make_record())))
    catalog = reader.trailer["/Root"]
    xmp = catalog["/Metadata"].get_object().get_data()
    assert b'pdfaid:part="3"' in xmp and b'pdfaid:conformance="A"' in xmp
    assert catalog["/OutputIntents"][0].get_object()["/S"] == "/GTS_PDFA1"
    assert reader.trailer["/ID"]  # file identifier, required by PDF/A


def test_letter_html_is_standalone(composer: Composer) -> None:
    html = composer.render_letter_html("welcome", make_record())
    assert "@page" in html and "DejaVu Sans" in html  # styles embedded
    assert 'data-page-label="Pagina"' in html
    assert "Giulia Bianchi" in html


def test_letter_escapes_hostile_data_and_fetches_nothing(
    composer: Composer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched: list[str] = []
    original = TemplateAssetFetcher.fetch

    def spy(self: TemplateAssetFetcher, url: str, headers: object = None) -> object:
        fetched.append(url)
        return original(self, url, headers)  # type: ignore[arg-type]

    monkeypatch.setattr(TemplateAssetFetcher, "fetch", spy)
    record = make_record(**HOSTILE)
    html = composer.render_letter_html("welcome", record)
    assert "<img" not in html and "<script>" not in html and "<style>@import" not in html
    assert "&lt;img src=&#34;file:///etc/passwd&#34;&gt;" in html
    text = pdf_text(composer.render_letter_pdf("welcome", record))
    assert "file:///etc/passwd" in text  # printed as text, not loaded
    assert "{{ 7*7 }} {% raw %}" in text and "{{ self.__init__.__globals__ }}".upper() in text
    assert "root:" not in text
    assert fetched == []


# -- url fetcher --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        (TEMPLATES_DIR / "styles/../../missiva/paths.py").as_uri(),
        (TEMPLATES_DIR / "styles").as_uri() + "/%2e%2e/brand.json",
        (TEMPLATES_DIR / "brand.json").as_uri(),
        (TEMPLATES_DIR / "styles/missing.css").as_uri(),
        "file://evil.example/" + str(TEMPLATES_DIR / "styles/brand.css"),
        "http://127.0.0.1:9/x.css",
        "https://example.com/logo.png",
        "data:text/css,body{}",
        "ftp://example.com/x",
    ],
)
def test_fetcher_refuses_outside_urls(composer: Composer, url: str) -> None:
    with pytest.raises(AssetAccessError):
        composer.url_fetcher.fetch(url)
    with pytest.raises(AssetAccessError):
        composer.url_fetcher(url)


def test_fetcher_refuses_symlink_escape(tmp_path: Path) -> None:
    (tmp_path / "styles").mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    (tmp_path / "styles/link.css").symlink_to(secret)
    with pytest.raises(AssetAccessError):
        TemplateAssetFetcher(tmp_path).fetch((tmp_path / "styles/link.css").as_uri())


def test_fetcher_serves_template_assets(composer: Composer) -> None:
    response = composer.url_fetcher.fetch((TEMPLATES_DIR / "styles/brand.css").as_uri())
    try:
        assert b"DejaVu Sans" in response.read()
        assert response.content_type == "text/css"
    finally:
        response.close()


def test_renderer_uses_the_restricted_fetcher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A template that references outside URLs still renders, without loading them."""
    library = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, library)
    letter = library / "communications/welcome/letter.html"
    letter.write_text(
        letter.read_text().replace(
            "{% block body %}",
            '{% block body %}<img src="file:///etc/passwd"><img src="http://127.0.0.1:9/x.png">'
            '<p style="background: url(styles/../../../x.png)">x</p>',
        )
    )
    calls: list[tuple[str, str]] = []
    original = TemplateAssetFetcher.fetch

    def spy(self: TemplateAssetFetcher, url: str, headers: object = None) -> object:
        try:
            response = original(self, url, headers)  # type: ignore[arg-type]
        except AssetAccessError:
            calls.append((url, "refused"))
            raise
        calls.append((url, "served"))
        return response

    monkeypatch.setattr(TemplateAssetFetcher, "fetch", spy)
    pdf = Composer(library, production=False).render_letter_pdf("welcome", make_record())
    assert "Gentile Giulia Bianchi" in pdf_text(pdf)
    assert ("file:///etc/passwd", "refused") in calls
    assert ("http://127.0.0.1:9/x.png", "refused") in calls
    assets = tuple(f"{(library / folder).as_uri()}/" for folder in ("styles", "fonts", "images"))
    for url, outcome in calls:  # only the library's own assets (the brand font) are served
        assert (outcome == "served") == url.startswith(assets), url
