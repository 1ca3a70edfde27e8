"""A communication of the library as the composer uses it: ``meta.json`` loaded, checked
and compiled (subjects and texts), with its approval status."""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from missiva.composition import library
from missiva.composition.errors import TemplateError
from missiva.composition.sandbox import template_errors

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


@dataclass(frozen=True)
class Message:
    source: str  # where the text is defined, for error messages
    template: jinja2.Template | None  # None: static text, nothing to render
    text: str


@dataclass(frozen=True)
class Communication:
    name: str
    version: str
    status: str
    default_language: str
    renditions: tuple[str, ...]
    required_fields: tuple[str, ...]
    rendition_fields: Mapping[str, tuple[str, ...]]
    subjects: Mapping[str, jinja2.Template]
    messages: Mapping[str, Mapping[str, Message]]
    stylesheets: Mapping[str, tuple[str, ...]]
    sms_max_segments: int | None
    #: ``meta.json`` ``sender``: ``mailbox`` (From) and ``reply_to``, local parts at the
    #: deployment's sender domain or whole addresses (see :mod:`missiva.composition.mime`)
    sender: Mapping[str, str] = field(default_factory=dict)

    def template(self, rendition: str) -> str:
        """Template name of a rendition, e.g. ``communications/welcome/email.html``."""
        return f"communications/{self.name}/{rendition_files()[rendition]}"


class Texts(Mapping[str, str]):
    """The texts of one language, rendered on first use against the record (``t``)."""

    def __init__(self, messages: Mapping[str, Message], context: Mapping[str, Any]) -> None:
        self._messages = messages
        self._context = context
        self._done: dict[str, str] = {}

    def __getitem__(self, key: str) -> str:
        if key not in self._done:
            message = self._messages[key]
            if message.template is None:
                return message.text
            with template_errors(message.source, None):
                self._done[key] = message.template.render(self._context)
        return self._done[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._messages)

    def __len__(self) -> int:
        return len(self._messages)


def load_communication(
    env: jinja2.Environment,
    templates_dir: Path,
    snap: library.Snapshot,
    common: Mapping[str, Mapping[str, str]],
    *,
    production: bool,
) -> Communication:
    """Compile the communication of ``snap``; in ``production``, refuse a draft.

    ``common`` holds the library-wide texts (``messages.json``) per language; the
    communication's own ``messages`` win over them.
    """
    name = snap.name
    source = f"communications/{name}/meta.json"
    meta = snap.json(library.META_FILE)
    try:
        version = str(meta["version"])
        approval = library.matching_approval(
            library.read_approvals(templates_dir, name), version, snap.sha256
        )
        if approval is None and production:
            raise TemplateError(
                f"communication {name!r} version {version} is a draft: no approval "
                f"matches its version and content (sha256 {snap.sha256[:12]}); approve "
                "it, or render with production=False for a preview"
            )
        with template_errors(source, templates_dir):
            subjects, messages = _compile_languages(env, meta, common, source)
        comm = _communication(meta, version, approval, subjects, messages, source)
    except (KeyError, TypeError, IndexError, ValueError, AttributeError) as exc:
        raise TemplateError(f"{source}: invalid or missing key {exc}") from exc
    if comm.name != name or comm.default_language not in subjects:
        raise TemplateError(f"{source}: name or default_language does not match")
    return comm


def _compile_languages(
    env: jinja2.Environment,
    meta: Mapping[str, Any],
    common: Mapping[str, Mapping[str, str]],
    source: str,
) -> tuple[dict[str, jinja2.Template], dict[str, dict[str, Message]]]:
    """Subjects and texts of every language of ``meta.json``, compiled."""
    languages = sorted(meta["subject"])
    own = meta.get("messages", {})
    subjects = {lang: env.from_string(meta["subject"][lang]) for lang in languages}
    messages = {
        lang: {
            **_compile(env, common.get(lang, {}), f"messages.json {lang}"),
            **_compile(env, own.get(lang, {}), f"{source} messages.{lang}"),
        }
        for lang in languages
    }
    return subjects, messages


def _communication(
    meta: Mapping[str, Any],
    version: str,
    approval: Mapping[str, str] | None,
    subjects: dict[str, jinja2.Template],
    messages: dict[str, dict[str, Message]],
    source: str,
) -> Communication:
    renditions = tuple(meta["renditions"])
    unknown = sorted(set(renditions) - set(rendition_files()))
    if unknown:
        raise TemplateError(f"{source}: unknown renditions {unknown}")
    max_segments = (meta.get("sms") or {}).get("max_segments")
    return Communication(
        name=meta["name"],
        version=version,
        status="approved" if approval else "draft",
        default_language=meta.get("default_language", sorted(subjects)[0]),
        renditions=renditions,
        required_fields=tuple(meta.get("required_fields", ())),
        rendition_fields={
            key: tuple(value) for key, value in meta.get("rendition_required_fields", {}).items()
        },
        subjects=subjects,
        messages=messages,
        stylesheets={
            **DEFAULT_STYLESHEETS,
            **{k: tuple(v) for k, v in meta.get("stylesheets", {}).items()},
        },
        sms_max_segments=int(max_segments) if max_segments is not None else None,
        sender={key: str(meta.get("sender", {})[key]) for key in meta.get("sender", {})},
    )


def _compile(env: jinja2.Environment, texts: Mapping[str, str], source: str) -> dict[str, Message]:
    """Compile texts that interpolate something; keep static ones as they are."""
    return {
        key: Message(f"{source}.{key}", env.from_string(text) if "{" in text else None, text)
        for key, text in texts.items()
    }
