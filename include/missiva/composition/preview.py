"""Omnichannel preview: every rendition of one communication for one record, side by side.

:func:`write_preview` writes ``email.html``, ``email.txt``, ``sms.txt``, ``letter.pdf``,
``web.html`` and an ``index.html`` that shows them next to each other (the e-mail in an
iframe sized like a mail client, the SMS as a phone bubble with its encoding and segment
count, the PDF embedded, the web page in an iframe; e-mail and web page also in an
iframe as wide as a phone, 320 px, as customers see them there). With ``screenshots``
(the default) ``email-phone.png``, ``email-desktop.png``, ``web-phone.png`` and
``web-desktop.png`` are full-page PNGs of those two at 320 px and 1280 px, shot in
headless Chromium (:mod:`~missiva.composition.proof_visual`); without
Chromium the index says why there is none. Links are relative, so the folder can be
zipped, served or opened from disk. Drafts render (``production=False``).
"""

import datetime
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from missiva.composition import library, proof_visual
from missiva.composition.engine import Composer, Provenance
from missiva.composition.errors import TemplateError
from missiva.composition.text import as_date

#: Files written for each rendition (the index links to them).
PREVIEW_FILES = {
    "email_html": "email.html",
    "email_text": "email.txt",
    "sms": "sms.txt",
    "letter_pdf": "letter.pdf",
    "web": "web.html",
}
#: PNGs of each HTML rendition (its name's stem), shot at each view's width (CSS px)
SCREENSHOTS = {"email_html": "email", "web": "web"}
VIEWS = {"phone": 320, "desktop": 1280}

_INDEX = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Preview: {{ communication }} {{ version }} ({{ language }})</title>
<style>
body {
  margin: 0;
  font-family: "DejaVu Sans", Verdana, Arial, sans-serif;
  background: #e4e7eb;
  color: #1f2933;
}
header { padding: 12px 20px; background: #1f2933; color: #ffffff; }
header h1 { font-size: 18px; margin: 0 0 4px; }
header p { margin: 0; font-size: 13px; color: #cbd2d9; }
.status-draft { color: #ffd166; font-weight: bold; }
.status-approved { color: #8ee4af; font-weight: bold; }
main { display: flex; gap: 20px; padding: 20px; overflow-x: auto; align-items: flex-start; }
section {
  flex: none;
  background: #ffffff;
  border-radius: 8px;
  padding: 12px;
  box-shadow: 0 1px 3px rgba(0, 0, 0, 0.2);
}
section h2 { font-size: 15px; margin: 0 0 8px; }
section .meta { font-size: 12px; color: #52606d; margin: 0 0 8px; }
section .links { font-size: 12px; margin: 8px 0 0; }
.mail-client { width: 640px; border: 1px solid #9aa5b1; border-radius: 4px; overflow: hidden; }
.mail-client .headers {
  background: #f5f7fa;
  padding: 8px 10px;
  font-size: 13px;
  border-bottom: 1px solid #d9e2ec;
}
.mail-client iframe { display: block; width: 640px; height: 720px; border: 0; }
.phone {
  width: 300px;
  min-height: 520px;
  border: 10px solid #1f2933;
  border-radius: 32px;
  padding: 24px 14px;
  background: #f5f7fa;
}
.bubble {
  background: #e4e7eb;
  border-radius: 18px 18px 18px 4px;
  padding: 10px 14px;
  font-size: 15px;
  line-height: 1.4;
  white-space: pre-wrap;
  overflow-wrap: anywhere;
  max-height: 480px;
  overflow-y: auto;
}
.sender { font-size: 12px; color: #52606d; margin: 0 0 6px; }
.letter object { display: block; width: 620px; height: 877px; border: 1px solid #9aa5b1; }
.web iframe { display: block; width: 1024px; height: 768px; border: 1px solid #9aa5b1; }
.views { display: flex; gap: 16px; align-items: flex-start; }
.views figure { margin: 0; }
.views figcaption { font-size: 12px; color: #52606d; margin: 0 0 4px; }
img.shot { display: block; width: 320px; border: 1px solid #9aa5b1; }
iframe.phone-view { display: block; width: 320px; height: 640px; border: 1px solid #9aa5b1; }
.error {
  color: #9b1c1c;
  background: #fde8e8;
  padding: 8px;
  white-space: pre-wrap;
  max-width: 600px;
}
.provenance { font-size: 12px; color: #52606d; margin: 8px 0 0; }
</style>
</head>
<body>
{% macro shot(panel, what) -%}
{% for view, width, png in panel.screenshots %}<figure><figcaption>Screenshot, {{ view }},
{{ width }} px</figcaption>
<a href="{{ png }}"><img class="shot" src="{{ png }}"
  alt="{{ what }} as shot in Chromium at {{ width }} px"></a></figure>
{% endfor %}
{%- if panel.screenshot_error %}<p class="meta">No screenshot: {{ panel.screenshot_error }}</p>
{%- endif %}
{%- endmacro %}
<header>
  <h1>{{ communication }} · version {{ version }} · {{ language }}</h1>
  <p>Status: <span class="status-{{ status }}">{{ status }}</span> · record {{ record_label }}</p>
</header>
<main>
  <section class="email" aria-labelledby="h-email">
    <h2 id="h-email">E-mail</h2>
    {% if email.error %}<p class="error">{{ email.error }}</p>
    {% elif email.present %}
    <div class="views">
    <figure><figcaption>Desktop mail client</figcaption>
    <div class="mail-client">
      <div class="headers"><strong>{{ email.subject }}</strong></div>
      <iframe src="email.html" title="E-mail HTML" sandbox=""></iframe>
    </div></figure>
    <figure><figcaption>Phone, 320 px</figcaption>
    <iframe class="phone-view" src="email.html" title="E-mail HTML on a phone" sandbox=""></iframe>
    </figure>
    {{ shot(email, "E-mail") }}
    </div>
    <p class="links"><a href="email.html">email.html</a>
    {% if email.text %} · <a href="email.txt">email.txt</a> (plain-text alternative){% endif %}
    </p>
    <p class="provenance">{{ email.provenance }}</p>
    {% else %}<p class="meta">No e-mail rendition.</p>{% endif %}
  </section>
  <section class="sms" aria-labelledby="h-sms">
    <h2 id="h-sms">SMS</h2>
    {% if sms.error %}<p class="error">{{ sms.error }}</p>
    {% elif sms.present %}
    <p class="meta">{{ sms.encoding }} · {{ sms.units }}
      {{- " septets" if sms.encoding == "GSM-7" else " UTF-16 units" }} ·
      {{- " %d segment" % sms.segments }}{{ "s" if sms.segments != 1 }}</p>
    <div class="phone">
      <p class="sender">{{ sender }}</p>
      <div class="bubble">{{ sms.text }}</div>
    </div>
    <p class="links"><a href="sms.txt">sms.txt</a></p>
    <p class="provenance">{{ sms.provenance }}</p>
    {% else %}<p class="meta">No SMS rendition.</p>{% endif %}
  </section>
  <section class="letter" aria-labelledby="h-letter">
    <h2 id="h-letter">Letter (PDF)</h2>
    {% if letter.error %}<p class="error">{{ letter.error }}</p>
    {% elif letter.present %}
    <object data="letter.pdf" type="application/pdf" title="Letter PDF">
      <p><a href="letter.pdf">letter.pdf</a></p>
    </object>
    <p class="links"><a href="letter.pdf">letter.pdf</a></p>
    <p class="provenance">{{ letter.provenance }}</p>
    {% else %}<p class="meta">No letter rendition.</p>{% endif %}
  </section>
  <section class="web" aria-labelledby="h-web">
    <h2 id="h-web">Web page</h2>
    {% if web.error %}<p class="error">{{ web.error }}</p>
    {% elif web.present %}
    <div class="views">
    <figure><figcaption>Desktop, 1024 px</figcaption>
    <iframe src="web.html" title="Customer portal page" sandbox=""></iframe></figure>
    <figure><figcaption>Phone, 320 px</figcaption>
    <iframe class="phone-view" src="web.html" title="Portal page on a phone"
      sandbox=""></iframe>
    </figure>
    {{ shot(web, "Web page") }}
    </div>
    <p class="links"><a href="web.html">web.html</a></p>
    <p class="provenance">{{ web.provenance }}</p>
    {% else %}<p class="meta">No web rendition.</p>{% endif %}
  </section>
</main>
</body>
</html>
"""
)


def _describe(provenance: Provenance) -> str:
    blocks = ", ".join(f"{name} v{version}" for name, version in provenance.blocks.items())
    return f"{provenance.template} {provenance.template_version}; regulatory: {blocks or 'none'}"


def write_preview(
    templates_dir: Path,
    communication: str,
    record: Mapping[str, Any],
    language: str,
    out_dir: Path,
    *,
    screenshots: bool = True,
) -> list[Path]:
    """Render every rendition of ``communication`` for ``record`` in ``language`` to ``out_dir``
    (with ``screenshots``, PNGs of the HTML renditions at 320 px too).

    Returns the files written, ``index.html`` last. A rendition that fails is shown as an
    error in the index; after writing everything a :class:`TemplateError` then lists the
    failures (the index is there to look at).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    composer = Composer(templates_dir, production=False)
    renditions = composer.renditions(communication)
    ctx = _preview_context(communication, record, language)
    written: list[Path] = []
    failures: list[str] = []
    panels: dict[str, dict[str, Any]] = {}
    shot_panels: dict[str, dict[str, Any]] = {}
    for panel, needs, render in (
        ("email", "email_html", composer.render_email),
        ("sms", "sms", composer.render_sms),
        ("letter", "letter_pdf", composer.render_letter),
        ("web", "web", composer.render_web),
    ):
        info: dict[str, Any] = {"present": needs in renditions, "error": None}
        info.update(screenshots=[], screenshot_error=None)
        panels[panel] = info
        if not info["present"]:
            continue
        try:
            result = render(communication, ctx)
        except TemplateError as exc:
            info["error"] = str(exc)
            failures.append(f"{panel}: {exc}")
            continue
        info["provenance"] = _describe(result.provenance)
        files, facts = _panel_output(panel, result, renditions)
        info.update(facts)
        for rendition, data in files.items():
            written.append(_write(out / PREVIEW_FILES[rendition], data))
            if rendition in SCREENSHOTS:
                shot_panels[rendition] = info
    if screenshots and shot_panels:
        written.extend(_screenshot(out, shot_panels))
    status = library.template_status(templates_dir, communication)
    page = _INDEX.render(
        communication=communication,
        version=status["version"],
        status=status["status"],
        language=language,
        record_label=ctx.get("customer_id") or ctx["communication_id"],
        sender=composer.brand.get("name", ""),
        **panels,
    )
    index = _write(out / "index.html", page)
    written.append(index)
    if failures:
        raise TemplateError(
            f"preview of {communication!r} written to {index} with failures: " + "; ".join(failures)
        )
    return written


def _preview_context(
    communication: str, record: Mapping[str, Any], language: str
) -> dict[str, Any]:
    """The record in ``language``, with an id and a letter date when it has none."""
    ctx = dict(record)
    ctx["language"] = language
    ctx.setdefault("communication_id", f"{communication}-{ctx.get('customer_id') or 'PREVIEW'}")
    ctx["letter_date"] = as_date(ctx.get("letter_date") or datetime.date.today())
    return ctx


def _panel_output(
    panel: str, result: Any, renditions: tuple[str, ...]
) -> tuple[dict[str, str | bytes], dict[str, Any]]:
    """The files of one rendered panel (by rendition) and what its index panel shows."""
    if panel == "email":
        files = {"email_html": result.html}
        if "email_text" in renditions:
            files["email_text"] = result.text
        return files, {"subject": result.subject, "text": result.text}
    if panel == "sms":
        facts = {
            "text": result.text,
            "encoding": result.encoding,
            "units": result.units,
            "segments": result.segments,
        }
        return {"sms": result.text}, facts
    if panel == "letter":
        return {"letter_pdf": result.pdf}, {}
    return {"web": result.html}, {}


def _screenshot(out: Path, panels: dict[str, dict[str, Any]]) -> list[Path]:
    """A PNG of each written HTML rendition at each of :data:`VIEWS` (``panels``: by
    rendition, the index panel showing it); without a browser, each panel says why."""
    shots = []
    try:
        with proof_visual.browser() as chromium:
            for rendition, info in panels.items():
                html = (out / PREVIEW_FILES[rendition]).read_text(encoding="utf-8")
                for view, width in VIEWS.items():
                    name = f"{SCREENSHOTS[rendition]}-{view}.png"
                    shots.append(proof_visual.screenshot(chromium, html, width, out / name))
                    info["screenshots"].append((view, width, name))
    except TemplateError as exc:
        for info in panels.values():
            info["screenshot_error"] = str(exc)
    return shots


def _write(path: Path, data: str | bytes) -> Path:
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path
