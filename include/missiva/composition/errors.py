"""Errors raised by the composition engine (all are :class:`TemplateError`)."""


class TemplateError(Exception):
    """A communication cannot be rendered; the message names the template and the cause."""


class RegulatoryBlockError(TemplateError):
    """A locked regulatory block is unknown, unapproved or does not match its approved hash."""


class SmsLimitError(TemplateError):
    """A rendered SMS needs more segments than its communication allows (``meta.json``)."""
