"""The domain of csms: what charging stations are and report, and what is done with it.

Models, identifiers (CCTP CPAM 5-5-1), states, the recording of what stations report
(``recording``: connections, boots, statuses, transactions, meter values), the registry,
badges, reservations, smart charging and load sharing, alerts, remote commands (the
sending side), statistics, the group-commit writer, and ``protocol`` (the OCPP-J
knowledge both the ingress and the commands need: schemas, frame checks, timestamps).

The domain never imports the ingress (``csms.ingress.server``) nor the web layer (``csms.web``):
``make lint`` checks it. Its workers reach the live stations of a process through the
small protocol of ``ports``.
"""
