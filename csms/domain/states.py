"""Charge point and charger states in the CCTP's words.

CCTP CPAM article 4: the station shows « à minima l'état du point de charge
(Disponible, En Charge, Hors Service) »; 5-5-4 asks the supervision for the « état
de chaque borne et point de charge (disponible, occupé, en défaut) ». Supervision
adds « Hors ligne » when the charger's socket is down (5-5: « coupure de la
communication entre la Borne et le Système de supervision »): what the point
reported last is then no longer known to hold.

Every OCPP status maps to exactly one of the four:

========================  =========================================  ==============
OCPP 1.6 (ChargePointStatus)  OCPP 2.0.1 (ConnectorStatus)           CCTP state
========================  =========================================  ==============
Available                 Available                                  Disponible
Preparing, Charging,      Occupied                                   En charge
SuspendedEV, SuspendedEVSE,
Finishing, Reserved       Reserved
Faulted, Unavailable      Faulted, Unavailable                       Hors service
(nothing reported yet)    (nothing reported yet)                     Hors service
any, charger not connected                                           Hors ligne
========================  =========================================  ==============

« En charge » is the CCTP's « occupé »: a point taken by a vehicle (plugged,
charging, suspended, finishing) or held for a reservation is not available to
another user. « Hors service » is « en défaut »: faulted, or made unavailable
(ChangeAvailability Inoperative, maintenance); a point that never reported a
status is not known to work either. A Faulted or Unavailable connector 0 (the
whole charger, OCPP 1.6) puts every point of the charger out of service.
"""

from __future__ import annotations

__all__ = [
    "AVAILABLE",
    "CHARGING",
    "OFFLINE",
    "OUT_OF_SERVICE",
    "STATE_LABELS",
    "charger_state",
    "is_out_of_service",
    "point_state",
]

AVAILABLE = "disponible"
CHARGING = "en_charge"
OUT_OF_SERVICE = "hors_service"
OFFLINE = "hors_ligne"

#: Machine value (also the ``etat`` filter of the portal) → the CCTP's words.
STATE_LABELS = {
    AVAILABLE: "Disponible",
    CHARGING: "En charge",
    OUT_OF_SERVICE: "Hors service",
    OFFLINE: "Hors ligne",
}

#: OCPP 1.6 ChargePointStatus and 2.0.1 ConnectorStatus → CCTP state (see the module docstring).
OCPP_STATES = {
    "Available": AVAILABLE,
    "Preparing": CHARGING,
    "Charging": CHARGING,
    "SuspendedEV": CHARGING,
    "SuspendedEVSE": CHARGING,
    "Finishing": CHARGING,
    "Reserved": CHARGING,
    "Occupied": CHARGING,
    "Faulted": OUT_OF_SERVICE,
    "Unavailable": OUT_OF_SERVICE,
}

#: French detail shown next to the state (what the station said exactly).
OCPP_LABELS = {
    "Available": "disponible",
    "Preparing": "véhicule branché, en préparation",
    "Charging": "recharge en cours",
    "SuspendedEV": "suspendue par le véhicule",
    "SuspendedEVSE": "suspendue par la borne",
    "Finishing": "fin de recharge",
    "Reserved": "réservé",
    "Occupied": "occupé",
    "Faulted": "en défaut",
    "Unavailable": "indisponible",
    "": "état non signalé",
}


def is_out_of_service(ocpp_status: str) -> bool:
    """Faulted or Unavailable: the statuses that open a « Hors service » alert."""
    return OCPP_STATES.get(ocpp_status) == OUT_OF_SERVICE


def point_state(point_status: str, charger_status: str = "", *, online: bool) -> str:
    """CCTP state of a charge point (P) from its last OCPP status and its charger's."""
    if not online:
        return OFFLINE
    if is_out_of_service(charger_status):
        return OUT_OF_SERVICE
    return OCPP_STATES.get(point_status or "", OUT_OF_SERVICE)


def charger_state(charger_status: str, point_states: list[str], *, online: bool) -> str:
    """CCTP state of a charger (B): offline, out of service as a whole or at every point,
    in use when a point is, else available."""
    if not online:
        return OFFLINE
    if is_out_of_service(charger_status) or not point_states:
        return OUT_OF_SERVICE
    if CHARGING in point_states:
        return CHARGING
    if AVAILABLE in point_states:
        return AVAILABLE
    return OUT_OF_SERVICE


def ocpp_label(status: str) -> str:
    return OCPP_LABELS.get(status or "", status)
