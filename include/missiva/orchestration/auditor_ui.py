"""The auditor's "Communications" page: a FastAPI app that the Airflow plugin mounts.

Pages (server-rendered, Jinja2 autoescaped, no external assets):

- ``/``                          search by customer, journey, run id and creation dates;
- ``/customers/{customer_id}``   a customer's timeline across channels, every ledger event;
- ``/communications/{id}``       one communication: routing, template and clause versions,
                                 the input record, the artifact and a link to its DAG run;
- ``/communications/{id}/artifact``          the archived artifact (PDF or ``.eml``);
- ``/communications/{id}/attachments/{n}``   a file attached to the archived e-mail.

And one API route: ``POST /events/ingest`` takes delivery reports (bounces, complaints,
deliveries; JSON, see :mod:`missiva.delivery.reports`) from a provider authenticated as
an Airflow user, e.g. with the bearer token of a dedicated user. It answers the counts
(applied, duplicate, rejected with reasons): 200, or 422 when any item was rejected
(the valid ones are applied; posting the same reports again is harmless).

Artifacts are read from the store with their ledger SHA-256, so altered bytes are never
served; a row whose columns no longer match the digest its latest event recorded is shown
as failed verification. Every route needs an authenticated Airflow user (the UI's
``_token`` cookie or an ``Authorization: Bearer`` JWT; Airflow does not protect plugin apps
by itself): an anonymous browser is sent to the login page, any other anonymous request
gets 401.

Permissions come from Airflow's auth manager (:mod:`missiva.orchestration.auditor_access`):
reading contact data (recipients, names, addresses, phone numbers, also inside reasons)
and opening artifacts needs ``Missiva contact data``, else they are masked and artifacts
answer 403; ingesting needs ``Missiva delivery events``, else 403. Every page, search,
download, ingest and refusal is written to Airflow's audit log (Browse > Audit Log) with
the user's name and the answer's status.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from missiva.delivery import reports as delivery_reports
from missiva.journeys import JOURNEYS
from missiva.orchestration import auditor_views as views
from missiva.orchestration.auditor_access import (
    CONTACT_DATA,
    DELIVERY_EVENTS,
    AuditEntry,
    Permission,
    granted,
    may_use_ui,
    write_audit_log,
)
from missiva.orchestration.auditor_data import archived, audited, held_in, ledger, verified
from missiva.records import audit
from missiva.settings import Settings

MAX_REPORTS_BYTES = 10 * 2**20
SEARCH_LIMIT = 200
_TEMPLATES = Path(__file__).with_name("auditor_ui_templates")
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'self'; base-uri 'none'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}

app = FastAPI(title="Missiva communications", docs_url=None, redoc_url=None, openapi_url=None)
_jinja = Environment(
    loader=FileSystemLoader(_TEMPLATES),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


# --- who is asking ----------------------------------------------------------------------


class Refused(HTTPException):
    """An authenticated user without the rights for this page (never sent to the login)."""

    def __init__(self, detail: str) -> None:
        super().__init__(status_code=403, detail=detail)


def access(event: str, permission: Permission | None = None) -> Callable[..., BaseUser]:
    """A route's dependency: the signed-in Airflow user, refused (403) unless they may use
    the Airflow UI and hold ``permission``; the request goes to the audit log as ``event``
    either way (see :func:`_audit_log`)."""

    def check(request: Request, user: GetUserDep) -> BaseUser:
        asked = dict(request.query_params) | dict(request.path_params)
        request.state.missiva_audit = AuditEntry(
            event, user.get_name(), asked | {"method": request.method}
        )
        if not may_use_ui(user):
            raise Refused(f"{user.get_name()} may not use the Airflow UI")
        if permission is not None and not granted(user, permission):
            raise Refused(f"{user.get_name()} lacks the permission {permission}")
        return user

    return check


SearchUser = Annotated[BaseUser, Depends(access("missiva.search"))]
CustomerUser = Annotated[BaseUser, Depends(access("missiva.customer"))]
CommunicationUser = Annotated[BaseUser, Depends(access("missiva.communication"))]
IngestUser = Annotated[BaseUser, Depends(access("missiva.ingest", DELIVERY_EVENTS))]


def reads_contact_data(user: BaseUser | None) -> bool:
    return granted(user, CONTACT_DATA)


@app.middleware("http")
async def _audit_log(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Writes the request a route's :func:`access` recorded, with the answer's status."""
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
        return response
    finally:
        entry = getattr(request.state, "missiva_audit", None)
        if entry is not None:
            await run_in_threadpool(write_audit_log, entry, status)


@app.exception_handler(HTTPException)
async def _error(request: Request, exc: HTTPException) -> Response:
    """Browsers without a valid session go to the login page; others get the error."""
    wants_page = request.method == "GET" and "text/html" in request.headers.get("accept", "")
    if not wants_page:
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)
    if exc.status_code in (401, 403) and not isinstance(exc, Refused):  # no valid session
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(get_auth_manager().get_url_login(next_url=here), 303)
    return _render(request, None, "error.html", exc.status_code, detail=exc.detail)


# --- rendering --------------------------------------------------------------------------


_jinja.filters["time"] = views.fmt_time


def _links(request: Request) -> dict[str, str]:
    root = request.scope.get("root_path", "")
    return {"root": root, "airflow": root.rsplit("/", 1)[0]}


_jinja.globals["dag_run_url"] = views.dag_run_url


def _render(
    request: Request, user: BaseUser | None, template: str, status: int = 200, **context: Any
) -> HTMLResponse:
    body = _jinja.get_template(template).render(
        user=user.get_name() if user else None,
        auditor=reads_contact_data(user),
        contact_permission=CONTACT_DATA,
        **_links(request),
        **context,
    )
    return HTMLResponse(body, status, headers=_PAGE_HEADERS)


def _file(data: bytes, filename: str, content_type: str, download: bool) -> Response:
    inline = content_type == "application/pdf" and not download
    disposition = "inline" if inline else "attachment"
    headers = {
        "Content-Disposition": f'{disposition}; filename="{views.safe_filename(filename)}"',
        "X-Missiva-SHA256": hashlib.sha256(data).hexdigest(),
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return Response(data, media_type=content_type, headers=headers)


# --- routes -----------------------------------------------------------------------------


@app.get("/static/{name}", include_in_schema=False)
def static(name: str) -> Response:
    """The stylesheet and nav icon (public: no customer data)."""
    types = {"auditor.css": "text/css", "icon.svg": "image/svg+xml"}
    if name not in types:
        raise HTTPException(404, "not found")
    headers = {"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"}
    return Response((_TEMPLATES / name).read_bytes(), media_type=types[name], headers=headers)


@app.get("/", response_class=HTMLResponse)
def search_page(
    request: Request,
    user: SearchUser,
    customer_id: str = "",
    journey: str = "",
    run_id: str = "",
    since: str = "",
    until: str = "",
) -> HTMLResponse:
    errors: list[str] = []
    start = views.parse_day(since, "from", errors)
    end = views.parse_day(until, "to", errors)  # inclusive: up to the start of the next day
    rows = []
    if not errors:
        rows = ledger().trace(
            customer_id.strip() or None,
            journey=journey.strip() or None,
            run_id=run_id.strip() or None,
            since=views.midnight(start) if start else None,
            until=views.midnight(end + timedelta(days=1)) if end else None,
            limit=SEARCH_LIMIT,
            newest_first=True,
        )
    masker = views.Masker(not reads_contact_data(user))
    return _render(
        request,
        user,
        "search.html",
        form={"customer_id": customer_id, "journey": journey, "run_id": run_id}
        | {"since": since, "until": until},
        journeys=[j.name for j in JOURNEYS],
        errors=errors,
        rows=[c.as_dict() | {"recipient": masker.value(c.recipient)} for c in rows],
        limit=SEARCH_LIMIT,
    )


@app.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer_page(request: Request, user: CustomerUser, customer_id: str) -> HTMLResponse:
    ids = [c.communication_id for c in ledger().trace(customer_id)]
    if not ids:
        raise HTTPException(404, f"no communication for customer {customer_id!r} in the ledger")
    comms = [audit.show(ledger(), i) for i in ids]
    recipients = [c["recipient"] for c in comms]
    masker = views.Masker(
        not reads_contact_data(user), recipients, regions=views.phone_regions({}, recipients)
    )
    timeline = sorted(
        (
            {"communication": c, "event": e, "detail": masker.record(e["detail"])}
            for c in comms
            for e in c["events"]
        ),
        key=lambda item: (item["event"]["at"], item["event"]["event_id"]),
    )
    for comm in comms:
        comm["recipient"] = masker.value(comm["recipient"])
        comm["reason"] = masker.text(comm["reason"])
    return _render(
        request, user, "customer.html", customer_id=customer_id, comms=comms, timeline=timeline
    )


@app.get("/communications/{communication_id}", response_class=HTMLResponse)
def communication_page(
    request: Request, user: CommunicationUser, communication_id: str
) -> HTMLResponse:
    comm = audited(communication_id)
    artifact = verified(comm["artifact_uri"], comm["artifact_sha256"])
    record = verified(comm["input_uri"], comm["data_sha256"])
    values = json.loads(record.data) if record.data else {}
    masker = views.Masker(
        not reads_contact_data(user),
        [comm["recipient"], *views.Masker.contact_values(values)],
        regions=views.phone_regions(values, [comm["recipient"]]),
    )
    attachments = []
    if artifact.data and comm["channel"] == "email":
        attachments = [
            a | {"size": len(a["content"]), "sha256": hashlib.sha256(a["content"]).hexdigest()}
            for a in views.attachments(artifact.data)
        ]
    shown = comm | {
        "recipient": masker.value(comm["recipient"]),
        "reason": masker.text(comm["reason"]),
        "route_reason": masker.text(comm["route_reason"]),
        "events": [e | {"detail": masker.record(e["detail"])} for e in comm["events"]],
    }
    return _render(
        request,
        user,
        "communication.html",
        comm=shown,
        artifact=artifact,
        artifact_name=views.artifact_name(comm)[0] if comm["artifact_uri"] else None,
        row_problem=views.row_problem(row := ledger().get(communication_id), comm["events"]),
        held_in=held_in(row),
        approval=audit.template_approval(Settings.from_env().templates_dir, row),
        attachments=attachments,
        record=masker.record(values),
        record_problem=record.problem,
        record_erased=record.erased,
    )


@app.get(
    "/communications/{communication_id}/artifact",
    dependencies=[Depends(access("missiva.artifact", CONTACT_DATA))],
)
def artifact(communication_id: str, download: bool = False) -> Response:
    """The archived artifact exactly as delivered (a PDF letter, or the e-mail as .eml)."""
    comm = audited(communication_id)
    data = archived(comm["artifact_uri"], comm["artifact_sha256"])
    filename, content_type = views.artifact_name(comm)
    return _file(data, filename, content_type, download)


@app.get(
    "/communications/{communication_id}/attachments/{index}",
    dependencies=[Depends(access("missiva.attachment", CONTACT_DATA))],
)
def attachment(communication_id: str, index: int, download: bool = False) -> Response:
    """A file attached to the archived e-mail (the PDF letter), from the verified .eml."""
    comm = audited(communication_id)
    if comm["channel"] != "email":
        raise HTTPException(404, "only e-mails have attachments")
    found = views.attachments(archived(comm["artifact_uri"], comm["artifact_sha256"]))
    if not 0 <= index < len(found):
        raise HTTPException(404, f"the e-mail has no attachment {index}")
    part = found[index]
    content = part["content"]
    if isinstance(content, str):
        content = content.encode()
    is_pdf = part["content_type"] == "application/pdf" and content.startswith(b"%PDF-")
    content_type = "application/pdf" if is_pdf else "application/octet-stream"
    return _file(content, part["filename"], content_type, download)


@app.post("/events/ingest")
async def ingest_events(request: Request, user: IngestUser) -> JSONResponse:
    """Delivery reports from a provider, applied to the ledger (see the module docstring)."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":  # also keeps cross-site HTML forms out
        raise HTTPException(415, "send the delivery reports as application/json")
    body = await request.body()
    if len(body) > MAX_REPORTS_BYTES:
        raise HTTPException(413, f"more than {MAX_REPORTS_BYTES} bytes; send smaller batches")
    try:
        result = await run_in_threadpool(
            delivery_reports.ingest,
            ledger(),
            delivery_reports.loads(body),
            message_id_domain=Settings.from_env().message_id_domain,
            source=f"http:{user.get_name()}",
        )
    except delivery_reports.ReportError as exc:
        raise HTTPException(400, str(exc)) from exc
    status = 200 if result.ok else 422
    request.state.missiva_audit.extra.update(
        {k: v for k, v in result.as_dict().items() if k != "rejections"}
    )
    return JSONResponse(result.as_dict(), status, headers={"Cache-Control": "no-store"})
