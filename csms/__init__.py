"""Charging-station supervision (CSMS): OCPP ingress, station registry, transactions.

The folder is ``csms`` rather than ``ocpp`` so that it does not shadow the
``ocpp`` library. Nothing is imported here: callers import the module they need
(``csms.domain.registry``, ``csms.domain.recording``, ``csms.ingress.server``).
"""

__all__: list[str] = []
