"""French words for the OCPP enumeration values people see on the csms pages.

One table (``OCPP_WORDS``) for what the stations answer or report and the pages show:
the status of a command's answer (« Accepted », « Unlocked », « Scheduled »…), a
badge's authorization status, why a charge stopped (« EVDisconnected »…), a point's
error code, a registration status. ``tests/csms/test_vocabulary.py`` checks it against
the ``ocpp`` library's own enumerations (``SHOWN_16``, ``SHOWN_201``), so that a value
a station may send is never shown in English. The station's state words
(Available, Charging…) are in ``csms.domain.states``.
"""

from __future__ import annotations

__all__ = ["OCPP_WORDS", "SHOWN_16", "SHOWN_201", "ocpp_word"]

#: OCPP 1.6 enumerations (``ocpp.v16.enums``) whose values are shown to people.
SHOWN_16 = (
    "AuthorizationStatus", "Reason", "ChargePointErrorCode", "RemoteStartStopStatus", "ResetStatus", "UnlockStatus",
    "AvailabilityStatus", "ConfigurationStatus", "ClearCacheStatus", "ChargingProfileStatus", "DataTransferStatus",
    "TriggerMessageStatus", "ReservationStatus", "CancelReservationStatus", "UpdateStatus",
    "GetCompositeScheduleStatus", "ClearChargingProfileStatus", "RegistrationStatus",
)
#: OCPP 2.0.1 enumerations (``ocpp.v201.enums``) whose values are shown to people.
SHOWN_201 = (
    "AuthorizationStatusEnumType", "ReasonEnumType", "RequestStartStopStatusEnumType", "ResetStatusEnumType",
    "UnlockStatusEnumType", "ChangeAvailabilityStatusEnumType", "GetVariableStatusEnumType",
    "SetVariableStatusEnumType", "GenericDeviceModelStatusEnumType", "TriggerMessageStatusEnumType",
    "ReserveNowStatusEnumType", "CancelReservationStatusEnumType", "SendLocalListStatusEnumType",
    "ClearCacheStatusEnumType", "ChargingProfileStatusEnumType", "ClearChargingProfileStatusEnumType",
    "GetChargingProfileStatusEnumType", "GenericStatusEnumType", "UpdateFirmwareStatusEnumType",
    "LogStatusEnumType", "DataTransferStatusEnumType", "RegistrationStatusEnumType",
)

OCPP_WORDS: dict[str, str] = {
    # answers to commands, authorization and registration statuses
    "Accepted": "acceptée", "Rejected": "refusée", "Scheduled": "programmée", "RebootRequired": "redémarrage nécessaire",
    "NotSupported": "non prise en charge", "NotImplemented": "non prise en charge par la borne",
    "Unlocked": "déverrouillé", "UnlockFailed": "échec du déverrouillage",
    "OngoingAuthorizedTransaction": "recharge autorisée en cours", "UnknownConnector": "connecteur inconnu",
    "UnknownMessageId": "message inconnu du constructeur", "UnknownVendorId": "constructeur inconnu",
    "UnknownComponent": "composant inconnu", "UnknownVariable": "variable inconnue",
    "NotSupportedAttributeType": "type d'attribut non pris en charge", "EmptyResultSet": "aucun résultat",
    "Failed": "échec", "VersionMismatch": "version de liste incohérente", "Unknown": "inconnu",
    "NoProfiles": "aucun profil", "AcceptedCanceled": "acceptée, la précédente annulée",
    "InvalidCertificate": "certificat invalide", "RevokedCertificate": "certificat révoqué",
    "Faulted": "en défaut", "Occupied": "occupé", "Unavailable": "indisponible", "Pending": "en attente",
    "Blocked": "bloqué", "Expired": "expiré", "Invalid": "inconnu ou invalide", "ConcurrentTx": "déjà en recharge",
    "NoCredit": "crédit insuffisant", "NotAllowedTypeEVSE": "point de charge non autorisé",
    "NotAtThisLocation": "non autorisé sur ce site", "NotAtThisTime": "non autorisé à cette heure",
    # why a charge stopped
    "DeAuthorized": "badge refusé", "EmergencyStop": "arrêt d'urgence", "EnergyLimitReached": "limite d'énergie atteinte",
    "EVDisconnected": "véhicule débranché", "GroundFault": "défaut de terre", "HardReset": "redémarrage complet",
    "ImmediateReset": "redémarrage immédiat", "Local": "arrêt sur la borne", "LocalOutOfCredit": "crédit épuisé",
    "MasterPass": "badge maître", "Other": "autre raison", "OvercurrentFault": "surintensité",
    "PowerLoss": "coupure de courant", "PowerQuality": "qualité du courant", "Reboot": "redémarrage de la borne",
    "Remote": "arrêt à distance", "SOCLimitReached": "charge de la batterie atteinte", "SoftReset": "redémarrage logiciel",
    "StoppedByEV": "arrêt par le véhicule", "TimeLimitReached": "durée maximale atteinte", "Timeout": "délai dépassé",
    "UnlockCommand": "déverrouillage à distance",
    # error codes of a charge point (OCPP 1.6 ChargePointErrorCode)
    "ConnectorLockFailure": "verrouillage du connecteur en échec", "EVCommunicationError": "communication avec le véhicule",
    "GroundFailure": "défaut de terre", "HighTemperature": "température trop élevée", "InternalError": "erreur interne",
    "LocalListConflict": "conflit de liste locale", "NoError": "aucune erreur", "OtherError": "autre erreur",
    "OverCurrentFailure": "surintensité", "OverVoltage": "surtension", "PowerMeterFailure": "compteur en panne",
    "PowerSwitchFailure": "contacteur en panne", "ReaderFailure": "lecteur de badge en panne",
    "ResetFailure": "échec du redémarrage", "UnderVoltage": "sous-tension", "WeakSignal": "signal faible",
}


def ocpp_word(value: object) -> str:
    """The French for an OCPP enumeration value; anything else as it came (a vendor's own code)."""
    text = "" if value is None else str(value)
    return OCPP_WORDS.get(text, text)
