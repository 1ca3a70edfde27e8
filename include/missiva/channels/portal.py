"""Portal: the document in the customer's inbox, and a link to it.

``PortalInbox.deliver`` stores the document through the given store function (the
artifact store in production) and records it in one JSON index per customer, at
most once per communication id; each write bumps the index's ``revision``, which the
delivery's ``sent`` event records with the index's hash (``audit verify`` re-checks it,
:mod:`missiva.records.work_files`). The indexes live in a workspace
(:mod:`missiva.records.workspace`): the folder ``settings.portal_dir`` with a local
archive, ``<prefix>/work/portal/`` of the archive's bucket with S3. An index is
rewritten under the workspace's lock (a file lock, or a lock object on S3), so
concurrent workers delivering to the same customer never lose an entry. Telling the
customer (e-mail or SMS with the link) is a separate communication.
"""

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote

from missiva.channels import registry
from missiva.channels.base import Delivery, SendResult, require_metadata
from missiva.records.work_files import index_note
from missiva.records.workspace import Workspace, as_workspace, workspace

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
        index_dir: Path | Workspace,
        *,
        base_url: str | None = None,
    ) -> None:
        self.store_put = store_put
        self.index_dir = as_workspace(index_dir)
        self.base_url = base_url.rstrip("/") if base_url else None

    def link(self, customer_id: str, communication_id: str) -> str:
        tail = f"inbox/{quote(str(customer_id), safe='')}/{quote(communication_id, safe='')}"
        return f"{self.base_url}/{tail}" if self.base_url else f"portal://{tail}"

    def _index_key(self, customer_id: str) -> str:
        return f"{quote(str(customer_id), safe='')}.json"

    def _index(self, key: str) -> tuple[dict[str, Any], bytes]:
        """The index (an empty one when there is none) and its bytes."""
        try:
            data = self.index_dir.get(key)
        except FileNotFoundError:
            return {"documents": []}, b""
        return json.loads(data), data

    def inbox(self, customer_id: str) -> list[dict[str, Any]]:
        """The customer's documents, oldest delivery first."""
        return self._index(self._index_key(customer_id))[0]["documents"]

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
        return self._deliver(
            customer_id, communication_id, title, document, content_type, delivered_at
        ).provider_message_id

    def _deliver(
        self,
        customer_id: str,
        communication_id: str,
        title: str,
        document: bytes,
        content_type: str,
        delivered_at: datetime | None,
    ) -> SendResult:
        """The link, and the index revision it left (``work_files.index_note``)."""
        customer_id = str(customer_id)
        if not communication_id:
            raise ValueError("a portal document needs a communication id")
        sha256 = hashlib.sha256(document).hexdigest()
        link = self.link(customer_id, communication_id)
        key = self._index_key(customer_id)
        with self.index_dir.lock(key):
            index, data = self._index(key)
            documents, revision = index["documents"], index.get("revision", 0)
            position = next(
                (i for i, d in enumerate(documents) if d["communication_id"] == communication_id),
                None,
            )
            current = documents[position] if position is not None else None
            if current and current["sha256"] == sha256 and current["title"] == title:
                return SendResult(current["link"], index_note(key, revision, data))
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
            index = {
                "format": INDEX_FORMAT,
                "customer_id": customer_id,
                "revision": revision + 1,
                "documents": documents,
            }
            data = (json.dumps(index, indent=2, ensure_ascii=False) + "\n").encode()
            self.index_dir.put(key, data)
        return SendResult(link, index_note(key, revision + 1, data))

    # ChannelAdapter: ``metadata`` carries ``customer_id`` and ``title``.
    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def send(self, delivery: Delivery) -> SendResult:
        meta = require_metadata(delivery, "portal", "customer_id", "title")
        return self._deliver(
            str(meta["customer_id"]),
            delivery.communication_id,
            str(meta["title"]),
            delivery.payload,
            delivery.content_type,
            when if isinstance(when := meta.get("delivered_at"), datetime) else None,
        )


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
        workspace(store, opening.settings.portal_dir, "portal"),
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
