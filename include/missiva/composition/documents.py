"""Document names in the customer's language, for notices that name a document.

``documents.json`` of the template library maps each communication to its name per
language. A portal notice's record carries ``document`` (the communication published)
and ``document_title`` (a fallback): templates print ``document_name()``.
"""

from collections.abc import Mapping

from jinja2 import pass_context
from jinja2.runtime import Context


def document_name_global(names: Mapping[str, Mapping[str, str]]):
    """The ``document_name()`` template global over the table ``names``."""

    @pass_context
    def document_name(ctx: Context) -> str:
        localised = names.get(str(ctx.get("document") or ""), {}).get(ctx["lang"])
        return localised or str(ctx.get("document_title") or "")

    return document_name
