"""The web layer of csms: portal pages and the ``/api/v1`` handlers, on top of the domain
(``csms.domain`` modules) and of the ingress (live commands). Registered by ``csms/component.py``.

``supervision`` (stations, charging sessions, alerts, statistics, the agent's stations),
``registry`` (register, import, edit, decommission), ``smart_charging`` (load management),
``badges`` (badges, local lists, reservations), ``commands`` (remote commands),
``api`` and ``schemas`` (stations and transactions API).
"""
