"""csms joins the web application here (see ``app.web.component_routes``).

Each web module of the component adds its handlers to these two lists and its
menu entries to ``tenants.controllers.NAV_HOOKS``.
"""

from __future__ import annotations

from typing import Any

portal_handlers: list[Any] = []
api_handlers: list[Any] = []
