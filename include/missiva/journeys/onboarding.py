"""Onboarding: the welcome pack for customers who joined during the interval."""

from missiva.journey import Journey
from missiva.paths import EXPECTATIONS_DIR, SQL_DIR

ONBOARDING = Journey(
    name="onboarding",
    communication="welcome",
    purpose="transactional",
    channels=("email", "sms", "paper"),
    extract_sql=SQL_DIR / "onboarding_extract.sql",
    suite=EXPECTATIONS_DIR / "onboarding.json",
)
