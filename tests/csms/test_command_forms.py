"""The typed forms of the remote commands (CCTP CPAM 5-4-2-1): what each form builds, pure.

Every command of both OCPP versions: the values a person picks give the payload on the wire,
which passes the version's OCPP schema; bad values give French errors and no payload; the
disruptive commands name the charges they would cut. And the French words of the OCPP
enumerations the pages show, complete against the ``ocpp`` library.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import ocpp.v16.enums as enums16
import ocpp.v201.enums as enums201
import pytest

from csms.domain import command_forms as cf
from csms.domain.commands import ACTIONS, validate_command
from csms.domain.vocabulary import OCPP_WORDS, SHOWN_16, SHOWN_201, ocpp_word

NOW = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
REQUEST_ID = int(NOW.timestamp()) % 2**31
EXPIRES = dt.datetime(2027, 6, 30, 22, 0, tzinfo=dt.UTC)
SESSION = cf.RunningSession(uuid.uuid4(), "42", 2, "04B1C2D3E4F5A6", "Alice Agent", NOW - dt.timedelta(minutes=20))


def context(version: str, running: tuple[cf.RunningSession, ...] = (SESSION,)) -> cf.FormContext:
    return cf.FormContext(
        version=version, now=NOW,
        points=(cf.PointChoice(1, "Point 1"), cf.PointChoice(2, "Point 2")),
        badges=(cf.BadgeChoice("04A2B3C4D5E6F7", "Véhicule AB-123-CD"),
                cf.BadgeChoice("04B1C2D3E4F5A6", "Alice Agent", "Accepted", EXPIRES),
                cf.BadgeChoice("BLOQUE-01", "Ancien badge", "Blocked")),
        running=running,
    )


TOKEN = {"idToken": "04B1C2D3E4F5A6", "type": "ISO14443"}
#: (command, form values as submitted, payload on the wire)
CASES_16: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("RemoteStartTransaction", {"point": "2", "badge": "04B1C2D3E4F5A6"}, {"idTag": "04B1C2D3E4F5A6", "connectorId": 2}),
    ("RemoteStopTransaction", {"session": "42"}, {"transactionId": 42}),
    ("UnlockConnector", {"point": "1"}, {"connectorId": 1}),
    ("Reset", {"type": "Hard"}, {"type": "Hard"}),
    ("ChangeAvailability", {"point": "0", "availability": "Inoperative"}, {"connectorId": 0, "type": "Inoperative"}),
    ("GetConfiguration", {"keys": "HeartbeatInterval, MeterValueSampleInterval"},
     {"key": ["HeartbeatInterval", "MeterValueSampleInterval"]}),
    ("GetConfiguration", {"keys": ""}, {}),
    ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "600"}, {"key": "HeartbeatInterval", "value": "600"}),
    ("TriggerMessage", {"message": "MeterValues", "point": "2"}, {"requestedMessage": "MeterValues", "connectorId": 2}),
    ("TriggerMessage", {"message": "Heartbeat", "point": ""}, {"requestedMessage": "Heartbeat"}),
    ("ReserveNow", {"point": "1", "badge": "04A2B3C4D5E6F7", "minutes": "45", "reservation": "9"},
     {"connectorId": 1, "expiryDate": "2026-12-01T08:45:00Z", "idTag": "04A2B3C4D5E6F7", "reservationId": 9}),
    ("CancelReservation", {"reservation": "9"}, {"reservationId": 9}),
    ("SendLocalList", {"list_version": "4", "update": "Differential", "badges": ["04B1C2D3E4F5A6", "BLOQUE-01"]},
     {"listVersion": 4, "updateType": "Differential", "localAuthorizationList": [
         {"idTag": "04B1C2D3E4F5A6", "idTagInfo": {"status": "Accepted", "expiryDate": "2027-06-30T22:00:00Z"}},
         {"idTag": "BLOQUE-01", "idTagInfo": {"status": "Blocked"}}]}),
    ("GetLocalListVersion", {}, {}),
    ("ClearCache", {}, {}),
    ("SetChargingProfile", {"point": "0", "purpose": "ChargePointMaxProfile", "limit": "7,5", "unit": "A",
                            "duration": "90", "profile": "3", "stack": "1"},
     {"connectorId": 0, "csChargingProfiles": {
         "chargingProfileId": 3, "stackLevel": 1, "chargingProfilePurpose": "ChargePointMaxProfile",
         "chargingProfileKind": "Absolute", "chargingSchedule": {
             "startSchedule": "2026-12-01T08:00:00Z", "duration": 5400, "chargingRateUnit": "A",
             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7.5}]}}}),
    ("ClearChargingProfile", {"profile": "3", "point": "", "purpose": ""}, {"id": 3}),
    ("ClearChargingProfile", {"profile": "", "point": "1", "purpose": "TxDefaultProfile"},
     {"connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile"}),
    ("GetCompositeSchedule", {"point": "1", "minutes": "30", "unit": "W"},
     {"connectorId": 1, "duration": 1800, "chargingRateUnit": "W"}),
    ("UpdateFirmware", {"location": "https://firmware.example/v2.bin", "delay": "10"},
     {"location": "https://firmware.example/v2.bin", "retrieveDate": "2026-12-01T08:10:00Z"}),
    ("GetDiagnostics", {"location": "ftp://diag.example/up/"}, {"location": "ftp://diag.example/up/"}),
    ("DataTransfer", {"vendorId": "x", "vendor": "fr.exemple", "message": "ping", "data": ""},
     {"vendorId": "fr.exemple", "messageId": "ping"}),
]
CASES_201: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("RequestStartTransaction", {"point": "2", "badge": "04B1C2D3E4F5A6"},
     {"idToken": TOKEN, "remoteStartId": REQUEST_ID, "evseId": 2}),
    ("RequestStopTransaction", {"session": "42"}, {"transactionId": "42"}),
    ("UnlockConnector", {"point": "2"}, {"evseId": 2, "connectorId": 1}),
    ("Reset", {"type": "Immediate"}, {"type": "Immediate"}),
    ("ChangeAvailability", {"point": "1", "availability": "Inoperative"},
     {"operationalStatus": "Inoperative", "evse": {"id": 1}}),
    ("ChangeAvailability", {"point": "0", "availability": "Operative"}, {"operationalStatus": "Operative"}),
    ("GetVariables", {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval"},
     {"getVariableData": [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}),
    ("SetVariables", {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval", "value": "600"},
     {"setVariableData": [{"attributeValue": "600", "component": {"name": "OCPPCommCtrlr"},
                           "variable": {"name": "HeartbeatInterval"}}]}),
    ("GetBaseReport", {"report": "FullInventory"}, {"requestId": REQUEST_ID, "reportBase": "FullInventory"}),
    ("TriggerMessage", {"message": "StatusNotification", "point": "2"},
     {"requestedMessage": "StatusNotification", "evse": {"id": 2, "connectorId": 1}}),
    ("ReserveNow", {"point": "1", "badge": "04B1C2D3E4F5A6", "minutes": "15", "reservation": "5"},
     {"id": 5, "expiryDateTime": "2026-12-01T08:15:00Z", "idToken": TOKEN, "evseId": 1}),
    ("CancelReservation", {"reservation": "5"}, {"reservationId": 5}),
    ("SendLocalList", {"list_version": "2", "update": "Full", "badges": ["04B1C2D3E4F5A6"]},
     {"versionNumber": 2, "updateType": "Full", "localAuthorizationList": [
         {"idToken": TOKEN, "idTokenInfo": {"status": "Accepted", "cacheExpiryDateTime": "2027-06-30T22:00:00Z"}}]}),
    ("SendLocalList", {"list_version": "3", "update": "Full"}, {"versionNumber": 3, "updateType": "Full"}),
    ("GetLocalListVersion", {}, {}),
    ("ClearCache", {}, {}),
    ("SetChargingProfile", {"point": "1", "purpose": "TxDefaultProfile", "limit": "11000", "unit": "W",
                            "duration": "", "profile": "1", "stack": "0"},
     {"evseId": 1, "chargingProfile": {
         "id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
         "chargingSchedule": [{"id": 1, "startSchedule": "2026-12-01T08:00:00Z", "chargingRateUnit": "W",
                               "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000.0}]}]}}),
    ("ClearChargingProfile", {"profile": "", "point": "2", "purpose": ""}, {"chargingProfileCriteria": {"evseId": 2}}),
    ("ClearChargingProfile", {"profile": "", "point": "", "purpose": ""}, {}),
    ("GetChargingProfiles", {"point": "", "purpose": "ChargingStationMaxProfile"},
     {"requestId": REQUEST_ID, "chargingProfile": {"chargingProfilePurpose": "ChargingStationMaxProfile"}}),
    ("GetCompositeSchedule", {"point": "0", "minutes": "120", "unit": ""}, {"duration": 7200, "evseId": 0}),
    ("GetTransactionStatus", {"session": "42"}, {"transactionId": "42"}),
    ("GetTransactionStatus", {"session": ""}, {}),
    ("UpdateFirmware", {"location": "https://firmware.example/v2.bin", "delay": "0"},
     {"requestId": REQUEST_ID, "firmware": {"location": "https://firmware.example/v2.bin",
                                            "retrieveDateTime": "2026-12-01T08:00:00Z"}}),
    ("GetLog", {"log": "SecurityLog", "location": "https://logs.example/up"},
     {"logType": "SecurityLog", "requestId": REQUEST_ID, "log": {"remoteLocation": "https://logs.example/up"}}),
    ("DataTransfer", {"vendor": "fr.exemple", "message": "", "data": "bonjour"}, {"vendorId": "fr.exemple", "data": "bonjour"}),
]


@pytest.mark.parametrize(("version", "action", "values", "payload"),
                         [("1.6", *c) for c in CASES_16] + [("2.0.1", *c) for c in CASES_201])
def test_each_form_builds_the_ocpp_payload(version, action, values, payload):
    built, errors = cf.build_payload(version, action, values, context(version))
    assert errors == {}
    assert built == payload
    assert validate_command(version, action, built) == version  # the OCPP schema accepts it


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_every_command_has_a_form_and_a_valid_example(version):
    """The JSON box's example: the form's defaults, the tenant's real points and badges."""
    assert set(cf.FORMS[version]) == set(ACTIONS[version])
    for running in ((SESSION,), ()):
        for action in ACTIONS[version]:
            payload = cf.example(version, action, context(version, running))
            validate_command(version, action, payload)
    start = "RemoteStartTransaction" if version == "1.6" else "RequestStartTransaction"
    example = cf.example(version, start, context(version))
    assert "04A2B3C4D5E6F7" in str(example)  # the first accepted badge of the tenant, not a made-up one
    empty = cf.example(version, start, cf.FormContext(version, NOW))
    assert "BADGE-A-CHOISIR" in str(empty)  # no badge yet: a placeholder that says what to do


def test_the_form_offers_the_station_s_points_the_tenant_s_badges_and_the_running_charges():
    ctx = context("1.6")
    start = cf.FORMS["1.6"]["RemoteStartTransaction"]
    point, badge = start.fields
    assert cf.field_options(point, ctx) == [("1", "Point 1"), ("2", "Point 2")]
    assert [v for v, _ in cf.field_options(badge, ctx)] == ["04A2B3C4D5E6F7", "04B1C2D3E4F5A6", "BLOQUE-01"]
    availability = cf.FORMS["1.6"]["ChangeAvailability"].fields[0]
    assert cf.field_options(availability, ctx)[0] == ("0", "Toute la borne")
    [stop] = cf.FORMS["1.6"]["RemoteStopTransaction"].fields
    assert cf.field_options(stop, ctx) == [("42", "Recharge n° 42 — point 2, badge 04B1C2D3E4F5A6 (Alice Agent)")]
    reset = cf.FORMS["1.6"]["Reset"]
    assert reset.buttons is not None
    assert [label for _, label in reset.buttons.choices] == ["Redémarrage logiciel (Soft)", "Redémarrage complet (Hard)"]
    assert cf.default_values(start, ctx) == {"point": "1", "badge": "04A2B3C4D5E6F7"}


@pytest.mark.parametrize(("action", "values", "errors"), [
    ("RemoteStartTransaction", {"point": "7", "badge": "INCONNU"},
     {"point": "Point de charge : choisissez une valeur de la liste.", "badge": "Badge : choisissez une valeur de la liste."}),
    ("RemoteStartTransaction", {}, {"point": "Point de charge : choisissez une valeur.", "badge": "Badge : choisissez une valeur."}),
    ("Reset", {"type": "Brutal"}, {"type": "Type de redémarrage : choisissez une valeur de la liste."}),
    ("ReserveNow", {"point": "1", "badge": "04A2B3C4D5E6F7", "minutes": "1,5", "reservation": "-1"},
     {"minutes": "Durée de la réservation (minutes) : nombre entier attendu (minutes).",
      "reservation": "Numéro de réservation : 0 ou plus."}),
    ("GetCompositeSchedule", {"point": "0", "minutes": "20000", "unit": ""},
     {"minutes": "Durée du programme (minutes) : entre 1 et 10080."}),
    ("SetChargingProfile", {"point": "0", "purpose": "TxDefaultProfile", "limit": "seize", "unit": "A", "profile": "1",
                            "stack": "0"}, {"limit": "Limite : nombre décimal attendu."}),
    ("UpdateFirmware", {"location": "file:///etc/passwd", "delay": "0"},
     {"location": "Adresse (URL) : adresse commençant par https://, http:// ou ftp:// attendue."}),
    ("SendLocalList", {"list_version": "1", "update": "Full", "badges": ["04A2B3C4D5E6F7", "D-UN-AUTRE"]},
     {"badges": "Choisissez des badges du bénéficiaire."}),
    ("ChangeConfiguration", {"key": "x" * 501, "value": "1"}, {"key": "Clé de configuration : 500 caractères au plus."}),
])
def test_bad_values_give_french_errors_and_no_payload(action, values, errors):
    built, found = cf.build_payload("1.6", action, values, context("1.6"))
    assert (built, found) == (None, errors)


def test_a_stop_without_a_running_charge_says_so():
    built, errors = cf.build_payload("1.6", "RemoteStopTransaction", {}, context("1.6", running=()))
    assert (built, errors) == (None, {"session": "Aucune recharge n'est en cours sur cette borne."})
    _, errors = cf.build_payload("1.6", "RemoteStartTransaction", {"point": "1"}, cf.FormContext("1.6", NOW))
    assert errors["badge"] == "Le bénéficiaire n'a aucun badge : enregistrez-en un dans la page « Badges »."


OTHER = cf.RunningSession(uuid.uuid4(), "43", 1, "04A2B3C4D5E6F7", "", NOW)


@pytest.mark.parametrize(("version", "action", "payload", "cut"), [
    ("1.6", "Reset", {"type": "Soft"}, ["42", "43"]),
    ("1.6", "Reset", {"type": "Hard"}, ["42", "43"]),
    ("2.0.1", "Reset", {"type": "Immediate"}, ["42", "43"]),
    ("2.0.1", "Reset", {"type": "OnIdle"}, []),  # waits for the charges to end
    ("2.0.1", "Reset", {"type": "Immediate", "evseId": 1}, ["43"]),
    ("1.6", "UnlockConnector", {"connectorId": 2}, ["42"]),
    ("1.6", "UnlockConnector", {"connectorId": 3}, []),
    ("2.0.1", "UnlockConnector", {"evseId": 1, "connectorId": 1}, ["43"]),
    ("1.6", "RemoteStopTransaction", {"transactionId": 42}, ["42"]),
    ("2.0.1", "RequestStopTransaction", {"transactionId": "43"}, ["43"]),
    ("1.6", "ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}, ["42", "43"]),
    ("1.6", "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}, ["43"]),
    ("1.6", "ChangeAvailability", {"connectorId": 0, "type": "Operative"}, []),
    ("2.0.1", "ChangeAvailability", {"operationalStatus": "Inoperative"}, ["42", "43"]),
    ("2.0.1", "ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 2}}, ["42"]),
    ("1.6", "GetConfiguration", {}, []),
    ("1.6", "RemoteStartTransaction", {"idTag": "X", "connectorId": 1}, []),
])
def test_disruptive_commands_name_the_charges_they_cut(version, action, payload, cut):
    running = (SESSION, OTHER)
    assert [s.ocpp_transaction_id for s in cf.interrupted_sessions(version, action, payload, running)] == cut
    assert cf.interrupted_sessions(version, action, payload, ()) == []


def test_every_ocpp_word_shown_has_its_french():
    """Every value of the enumerations the pages show (answers, badge statuses, stop reasons, error codes)."""
    values = {m.value for name in SHOWN_16 for m in getattr(enums16, name)}
    values |= {m.value for name in SHOWN_201 for m in getattr(enums201, name)}
    missing = sorted(values - set(OCPP_WORDS))
    assert missing == []
    assert ocpp_word("EVDisconnected") == "véhicule débranché"
    assert ocpp_word("Accepted") == "acceptée"
    assert ocpp_word("VendorSpecific42") == "VendorSpecific42"  # a vendor's own code, as it came
