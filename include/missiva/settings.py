"""Runtime settings, read from ``MISSIVA_*`` environment variables."""

import os
from dataclasses import dataclass
from pathlib import Path

from missiva.paths import INCLUDE_DIR, TEMPLATES_DIR, missiva_home

#: The production contact policy (caps, quiet hours); ``MISSIVA_CONTACT_POLICY`` overrides it
DEFAULT_CONTACT_POLICY = INCLUDE_DIR / "contact_policy.toml"
DEFAULT_RETENTION = INCLUDE_DIR / "retention.toml"


@dataclass(frozen=True)
class Settings:
    """Where state lives and who the sender is; one instance per process."""

    home: Path
    ledger_url: str
    core_db: Path
    archive_url: str
    staging_dir: Path
    print_dir: Path
    sender: str
    message_id_domain: str
    contact_policy: Path = DEFAULT_CONTACT_POLICY
    #: retention period per communication (``missiva privacy purge``)
    retention: Path = DEFAULT_RETENTION
    #: the customer portal's address, for the links in portal notices
    portal_url: str = "https://portal.missiva.example"
    #: the template library communications are composed from
    templates_dir: Path = TEMPLATES_DIR

    @property
    def portal_dir(self) -> Path:
        """The portal inboxes' indexes (the documents themselves are in the archive)."""
        return self.home / "portal"

    @classmethod
    def from_env(cls) -> "Settings":
        home = missiva_home()
        return cls(
            home=home,
            ledger_url=os.environ.get("MISSIVA_LEDGER_URL", f"sqlite:///{home / 'ledger.db'}"),
            core_db=home / "core.db",
            archive_url=os.environ.get("MISSIVA_ARCHIVE_URL", (home / "archive").as_uri()),
            staging_dir=home / "staging",
            print_dir=Path(os.environ.get("MISSIVA_PRINT_DIR", home / "print")),
            sender=os.environ.get(
                "MISSIVA_SENDER", "Missiva Assicurazioni <welcome@missiva.example>"
            ),
            message_id_domain=os.environ.get("MISSIVA_MESSAGE_ID_DOMAIN", "missiva.example"),
            contact_policy=Path(os.environ.get("MISSIVA_CONTACT_POLICY", DEFAULT_CONTACT_POLICY)),
            portal_url=os.environ.get("MISSIVA_PORTAL_URL", "https://portal.missiva.example"),
            retention=Path(os.environ.get("MISSIVA_RETENTION", DEFAULT_RETENTION)),
        )
