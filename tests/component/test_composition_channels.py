"""Every rendition from one record: inlined e-mail CSS, web page, Babel formats, provenance,
shared blocks and styles, and hostile data in every channel."""

import datetime
import html
import io
import re
import shutil
import time
from pathlib import Path

import pytest
from pypdf import PdfReader
from test_composition import ENGLISH, HOSTILE, make_record

from missiva.composition import (
    LETTER_MAX_FIELD_CHARS,
    Composer,
    Provenance,
    TemplateError,
    format_date,
    format_money,
    long_date,
)
from missiva.composition.lint import html_problems
from missiva.paths import TEMPLATES_DIR

ALL = ("privacy_notice", "cooling_off")


@pytest.fixture(scope="module")
def composer() -> Composer:
    return Composer()


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


# -- e-mail CSS -----------------------------------------------------------------------------


def test_email_css_is_inlined(composer: Composer) -> None:
    html = composer.render_email("welcome", make_record()).html
    # all that is left for a client to strip: the phone's narrower padding (@media); the
    # fluid layout itself is inline
    styles = re.findall(r"<style>(.*?)</style>", html, re.S)
    assert len(styles) == 1 and styles[0].strip().startswith("@media (max-width: 480px)")
    body = re.search(r"<body[^>]*>", html)
    assert body and 'style="' in body.group(0) and "background: #f0f4f8" in body.group(0)
    assert re.search(r'<h1 style="[^"]*color: #0b5c8e', html)
    assert re.search(r'<div class="preheader" style="display: none', html)
    assert re.search(r'<th scope="row" style="[^"]*text-align: left', html)


def test_email_keeps_at_rules_that_cannot_be_inlined(tmp_path: Path) -> None:
    library = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, library)
    with (library / "styles/email.css").open("a") as css:
        css.write("@media (max-width: 600px) { .content { padding: 8px; } }\n")
    html = Composer(library).render_email("welcome", make_record()).html
    assert html.count("<style>") == 1 and "@media (max-width: 600px)" in html
    assert re.search(r'<td class="content" style="[^"]*padding: 24px 28px;', html)


# -- web page -------------------------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "lang"), [({}, "it"), (ENGLISH, "en")])
def test_web_page_is_accessible(composer: Composer, overrides: dict, lang: str) -> None:
    page = composer.render_web("welcome", make_record(**overrides))
    html = page.html
    assert html.startswith("<!DOCTYPE html>") and f'<html lang="{lang}">' in html
    for landmark in ("<header", "<nav aria-label=", "<main id=", "<footer"):
        assert landmark in html
    assert html.count("<h1") == 1 and "<h2>" in html
    assert re.search(r'<a class="skip-link" href="#content">', html)
    images = re.findall(r"<img [^>]*>", html)
    assert images and all(re.search(r'alt="[^"]+"', image) for image in images)
    assert 'src="data:image/svg+xml;base64,' in images[0]  # standalone: no asset URL
    assert html_problems(html, lang, page=True) == []
    assert page.provenance.blocks == {"cooling_off": "1", "privacy_notice": "1"}


def test_web_page_content(composer: Composer) -> None:
    html = composer.render_web("welcome", make_record()).html
    assert "<title>Ti diamo il benvenuto in Missiva, Giulia · Missiva</title>" in html
    assert "Gentile Giulia Bianchi," in html and "30 ottobre 2026" in html
    assert "Diritto di recesso" in html and "Informativa sul trattamento" in html


# -- Babel ----------------------------------------------------------------------------------


def test_babel_formats() -> None:
    assert format_date(datetime.date(2026, 11, 2), "it_IT") == "2 novembre 2026"
    assert format_date("2026-11-02 23:00:00", "en_GB") == "2 November 2026"
    assert format_date(datetime.date(2026, 11, 2), "en_GB", "short") == "02/11/2026"
    assert format_money("1234.5", "EUR", "it_IT") == "1.234,50\xa0€"
    assert format_money(1234.5, "EUR", "en_GB") == "€1,234.50"
    assert format_money(380, "GBP", "en_GB") == "£380.00"
    assert long_date(datetime.date(2026, 3, 1), "it") == "1 marzo 2026"
    assert long_date(datetime.date(2026, 3, 1), "xx") == "1 March 2026"  # en_GB fallback


@pytest.mark.parametrize(
    ("overrides", "premium", "since", "letter_date"),
    [
        ({"premium_cents": 123456}, "1.234,56\xa0€", "30 ottobre 2026", "2 novembre 2026"),
        (
            {**ENGLISH, "premium_cents": "38050", "currency": "GBP"},
            "£380.50",
            "30 October 2026",
            "2 November 2026",
        ),
    ],
)
def test_amounts_and_dates_follow_the_customer_locale(
    composer: Composer, overrides: dict, premium: str, since: str, letter_date: str
) -> None:
    record = make_record(**overrides)
    email = composer.render_email("welcome", record)
    web = composer.render_web("welcome", record).html
    pdf = pdf_text(composer.render_letter_pdf("welcome", record))
    for body in (email.text, html.unescape(email.html), web):  # css-inline writes &nbsp;
        assert premium in body and since in body
    assert premium.replace("\xa0", " ") in pdf.replace("\xa0", " ")
    assert letter_date in pdf


def test_premium_is_optional(composer: Composer) -> None:
    text = composer.render_email("welcome", make_record()).text  # no premium_cents key
    assert "Premio annuo" not in text
    text = composer.render_email("welcome", make_record(premium_cents=None)).text
    assert "Premio annuo" not in text


def test_language_codes_are_normalised(composer: Composer) -> None:
    for language in ("EN", "en-GB", "en_GB"):
        email = composer.render_email("welcome", make_record(language=language))
        assert email.subject.startswith("Welcome") and email.provenance.language == "en"


# -- provenance -----------------------------------------------------------------------------


def test_provenance_lists_the_blocks_actually_included(composer: Composer) -> None:
    with_policy = make_record()
    without_policy = make_record(policy_id=None)
    expected = {"cooling_off": "1", "privacy_notice": "1"}
    email = composer.render_email("welcome", with_policy)
    assert email.provenance == Provenance("welcome", "1.2.0", expected, "it")
    # the cooling-off clause is only included for a policy: provenance follows, per render
    assert composer.render_email("welcome", without_policy).provenance.blocks == {
        "privacy_notice": "1"
    }
    assert composer.render_letter("welcome", without_policy).provenance.blocks == {
        "privacy_notice": "1"
    }
    assert composer.render_letter("welcome", with_policy).provenance.blocks == expected
    assert composer.render_web("welcome", without_policy).provenance.blocks == {
        "privacy_notice": "1"
    }
    assert composer.render_sms("welcome", with_policy).provenance.blocks == {}
    assert email.provenance.as_dict() == {
        "template": "welcome",
        "template_version": "1.2.0",
        "blocks": expected,
        "language": "it",
    }


# -- shared blocks and styles reach every channel -------------------------------------------


def test_block_and_brand_style_changes_reach_every_channel(tmp_path: Path) -> None:
    library = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, library)
    for name in ("signature.html", "signature.txt"):
        path = library / "blocks" / name
        path.write_text(path.read_text().replace("{{ t.regards }}", "{{ t.regards }} (new)"))
    css = library / "styles/brand.css"
    css.write_text(css.read_text().replace("h1, .subject { color: #0b5c8e;", "h1, .subject {"))
    css.write_text(css.read_text() + "h1 { color: #aa0000; }\n")
    composer = Composer(library)  # blocks and styles are outside the approved folder
    record = make_record()
    email = composer.render_email("welcome", record)
    web = composer.render_web("welcome", record).html
    letter = composer.render_letter_html("welcome", record)
    for body in (email.html, email.text, web, letter):
        assert "Cordiali saluti (new)," in body
    assert re.search(r'<h1 style="[^"]*color: #aa0000', email.html)
    assert "h1 { color: #aa0000; }" in web and "h1 { color: #aa0000; }" in letter
    assert "Cordiali saluti (new)" in pdf_text(composer.render_letter_pdf("welcome", record))


# -- hostile data in every rendition --------------------------------------------------------


def test_hostile_values_are_inert_on_the_web(composer: Composer) -> None:
    html = composer.render_web("welcome", make_record(**HOSTILE)).html
    assert "<script>" not in html and "&lt;script&gt;alert(1)" in html
    assert '<img src="file:' not in html and "&lt;img src=&#34;file:///etc/passwd&#34;&gt;" in html
    assert "<style>@import" not in html and "{{ 7*7 }} {% raw %}" in html
    assert "49" not in re.sub(r"<style>.*?</style>|data:[^\"]+", "", html, flags=re.S)


def test_css_url_in_data_stays_text(composer: Composer) -> None:
    value = "x</p><p style=\"background:url('file:///etc/passwd')\">y"
    record = make_record(product=value)
    for page in (
        composer.render_email("welcome", record).html,
        composer.render_web("welcome", record).html,
    ):
        assert '<p style="background:url(' not in page
        assert "&lt;/p&gt;&lt;p style=" in page


def test_crlf_in_data(composer: Composer) -> None:
    record = make_record(first_name="Giulia\r\nBcc: victim@example.com")
    email = composer.render_email("welcome", record)
    assert "\r" not in email.subject and "\n" not in email.subject
    assert composer.render_sms("welcome", record).text.count("\n") == 0
    assert "Giulia\r\nBcc" in composer.render_web("welcome", record).html  # inert text


@pytest.mark.parametrize(
    ("first_name", "last_name"), [("Ζωή", "Παπαδοπούλου"), ("李", "娜"), ("Dmitrij", "Щукин")]
)
def test_non_latin_scripts_in_every_rendition(
    composer: Composer, first_name: str, last_name: str
) -> None:
    record = make_record(first_name=first_name, last_name=last_name, **{"language": "en"})
    email = composer.render_email("welcome", record)
    greeting = f"Dear {first_name} {last_name},"
    assert greeting in email.text and greeting in email.html
    assert email.subject == f"Welcome to Missiva, {first_name}"
    assert greeting in composer.render_web("welcome", record).html
    assert f"hello {first_name}," in composer.render_sms("welcome", record).text


def test_non_latin_letter(composer: Composer) -> None:
    text = pdf_text(
        composer.render_letter_pdf("welcome", make_record(**{**ENGLISH, "first_name": "Ζωή"}))
    )
    assert "Dear Ζωή Smith" in text


def test_one_megabyte_field(composer: Composer) -> None:
    """E-mail and web render it escaped; the letter refuses it at once (field cap)."""
    huge = "<b>" + "x" * 1_048_576
    record = make_record(product=huge)
    started = time.monotonic()
    email = composer.render_email("welcome", record)
    assert "&lt;b&gt;" + "x" * 1000 in email.html and "<b>x" not in email.html
    assert huge in email.text
    assert "&lt;b&gt;" + "x" * 1000 in composer.render_web("welcome", record).html
    with pytest.raises(TemplateError, match=r"field 'product' is 1,048,579 characters long"):
        composer.render_letter_pdf("welcome", record)
    assert time.monotonic() - started < 10
    at_cap = make_record(product="word " * (LETTER_MAX_FIELD_CHARS // 5))
    assert composer.render_letter_pdf("welcome", at_cap).startswith(b"%PDF-")


# -- sandbox --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    ["''.__class__.__mro__", "brand.__class__", "t._messages", "brand.update({'name': 'x'})"],
)
def test_templates_run_sandboxed(tmp_path: Path, expression: str) -> None:
    library = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, library)
    web = library / "communications/welcome/web.html"
    web.write_text(
        web.read_text().replace("{% block body %}", f"{{% block body %}}{{{{ {expression} }}}}")
    )
    with pytest.raises(TemplateError, match=r"SecurityError: access to attribute .* is unsafe"):
        Composer(library, production=False).render_web("welcome", make_record())
