"""The journeys' demo data: every module of this package is a seeder that ``missiva seed``
(and ``make demo``) runs, in name order; ``missiva new-journey NAME`` writes ``NAME.py``.

A seeder defines ``rows(rng, customers, joined_on) -> {table: [row tuple, ...]}`` over the
distinct customers (:class:`~missiva.devtools.seed_people.Person`, with their ``policies``
and ``claims`` rows), with its own ``random.Random`` so that adding a module changes no
other module's rows. A ``rows`` that also takes ``seeded`` gets the rows seeded before it
(:class:`~missiva.devtools.seed.Seeded`: customers, consents, policies, claims and the
tables of the seeders before it by name), e.g. to reference billing accounts. Tuples
follow ``include/sql/core_schema.sql``'s columns.
"""

import pkgutil

JOURNEY_SEEDERS: tuple[str, ...] = tuple(
    f"{__name__}.{name}" for name in sorted(m.name for m in pkgutil.iter_modules(__path__))
)
