"""csms joins the web application here (see ``app.web.component_routes``).

Each web module of the component adds its handlers to these two lists and its
menu entries to ``tenants.controllers.NAV_HOOKS``.
"""

from __future__ import annotations

from typing import Any

portal_handlers: list[Any] = []
api_handlers: list[Any] = []

# Station registry (portal) and the stations / transactions API.
from csms import api_v1 as _registry_api  # noqa: E402
from csms import registry_web as _registry_web  # noqa: E402

portal_handlers.extend(_registry_web.handlers)
api_handlers.extend(_registry_api.handlers)
