"""On-demand document: one document for one customer, requested through the REST API."""

from missiva.journey import Journey
from missiva.paths import EXPECTATIONS_DIR, SQL_DIR

#: the document types a request may ask for (the extract maps duplicate_welcome to welcome)
DOCUMENT_TYPES = ("policy_certificate", "duplicate_welcome")
#: the channels a request may ask for; "preferred" follows the customer's preference
REQUESTABLE_CHANNELS = ("preferred", "email", "paper", "sms", "portal")

ON_DEMAND_DOCUMENT = Journey(
    name="on_demand_document",
    communication="policy_certificate",
    other_communications=("welcome",),
    purpose="transactional",
    channels=("email", "paper"),
    extract_sql=SQL_DIR / "on_demand_document_extract.sql",
    suite=EXPECTATIONS_DIR / "on_demand_document.json",
    scope="run",
    preview_params={
        "document_type": "policy_certificate",
        "channel": "preferred",
        "policy_id": None,
        "request_id": None,
    },
)
