"""The OCPP ingress: the WebSocket server, the station links, the 1.6 and 2.0.1 handlers
and the call channel (``server``). It depends on the domain (``csms.domain``), never the
reverse; the domain's workers reach it through ``csms.domain.ports``.
"""
