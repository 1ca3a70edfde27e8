"""The fixed vocabulary of DAG tags (checked by the DAG integrity tests)."""

DAG_TAGS = frozenset(
    {
        "journey",
        "audit",
        "delivery",
        "transactional",
        "marketing",
        "onboarding",
        "renewal",
        "claims",
        "billing",
        "on-demand",
    }
)
