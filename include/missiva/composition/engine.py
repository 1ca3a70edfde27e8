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
"""

import base64
import contextvars
import json
import re
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import css_inline
import jinja2
import weasyprint
from jinja2 import pass_context
from jinja2.loaders import split_template_path
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup
from weasyprint.text.fonts import FontConfiguration

from missiva.composition import library
from missiva.composition.chart import bar_chart_filter
from missiva.composition.errors import RegulatoryBlockError, SmsLimitError, TemplateError
from missiva.composition.fetcher import TemplateAssetFetcher
from missiva.composition.pdf_streams import compress_streams_once
from missiva.composition.sms import Encoding, analyse
from missiva.composition.text import (
    DEFAULT_LOCALES,
    FALLBACK_LOCALE,
    clean_header,
    format_date,
    format_money,
    format_number,
    from_cents,
    iso_date,
    long_date,
)
from missiva.paths import TEMPLATES_DIR

__all__ = [
    "DEFAULT_STYLESHEETS",
    "LETTER_MAX_FIELD_CHARS",
    "PDF_VARIANT",
    "RENDITIONS",
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

#: Template file of each rendition inside ``communications/<name>/``.
RENDITION_FILES: dict[str, str] = {
    "email_html": "email.html",
    "email_text": "email.txt",
    "letter_pdf": "letter.html",
    "sms": "sms.txt",
    "web": "web.html",
}
RENDITIONS = tuple(RENDITION_FILES)


def rendition_files() -> dict[str, str]:
    """The built-in renditions and those the registered channels bring (their own
    template file, see :mod:`missiva.channels.registry`)."""
    from missiva.channels.registry import channel_renditions

    return {**RENDITION_FILES, **channel_renditions()}


#: Stylesheets per rendition family, unless ``meta.json`` declares ``stylesheets``.
DEFAULT_STYLESHEETS: dict[str, tuple[str, ...]] = {
    "email": ("styles/brand.css", "styles/email.css"),
    # fonts.css last: the brand typeface (a pre-subset font, cheap to embed) wins.
    "letter": ("styles/brand.css", "styles/letter.css", "styles/fonts.css"),
    "web": ("styles/brand.css", "styles/web.css"),
}
#: Archival PDF variant (WeasyPrint embeds XMP metadata, an sRGB output intent and an ID).
PDF_VARIANT = "pdf/a-3b"
#: A letter refuses record fields longer than this (characters): a field that long is a
#: data defect, and laying out megabytes of text takes WeasyPrint minutes for hundreds of
#: pages. E-mail and web pages render such fields (escaped); the SMS fails on its limit.
LETTER_MAX_FIELD_CHARS = 10_000

_UNDEFINED_RE = re.compile(r"'([^']+)' is undefined|has no attribute '([^']+)'")
_BLANK_LINES_RE = re.compile(r"\n{3,}")

# Templates loaded (extends/include/import) during the current rendering, for provenance.
_USED: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "missiva_templates_used", default=None
)


# -- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Provenance:
    """What a rendering used: the communication, its exact version, the regulatory blocks.

    ``blocks`` maps each regulatory block actually included to its approved version.
    """

    template: str
    template_version: str
    blocks: dict[str, str] = field(default_factory=dict)
    language: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "template_version": self.template_version,
            "blocks": dict(self.blocks),
            "language": self.language,
        }


@dataclass(frozen=True)
class EmailContent:
    """A rendered e-mail: header-safe subject, HTML body (CSS inlined) and plain text."""

    subject: str
    html: str
    text: str
    provenance: Provenance


@dataclass(frozen=True)
class Letter:
    """A rendered PDF letter (A4, PDF/A-3b)."""

    pdf: bytes
    provenance: Provenance


@dataclass(frozen=True)
class SmsContent:
    """A rendered SMS: text, its encoding (``GSM-7``/``UCS-2``) and segment count."""

    text: str
    encoding: Encoding
    segments: int
    provenance: Provenance
    units: int = 0  # septets (GSM-7) or UTF-16 code units (UCS-2)


@dataclass(frozen=True)
class WebContent:
    """A rendered web page for the customer portal (standalone, styles embedded)."""

    html: str
    provenance: Provenance


# -- internals --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Message:
    source: str  # where the text is defined, for error messages
    template: jinja2.Template | None  # None: static text, nothing to render
    text: str


@dataclass(frozen=True)
class _Communication:
    name: str
    version: str
    status: str
    default_language: str
    renditions: tuple[str, ...]
    required_fields: tuple[str, ...]
    rendition_fields: Mapping[str, tuple[str, ...]]
    subjects: Mapping[str, jinja2.Template]
    messages: Mapping[str, Mapping[str, _Message]]
    stylesheets: Mapping[str, tuple[str, ...]]
    sms_max_segments: int | None

    def template(self, rendition: str) -> str:
        """Template name of a rendition, e.g. ``communications/welcome/email.html``."""
        return f"communications/{self.name}/{rendition_files()[rendition]}"


class _Texts(Mapping[str, str]):
    """The texts of one language, rendered on first use against the record (``t``)."""

    def __init__(self, messages: Mapping[str, _Message], context: Mapping[str, Any]) -> None:
        self._messages = messages
        self._context = context
        self._done: dict[str, str] = {}

    def __getitem__(self, key: str) -> str:
        if key not in self._done:
            message = self._messages[key]
            if message.template is None:
                return message.text
            with _template_errors(message.source, None):
                self._done[key] = message.template.render(self._context)
        return self._done[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._messages)

    def __len__(self) -> int:
        return len(self._messages)


def _record_use(template: jinja2.Template) -> None:
    used = _USED.get()
    if used is not None and template.name:
        used.append(template.name)


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox, noting every template that extends/include/import loads at render time."""

    def get_template(
        self,
        name: str | jinja2.Template,
        parent: str | None = None,
        globals: MutableMapping[str, Any] | None = None,
    ) -> jinja2.Template:
        template = super().get_template(name, parent, globals)
        _record_use(template)
        return template

    def select_template(
        self,
        names: Sequence[str | jinja2.Template],
        parent: str | None = None,
        globals: MutableMapping[str, Any] | None = None,
    ) -> jinja2.Template:
        template = super().select_template(names, parent, globals)
        _record_use(template)
        return template


class _LibraryLoader(jinja2.BaseLoader):
    """Loads the library's templates with two locks.

    - ``regulatory/<block>.<ext>``: read once, refused unless its bytes match the
      approved SHA-256 of the registry (:class:`RegulatoryBlockError`);
    - ``communications/<name>/...``: served from the snapshot that was hashed for the
      approval check, so what renders is exactly what was approved.
    """

    def __init__(
        self,
        root: Path,
        registry: Mapping[str, library.RegulatoryBlock],
        snapshot_of: Callable[[str], library.Snapshot | None],
    ) -> None:
        self.root = root
        self.registry = registry
        self.snapshot_of = snapshot_of
        self._files = jinja2.FileSystemLoader(root)

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        pieces = split_template_path(template)
        if pieces and pieces[0] == library.REGULATORY:
            path = self.root.joinpath(*pieces)
            if len(pieces) != 2 or pieces[1] == library.REGISTRY_FILE or not path.is_file():
                raise jinja2.TemplateNotFound(template)
            data = path.read_bytes()
            library.verify_block_file(self.registry, pieces[1], data)
            return data.decode("utf-8"), str(path), lambda: True
        if len(pieces) >= 3 and pieces[0] == library.COMMUNICATIONS:
            snap = self.snapshot_of(pieces[1])
            if snap is not None:
                data = snap.files.get("/".join(pieces[2:]))
                if data is None:
                    raise jinja2.TemplateNotFound(template)
                return data.decode("utf-8"), str(self.root.joinpath(*pieces)), lambda: True
        return self._files.get_source(environment, template)


def _innermost_template(tb: TracebackType | None, root: Path | None) -> str | None:
    """The deepest template file (relative to ``root``) in a Jinja-rewritten traceback."""
    found = None
    while tb is not None and root is not None:
        path = Path(tb.tb_frame.f_code.co_filename)
        if path.is_absolute() and path.is_relative_to(root):
            found = path.relative_to(root).as_posix()
        tb = tb.tb_next
    return found


@contextmanager
def _template_errors(name: str, root: Path | None) -> Iterator[None]:
    """Turn Jinja (and filter) errors raised while rendering ``name`` into TemplateError."""
    try:
        yield
    except TemplateError:
        raise
    except jinja2.UndefinedError as exc:
        where = _innermost_template(exc.__traceback__, root) or name
        match = _UNDEFINED_RE.search(exc.message or "")
        missing = next(group for group in match.groups() if group) if match else "?"
        via = "" if where == name else f" (rendering {name})"
        raise TemplateError(f"{where}: missing field {missing!r}{via}: {exc.message}") from exc
    except jinja2.TemplateSyntaxError as exc:
        where = exc.filename or exc.name or name
        if root is not None and Path(where).is_absolute() and Path(where).is_relative_to(root):
            where = Path(where).relative_to(root).as_posix()
        raise TemplateError(f"{where}, line {exc.lineno}: {exc.message}") from exc
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{name}: {type(exc).__name__}: {exc}") from exc
    except (ValueError, TypeError, LookupError, AttributeError, ArithmeticError) as exc:
        where = _innermost_template(exc.__traceback__, root) or name
        raise TemplateError(f"{where}: {type(exc).__name__}: {exc}") from exc


@contextmanager
def _tracking() -> Iterator[list[str]]:
    """Collect the names of the templates loaded while the block runs."""
    used: list[str] = []
    token = _USED.set(used)
    try:
        yield used
    finally:
        _USED.reset(token)


def _locale(ctx: Context) -> str:
    return ctx.get("locale") or FALLBACK_LOCALE


@pass_context
def _date_filter(ctx: Context, value: Any, fmt: str = "long") -> str:
    """``{{ joined_at | date }}``: a date in the customer's locale (Babel ``long`` etc.)."""
    return format_date(value, _locale(ctx), fmt)


@pass_context
def _money_filter(ctx: Context, value: Any, currency: str = "EUR") -> str:
    """``{{ amount | money("GBP") }}``: an amount in the customer's locale."""
    return format_money(value, currency, _locale(ctx))


@pass_context
def _number_filter(ctx: Context, value: Any) -> str:
    """``{{ value | number }}``: a number in the customer's locale."""
    return format_number(value, _locale(ctx))


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
    parsed CSS and WeasyPrint's font configuration are created once. Not meant to be
    shared between threads during a PDF render.
    """

    def __init__(self, templates_dir: Path = TEMPLATES_DIR, *, production: bool = True):
        """Prepare the sandbox for ``templates_dir``.

        ``production`` (the default) refuses communications whose current version and
        content have no approval record (drafts); ``production=False`` renders drafts for
        previews and lint. Regulatory blocks must match their approved hash either way.
        """
        self.templates_dir = Path(templates_dir).resolve()
        self.production = production
        self.url_fetcher = TemplateAssetFetcher(self.templates_dir)
        self.registry = library.read_registry(self.templates_dir)
        self._snapshots: dict[str, library.Snapshot] = {}
        self._env = _Environment(
            loader=_LibraryLoader(self.templates_dir, self.registry, self._snapshot),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html",), default_for_string=False, default=False
            ),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,
        )
        self._env.filters.update(
            long_date=long_date,
            iso_date=iso_date,
            date=_date_filter,
            money=_money_filter,
            number=_number_filter,
            cents=from_cents,
            bar_chart=bar_chart_filter,
        )
        brand = self._read_json("brand.json", default={})
        self._locales = {**DEFAULT_LOCALES, **brand.get("locales", {})}
        self.brand: dict[str, Any] = brand
        self._env.globals["brand"] = brand
        self._env.globals["brand_logo"] = self._logo_data_uri()
        self._common = self._read_json("messages.json", default={})
        self._communications: dict[str, _Communication] = {}
        self._css_text: dict[tuple[str, ...], Markup] = {}
        self._css: dict[tuple[str, ...], list[weasyprint.CSS]] = {}
        self._font_config = FontConfiguration()
        self._base_url = self.templates_dir.as_uri() + "/"
        self._inliner = css_inline.CSSInliner(
            keep_style_tags=False,
            keep_link_tags=False,
            keep_at_rules=True,  # @media etc. cannot be inlined: kept in a <style>
            load_remote_stylesheets=False,
        )

    # -- public API ------------------------------------------------------------------

    def template_version(self, communication: str) -> str:
        """The version of a communication's templates (``meta.json`` ``version``)."""
        return self._communication(communication).version

    def status(self, communication: str) -> str:
        """``approved`` or ``draft`` (a draft only loads with ``production=False``)."""
        return self._communication(communication).status

    def languages(self, communication: str) -> list[str]:
        """The languages a communication is written in (its ``subject`` keys)."""
        return sorted(self._communication(communication).subjects)

    def renditions(self, communication: str) -> tuple[str, ...]:
        """The renditions a communication has (``meta.json`` ``renditions``)."""
        return self._communication(communication).renditions

    def render_email(self, communication: str, context: Mapping[str, Any]) -> EmailContent:
        """Render the e-mail (subject, HTML with inlined CSS, plain text)."""
        comm = self._communication(communication)
        with _tracking() as used:
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
        with _tracking() as used:
            (text, info), ctx = self._produce(comm, "sms", context)
        return SmsContent(
            text, info.encoding, info.segments, self._provenance(comm, ctx, used), info.units
        )

    def render_web(self, communication: str, context: Mapping[str, Any]) -> WebContent:
        """Render the accessible web page for the customer portal."""
        comm = self._communication(communication)
        with _tracking() as used:
            html, ctx = self._produce(comm, "web", context)
        return WebContent(html, self._provenance(comm, ctx, used))

    def render_letter(self, communication: str, context: Mapping[str, Any]) -> Letter:
        """Render the letter to PDF (A4, PDF/A-3b, reproducible for equal inputs)."""
        comm = self._communication(communication)
        with _tracking() as used:
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
        with _tracking() as used:
            output, ctx = self._produce(comm, rendition, context)
        return output, self._provenance(comm, ctx, used)

    # -- rendering -------------------------------------------------------------------

    def _produce(
        self, comm: _Communication, rendition: str, context: Mapping[str, Any]
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
            document = weasyprint.HTML(
                string=html, base_url=self._base_url, url_fetcher=self.url_fetcher
            )
            pdf = document.write_pdf(
                stylesheets=self._stylesheets(comm, "letter"),
                font_config=self._font_config,
                pdf_variant=PDF_VARIANT,
                finisher=compress_streams_once,
            )
            return pdf, ctx
        return self._render(template, ctx), ctx  # email_text

    def _provenance(
        self, comm: _Communication, ctx: Mapping[str, Any], used: list[str]
    ) -> Provenance:
        blocks: dict[str, str] = {}
        for name in used:
            pieces = split_template_path(name)
            if len(pieces) == 2 and pieces[0] == library.REGULATORY:
                block = library.block_of(pieces[1])
                blocks[block] = self.registry[block].version
        return Provenance(comm.name, comm.version, dict(sorted(blocks.items())), ctx["lang"])

    def _render(self, name: str, ctx: Mapping[str, Any]) -> str:
        with _template_errors(name, self.templates_dir):
            return self._env.get_template(name).render(ctx)

    @staticmethod
    def _check_fields(comm: _Communication, rendition: str, context: Mapping[str, Any]) -> None:
        template = comm.template(rendition)
        if rendition not in comm.renditions:
            raise TemplateError(f"{template}: communication has no {rendition!r} rendition")
        for name in (*comm.required_fields, *comm.rendition_fields.get(rendition, ())):
            value = context.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                raise TemplateError(f"{template}: required field {name!r} is missing or empty")

    def _context(
        self, comm: _Communication, rendition: str, context: Mapping[str, Any]
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
        with _template_errors(f"communications/{comm.name}/meta.json subject.{lang}", None):
            ctx["subject"] = clean_header(comm.subjects[lang].render(ctx))
        ctx["t"] = _Texts(comm.messages[lang], dict(ctx))
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

    def _communication(self, name: str) -> _Communication:
        """Load (once) and validate a communication; refuse drafts in production."""
        if name in self._communications:
            return self._communications[name]
        library.check_name(name)
        source = f"communications/{name}/meta.json"
        snap = self._snapshot(name)
        if snap is None:
            raise TemplateError(f"{source}: unknown communication {name!r}")
        meta = snap.json(library.META_FILE)
        try:
            version = str(meta["version"])
            approval = library.matching_approval(
                library.read_approvals(self.templates_dir, name), version, snap.sha256
            )
            if approval is None and self.production:
                raise TemplateError(
                    f"communication {name!r} version {version} is a draft: no approval "
                    f"matches its version and content (sha256 {snap.sha256[:12]}); approve "
                    "it, or render with production=False for a preview"
                )
            languages = sorted(meta["subject"])
            own = meta.get("messages", {})
            with _template_errors(source, self.templates_dir):
                subjects = {
                    lang: self._env.from_string(meta["subject"][lang]) for lang in languages
                }
                messages = {
                    lang: {
                        **self._compile(self._common.get(lang, {}), f"messages.json {lang}"),
                        **self._compile(own.get(lang, {}), f"{source} messages.{lang}"),
                    }
                    for lang in languages
                }
            renditions = tuple(meta["renditions"])
            unknown = sorted(set(renditions) - set(rendition_files()))
            if unknown:
                raise TemplateError(f"{source}: unknown renditions {unknown}")
            max_segments = (meta.get("sms") or {}).get("max_segments")
            comm = _Communication(
                name=meta["name"],
                version=version,
                status="approved" if approval else "draft",
                default_language=meta.get("default_language", languages[0]),
                renditions=renditions,
                required_fields=tuple(meta.get("required_fields", ())),
                rendition_fields={
                    key: tuple(value)
                    for key, value in meta.get("rendition_required_fields", {}).items()
                },
                subjects=subjects,
                messages=messages,
                stylesheets={
                    **DEFAULT_STYLESHEETS,
                    **{k: tuple(v) for k, v in meta.get("stylesheets", {}).items()},
                },
                sms_max_segments=int(max_segments) if max_segments is not None else None,
            )
        except (KeyError, TypeError, IndexError, ValueError, AttributeError) as exc:
            raise TemplateError(f"{source}: invalid or missing key {exc}") from exc
        if comm.name != name or comm.default_language not in subjects:
            raise TemplateError(f"{source}: name or default_language does not match")
        self._communications[name] = comm
        return comm

    def _compile(self, texts: Mapping[str, str], source: str) -> dict[str, _Message]:
        """Compile texts that interpolate something; keep static ones as they are."""
        return {
            key: _Message(
                f"{source}.{key}",
                self._env.from_string(text) if "{" in text else None,
                text,
            )
            for key, text in texts.items()
        }

    def _inline_css(self, comm: _Communication, family: str) -> Markup:
        """Concatenated CSS of a rendition family, for a ``<style>`` element (cached)."""
        paths = comm.stylesheets[family]
        if paths not in self._css_text:
            texts = [self._asset(path).read_text(encoding="utf-8") for path in paths]
            self._css_text[paths] = Markup("\n".join(texts))  # noqa: S704 - our own files
        return self._css_text[paths]

    def _stylesheets(self, comm: _Communication, family: str) -> list[weasyprint.CSS]:
        """Parsed WeasyPrint stylesheets of a rendition family (cached)."""
        paths = comm.stylesheets[family]
        if paths not in self._css:
            self._css[paths] = [
                weasyprint.CSS(
                    filename=str(self._asset(path)),
                    url_fetcher=self.url_fetcher,
                    font_config=self._font_config,
                )
                for path in paths
            ]
        return self._css[paths]

    def _asset(self, relative: str) -> Path:
        """A stylesheet path, checked to lie inside the template assets."""
        try:
            return self.url_fetcher.resolve((self.templates_dir / relative).as_uri())
        except ValueError as exc:
            raise TemplateError(f"stylesheet {relative!r}: {exc}") from exc
