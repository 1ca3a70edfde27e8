"""The release gate of a journey run, free of Airflow: whether a run is held until a
person releases it, what that person is shown, and what approving or rejecting records.

A journey declares when its runs are held (params ``release_when``, any of
:data:`HOLD_CONDITIONS`, and ``release_threshold``). A held run composes everything,
then waits; approved, its communications carry a ``released`` event naming who released
them and are delivered; rejected, they end ``cancelled`` with who and why.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from missiva.journey import Journey, JourneyDefinitionError
from missiva.records.status import CANCELLED, COMPOSED

if TYPE_CHECKING:  # the DAG files import the policy's constants: no SQLAlchemy then
    from missiva.records.ledger import Ledger
    from missiva.records.models import Communication
    from missiva.run_context import RunContext
    from missiva.settings import Settings

#: a run is held when any of the conditions its params name holds
FIRST_VERSION, OVER_THRESHOLD, ALWAYS = "first_version", "over_threshold", "always"
HOLD_CONDITIONS = (FIRST_VERSION, OVER_THRESHOLD, ALWAYS)
DEFAULT_THRESHOLD = 1000
#: the path of one communication on the Communications page (the Airflow plugin's)
COMMUNICATION_PAGE = "/missiva/communications/{}"


@dataclass(frozen=True)
class ReleasePolicy:
    """When a journey's runs wait for release (nothing named: never)."""

    when: frozenset[str] = frozenset()
    threshold: int = DEFAULT_THRESHOLD

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ReleasePolicy:
        when = frozenset(params.get("release_when") or ())
        if unknown := when - set(HOLD_CONDITIONS):
            raise ValueError(
                f"unknown release condition(s) {sorted(unknown)} "
                f"(known: {', '.join(HOLD_CONDITIONS)})"
            )
        return cls(when, int(params.get("release_threshold") or DEFAULT_THRESHOLD))

    def hold_reasons(self, count: int, first_versions: Collection[tuple[str, str]]) -> list[str]:
        """Why a run of ``count`` records using ``first_versions`` (never sent before) is
        held; empty when it is not (a run with nothing to send never is)."""
        if count == 0:
            return []
        reasons = []
        if ALWAYS in self.when:
            reasons.append("the journey holds every run for release")
        if OVER_THRESHOLD in self.when and count > self.threshold:
            reasons.append(f"{count} records, over the release threshold of {self.threshold}")
        if FIRST_VERSION in self.when and first_versions:
            reasons.append(f"first send of {versions_text(first_versions)}")
        return reasons


def hold_stage(
    journey: Journey, run: RunContext, settings: Settings, chunks: list[int], store=None
) -> list[str]:
    """Why this run is held for release, from its valid records (the staged chunks) and
    the run's params, before anything is composed; empty when it is not held."""
    from missiva.composition import Composer
    from missiva.flow import staging
    from missiva.records.ledger import Ledger

    policy = ReleasePolicy.from_params(run.params)
    if not policy.when:
        return []
    staged = staging(run, settings, store)
    records = [r for chunk in chunks for r in staged.read_chunk(chunk)]
    composer = Composer(settings.templates_dir)
    with Ledger(settings.ledger_url) as ledger:
        new = first_versions(ledger, versions_of(journey, records, composer.template_version))
    return policy.hold_reasons(len(records), new)


def versions_text(versions: Iterable[tuple[str, str]]) -> str:
    return ", ".join(
        f"{template} version {version}" for template, version in sorted(versions, key=str)
    )


def versions_of(
    journey: Journey, records: Iterable[Mapping[str, Any]], version_of
) -> set[tuple[str, str]]:
    """The (communication, version) pairs the records would be composed with;
    ``version_of(communication)`` is the templates' current version. A record asking
    for a communication the journey does not send is left to composition (which
    records it failed)."""
    wanted = set()
    for record in records:
        try:
            wanted.add(journey.communication_for(record))
        except JourneyDefinitionError:
            continue
    return {(name, version_of(name)) for name in wanted}


def first_versions(ledger: Ledger, versions: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
    """The ``versions`` no communication was ever handed to a provider with."""
    return set(versions) - ledger.sent_versions({template for template, _ in versions})


def run_communications(ledger: Ledger, dag_id: str, run_id: str) -> list[Communication]:
    return [c for c in ledger.trace(run_id=run_id) if c.dag_id == dag_id]


@dataclass
class ReleaseSummary:
    """What a person deciding on a held run is shown."""

    dag_id: str
    run_id: str
    held_because: list[str]
    composed_by_channel: Counter = field(default_factory=Counter)
    not_composed: Counter = field(default_factory=Counter)  # suppressed, quarantined, failed
    first_versions: set[tuple[str, str]] = field(default_factory=set)
    #: {(channel, template, version): communication id}: one proof of each kind
    samples: dict[tuple[str, str, str], str] = field(default_factory=dict)

    @property
    def composed(self) -> int:
        return sum(self.composed_by_channel.values())

    def markdown(self, base_url: str = "") -> str:
        """The body of the required action (Markdown); links to the sample proofs on the
        Communications page under ``base_url``."""
        lines = [
            f"**{self.composed} communications composed and held** by run `{self.run_id}` "
            f"of `{self.dag_id}`.",
            "",
            "Held because: " + "; ".join(self.held_because) + ".",
            "",
            "| channel | composed |",
            "|---|---|",
            *(f"| {ch} | {n} |" for ch, n in sorted(self.composed_by_channel.items(), key=str)),
            "",
        ]
        not_composed = ", ".join(f"{s}: {n}" for s, n in sorted(self.not_composed.items()))
        lines += [f"Not to be sent: {not_composed or 'none'}.", ""]
        if self.first_versions:
            lines += [f"First-time versions: {versions_text(self.first_versions)}.", ""]
        lines.append("Sample proofs:")
        for (channel, template, version), comm_id in sorted(self.samples.items(), key=str):
            url = base_url.rstrip("/") + COMMUNICATION_PAGE.format(comm_id)
            lines.append(f"- [{template} version {version} by {channel}]({url})")
        lines += ["", "**Approve** delivers them; **Reject** (give the reason) cancels them all."]
        return "\n".join(lines)


def summarize(ledger: Ledger, dag_id: str, run_id: str, held_because: list[str]) -> ReleaseSummary:
    """The held run's communications as its releaser sees them."""
    summary = ReleaseSummary(dag_id, run_id, held_because)
    versions = set()
    for comm in run_communications(ledger, dag_id, run_id):
        if comm.status != COMPOSED:
            summary.not_composed[comm.status] += 1
            continue
        summary.composed_by_channel[comm.channel] += 1
        versions.add((comm.template, comm.template_version))
        kind = (comm.channel, comm.template, comm.template_version)
        summary.samples.setdefault(kind, comm.communication_id)
    summary.first_versions = first_versions(ledger, versions)
    return summary


def release(ledger: Ledger, dag_id: str, run_id: str, by: str) -> int:
    """Record that ``by`` released the held run: a ``released`` event on each of its
    composed communications; how many."""
    comms = run_communications(ledger, dag_id, run_id)
    held = [c.communication_id for c in comms if c.status == COMPOSED]
    ledger.record_release(held, released_by=by)
    return len(held)


def cancel(ledger: Ledger, dag_id: str, run_id: str, by: str, why: str) -> int:
    """End every composed communication of the rejected run ``cancelled``, the event
    naming who rejected it and why; how many."""
    reason = f"release rejected by {by}: {why.strip() or 'no reason given'}"
    cancelled = 0
    for comm in run_communications(ledger, dag_id, run_id):
        if comm.status == COMPOSED:
            ledger.transition(
                comm.communication_id, COMPOSED, CANCELLED, reason=reason, note={"by": by}
            )
            cancelled += 1
    return cancelled
