"""The Jinja sandbox templates render in.

Templates load through :class:`LibraryLoader`, which checks every ``regulatory/`` block
against its approved SHA-256 and serves communications from the hashed snapshot; every
template loaded while :func:`tracking` runs is noted (for provenance); Jinja and filter
errors become :class:`~missiva.composition.errors.TemplateError` naming the template.
"""

import contextvars
import re
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
from jinja2 import pass_context
from jinja2.loaders import split_template_path
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from missiva.composition import library
from missiva.composition.chart import bar_chart_filter
from missiva.composition.errors import TemplateError
from missiva.composition.postal import window_lines_global
from missiva.composition.text import (
    FALLBACK_LOCALE,
    format_date,
    format_money,
    format_number,
    from_cents,
    iso_date,
    long_date,
)
from missiva.reference import reference_code

_UNDEFINED_RE = re.compile(r"'([^']+)' is undefined|has no attribute '([^']+)'")

# Templates loaded (extends/include/import) during the current rendering, for provenance.
_USED: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "missiva_templates_used", default=None
)


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


class LibraryLoader(jinja2.BaseLoader):
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
def template_errors(name: str, root: Path | None) -> Iterator[None]:
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
def tracking() -> Iterator[list[str]]:
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


#: Missiva's filters, on top of Jinja's built-ins (documented by ``templates reference``)
FILTERS: dict[str, Callable[..., Any]] = {
    "date": _date_filter,
    "money": _money_filter,
    "number": _number_filter,
    "cents": from_cents,
    "long_date": long_date,
    "iso_date": iso_date,
    "bar_chart": bar_chart_filter,
    "reference_code": reference_code,
}


def make_environment(
    root: Path,
    registry: Mapping[str, library.RegulatoryBlock],
    snapshot_of: Callable[[str], library.Snapshot | None],
) -> jinja2.Environment:
    """The sandbox for the library at ``root``, with Missiva's filters."""
    env = _Environment(
        loader=LibraryLoader(root, registry, snapshot_of),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html",), default_for_string=False, default=False
        ),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters.update(FILTERS)
    env.globals["window_lines"] = window_lines_global
    return env
