"""Every journey Missiva runs: one module per journey in this package.

A module defines its :class:`~missiva.journey.Journey` at module level; :data:`JOURNEYS`
collects them (``missiva new-journey NAME`` writes a new module here).
"""

import importlib
import pkgutil

from missiva.journey import Journey
from missiva.journeys.onboarding import ONBOARDING


def _discover() -> tuple[Journey, ...]:
    found: dict[str, Journey] = {}
    for module in pkgutil.iter_modules(__path__):
        namespace = vars(importlib.import_module(f"{__name__}.{module.name}"))
        found.update((j.name, j) for j in namespace.values() if isinstance(j, Journey))
    return tuple(found[name] for name in sorted(found))


JOURNEYS = _discover()


def journey_named(name: str) -> Journey:
    """The journey called ``name`` (``KeyError`` naming the known ones otherwise)."""
    for journey in JOURNEYS:
        if journey.name == name:
            return journey
    raise KeyError(f"no journey {name!r} (known: {', '.join(j.name for j in JOURNEYS)})")


__all__ = ["JOURNEYS", "ONBOARDING", "journey_named"]
