"""Lint the template library: render everything against its sample data and check it.

Every communication is rendered in every language and every rendition against the
records of its ``sample.json`` (``{"it": record-or-list, "en": ...}``) with
StrictUndefined, drafts included. A problem names the communication, the language, the
rendition and the cause (e.g. the template and the missing field). Rendered HTML is also
checked for basic accessibility, the SMS for template text outside GSM-7, the
regulatory registry for blocks whose files no longer match their approval, and the
stylesheets for rules that make regulatory blocks small or faint
(:mod:`~missiva.composition.legibility`). Each sample is also rendered with only the
fields its journeys' extracts produce, and drafts are reported
(:mod:`missiva.composition.lint_data`): warnings, errors with ``production``.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from missiva.composition import library, lint_data
from missiva.composition.engine import Composer
from missiva.composition.errors import TemplateError
from missiva.composition.legibility import style_problems
from missiva.composition.sms import SmsInfo, is_gsm7
from missiva.composition.text import as_date
from missiva.journey import Journey
from missiva.paths import TEMPLATES_DIR

#: ``letter_date`` of a sample that has none (fixed, so lint output is reproducible).
SAMPLE_LETTER_DATE = date(2026, 1, 15)


@dataclass(frozen=True)
class LintProblem:
    """One problem found by :func:`lint`."""

    template: str  # communication name, or ``regulatory/<block>``
    language: str  # "" when not language-specific
    rendition: str  # "" when not rendition-specific
    message: str
    warning: bool = False  # reported, but lint still passes

    def __str__(self) -> str:
        where = "/".join(part for part in (self.language, self.rendition) if part)
        kind = "warning: " if self.warning else ""
        return f"{kind}{self.template}{f' [{where}]' if where else ''}: {self.message}"


def load_samples(templates_dir: Path, name: str) -> dict[str, list[dict[str, Any]]]:
    """The sample records of a communication by language (each a record or a list)."""
    snap = library.snapshot(templates_dir, name)
    data = snap.json(library.SAMPLE_FILE)
    if not isinstance(data, dict):
        raise TemplateError(f"communications/{name}/{library.SAMPLE_FILE}: not an object")
    samples = {}
    for lang, value in data.items():
        records = value if isinstance(value, list) else [value]
        if not all(isinstance(record, dict) for record in records):
            raise TemplateError(
                f"communications/{name}/{library.SAMPLE_FILE}: {lang!r} is not a record or a "
                "list of records"
            )
        samples[lang] = records
    return samples


def sample_context(record: Mapping[str, Any], name: str, language: str) -> dict[str, Any]:
    """A sample record as the pipeline passes it: language, communication_id, letter_date."""
    ctx = dict(record)
    ctx["language"] = language
    ctx.setdefault("communication_id", f"{name}-{ctx.get('customer_id') or 'SAMPLE'}")
    ctx["letter_date"] = as_date(ctx.get("letter_date") or SAMPLE_LETTER_DATE)
    return ctx


def sample_record(
    templates_dir: Path, communication: str, language: str | None = None
) -> dict[str, Any]:
    """The first sample record of ``communication`` in ``language`` (else its default
    language, else any), ready to render: with ``communication_id`` and ``letter_date``."""
    samples = load_samples(templates_dir, communication)
    if not samples:
        raise TemplateError(f"communications/{communication}/{library.SAMPLE_FILE}: empty")
    meta = library.snapshot(templates_dir, communication).json(library.META_FILE)
    for lang in (language, meta.get("default_language"), *samples):
        if samples.get(lang):
            return sample_context(samples[lang][0], communication, lang)
    raise TemplateError(f"communications/{communication}/{library.SAMPLE_FILE}: no records")


class _HtmlFacts(HTMLParser):
    """What the accessibility checks look at in a rendered page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.html_lang: str | None = None
        self.tags: list[str] = []
        self.headings: list[int] = []
        self.images_without_alt = 0
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append(tag)
        if tag == "html":
            self.html_lang = attributes.get("lang")
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.headings.append(int(tag[1]))
        elif tag == "img" and not (attributes.get("alt") or "").strip():
            self.images_without_alt += 1
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def html_problems(html: str, language: str, *, page: bool) -> list[str]:
    """Accessibility problems of an e-mail (``page=False``) or a web page (``page=True``)."""
    facts = _HtmlFacts()
    facts.feed(html)
    facts.close()
    problems = []
    if facts.html_lang != language:
        problems.append(f'<html lang="{facts.html_lang}">, expected lang="{language}"')
    if not facts.title.strip():
        problems.append("no <title>")
    if facts.images_without_alt:
        problems.append(f"{facts.images_without_alt} <img> without alt text")
    if page:
        if facts.tags.count("main") != 1:
            problems.append("a page needs exactly one <main> landmark")
        for landmark in ("header", "footer"):
            if landmark not in facts.tags:
                problems.append(f"no <{landmark}> landmark")
        if facts.headings.count(1) != 1:
            problems.append(f"a page needs exactly one <h1>, found {facts.headings.count(1)}")
        for before, after in zip(facts.headings, facts.headings[1:], strict=False):
            if after > before + 1:
                problems.append(f"heading level skips from h{before} to h{after}")
                break
    return problems


def _output_problems(
    rendition: str, output: Any, language: str, record: Mapping[str, Any]
) -> list[str]:
    if rendition == "email_html":
        problems = html_problems(output, language, page=False)
        if 'style="' not in output:
            problems.append("no inline style attributes: CSS was not inlined")
        return problems
    if rendition == "web":
        return html_problems(output, language, page=True)
    if rendition == "sms":
        text, info = output
        assert isinstance(info, SmsInfo)
        data_is_gsm = all(is_gsm7(v) for v in record.values() if isinstance(v, str))
        if info.encoding == "UCS-2" and data_is_gsm:
            odd = sorted({char for char in text if not is_gsm7(char)})
            return [f"SMS template text is not GSM-7 (forces UCS-2): {''.join(odd)!r}"]
        return []
    if rendition == "letter_pdf" and not output.startswith(b"%PDF-"):
        return ["letter is not a PDF"]
    return []


def _draft_problems(templates_dir: Path, name: str, production: bool) -> list[LintProblem]:
    status = library.template_status(templates_dir, name)
    approved = [str(r.get("version")) for r in library.read_approvals(templates_dir, name)]
    message = lint_data.draft_message(status, approved)
    return [LintProblem(name, "", "", message, warning=not production)] if message else []


def _data_problems(
    composer: Composer, name: str, rendition: str, ctx: Mapping[str, Any], label: str
) -> list[LintProblem]:
    """The sample rendered with only what each journey sending ``name`` extracts."""
    problems = []
    for journey in _senders().get(name, ()):
        try:
            record = lint_data.restricted(ctx, lint_data.extract_columns(journey))
        except lint_data.ExtractSchemaError as exc:
            problems.append(LintProblem(name, "", "", f"journey {journey.name}: {exc}"))
            continue
        if record is None:
            continue
        try:
            composer.render_rendition(name, rendition, record)
        except TemplateError as exc:
            field = lint_data.missing_field(str(exc))
            if field is None:
                raise
            problems.append(
                LintProblem(
                    name,
                    str(ctx["language"]),
                    rendition,
                    f"{label}field {field!r} is not produced by journey {journey.name}'s "
                    f"extract (include/sql/{journey.extract_sql.name}): {exc}",
                )
            )
    return problems


def _senders() -> dict[str, list[Journey]]:
    from missiva.journeys import JOURNEYS

    return lint_data.senders(JOURNEYS)


def lint(
    templates_dir: Path = TEMPLATES_DIR,
    *,
    only: Iterable[str] | None = None,
    production: bool = False,
) -> list[LintProblem]:
    """Every problem of the library (or of the communications in ``only``); [] when clean.
    Drafts are warnings, or errors with ``production``."""
    templates_dir = Path(templates_dir)
    problems: list[LintProblem] = []
    try:
        for row in library.block_status(templates_dir):
            if row["status"] != "approved":
                problems.append(
                    LintProblem(
                        f"regulatory/{row['name']}",
                        "",
                        "",
                        f"regulatory block {row['name']!r} (version {row['version']}) is "
                        f"{row['status']}: its files do not match an approval",
                    )
                )
        problems += [LintProblem(css, "", "", why) for css, why in style_problems(templates_dir)]
        composer = Composer(templates_dir, production=False)
    except TemplateError as exc:
        return [*problems, LintProblem("library", "", "", str(exc))]
    names = list(only) if only is not None else library.communication_names(templates_dir)
    for name in names:
        try:
            languages = composer.languages(name)
            renditions = composer.renditions(name)
            samples = load_samples(templates_dir, name)
            problems += _draft_problems(templates_dir, name, production)
        except TemplateError as exc:
            problems.append(LintProblem(name, "", "", str(exc)))
            continue
        for language in languages:
            records = samples.get(language)
            if not records:
                problems.append(
                    LintProblem(
                        name,
                        language,
                        "",
                        f"no sample record in communications/{name}/{library.SAMPLE_FILE}",
                    )
                )
                continue
            for index, record in enumerate(records, 1):
                label = f"sample {index}: " if len(records) > 1 else ""
                ctx = sample_context(record, name, language)
                for rendition in renditions:
                    try:
                        output, _ = composer.render_rendition(name, rendition, ctx)
                    except TemplateError as exc:
                        problems.append(LintProblem(name, language, rendition, f"{label}{exc}"))
                        continue
                    problems.extend(
                        LintProblem(name, language, rendition, f"{label}{message}")
                        for message in _output_problems(rendition, output, language, ctx)
                    )
                    problems += _data_problems(composer, name, rendition, ctx, label)
    return list(dict.fromkeys(problems))  # a journey's extract problem once
