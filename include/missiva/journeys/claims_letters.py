"""Claims letters: each claim event (acknowledgement, request for documents, decision)
answered once; the decision on paper by law, with a copy in the customer portal."""

from missiva.journey import Journey
from missiva.paths import EXPECTATIONS_DIR, SQL_DIR

CLAIMS_LETTERS = Journey(
    name="claims_letters",
    communication="claim_acknowledgement",
    other_communications=("claim_documents_request", "claim_decision"),
    purpose="transactional",
    channels=("email", "sms", "paper"),
    extract_sql=SQL_DIR / "claims_letters_extract.sql",
    suite=EXPECTATIONS_DIR / "claims_letters.json",
    required_channels={"claim_decision": "paper"},
    copies={"claim_decision": ("portal",)},
)
