"""Portal: the document in the customer's inbox, and a link to it.

``PortalInbox.deliver`` stores the document through the given store function (the
artifact store in production) and records it in one JSON index per customer, at
most once per communication id. The index is rewritten atomically under a file lock,
so concurrent workers delivering to the same customer never lose an entry. Telling
the customer (e-mail or SMS with the link) is a separate communication.
"""

import fcntl
import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote

from missiva.channels import registry
from missiva.channels.base import Delivery, SendResult, require_metadata
from missiva.files import write_atomic

log = logging.getLogger(__name__)
INDEX_FORMAT = "missiva-portal-inbox/1"


class PortalInbox:
    """Customer inboxes: ``store_put(data, content_type) -> uri`` plus an index folder.

    Links are ``portal://inbox/<customer>/<communication>``, or under ``base_url``
    (``https://portal.example/inbox/<customer>/<communication>``) when given.
    """

    def __init__(
        self,
        store_put: Callable[[bytes, str], str],
        index_dir: Path,
        *,
        base_url: str | None = None,
    ) -> None:
        self.store_put = store_put
        self.index_dir = Path(index_dir)
        self.base_url = base_url.rstrip("/") if base_url else None

    def link(self, customer_id: str, communication_id: str) -> str:
        tail = f"inbox/{quote(str(customer_id), safe='')}/{quote(communication_id, safe='')}"
        return f"{self.base_url}/{tail}" if self.base_url else f"portal://{tail}"

    def _index_path(self, customer_id: str) -> Path:
        return self.index_dir / f"{quote(str(customer_id), safe='')}.json"

    @contextmanager
    def _locked(self, customer_id: str) -> Iterator[Path]:
        path = self._index_path(customer_id)
        self.index_dir.mkdir(parents=True, exist_ok=True)
        with open(path.with_name(path.name + ".lock"), "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield path
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def inbox(self, customer_id: str) -> list[dict[str, Any]]:
        """The customer's documents, oldest delivery first."""
        path = self._index_path(customer_id)
        if not path.exists():
            return []
        return json.loads(path.read_bytes())["documents"]

    def deliver(
        self,
        customer_id: str,
        communication_id: str,
        title: str,
        document: bytes,
        content_type: str = "application/pdf",
        *,
        delivered_at: datetime | None = None,
    ) -> str:
        """Place ``document`` in the inbox (idempotent per communication); return its link."""
        customer_id = str(customer_id)
        if not communication_id:
            raise ValueError("a portal document needs a communication id")
        sha256 = hashlib.sha256(document).hexdigest()
        link = self.link(customer_id, communication_id)
        with self._locked(customer_id) as path:
            documents = json.loads(path.read_bytes())["documents"] if path.exists() else []
            position = next(
                (i for i, d in enumerate(documents) if d["communication_id"] == communication_id),
                None,
            )
            current = documents[position] if position is not None else None
            if current and current["sha256"] == sha256 and current["title"] == title:
                return current["link"]
            entry: dict[str, Any] = {
                "communication_id": communication_id,
                "title": title,
                "content_type": content_type,
                "uri": self.store_put(document, content_type),
                "sha256": sha256,
                "size": len(document),
                "link": link,
            }
            when = delivered_at.isoformat() if delivered_at else (current or {}).get("delivered_at")
            if when:
                entry["delivered_at"] = when
            if current is None:
                documents.append(entry)
            else:
                log.warning(
                    "portal document %s for customer %s replaced (sha256 %s -> %s)",
                    communication_id,
                    customer_id,
                    current["sha256"],
                    sha256,
                )
                entry["replaces_sha256"] = current["sha256"]
                documents[position] = entry
            index = {"format": INDEX_FORMAT, "customer_id": customer_id, "documents": documents}
            write_atomic(path, (json.dumps(index, indent=2, ensure_ascii=False) + "\n").encode())
        return link

    # ChannelAdapter: ``metadata`` carries ``customer_id`` and ``title``.
    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def send(self, delivery: Delivery) -> SendResult:
        meta = require_metadata(delivery, "portal", "customer_id", "title")
        link = self.deliver(
            str(meta["customer_id"]),
            delivery.communication_id,
            str(meta["title"]),
            delivery.payload,
            delivery.content_type,
            delivered_at=when if isinstance(when := meta.get("delivered_at"), datetime) else None,
        )
        return SendResult(link)


def portal_contact(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The customer's account (their inbox), or why there is none."""
    customer = record.get("customer_id")
    return (str(customer), None) if customer else (None, "no customer account for the portal")


def compose_web(request: registry.Rendering) -> registry.Rendered:
    web = request.composer.render_web(request.communication, request.context)
    return registry.Rendered(web.html.encode(), web.provenance, web.provenance.blocks)


def _open_inbox(opening: registry.Opening) -> PortalInbox:
    store = opening.store
    return PortalInbox(
        lambda document, content_type: store.put(document, content_type=content_type).uri,
        opening.settings.portal_dir,
        base_url=opening.settings.portal_url,
    )


PORTAL = registry.register(
    registry.Channel(
        name="portal",
        contact=portal_contact,
        extension=".html",
        content_type="text/html; charset=utf-8",  # the accessible web rendition
        rendition="web",
        compose=compose_web,
        open_adapter=_open_inbox,
        # not a contact: the document waits in the customer's own inbox; the notice
        # telling them is an e-mail or SMS, with its own consent check
        needs_consent=False,
        resend_safe=True,  # one entry per communication
        sends_notice=True,
    )
)
