"""Typed forms of the remote commands: their fields, and the OCPP payload each one builds.

CCTP CPAM 5-4-2-1 (« prise en main à distance » of the stations): people choose a
charge point among the station's points, a badge among the tenant's badges, a duration
in minutes, a Reset type with one of two buttons; they do not type OCPP JSON (the raw
JSON stays available to experts, ``csms.web.commands``).

Pure: no database, ``now`` passed in. For every command of ``commands.ACTIONS`` in both
OCPP versions, ``FORMS[version][action]`` lists its fields and holds the function that
builds its payload from the values read (``build_payload``); the payload is then
checked against the OCPP schema by ``commands.validate_command`` as any other.
``example`` is the payload of the form's defaults (the tenant's real points and
badges), shown in the « Avancé » JSON box.

``interrupted_sessions`` says which running charges a command would cut (Reset,
UnlockConnector, RemoteStop / RequestStopTransaction, ChangeAvailability to
Inoperative): the portal asks for a confirmation naming them before sending.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from csms.domain.commands import ACTIONS, URI_MESSAGE
from csms.domain.protocol import is_uri

__all__ = [
    "FORMS",
    "BadgeChoice",
    "CommandForm",
    "FormContext",
    "FormField",
    "PointChoice",
    "RunningSession",
    "build_payload",
    "default_values",
    "example",
    "field_options",
    "interrupted_sessions",
    "read_values",
]

#: The idToken type of the tenant's RFID badges (OCPP 2.0.1 IdTokenEnumType), as in the local list.
ID_TOKEN_TYPE = "ISO14443"  # noqa: S105 - an OCPP enumeration value, no secret
TEXT_MAX = 500
#: A PEM certificate or chain (OCPP: 5,500 characters at most; a chain in CertificateSigned, 10,000).
PEM_MAX = 10_000


@dataclass(frozen=True)
class PointChoice:
    """A charge point of the station: its OCPP connector id (1.6) or EVSE id (2.0.1)."""

    connector_id: int
    label: str


@dataclass(frozen=True)
class BadgeChoice:
    id_tag: str
    label: str
    status: str = "Accepted"
    expires_at: dt.datetime | None = None


@dataclass(frozen=True)
class RunningSession:
    """A charge in progress on the station."""

    id: uuid.UUID
    ocpp_transaction_id: str
    connector_id: int | None
    id_tag: str
    holder: str
    started_at: dt.datetime | None


@dataclass(frozen=True)
class FormContext:
    version: str
    now: dt.datetime
    points: tuple[PointChoice, ...] = ()
    badges: tuple[BadgeChoice, ...] = ()
    running: tuple[RunningSession, ...] = ()


@dataclass(frozen=True)
class FormField:
    """One input of a command form.

    ``kind``: ``point`` (one of the station's points), ``point0`` (the same, or 0 = the
    whole station), ``badge``, ``badges`` (several, checkboxes), ``session`` (a charge
    in progress), ``minutes``, ``integer``, ``decimal``, ``text``, ``url``, ``choice``
    (a list) and ``buttons`` (one submit button per choice, e.g. Reset's type).
    Optional fields read ``None`` when left empty.
    """

    name: str
    label: str
    kind: str
    required: bool = True
    choices: tuple[tuple[str, str], ...] = ()
    default: str = ""
    hint: str = ""
    low: float = 0
    high: float = 2**31 - 1
    #: label of the empty option of an optional list
    empty: str = ""
    #: what the JSON example puts in a required text field left empty
    sample: str = ""


@dataclass(frozen=True)
class CommandForm:
    fields: tuple[FormField, ...]
    build: Callable[[Mapping[str, Any], FormContext], dict[str, Any]]
    intro: str = ""
    #: what the submit button says (forms with ``buttons`` have none)
    submit: str = "Envoyer à la borne"

    @property
    def buttons(self) -> FormField | None:
        return next((f for f in self.fields if f.kind == "buttons"), None)


# --------------------------------------------------------------------------- helpers


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _request_id(ctx: FormContext) -> int:
    """An id for the station's later notifications (requestId, remoteStartId): the time in seconds."""
    return int(ctx.now.timestamp()) % 2**31


def _token(id_tag: str) -> dict[str, str]:
    return {"idToken": id_tag, "type": ID_TOKEN_TYPE}


def _badge(ctx: FormContext, id_tag: str) -> BadgeChoice:
    return next(b for b in ctx.badges if b.id_tag == id_tag)


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


# --------------------------------------------------------------------------- shared fields

POINT = FormField("point", "Point de charge", "point")
POINT_WHOLE = FormField("point", "Point de charge", "point0", hint="« Toute la borne » : tous ses points à la fois.")
POINT_ANY = FormField("point", "Point de charge", "point0", required=False, empty="Non précisé")
BADGE = FormField("badge", "Badge", "badge", hint="Un badge du bénéficiaire.")
SESSION = FormField("session", "Recharge en cours", "session")
RESERVATION_ID = FormField("reservation", "Numéro de réservation", "integer", default="1", low=0)
PROFILE_ID = FormField("profile", "Numéro du profil", "integer", default="1", low=0)
STACK_LEVEL = FormField("stack", "Niveau de priorité du profil", "integer", default="0", low=0, high=100,
                        hint="Le profil de niveau le plus élevé s'applique.")
LIMIT = FormField("limit", "Limite", "decimal", low=0, high=1_000_000, default="16",
                  hint="Nombre décimal, dans l'unité choisie (par exemple 16 A ou 7400 W).")
UNITS = (("A", "Ampères (A)"), ("W", "Watts (W)"))
UNIT = FormField("unit", "Unité", "choice", choices=UNITS, default="A")
UNIT_ANY = FormField("unit", "Unité", "choice", required=False, choices=UNITS, empty="Celle de la borne")
VALIDITY = FormField("duration", "Durée d'application (minutes)", "minutes", required=False, low=1, high=7 * 24 * 60,
                     hint="Vide : sans limite de durée.")
URL = FormField("location", "Adresse (URL)", "url", hint="Par exemple https://exemple.fr/fichier ou ftp://…",
                sample="https://exemple.fr/micrologiciel.bin")
DELAY = FormField("delay", "Délai avant le téléchargement (minutes)", "minutes", default="0", low=0, high=30 * 24 * 60)
VENDOR = FormField("vendor", "Identifiant du constructeur (vendorId)", "text", hint="Par exemple fr.constructeur.",
                   sample="fr.exemple")
MESSAGE_ID = FormField("message", "Identifiant du message (messageId)", "text", required=False)
DATA = FormField("data", "Données", "text", required=False)
LIST_VERSION = FormField("list_version", "Version de la liste", "integer", default="1", low=1)
LIST_BADGES = FormField("badges", "Badges de la liste", "badges", required=False,
                        hint="Chaque badge coché est envoyé avec son statut et son expiration.")
UPDATE_TYPE = FormField("update", "Type d'envoi", "choice", default="Full",
                        choices=(("Full", "Liste complète (remplace celle de la borne)"),
                                 ("Differential", "Ajout ou mise à jour des badges cochés")))
RESERVE_MINUTES = FormField("minutes", "Durée de la réservation (minutes)", "minutes", default="30", low=1,
                            high=24 * 60)
SCHEDULE_MINUTES = FormField("minutes", "Durée du programme (minutes)", "minutes", default="60", low=1,
                             high=7 * 24 * 60)
AVAILABILITY = (("Operative", "En service"), ("Inoperative", "Hors service (indisponible)"))


def _purposes(version: str) -> tuple[tuple[str, str], ...]:
    station = "ChargePointMaxProfile" if version == "1.6" else "ChargingStationMaxProfile"
    return (("TxDefaultProfile", "Profil par défaut des recharges (TxDefaultProfile)"),
            (station, f"Puissance maximale de la borne ({station})"))


# --------------------------------------------------------------------------- OCPP 1.6


def _remote_start_16(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return {"idTag": v["badge"], "connectorId": v["point"]}


def _remote_stop_16(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return {"transactionId": int(v["session"])}


def _unlock_16(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return {"connectorId": v["point"]}


def _reset(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return {"type": v["type"]}


def _availability_16(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return {"connectorId": v["point"], "type": v["availability"]}


def _keys(text: str | None) -> list[str]:
    return [k for k in (text or "").replace(";", ",").replace(" ", ",").split(",") if k]


def _get_configuration(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    keys = _keys(v["keys"])
    return {"key": keys} if keys else {}


def _change_configuration(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return {"key": v["key"], "value": v["value"]}


def _trigger_16(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return _drop_none({"requestedMessage": v["message"], "connectorId": v["point"] or None})


def _reserve_16(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return {"connectorId": v["point"], "expiryDate": _iso(ctx.now + dt.timedelta(minutes=v["minutes"])),
            "idTag": v["badge"], "reservationId": v["reservation"]}


def _cancel_reservation(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return {"reservationId": v["reservation"]}


def _list_entry(badge: BadgeChoice, version: str) -> dict[str, Any]:
    """One entry of the local list, as ``csms.domain.badges`` sends it."""
    if version == "2.0.1":
        info: dict[str, Any] = {"status": badge.status}
        if badge.expires_at is not None:
            info["cacheExpiryDateTime"] = _iso(badge.expires_at)
        return {"idToken": _token(badge.id_tag), "idTokenInfo": info}
    info = {"status": badge.status}
    if badge.expires_at is not None:
        info["expiryDate"] = _iso(badge.expires_at)
    return {"idTag": badge.id_tag, "idTagInfo": info}


def _send_local_list_16(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    entries = [_list_entry(_badge(ctx, t), "1.6") for t in v["badges"] or ()]
    return _drop_none({"listVersion": v["list_version"], "updateType": v["update"],
                       "localAuthorizationList": entries or None})


def _empty(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return {}


def _schedule(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return _drop_none({
        "startSchedule": _iso(ctx.now),
        "duration": v["duration"] * 60 if v["duration"] else None,
        "chargingRateUnit": v["unit"],
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": v["limit"]}],
    })


def _set_profile_16(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    # Absolute, starting now: the limit applies from the moment it is sent (OCPP 1.6 §3.13.1).
    return {"connectorId": v["point"], "csChargingProfiles": {
        "chargingProfileId": v["profile"], "stackLevel": v["stack"], "chargingProfilePurpose": v["purpose"],
        "chargingProfileKind": "Absolute", "chargingSchedule": _schedule(v, ctx)}}


def _clear_profile_16(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return _drop_none({"id": v["profile"], "connectorId": v["point"], "chargingProfilePurpose": v["purpose"]})


def _composite_16(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return _drop_none({"connectorId": v["point"], "duration": v["minutes"] * 60, "chargingRateUnit": v["unit"]})


def _firmware_16(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return {"location": v["location"], "retrieveDate": _iso(ctx.now + dt.timedelta(minutes=v["delay"]))}


def _diagnostics(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return {"location": v["location"]}


def _data_transfer(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return _drop_none({"vendorId": v["vendor"], "messageId": v["message"], "data": v["data"]})


def _extended_trigger(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return _drop_none({"requestedMessage": v["message"], "connectorId": v["point"] or None})


def _get_log_16(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return {"logType": v["log"], "requestId": _request_id(ctx), "log": {"remoteLocation": v["location"]}}


def _signed_firmware(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return {"requestId": _request_id(ctx), "firmware": {
        "location": v["location"], "retrieveDateTime": _iso(ctx.now + dt.timedelta(minutes=v["delay"])),
        "signingCertificate": v["certificate"], "signature": v["signature"]}}


def _install_certificate(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return {"certificateType": v["type"], "certificate": v["certificate"]}


def _hash_data(v: Mapping[str, Any]) -> dict[str, Any]:
    return {"hashAlgorithm": v["algorithm"], "issuerNameHash": v["name_hash"], "issuerKeyHash": v["key_hash"],
            "serialNumber": v["serial"]}


def _delete_certificate(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return {"certificateHashData": _hash_data(v)}


def _installed_ids_16(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return {"certificateType": v["type"]}


def _installed_ids_201(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return _drop_none({"certificateType": [v["type"]] if v["type"] else None})


def _certificate_signed(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return _drop_none({"certificateChain": v["chain"], "certificateType": v.get("type")})


LOG_TYPE = FormField("log", "Journal", "choice", default="DiagnosticsLog", choices=(
    ("DiagnosticsLog", "Journal de diagnostic (DiagnosticsLog)"), ("SecurityLog", "Journal de sécurité (SecurityLog)")))
LOG_LOCATION = FormField("location", "Adresse de dépôt (URL)", "url", sample="https://exemple.fr/journaux/",
                         hint="La page « Journaux » de la borne en fait une adresse du produit, à usage unique.")
PEM_SAMPLE = "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----"
CERTIFICATE = FormField("certificate", "Certificat (PEM)", "pem", sample=PEM_SAMPLE)
CHAIN = FormField("chain", "Chaîne de certificats (PEM)", "pem", sample=PEM_SAMPLE)
HASH_FIELDS = (
    FormField("algorithm", "Algorithme d'empreinte", "choice", default="SHA256",
              choices=(("SHA256", "SHA-256"), ("SHA384", "SHA-384"), ("SHA512", "SHA-512"))),
    FormField("name_hash", "Empreinte du nom de l'émetteur (issuerNameHash)", "text", sample="0" * 64),
    FormField("key_hash", "Empreinte de la clé de l'émetteur (issuerKeyHash)", "text", sample="0" * 64),
    FormField("serial", "Numéro de série (serialNumber)", "text", sample="01"),
)
ROOTS_16 = (("CentralSystemRootCertificate", "Racine de la supervision (CentralSystemRootCertificate)"),
            ("ManufacturerRootCertificate", "Racine du constructeur (ManufacturerRootCertificate)"))
ROOTS_201 = (("CSMSRootCertificate", "Racine de la supervision (CSMSRootCertificate)"),
             ("ManufacturerRootCertificate", "Racine du constructeur (ManufacturerRootCertificate)"),
             ("V2GRootCertificate", "Racine V2G (V2GRootCertificate)"),
             ("MORootCertificate", "Racine d'opérateur de mobilité (MORootCertificate)"))
EXTENDED_TRIGGERS_16 = (
    ("StatusNotification", "État des points (StatusNotification)"), ("Heartbeat", "Signe de vie (Heartbeat)"),
    ("BootNotification", "Démarrage (BootNotification)"), ("MeterValues", "Mesures (MeterValues)"),
    ("FirmwareStatusNotification", "État de la mise à jour (FirmwareStatusNotification)"),
    ("LogStatusNotification", "État de l'envoi des journaux (LogStatusNotification)"),
    ("SignChargePointCertificate", "Certificat de la borne (SignChargePointCertificate)"))

TRIGGERS_16 = (("StatusNotification", "État des points (StatusNotification)"),
               ("MeterValues", "Mesures (MeterValues)"), ("Heartbeat", "Signe de vie (Heartbeat)"),
               ("BootNotification", "Démarrage (BootNotification)"),
               ("FirmwareStatusNotification", "État de la mise à jour (FirmwareStatusNotification)"),
               ("DiagnosticsStatusNotification", "État des diagnostics (DiagnosticsStatusNotification)"))
TRIGGERS_201 = (("StatusNotification", "État des points (StatusNotification)"),
                ("MeterValues", "Mesures (MeterValues)"), ("TransactionEvent", "Recharge en cours (TransactionEvent)"),
                ("Heartbeat", "Signe de vie (Heartbeat)"), ("BootNotification", "Démarrage (BootNotification)"),
                ("FirmwareStatusNotification", "État de la mise à jour (FirmwareStatusNotification)"),
                ("LogStatusNotification", "État de l'envoi des journaux (LogStatusNotification)"),
                ("SignChargingStationCertificate", "Certificat de la borne (SignChargingStationCertificate)"))

FORMS_16: dict[str, CommandForm] = {
    "RemoteStartTransaction": CommandForm((POINT, BADGE), _remote_start_16,
                                          "La borne démarre une recharge sur le point choisi, au nom du badge."),
    "RemoteStopTransaction": CommandForm((SESSION,), _remote_stop_16, "La borne arrête la recharge choisie."),
    "UnlockConnector": CommandForm((POINT,), _unlock_16,
                                   "Libère le câble du point ; une recharge en cours sur ce point est arrêtée."),
    "Reset": CommandForm((FormField("type", "Type de redémarrage", "buttons", choices=(
        ("Soft", "Redémarrage logiciel (Soft)"), ("Hard", "Redémarrage complet (Hard)"))),), _reset,
        "La borne arrête les recharges en cours puis redémarre : « logiciel » relance son programme, "
        "« complet » la remet sous tension."),
    "ChangeAvailability": CommandForm((POINT_WHOLE, FormField("availability", "Disponibilité", "choice",
                                                              choices=AVAILABILITY, default="Operative")),
                                      _availability_16),
    "GetConfiguration": CommandForm((FormField("keys", "Clés de configuration", "text", required=False,
                                               hint="Séparées par des virgules, par exemple HeartbeatInterval. "
                                                    "Vide : toutes les clés."),), _get_configuration),
    "ChangeConfiguration": CommandForm((FormField("key", "Clé de configuration", "text",
                                                  hint="Par exemple HeartbeatInterval.", sample="HeartbeatInterval"),
                                        FormField("value", "Nouvelle valeur", "text", sample="300")),
                                       _change_configuration),
    "TriggerMessage": CommandForm((FormField("message", "Message demandé", "choice", choices=TRIGGERS_16,
                                             default="StatusNotification"), POINT_ANY), _trigger_16),
    "ReserveNow": CommandForm((POINT, BADGE, RESERVE_MINUTES, RESERVATION_ID), _reserve_16,
                              "Réserve le point pour le badge à partir de maintenant. Les réservations des agents "
                              "se font dans la page « Réservations »."),
    "CancelReservation": CommandForm((RESERVATION_ID,), _cancel_reservation),
    "SendLocalList": CommandForm((LIST_VERSION, UPDATE_TYPE, LIST_BADGES), _send_local_list_16,
                                 "La liste locale est d'habitude tenue à jour automatiquement (page « Badges »)."),
    "GetLocalListVersion": CommandForm((), _empty),
    "ClearCache": CommandForm((), _empty, "La borne oublie les badges qu'elle a mémorisés (hors liste locale)."),
    "SetChargingProfile": CommandForm((POINT_WHOLE, FormField("purpose", "Usage du profil", "choice",
                                                              choices=_purposes("1.6"), default="TxDefaultProfile"),
                                       LIMIT, UNIT, VALIDITY, PROFILE_ID, STACK_LEVEL), _set_profile_16,
                                      "Limite la puissance à partir de maintenant."),
    "ClearChargingProfile": CommandForm((
        FormField("profile", "Numéro du profil", "integer", required=False, low=0, hint="Vide : tous les profils."),
        POINT_ANY, FormField("purpose", "Usage du profil", "choice", required=False, choices=_purposes("1.6"),
                             empty="Tous les usages")), _clear_profile_16),
    "GetCompositeSchedule": CommandForm((POINT_WHOLE, SCHEDULE_MINUTES, UNIT_ANY), _composite_16),
    "UpdateFirmware": CommandForm((URL, DELAY), _firmware_16),
    "GetDiagnostics": CommandForm((FormField("location", "Adresse de dépôt (URL)", "url",
                                             hint="Où la borne dépose le fichier, par exemple ftp://exemple.fr/diag/",
                                             sample="ftp://exemple.fr/diagnostics/"),),
                                  _diagnostics),
    "DataTransfer": CommandForm((VENDOR, MESSAGE_ID, DATA), _data_transfer),
    # OCPP 1.6 Security Whitepaper ed. 3 (issue 17 §3)
    "ExtendedTriggerMessage": CommandForm((FormField("message", "Message demandé", "choice",
                                                     choices=EXTENDED_TRIGGERS_16, default="StatusNotification"),
                                           POINT_ANY), _extended_trigger),
    "GetLog": CommandForm((LOG_TYPE, LOG_LOCATION), _get_log_16),
    "SignedUpdateFirmware": CommandForm((URL, DELAY, FormField("certificate", "Certificat de signature (PEM)", "pem",
                                                               sample=PEM_SAMPLE),
                                         FormField("signature", "Signature (base64)", "text", sample="c2lnbmF0dXJl")),
                                        _signed_firmware, "Les campagnes de la page « Micrologiciels » l'envoient "
                                                          "à plusieurs bornes."),
    "InstallCertificate": CommandForm((FormField("type", "Type de certificat", "choice", choices=ROOTS_16,
                                                 default="CentralSystemRootCertificate"), CERTIFICATE),
                                      _install_certificate),
    "DeleteCertificate": CommandForm(HASH_FIELDS, _delete_certificate),
    "GetInstalledCertificateIds": CommandForm((FormField("type", "Type de certificat", "choice", choices=ROOTS_16,
                                                         default="CentralSystemRootCertificate"),), _installed_ids_16),
    "CertificateSigned": CommandForm((CHAIN,), _certificate_signed,
                                     "Envoyée d'elle-même après chaque demande de signature (SignCertificate)."),
}


# --------------------------------------------------------------------------- OCPP 2.0.1


def _remote_start_201(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return {"idToken": _token(v["badge"]), "remoteStartId": _request_id(ctx), "evseId": v["point"]}


def _remote_stop_201(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return {"transactionId": v["session"]}


def _unlock_201(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    # A point is one EVSE with one connector (csms.domain.recording: the EVSE id is the point's number).
    return {"evseId": v["point"], "connectorId": 1}


def _evse(point: int | None) -> dict[str, int] | None:
    return {"id": point} if point else None


def _availability_201(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return _drop_none({"operationalStatus": v["availability"], "evse": _evse(v["point"])})


def _variable(v: Mapping[str, Any]) -> dict[str, Any]:
    return {"component": {"name": v["component"]}, "variable": {"name": v["variable"]}}


def _get_report(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    item: dict[str, Any] = {"component": {"name": v["component"]}}
    if v["variable"]:
        item["variable"] = {"name": v["variable"]}
    return {"requestId": _request_id(ctx), "componentVariable": [item]}


def _get_monitoring_report(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return {"requestId": _request_id(ctx), **({"componentVariable": [{"component": {"name": v["component"]}}]}
                                               if v["component"] else {})}


def _set_monitoring(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return {"setMonitoringData": [{"value": v["value"], "type": v["type"], "severity": v["severity"],
                                   **_variable(v)}]}


def _get_variables(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return {"getVariableData": [_variable(v)]}


def _set_variables(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return {"setVariableData": [{"attributeValue": v["value"], **_variable(v)}]}


def _base_report(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return {"requestId": _request_id(ctx), "reportBase": v["report"]}


def _trigger_201(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    evse = {"id": v["point"], "connectorId": 1} if v["point"] else None
    return _drop_none({"requestedMessage": v["message"], "evse": evse})


def _reserve_201(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return {"id": v["reservation"], "expiryDateTime": _iso(ctx.now + dt.timedelta(minutes=v["minutes"])),
            "idToken": _token(v["badge"]), "evseId": v["point"]}


def _send_local_list_201(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    entries = [_list_entry(_badge(ctx, t), "2.0.1") for t in v["badges"] or ()]
    return _drop_none({"versionNumber": v["list_version"], "updateType": v["update"],
                       "localAuthorizationList": entries or None})


def _set_profile_201(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return {"evseId": v["point"], "chargingProfile": {
        "id": v["profile"], "stackLevel": v["stack"], "chargingProfilePurpose": v["purpose"],
        "chargingProfileKind": "Absolute", "chargingSchedule": [{"id": 1, **_schedule(v, ctx)}]}}


def _clear_profile_201(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    criteria = _drop_none({"evseId": v["point"], "chargingProfilePurpose": v["purpose"]})
    return _drop_none({"chargingProfileId": v["profile"], "chargingProfileCriteria": criteria or None})


def _get_profiles(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return _drop_none({"requestId": _request_id(ctx), "evseId": v["point"],
                       "chargingProfile": _drop_none({"chargingProfilePurpose": v["purpose"]})})


def _composite_201(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return _drop_none({"duration": v["minutes"] * 60, "evseId": v["point"], "chargingRateUnit": v["unit"]})


def _transaction_status(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return _drop_none({"transactionId": v["session"]})


def _firmware_201(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return {"requestId": _request_id(ctx), "firmware": {
        "location": v["location"], "retrieveDateTime": _iso(ctx.now + dt.timedelta(minutes=v["delay"]))}}


def _get_log(v: Mapping[str, Any], ctx: FormContext) -> dict[str, Any]:
    return {"logType": v["log"], "requestId": _request_id(ctx), "log": {"remoteLocation": v["location"]}}


FORMS_201: dict[str, CommandForm] = {
    "RequestStartTransaction": CommandForm((POINT, BADGE), _remote_start_201,
                                           FORMS_16["RemoteStartTransaction"].intro),
    "RequestStopTransaction": CommandForm((SESSION,), _remote_stop_201, FORMS_16["RemoteStopTransaction"].intro),
    "UnlockConnector": CommandForm((POINT,), _unlock_201, FORMS_16["UnlockConnector"].intro),
    "Reset": CommandForm((FormField("type", "Moment du redémarrage", "buttons", choices=(
        ("OnIdle", "Redémarrer dès que la borne est libre (OnIdle)"),
        ("Immediate", "Redémarrer maintenant (Immediate)"))),), _reset,
        "« Dès que libre » attend la fin des recharges en cours ; « maintenant » les arrête."),
    "ChangeAvailability": CommandForm((POINT_WHOLE, FormField("availability", "Disponibilité", "choice",
                                                              choices=AVAILABILITY, default="Operative")),
                                      _availability_201),
    "GetVariables": CommandForm((FormField("component", "Composant", "text", default="OCPPCommCtrlr"),
                                 FormField("variable", "Variable", "text", default="HeartbeatInterval")),
                                _get_variables),
    "SetVariables": CommandForm((FormField("component", "Composant", "text", default="OCPPCommCtrlr"),
                                 FormField("variable", "Variable", "text", default="HeartbeatInterval"),
                                 FormField("value", "Nouvelle valeur", "text", sample="300")), _set_variables),
    "GetBaseReport": CommandForm((FormField("report", "Rapport", "choice", default="ConfigurationInventory", choices=(
        ("ConfigurationInventory", "Configuration (ConfigurationInventory)"),
        ("FullInventory", "Inventaire complet (FullInventory)"),
        ("SummaryInventory", "Résumé (SummaryInventory)"))),), _base_report),
    "TriggerMessage": CommandForm((FormField("message", "Message demandé", "choice", choices=TRIGGERS_201,
                                             default="StatusNotification"), POINT_ANY), _trigger_201),
    "ReserveNow": CommandForm((POINT, BADGE, RESERVE_MINUTES, RESERVATION_ID), _reserve_201,
                              FORMS_16["ReserveNow"].intro),
    "CancelReservation": CommandForm((RESERVATION_ID,), _cancel_reservation),
    "SendLocalList": CommandForm((LIST_VERSION, UPDATE_TYPE, LIST_BADGES), _send_local_list_201,
                                 FORMS_16["SendLocalList"].intro),
    "GetLocalListVersion": CommandForm((), _empty),
    "ClearCache": CommandForm((), _empty, FORMS_16["ClearCache"].intro),
    "SetChargingProfile": CommandForm((POINT_WHOLE, FormField("purpose", "Usage du profil", "choice",
                                                              choices=_purposes("2.0.1"), default="TxDefaultProfile"),
                                       LIMIT, UNIT, VALIDITY, PROFILE_ID, STACK_LEVEL), _set_profile_201,
                                      FORMS_16["SetChargingProfile"].intro),
    "ClearChargingProfile": CommandForm((
        FormField("profile", "Numéro du profil", "integer", required=False, low=0, hint="Vide : tous les profils."),
        POINT_ANY, FormField("purpose", "Usage du profil", "choice", required=False, choices=_purposes("2.0.1"),
                             empty="Tous les usages")), _clear_profile_201),
    "GetChargingProfiles": CommandForm((POINT_ANY, FormField("purpose", "Usage du profil", "choice", required=False,
                                                             choices=_purposes("2.0.1"), empty="Tous les usages")),
                                       _get_profiles),
    "GetCompositeSchedule": CommandForm((POINT_WHOLE, SCHEDULE_MINUTES, UNIT_ANY), _composite_201),
    "GetTransactionStatus": CommandForm((FormField("session", "Recharge", "session", required=False,
                                                   empty="Aucune en particulier (messages en attente)"),),
                                        _transaction_status),
    "UpdateFirmware": CommandForm((URL, DELAY), _firmware_201),
    "GetLog": CommandForm((FormField("log", "Journal", "choice", default="DiagnosticsLog", choices=(
        ("DiagnosticsLog", "Diagnostics (DiagnosticsLog)"), ("SecurityLog", "Sécurité (SecurityLog)"))),
        FormField("location", "Adresse de dépôt (URL)", "url",
                  hint="Où la borne dépose le fichier, par exemple https://exemple.fr/journaux/",
                  sample="https://exemple.fr/journaux/")), _get_log),
    "DataTransfer": CommandForm((VENDOR, MESSAGE_ID, DATA), _data_transfer),
    "GetReport": CommandForm((FormField("component", "Composant", "text", default="OCPPCommCtrlr"),
                              FormField("variable", "Variable", "text", required=False, hint="Vide : toutes.")),
                             _get_report),
    "GetMonitoringReport": CommandForm((FormField("component", "Composant", "text", required=False,
                                                  hint="Vide : toutes les surveillances."),), _get_monitoring_report),
    "SetVariableMonitoring": CommandForm((
        FormField("component", "Composant", "text", default="EVSE"),
        FormField("variable", "Variable", "text", default="Power"),
        FormField("type", "Type de surveillance", "choice", default="UpperThreshold", choices=(
            ("UpperThreshold", "Seuil haut"), ("LowerThreshold", "Seuil bas"), ("Delta", "Variation (Delta)"),
            ("Periodic", "Périodique"), ("PeriodicClockAligned", "Périodique, alignée sur l'horloge"))),
        FormField("value", "Seuil, variation ou période (s)", "decimal", default="22000"),
        FormField("severity", "Gravité (0 : danger … 9 : débogage)", "integer", default="4", high=9)),
        _set_monitoring),
}

FORMS_201.update({  # station certificates (issue 17 §3)
    "CertificateSigned": CommandForm((CHAIN, FormField("type", "Type de certificat", "choice", required=False,
                                                       empty="Certificat de la borne", choices=(
        ("ChargingStationCertificate", "Certificat de la borne (ChargingStationCertificate)"),
        ("V2GCertificate", "Certificat V2G (V2GCertificate)")))), _certificate_signed,
        FORMS_16["CertificateSigned"].intro),
    "InstallCertificate": CommandForm((FormField("type", "Type de certificat", "choice", choices=ROOTS_201,
                                                 default="CSMSRootCertificate"), CERTIFICATE), _install_certificate),
    "DeleteCertificate": CommandForm(HASH_FIELDS, _delete_certificate),
    "GetInstalledCertificateIds": CommandForm((FormField("type", "Type de certificat", "choice", required=False,
                                                         empty="Tous", choices=(*ROOTS_201, (
        "V2GCertificateChain", "Chaîne V2G (V2GCertificateChain)"))),), _installed_ids_201),
})

FORMS: dict[str, dict[str, CommandForm]] = {"1.6": FORMS_16, "2.0.1": FORMS_201}
assert all(set(FORMS[v]) == set(ACTIONS[v]) for v in ACTIONS), "a form per command"


# --------------------------------------------------------------------------- reading


def session_label(s: RunningSession) -> str:
    point = f"point {s.connector_id}" if s.connector_id else "point inconnu"
    who = f"badge {s.id_tag}" + (f" ({s.holder})" if s.holder else "") if s.id_tag else "sans badge"
    return f"Recharge n° {s.ocpp_transaction_id} — {point}, {who}"


def field_options(f: FormField, ctx: FormContext) -> list[tuple[str, str]]:
    """The (value, label) choices of a list field, from the station's points, the tenant's badges, …"""
    options: list[tuple[str, str]]
    if f.kind in ("point", "point0"):
        options = [(str(p.connector_id), p.label) for p in ctx.points]
        if f.kind == "point0" and f.required:
            options.insert(0, ("0", "Toute la borne"))
    elif f.kind in ("badge", "badges"):
        options = [(b.id_tag, b.label) for b in ctx.badges]
    elif f.kind == "session":
        options = [(s.ocpp_transaction_id, session_label(s)) for s in ctx.running]
    else:
        options = list(f.choices)
    if not f.required and f.kind != "badges":
        options.insert(0, ("", f.empty or "Non précisé"))
    return options


def default_values(form: CommandForm, ctx: FormContext) -> dict[str, Any]:
    """What the form shows first: the first point, the first accepted badge, the field's default."""
    values: dict[str, Any] = {}
    for f in form.fields:
        if f.kind == "point" or (f.kind == "session" and f.required):
            options = field_options(f, ctx)
            values[f.name] = options[0][0] if options else ""
        elif f.kind == "point0":
            values[f.name] = f.default or ("0" if f.required else "")
        elif f.kind == "badge":
            accepted = [b for b in ctx.badges if b.status == "Accepted"] or list(ctx.badges)
            values[f.name] = accepted[0].id_tag if accepted else ""
        elif f.kind == "badges":
            values[f.name] = []
        else:
            values[f.name] = f.default
    return values


def _one(raw: Any) -> str:
    if isinstance(raw, list | tuple):
        raw = raw[-1] if raw else ""
    return str(raw if raw is not None else "").strip()


def _number(text: str, f: FormField, errors: dict[str, str], *, decimal: bool) -> Any:
    unit = " (minutes)" if f.kind == "minutes" else ""
    try:
        value = Decimal(text.replace(",", ".").replace("\u202f", "").replace(" ", ""))
        if not value.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        errors[f.name] = f"{f.label} : nombre {'décimal' if decimal else 'entier'} attendu{unit}."
        return None
    if not decimal and value != value.to_integral_value():
        errors[f.name] = f"{f.label} : nombre entier attendu{unit}."
        return None
    if not f.low <= value <= f.high:
        errors[f.name] = (f"{f.label} : {f.low:g} ou plus." if f.high >= 2**31 - 1
                          else f"{f.label} : entre {f.low:g} et {f.high:g}.")
        return None
    return float(round(value, 1)) if decimal else int(value)


def read_values(form: CommandForm, data: Mapping[str, Any], ctx: FormContext) -> tuple[dict[str, Any], dict[str, str]]:
    """Typed values of the submitted fields, and French errors keyed by field name."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in form.fields:
        if f.kind == "badges":
            raw = data.get(f.name) or []
            chosen = [str(x) for x in (raw if isinstance(raw, list | tuple) else [raw]) if str(x)]
            known = {b.id_tag for b in ctx.badges}
            if any(t not in known for t in chosen):
                errors[f.name] = "Choisissez des badges du bénéficiaire."
            values[f.name] = [t for t in dict.fromkeys(chosen) if t in known]
            continue
        text = _one(data.get(f.name))
        if not text:
            if f.required:
                errors[f.name] = _missing(f, ctx)
            values[f.name] = None
            continue
        limit = PEM_MAX if f.kind == "pem" else TEXT_MAX
        if len(text) > limit:
            errors[f.name] = f"{f.label} : {limit} caractères au plus."
            values[f.name] = None
            continue
        if f.kind in ("point", "point0", "badge", "session", "choice", "buttons"):
            allowed = {value for value, _ in field_options(f, ctx) if value}
            if text not in allowed:
                errors[f.name] = f"{f.label} : choisissez une valeur de la liste."
                values[f.name] = None
            elif f.kind in ("point", "point0"):
                values[f.name] = int(text)
            else:
                values[f.name] = text
        elif f.kind in ("minutes", "integer", "decimal"):
            values[f.name] = _number(text, f, errors, decimal=f.kind == "decimal")
        elif f.kind == "url":
            if not text.lower().startswith(("http://", "https://", "ftp://", "ftps://", "sftp://")):
                errors[f.name] = f"{f.label} : adresse commençant par https://, http:// ou ftp:// attendue."
            elif not is_uri(text):  # OCPP: a URI (1.6 anyURI, JSON schema ``format: uri``; 2.0.1 « URI »)
                errors[f.name] = f"{f.label} : {URI_MESSAGE}"
            values[f.name] = text
        else:
            values[f.name] = text
    return values, errors


def _missing(f: FormField, ctx: FormContext) -> str:
    if f.kind == "session" and not ctx.running:
        return "Aucune recharge n'est en cours sur cette borne."
    if f.kind == "badge" and not ctx.badges:
        return "Le bénéficiaire n'a aucun badge : enregistrez-en un dans la page « Badges »."
    if f.kind == "point" and not ctx.points:
        return "La borne n'a aucun point de charge enregistré."
    if f.kind in ("point", "point0", "badge", "session", "choice", "buttons"):
        return f"{f.label} : choisissez une valeur."
    return f"{f.label} : champ obligatoire."


def build_payload(version: str, action: str, data: Mapping[str, Any], ctx: FormContext
                  ) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The OCPP payload of the submitted form, or the field errors (nothing built)."""
    form = FORMS[version][action]
    values, errors = read_values(form, data, ctx)
    if errors:
        return None, errors
    return form.build(values, ctx), {}


#: What the example shows in place of a choice the tenant cannot offer (no badge, no running charge).
PLACEHOLDERS = {"badge": "BADGE-A-CHOISIR", "session": "1", "point": "1", "point0": "1"}


def example(version: str, action: str, ctx: FormContext) -> dict[str, Any]:
    """The payload of the form's defaults: the JSON box's example, with the tenant's real badges."""
    form = FORMS[version][action]
    values = default_values(form, ctx)
    filled = FormContext(
        version=ctx.version, now=ctx.now,
        points=ctx.points or (PointChoice(1, "1"),),
        badges=ctx.badges or (BadgeChoice(PLACEHOLDERS["badge"], PLACEHOLDERS["badge"]),),
        running=ctx.running or (RunningSession(uuid.UUID(int=0), PLACEHOLDERS["session"], 1, "", "", None),),
    )
    for f in form.fields:
        if not values.get(f.name) and f.required:
            values[f.name] = f.sample or PLACEHOLDERS.get(f.kind, f.choices[0][0] if f.choices else "")
            if f.kind == "badge":
                values[f.name] = filled.badges[0].id_tag
        if f.kind == "badges" and ctx.badges:
            values[f.name] = [b.id_tag for b in ctx.badges if b.status == "Accepted"][:2]
    built, errors = build_payload(version, action, values, filled)
    assert not errors, (version, action, errors)
    assert built is not None
    return built


# --------------------------------------------------------------------------- disruption


def _on_point(running: Sequence[RunningSession], point: Any) -> list[RunningSession]:
    if not isinstance(point, int) or isinstance(point, bool):
        return []
    return list(running) if point == 0 else [s for s in running if s.connector_id == point]


def interrupted_sessions(version: str, action: str, payload: Mapping[str, Any],
                         running: Sequence[RunningSession]) -> list[RunningSession]:
    """The charges in progress that sending ``payload`` would cut; empty when none.

    OCPP 1.6 §5.14 / 2.0.1 B11: a Soft or Hard reset, an Immediate one, stops the
    transactions (OnIdle waits for their end); UnlockConnector stops the transaction
    of its connector (1.6 §5.17, 2.0.1 F05); an Inoperative connector or station ends
    its charges (1.6 §5.2 after the transaction, 2.0.1 G03: a station may stop them).
    """
    if not running or not isinstance(payload, Mapping):
        return []
    if action == "Reset":
        if payload.get("type") == "OnIdle":
            return []
        evse = payload.get("evseId")
        return _on_point(running, evse) if evse is not None else list(running)
    if action == "UnlockConnector":
        return _on_point(running, payload.get("evseId" if version == "2.0.1" else "connectorId"))
    if action in ("RemoteStopTransaction", "RequestStopTransaction"):
        wanted = str(payload.get("transactionId", ""))
        return [s for s in running if s.ocpp_transaction_id == wanted]
    if action == "ChangeAvailability":
        if version == "2.0.1":
            if payload.get("operationalStatus") != "Inoperative":
                return []
            evse = payload.get("evse")
            return _on_point(running, evse.get("id") if isinstance(evse, Mapping) else 0)
        if payload.get("type") != "Inoperative":
            return []
        return _on_point(running, payload.get("connectorId"))
    return []
