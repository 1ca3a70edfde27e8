"""The composition engine: sandboxed Jinja2 templates rendered to every channel.

A communication is a folder ``communications/<name>/`` of the template library with a
``meta.json`` and one template per rendition (see :data:`RENDITION_FILES`): e-mail HTML
(CSS inlined by css-inline) and text, SMS text, PDF letter and web page. Templates see
the caller's record (plus ``communication_id`` and ``letter_date``) and these composer
variables, which win over record keys of the same name: ``lang``, ``locale`` (Babel),
``rendition``, ``t`` (texts), ``subject``, ``communication``, ``brand``, ``brand_logo``
and ``inline_css``.

Integrity: a communication renders in production only if an approval record matches its
version and content hash (:mod:`missiva.composition.library`), and the files it renders
are the bytes that were hashed. Every ``regulatory/`` file is checked against its
approved SHA-256 when loaded, and each rendering reports the blocks it actually included
(:class:`Provenance`).

The parts live next door: :mod:`~missiva.composition.sandbox` (Jinja, loader, errors),
:mod:`~missiva.composition.communications` (``meta.json`` compiled),
:mod:`~missiva.composition.contents` (the results) and
:mod:`~missiva.composition.letter_pdf` (WeasyPrint, imported on the first letter).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import css_inline
from jinja2.loaders import split_template_path
from markupsafe import Markup

from missiva.composition import library
from missiva.composition.assets import TemplateAssets
from missiva.composition.communications import (
    DEFAULT_STYLESHEETS,
    RENDITION_FILES,
    RENDITIONS,
    Communication,
    Texts,
    load_communication,
    rendition_files,
)
from missiva.composition.contents import (
    PDF_VARIANT,
    EmailContent,
    Letter,
    Provenance,
    SmsContent,
    WebContent,
)
from missiva.composition.documents import document_name_global
from missiva.composition.errors import RegulatoryBlockError, SmsLimitError, TemplateError
from missiva.composition.sandbox import make_environment, template_errors, tracking
from missiva.composition.sms import analyse
from missiva.composition.text import DEFAULT_LOCALES, FALLBACK_LOCALE, clean_header
from missiva.paths import TEMPLATES_DIR

if TYPE_CHECKING:
    from missiva.composition.fetcher import TemplateAssetFetcher
    from missiva.composition.letter_pdf import LetterPrinter

__all__ = [
    "DEFAULT_STYLESHEETS",
    "LETTER_MAX_FIELD_CHARS",
    "PDF_VARIANT",
    "RENDITIONS",
    "RENDITION_FILES",
    "Composer",
    "EmailContent",
    "Letter",
    "Provenance",
    "RegulatoryBlockError",
    "SmsContent",
    "SmsLimitError",
    "TemplateError",
    "WebContent",
]

#: A letter refuses record fields longer than this (characters): a field that long is a
#: data defect, and laying out megabytes of text takes WeasyPrint minutes for hundreds of
#: pages. E-mail and web pages render such fields (escaped); the SMS fails on its limit.
LETTER_MAX_FIELD_CHARS = 10_000

_BLANK_LINES_RE = re.compile(r"\n{3,}")


#: What the composer adds to every record (these win over record keys of the same name)
COMPOSER_VARIABLES: dict[str, str] = {
    "lang": "the language rendered: the record's `language` if the communication has it, "
    "else its `default_language`",
    "locale": "the Babel locale of `lang` (`brand.json` `locales`: it_IT, en_GB)",
    "rendition": "email_html, email_text, sms, letter_pdf or web",
    "communication": "`{name, version}` of the communication rendered",
    "subject": "the subject of `meta.json` in `lang`, rendered against the record",
    "t": "the texts (messages) in `lang`, each rendered against the record: `t.greeting`",
    "brand": "the sender identity of `brand.json`: `brand.legal_name`",
    "brand_logo": "the brand logo as a data URI (web page)",
    "inline_css": "the rendition's stylesheet text (e-mail, web, letter; None in the SMS)",
    "window_lines": "`window_lines()`: the recipient's address as printed in the envelope "
    "window, one string per line (the envelope file and print manifest hold the same)",
    "document_name": "`document_name()`: the name in `lang` of the record's `document` "
    "(`documents.json`), else its `document_title` (portal notices)",
}


def _single_line(context: Mapping[str, Any]) -> dict[str, Any]:
    """The record with control characters (CR, LF...) in its strings turned into spaces."""
    return {k: clean_header(v) if isinstance(v, str) else v for k, v in context.items()}


def _tidy_sms(text: str) -> str:
    """Template whitespace out of an SMS: single spaces, at most one blank line, stripped."""
    lines = [" ".join(line.split()) for line in text.replace("\r", "\n").split("\n")]
    return _BLANK_LINES_RE.sub("\n\n", "\n".join(lines)).strip()


class Composer:
    """Render the communications of a template library to every channel.

    Build one per process and reuse it: the Jinja environment, compiled templates, the
    parsed CSS and (from the first letter on) WeasyPrint's font configuration are created
    once. Not meant to be shared between threads during a PDF render.
    """

    def __init__(self, templates_dir: Path = TEMPLATES_DIR, *, production: bool = True):
        """Prepare the sandbox for ``templates_dir``.

        ``production`` (the default) refuses communications whose current version and
        content have no approval record (drafts); ``production=False`` renders drafts for
        previews and lint. Regulatory blocks must match their approved hash either way.
        """
        self.templates_dir = Path(templates_dir).resolve()
        self.production = production
        self.assets = TemplateAssets(self.templates_dir)
        self.registry = library.read_registry(self.templates_dir)
        self._snapshots: dict[str, library.Snapshot] = {}
        self._env = make_environment(self.templates_dir, self.registry, self._snapshot)
        brand = self._read_json("brand.json", default={})
        self._locales = {**DEFAULT_LOCALES, **brand.get("locales", {})}
        self.brand: dict[str, Any] = brand
        self._env.globals["brand"] = brand
        self._env.globals["brand_logo"] = self._logo_data_uri()
        self._env.globals["document_name"] = document_name_global(
            self._read_json("documents.json", default={})
        )
        self._common = self._read_json("messages.json", default={})
        self._communications: dict[str, Communication] = {}
        self._css_text: dict[tuple[str, ...], Markup] = {}
        self._printer: LetterPrinter | None = None
        self._inliner = css_inline.CSSInliner(
            keep_style_tags=False,
            keep_link_tags=False,
            keep_at_rules=True,  # @media etc. cannot be inlined: kept in a <style>
            load_remote_stylesheets=False,
        )

    # -- public API ------------------------------------------------------------------

    @property
    def url_fetcher(self) -> TemplateAssetFetcher:
        """The WeasyPrint fetcher letters load their assets with (template assets only)."""
        return self.letter_printer.url_fetcher

    @property
    def letter_printer(self) -> LetterPrinter:
        """Lays out letters (created, and WeasyPrint imported, on first use)."""
        if self._printer is None:
            from missiva.composition.letter_pdf import LetterPrinter  # WeasyPrint: only now

            self._printer = LetterPrinter(self.templates_dir, self._asset)
        return self._printer

    def template_version(self, communication: str) -> str:
        """The version of a communication's templates (``meta.json`` ``version``)."""
        return self._communication(communication).version

    def status(self, communication: str) -> str:
        """``approved`` or ``draft`` (a draft only loads with ``production=False``)."""
        return self._communication(communication).status

    def languages(self, communication: str) -> list[str]:
        """The languages a communication is written in (its ``subject`` keys)."""
        return sorted(self._communication(communication).subjects)

    def sender(self, communication: str) -> Mapping[str, str]:
        """Who an e-mail of the communication comes from (``meta.json`` ``sender``:
        ``mailbox``, ``reply_to``); empty for the deployment's default sender."""
        return self._communication(communication).sender

    def renditions(self, communication: str) -> tuple[str, ...]:
        """The renditions a communication has (``meta.json`` ``renditions``)."""
        return self._communication(communication).renditions

    def render_email(self, communication: str, context: Mapping[str, Any]) -> EmailContent:
        """Render the e-mail (subject, HTML with inlined CSS, plain text)."""
        comm = self._communication(communication)
        with tracking() as used:
            html, ctx = self._produce(comm, "email_html", context)
            text = ""
            if "email_text" in comm.renditions:  # shares the subject and rendered texts
                self._check_fields(comm, "email_text", context)
                text_ctx = {**ctx, "rendition": "email_text", "inline_css": None}
                text = self._render(comm.template("email_text"), text_ctx)
        return EmailContent(ctx["subject"], html, text, self._provenance(comm, ctx, used))

    def render_sms(self, communication: str, context: Mapping[str, Any]) -> SmsContent:
        """Render the SMS; :class:`SmsLimitError` beyond the communication's segment limit."""
        comm = self._communication(communication)
        with tracking() as used:
            (text, info), ctx = self._produce(comm, "sms", context)
        return SmsContent(
            text, info.encoding, info.segments, self._provenance(comm, ctx, used), info.units
        )

    def render_web(self, communication: str, context: Mapping[str, Any]) -> WebContent:
        """Render the accessible web page for the customer portal."""
        comm = self._communication(communication)
        with tracking() as used:
            html, ctx = self._produce(comm, "web", context)
        return WebContent(html, self._provenance(comm, ctx, used))

    def render_letter(self, communication: str, context: Mapping[str, Any]) -> Letter:
        """Render the letter to PDF (A4, PDF/A-3a + PDF/UA-1, reproducible for equal inputs)."""
        comm = self._communication(communication)
        with tracking() as used:
            pdf, ctx = self._produce(comm, "letter_pdf", context)
        return Letter(pdf, self._provenance(comm, ctx, used))

    def render_letter_pdf(self, communication: str, context: Mapping[str, Any]) -> bytes:
        """Render the letter to PDF bytes (see :meth:`render_letter`)."""
        return self.render_letter(communication, context).pdf

    def render_letter_html(self, communication: str, context: Mapping[str, Any]) -> str:
        """Render the letter as a standalone HTML page (styles embedded)."""
        comm = self._communication(communication)
        ctx = self._context(comm, "letter_pdf", context)
        ctx["inline_css"] = self._inline_css(comm, "letter")
        return self._render(comm.template("letter_pdf"), ctx)

    def render_rendition(
        self, communication: str, rendition: str, context: Mapping[str, Any]
    ) -> tuple[Any, Provenance]:
        """One rendition by name (see :data:`RENDITIONS`) and its provenance.

        The output is ``str`` (e-mail HTML/text, web), ``bytes`` (letter) or the SMS
        ``(text, SmsInfo)``.
        """
        comm = self._communication(communication)
        if rendition not in rendition_files():
            raise TemplateError(f"unknown rendition {rendition!r}")
        with tracking() as used:
            output, ctx = self._produce(comm, rendition, context)
        return output, self._provenance(comm, ctx, used)

    # -- rendering -------------------------------------------------------------------

    def _produce(
        self, comm: Communication, rendition: str, context: Mapping[str, Any]
    ) -> tuple[Any, dict[str, Any]]:
        template = comm.template(rendition)
        if rendition == "sms":
            ctx = self._context(comm, rendition, _single_line(context))
            text = _tidy_sms(self._render(template, ctx))
            info = analyse(text)
            limit = comm.sms_max_segments
            if limit is not None and info.segments > limit:
                raise SmsLimitError(
                    f"communication {comm.name!r} (version {comm.version}): the SMS needs "
                    f"{info.segments} segments ({info.encoding}, {info.units:,} "
                    f"{'septets' if info.encoding == 'GSM-7' else 'UTF-16 units'}), over "
                    f"its limit of {limit} (communications/{comm.name}/meta.json "
                    "sms.max_segments)"
                )
            return (text, info), ctx
        ctx = self._context(comm, rendition, context)
        if rendition == "email_html":
            ctx["inline_css"] = self._inline_css(comm, "email")
            html = self._render(template, ctx)
            try:
                return self._inliner.inline(html), ctx
            except (css_inline.InlineError, ValueError) as exc:
                raise TemplateError(f"{template}: CSS inlining failed: {exc}") from exc
        if rendition == "web":
            ctx["inline_css"] = self._inline_css(comm, "web")
            return self._render(template, ctx), ctx
        if rendition == "letter_pdf":
            ctx["inline_css"] = None  # styles are passed pre-parsed below
            html = self._render(template, ctx)
            return self.letter_printer.pdf(html, comm.stylesheets["letter"]), ctx
        return self._render(template, ctx), ctx  # email_text

    def _provenance(
        self, comm: Communication, ctx: Mapping[str, Any], used: list[str]
    ) -> Provenance:
        blocks: dict[str, str] = {}
        for name in used:
            pieces = split_template_path(name)
            if len(pieces) == 2 and pieces[0] == library.REGULATORY:
                block = library.block_of(pieces[1])
                blocks[block] = self.registry[block].version
        return Provenance(comm.name, comm.version, dict(sorted(blocks.items())), ctx["lang"])

    def _render(self, name: str, ctx: Mapping[str, Any]) -> str:
        with template_errors(name, self.templates_dir):
            return self._env.get_template(name).render(ctx)

    @staticmethod
    def _check_fields(comm: Communication, rendition: str, context: Mapping[str, Any]) -> None:
        template = comm.template(rendition)
        if rendition not in comm.renditions:
            raise TemplateError(f"{template}: communication has no {rendition!r} rendition")
        for name in (*comm.required_fields, *comm.rendition_fields.get(rendition, ())):
            value = context.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                raise TemplateError(f"{template}: required field {name!r} is missing or empty")

    def _context(
        self, comm: Communication, rendition: str, context: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Check required fields and build the template context for one rendition."""
        template = comm.template(rendition)
        self._check_fields(comm, rendition, context)
        if rendition == "letter_pdf":
            for name, value in context.items():
                if isinstance(value, str) and len(value) > LETTER_MAX_FIELD_CHARS:
                    raise TemplateError(
                        f"{template}: field {name!r} is {len(value):,} characters long, over "
                        f"the letter limit of {LETTER_MAX_FIELD_CHARS:,} "
                        "(LETTER_MAX_FIELD_CHARS in missiva.composition.engine)"
                    )
        raw = str(context.get("language") or "").strip().lower().replace("-", "_")
        lang = raw.split("_")[0]
        if lang not in comm.subjects:
            lang = comm.default_language
        ctx = {
            **context,
            "lang": lang,
            "locale": self._locales.get(lang, FALLBACK_LOCALE),
            "rendition": rendition,
            "communication": {"name": comm.name, "version": comm.version},
        }
        with template_errors(f"communications/{comm.name}/meta.json subject.{lang}", None):
            ctx["subject"] = clean_header(comm.subjects[lang].render(ctx))
        ctx["t"] = Texts(comm.messages[lang], dict(ctx))
        return ctx

    # -- library ---------------------------------------------------------------------

    def _read_json(self, name: str, default: Any = None) -> Any:
        path = self.templates_dir / name
        if default is not None and not path.is_file():
            return default
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TemplateError(f"{name}: cannot be read: {exc}") from exc

    def _logo_data_uri(self) -> str | None:
        """The brand logo (``images/logo.svg``) as a data URI for the web page, if any."""
        path = self.templates_dir / "images" / "logo.svg"
        if not path.is_file():
            return None
        return "data:image/svg+xml;base64," + base64.b64encode(path.read_bytes()).decode()

    def _snapshot(self, name: str) -> library.Snapshot | None:
        """The hashed bytes of a communication folder (read once), None if there is none."""
        if name not in self._snapshots:
            if not library.NAME_RE.fullmatch(name):
                return None
            try:
                self._snapshots[name] = library.snapshot(self.templates_dir, name)
            except (TemplateError, OSError):
                return None
        return self._snapshots[name]

    def _communication(self, name: str) -> Communication:
        """Load (once) and validate a communication; refuse drafts in production."""
        if name not in self._communications:
            library.check_name(name)
            snap = self._snapshot(name)
            if snap is None:
                raise TemplateError(
                    f"communications/{name}/meta.json: unknown communication {name!r}"
                )
            self._communications[name] = load_communication(
                self._env, self.templates_dir, snap, self._common, production=self.production
            )
        return self._communications[name]

    def _inline_css(self, comm: Communication, family: str) -> Markup:
        """Concatenated CSS of a rendition family, for a ``<style>`` element (cached)."""
        paths = comm.stylesheets[family]
        if paths not in self._css_text:
            texts = [self._asset(path).read_text(encoding="utf-8") for path in paths]
            self._css_text[paths] = Markup("\n".join(texts))  # noqa: S704 - our own files
        return self._css_text[paths]

    def _asset(self, relative: str) -> Path:
        """A stylesheet path, checked to lie inside the template assets."""
        try:
            return self.assets.resolve((self.templates_dir / relative).as_uri())
        except ValueError as exc:
            raise TemplateError(f"stylesheet {relative!r}: {exc}") from exc
