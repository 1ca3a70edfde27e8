"""Journey definitions: which data, which checks, which communication, which channels."""

from dataclasses import dataclass
from pathlib import Path

from missiva.paths import EXPECTATIONS_DIR, SQL_DIR


@dataclass(frozen=True)
class Journey:
    name: str
    communication: str
    purpose: str
    channels: tuple[str, ...]
    extract_sql: Path
    suite: Path
    letter_filename: str
    required_channel: str | None = None  # a legal obligation overriding preference


ONBOARDING = Journey(
    name="onboarding",
    communication="welcome",
    purpose="transactional",
    channels=("email", "paper"),
    extract_sql=SQL_DIR / "onboarding_extract.sql",
    suite=EXPECTATIONS_DIR / "onboarding.json",
    letter_filename="welcome-letter.pdf",
)

JOURNEYS = (ONBOARDING,)
