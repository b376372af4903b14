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

# Load management (CCTP CPAM article 4): /t/{tenant}/pilotage and the sites' power-budget API.
from csms import smart_charging_web as _smart_charging_web  # noqa: E402
from tenants.controllers import NAV_HOOKS as _NAV_HOOKS  # noqa: E402

portal_handlers.extend(_smart_charging_web.portal_handlers)
api_handlers.extend(_smart_charging_web.api_handlers)
_NAV_HOOKS.append(_smart_charging_web.nav)

# Supervision pages (CCTP CPAM 5-5-4): stations and states, transactions, alerts, statistics, agent view.
from csms import portal as _supervision_portal  # noqa: E402
from tenants.controllers import NAV_HOOKS as _SUPERVISION_NAV  # noqa: E402
from tenants.portal import AGENT_HOOKS as _AGENT_HOOKS  # noqa: E402

portal_handlers.extend(_supervision_portal.handlers)
_SUPERVISION_NAV.insert(0, _supervision_portal.nav)  # first: Bornes, Recharges…
_AGENT_HOOKS.append(_supervision_portal.agent_context)

# Badges, local authorization lists and reservations (CCTP CPAM 5-5-5-3, 5-5-4): /t/{tenant}/badges, /reservations.
from csms import badges_web as _badges_web  # noqa: E402

portal_handlers.extend(_badges_web.portal_handlers)
api_handlers.extend(_badges_web.api_handlers)
_NAV_HOOKS.append(_badges_web.nav)

# Remote commands (CCTP CPAM 5-4-2-1): /t/{tenant}/bornes/{charge_box_id}/commandes and /api/v1/stations/{id}/commands.
from csms import commands_web as _commands_web  # noqa: E402

portal_handlers.extend(_commands_web.portal_handlers)
api_handlers.extend(_commands_web.api_handlers)
