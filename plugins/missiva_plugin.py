"""Missiva's Airflow plugin: registration only (see DESIGN.md §2).

Adds the auditor page "Communications" (``missiva.orchestration.auditor_ui``) to the
API server under ``/missiva`` and to the Airflow UI's navigation, and the listener that
writes each run's report as its note (``missiva.orchestration.run_notes``). Every process that
loads plugins (scheduler, dag-processor, triggerer, tasks) imports this module, so the
page's code (FastAPI, Airflow's API security, the ledger) is imported on the API
server's first request to ``/missiva`` instead.
"""

from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin

from missiva.orchestration import run_notes

URL_PREFIX = "/missiva"


class AuditorApp:
    """An ASGI app that imports the auditor UI when it serves its first request."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if self._app is None:
            from missiva.orchestration.auditor_ui import app

            self._app = app
        await self._app(scope, receive, send)


class MissivaPlugin(AirflowPlugin):
    name = "missiva"
    listeners: ClassVar[list[Any]] = [run_notes]
    fastapi_apps: ClassVar[list[dict[str, Any]]] = [
        {"app": AuditorApp(), "url_prefix": URL_PREFIX, "name": "Missiva communications"}
    ]
    external_views: ClassVar[list[dict[str, Any]]] = [
        {
            "name": "Communications",
            "href": f"{URL_PREFIX}/",
            "url_route": "communications",
            "destination": "nav",
            "nav_top_level": True,
            "icon": f"{URL_PREFIX}/static/icon.svg",
        }
    ]
