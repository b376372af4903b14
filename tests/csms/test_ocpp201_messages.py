"""Every OCPP 2.0.1 station message beyond the core (issue 17 §1), and the device model (§2).

Raw OCPP-J frames over a real socket against the ingress: the exact answers on the wire,
what was stored, and the station's « Modèle de données » page read as a browser would.
The certificate side of Get15118EVCertificate / GetCertificateStatus is the seam
``Ingress.contract_authority``: its default refuses (``Failed``), a fake CA plugged in at
that edge accepts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from typing import Any

import pytest
from ocpp.v201 import ChargePoint as Station201
from ocpp.v201 import call_result as result201
from sqlalchemy import select

from app.db import utcnow
from csms.domain import device_model, registry
from csms.domain.commands import send_command
from csms.domain.contract_certificates import CertificateAnswer
from csms.domain.models import Badge, Reservation, StationEvent
from tenants import services
from tests.conftest import csrf_from, login
from tests.csms.test_commands import answering, wait_connected

BOTH = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
BOX = "CPAM-LM-201"
ACTOR = {"user_id": None, "label": "test device model"}
PASSWORD = "Mot-de-passe-portail-2026"
ADMIN, OTHER = "admin@cpam-sarthe.fr", "admin@villeurbanne.fr"


def ts(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def text_of(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#39;", "'").replace("&#34;", '"')


async def call(ws: Any, unique_id: str, action: str, payload: dict[str, Any]) -> Any:
    await ws.send(json.dumps([2, unique_id, action, payload]))
    return json.loads(await asyncio.wait_for(ws.recv(), 30))


def attr(name: str, value: str | None, *, component: dict[str, Any] | None = None, mutability: str = "ReadWrite",
         kind: str = "Actual", characteristics: dict[str, Any] | None = None) -> dict[str, Any]:
    attribute: dict[str, Any] = {"type": kind, "mutability": mutability}
    if value is not None:
        attribute["value"] = value
    return {"component": component or {"name": "OCPPCommCtrlr"}, "variable": {"name": name},
            "variableAttribute": [attribute],
            "variableCharacteristics": characteristics or {"dataType": "integer", "supportsMonitoring": False}}


#: A GetBaseReport's answer in three parts (OCPP 2.0.1 B07: seqNo from 0, tbc until the last).
PARTS = [
    [attr("HeartbeatInterval", "300", characteristics={"dataType": "integer", "unit": "s", "minLimit": 10,
                                                       "maxLimit": 3600, "supportsMonitoring": True}),
     attr("OfflineThreshold", "60")],
    [attr("Model", "Commander 2", component={"name": "ChargingStation"}, mutability="ReadOnly",
          characteristics={"dataType": "string", "supportsMonitoring": False}),
     attr("Power", "22000", component={"name": "EVSE", "evse": {"id": 1}}, mutability="ReadOnly",
          characteristics={"dataType": "decimal", "unit": "W", "maxLimit": 22000.0, "supportsMonitoring": True})],
    [attr("BasicAuthPassword", None, component={"name": "SecurityCtrlr"}, mutability="WriteOnly",
          characteristics={"dataType": "string", "supportsMonitoring": False}),
     attr("AvailabilityState", "Available", component={"name": "Connector", "evse": {"id": 2, "connectorId": 1}},
          mutability="ReadOnly", characteristics={"dataType": "OptionList", "valuesList": "Available,Occupied,Faulted",
                                                   "supportsMonitoring": True})],
]


def report_part(request_id: int, seq_no: int, *, last: int = 2) -> dict[str, Any]:
    return {"requestId": request_id, "generatedAt": ts(utcnow()), "seqNo": seq_no, "tbc": seq_no < last,
            "reportData": PARTS[seq_no]}


class FakeCA:
    """A contract certificate provider and OCSP responder at the edge (the seam's other side)."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, Any]] = []

    async def ev_certificate(self, schema_version: str, action: str, exi_request: str) -> CertificateAnswer:
        self.asked.append(("ev", (schema_version, action, exi_request)))
        return CertificateAnswer("Accepted", "RVhJLXJlc3BvbnNl")

    async def certificate_status(self, ocsp_request: dict[str, Any]) -> CertificateAnswer:
        self.asked.append(("ocsp", ocsp_request))
        return CertificateAnswer("Accepted", "T0NTUC1yZXNwb25zZQ==")


OCSP = {"hashAlgorithm": "SHA256", "issuerNameHash": "a" * 64, "issuerKeyHash": "b" * 64, "serialNumber": "0A1B",
        "responderURL": "http://ocsp.example.test"}


@pytest.mark.parametrize("backend", BOTH)
async def test_every_other_station_message_is_answered_per_the_spec_and_recorded(db, fleet, ingress, stations):
    now = utcnow()
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        charger = await registry.find_charger_in_tenant(session, fleet.cpam, BOX)
        point = (await registry.list_charge_points(session, fleet.cpam, charger.id))[0]
        badge = await session.scalar(select(Badge).where(Badge.tenant_id == fleet.cpam).limit(1))
        session.add(Reservation(tenant_id=fleet.cpam, charger_id=charger.id, charge_point_id=point.id, connector_id=1,
                                badge_id=badge.id, id_tag=badge.id_tag, ocpp_reservation_id=77, status="active",
                                starts_at=now - dt.timedelta(hours=1), ends_at=now + dt.timedelta(hours=1)))
    profile = {"id": 3, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
               "chargingSchedule": [{"id": 1, "chargingRateUnit": "W",
                                     "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7000}]}]}
    ws = await stations.socket(BOX, protocol="ocpp2.0.1")
    try:
        frames = [
            ("rcp", "ReportChargingProfiles", {"requestId": 5, "chargingLimitSource": "CSO", "evseId": 1,
                                               "chargingProfile": [profile]}),
            ("rsu", "ReservationStatusUpdate", {"reservationId": 77, "reservationUpdateStatus": "Expired"}),
            ("dt", "DataTransfer", {"vendorId": "com.acme", "messageId": "diag", "data": "hello"}),
            ("ncl", "NotifyChargingLimit", {"chargingLimit": {"chargingLimitSource": "EMS", "isGridCritical": True},
                                            "evseId": 1}),
            ("ccl", "ClearedChargingLimit", {"chargingLimitSource": "EMS", "evseId": 1}),
            ("nevn", "NotifyEVChargingNeeds", {"evseId": 1, "chargingNeeds": {
                "requestedEnergyTransfer": "AC_three_phase",
                "acChargingParameters": {"energyAmount": 20000, "evMinCurrent": 6, "evMaxCurrent": 32,
                                         "evMaxVoltage": 400}}}),
            ("nevs", "NotifyEVChargingSchedule", {"timeBase": ts(now), "evseId": 1, "chargingSchedule": {
                "id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000}]}}),
            ("nci", "NotifyCustomerInformation", {"data": "badge 04A2: 3 charges", "seqNo": 0,
                                                  "generatedAt": ts(now), "requestId": 8}),
            ("ndm", "NotifyDisplayMessages", {"requestId": 9, "messageInfo": [
                {"id": 1, "priority": "NormalCycle", "message": {"format": "UTF8", "content": "Bienvenue"}}]}),
            ("ev", "Get15118EVCertificate", {"iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef",
                                             "action": "Install", "exiRequest": "RVhJLXJlcXVlc3Q="}),
            ("ocsp", "GetCertificateStatus", {"ocspRequestData": OCSP}),
            ("nmr", "NotifyMonitoringReport", {"requestId": 43, "seqNo": 0, "generatedAt": ts(now), "monitor": [
                {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"},
                 "variableMonitoring": [{"id": 7, "transaction": False, "value": 22000, "type": "UpperThreshold",
                                         "severity": 4}]}]}),
        ]
        answers = {uid: await call(ws, uid, action, payload) for uid, action, payload in frames}
        # The seam's default: no contract certificate provider configured (csms.domain.contract_certificates).
        assert answers.pop("ev") == [3, "ev", {"status": "Failed", "exiResponse": ""}]
        assert answers.pop("ocsp") == [3, "ocsp", {"status": "Failed"}]
        assert answers == {
            "rcp": [3, "rcp", {}], "rsu": [3, "rsu", {}],
            "dt": [3, "dt", {"status": "UnknownVendorId"}],  # as in 1.6: we interpret no vendor extension
            "ncl": [3, "ncl", {}], "ccl": [3, "ccl", {}],
            "nevn": [3, "nevn", {"status": "Rejected"}],  # K15: no ISO 15118 schedule computed from the needs
            "nevs": [3, "nevs", {"status": "Accepted"}],  # K17
            "nci": [3, "nci", {}], "ndm": [3, "ndm", {}], "nmr": [3, "nmr", {}],
        }
        # A fake CA plugged in at the edge: its answers go to the station as they are.
        ca = FakeCA()
        ingress.contract_authority = ca
        assert await call(ws, "ev2", "Get15118EVCertificate", frames[9][2]) == [
            3, "ev2", {"status": "Accepted", "exiResponse": "RVhJLXJlc3BvbnNl"}]
        assert await call(ws, "ocsp2", "GetCertificateStatus", frames[10][2]) == [
            3, "ocsp2", {"status": "Accepted", "ocspResult": "T0NTUC1yZXNwb25zZQ=="}]
        assert ca.asked == [("ev", ("urn:iso:15118:2:2013:MsgDef", "Install", "RVhJLXJlcXVlc3Q=")),
                            ("ocsp", {"hash_algorithm": "SHA256", "issuer_name_hash": "a" * 64,
                                      "issuer_key_hash": "b" * 64, "serial_number": "0A1B",
                                      "responder_url": "http://ocsp.example.test"})]
        # OCPP-J 2.0.1 §4.4: an unknown MessageTypeId gets MessageTypeNotSupported (1.6 ignores it).
        await ws.send('[5, "mt-5", "Heartbeat", {}]')
        assert json.loads(await asyncio.wait_for(ws.recv(), 30)) == [
            4, "mt-5", "MessageTypeNotSupported",
            "A message with a Message Type Number received that is not supported by this implementation",
            {"cause": "MessageTypeId 5 is not supported"}]
        assert (await call(ws, "after", "Heartbeat", {}))[:2] == [3, "after"]  # the connection goes on
    finally:
        await ws.close()

    async with db.session([fleet.cpam]) as session:
        events = list(await session.scalars(select(StationEvent).where(
            StationEvent.tenant_id == fleet.cpam, StationEvent.charger_id == charger.id)
            .order_by(StationEvent.received_at, StationEvent.kind)))
        by_kind: dict[str, list[str]] = {}
        for event in events:
            by_kind.setdefault(event.kind, []).append(event.message)
        assert by_kind == {
            "charging_profiles": ["Profils de charge de l'EVSE 1 : 1 (source CSO, demande 5)."],
            "reservation": ["Réservation 77 expirée par la borne."],
            "data_transfer": ["Données constructeur reçues (com.acme)."],
            "charging_limit": ["Limite de charge externe (EMS) sur l’EVSE 1 — réseau critique.",
                               "Limite de charge externe levée (EMS) sur l’EVSE 1."],
            "ev_charging_needs": ["Besoins de charge du véhicule sur l'EVSE 1 (AC_three_phase)."],
            "ev_charging_schedule": ["Programme de charge du véhicule sur l'EVSE 1."],
            "customer_information": ["Informations client (demande 8, partie 0, dernière)."],
            "display_messages": ["Messages affichés par la borne (demande 9) : 1."],
            "ev_certificate": ["Certificat de contrat ISO 15118 (Install) : Failed.",
                               "Certificat de contrat ISO 15118 (Install) : Accepted."],
            "certificate_status": ["Statut OCSP d'un certificat : Failed.", "Statut OCSP d'un certificat : Accepted."],
        }
        reservation = await session.scalar(select(Reservation).where(Reservation.tenant_id == fleet.cpam))
        assert reservation.status == "expired"  # H01: the station ended it
        (monitor,) = await device_model.list_monitors(session, fleet.cpam, charger.id)
        assert (monitor.component, monitor.evse_id, monitor.variable, monitor.monitor_id, monitor.type, monitor.value,
                monitor.severity, monitor.source) == ("EVSE", 1, "Power", 7, "UpperThreshold", "22000", 4, "report")


@pytest.mark.parametrize("backend", BOTH)
async def test_a_base_report_in_parts_builds_the_device_model(db, fleet, ingress, stations):
    """B07: parts out of order, one replayed; the model is stored once, the report complete only at the end."""
    ws = await stations.socket(BOX, protocol="ocpp2.0.1")
    try:
        assert await call(ws, "p0", "NotifyReport", report_part(41, 0)) == [3, "p0", {}]
        assert await call(ws, "p2", "NotifyReport", report_part(41, 2)) == [3, "p2", {}]
        async with db.session([fleet.cpam]) as session:
            charger = await registry.find_charger_in_tenant(session, fleet.cpam, BOX)
            (report,) = await device_model.list_reports(session, fleet.cpam, charger.id)
            assert (report.seq_nos, report.last_seq_no, report.complete) == ([0, 2], 2, False)  # part 1 missing
        assert await call(ws, "p0-again", "NotifyReport", report_part(41, 0)) == [3, "p0-again", {}]
        assert await call(ws, "p1", "NotifyReport", report_part(41, 1)) == [3, "p1", {}]
    finally:
        await ws.close()
    async with db.session([fleet.cpam]) as session:
        (report,) = await device_model.list_reports(session, fleet.cpam, charger.id)
        assert (report.kind, report.request_id, report.seq_nos, report.complete, report.items) == (
            "variables", 41, [0, 1, 2], True, 6)
        rows, total = await device_model.list_variables(session, fleet.cpam, charger.id)
        assert total == 6
        assert [(r.key, r.value, r.mutability, r.source) for r in rows] == [
            ("ChargingStation/Model:Actual", "Commander 2", "ReadOnly", "report"),
            ("Connector@2.1/AvailabilityState:Actual", "Available", "ReadOnly", "report"),
            ("EVSE@1/Power:Actual", "22000", "ReadOnly", "report"),
            ("OCPPCommCtrlr/HeartbeatInterval:Actual", "300", "ReadWrite", "report"),
            ("OCPPCommCtrlr/OfflineThreshold:Actual", "60", "ReadWrite", "report"),
            ("SecurityCtrlr/BasicAuthPassword:Actual", None, "WriteOnly", "report"),
        ]
        heartbeat = rows[3]
        assert heartbeat.characteristics == {"data_type": "integer", "unit": "s", "min_limit": "10",
                                             "max_limit": "3600", "values_list": "", "supports_monitoring": True}
        assert rows[2].characteristics["max_limit"] == "22000"
        found, count = await device_model.list_variables(session, fleet.cpam, charger.id, query="commander")
        assert (count, [r.variable for r in found]) == (1, ["Model"])  # a value
        found, count = await device_model.list_variables(session, fleet.cpam, charger.id, query="evse")
        assert (count, [r.variable for r in found]) == (1, ["Power"])  # a component


@pytest.fixture
async def people(db, fleet):
    for tenant_id, email in ((fleet.cpam, ADMIN), (fleet.other, OTHER)):
        async with db.transaction([tenant_id], actor=ACTOR) as session:
            await services.add_member(session, tenant_id, {"email": email, "role": "admin", "password": PASSWORD})
    return fleet


StationAnswering = answering(Station201, result201, {
    "GetVariables": {"getVariableResult": [
        {"attributeStatus": "Accepted", "attributeValue": "120", "component": {"name": "OCPPCommCtrlr"},
         "variable": {"name": "HeartbeatInterval"}}]},
    "SetVariables": {"setVariableResult": [
        {"attributeStatus": "Rejected", "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "OfflineThreshold"},
         "attributeStatusInfo": {"reasonCode": "OutOfRange"}}]},
    "SetVariableMonitoring": {"setMonitoringResult": [
        {"id": 12, "status": "Accepted", "type": "Delta", "severity": 5, "component": {"name": "EVSE", "evse": {"id": 1}},
         "variable": {"name": "Power"}},
        {"status": "UnsupportedMonitorType", "type": "Periodic", "severity": 8,
         "component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"}}]},
})


@pytest.mark.parametrize("backend", BOTH)
async def test_get_and_set_variables_update_the_model_and_the_page_shows_it(client, db, people, ingress, stations):
    fleet = people
    ws = await stations.socket(BOX, protocol="ocpp2.0.1")
    try:
        for seq_no in range(3):
            await call(ws, f"p{seq_no}", "NotifyReport", report_part(50, seq_no))
    finally:
        await ws.close()
    from tests.csms.conftest import station

    async with station(ingress.port, BOX, version="2.0.1", cls=StationAnswering):
        await wait_connected(ingress, BOX, count=2)
        read = await send_command(db, ingress.bus, tenant_id=fleet.cpam, charge_box_id=BOX, action="GetVariables",
                                  payload={"getVariableData": [{"component": {"name": "OCPPCommCtrlr"},
                                                                "variable": {"name": "HeartbeatInterval"}}]},
                                  actor=ACTOR, timeout=10)
        assert read["getVariableResult"][0]["attributeValue"] == "120"
        await send_command(db, ingress.bus, tenant_id=fleet.cpam, charge_box_id=BOX, action="SetVariables",
                           payload={"setVariableData": [{"component": {"name": "OCPPCommCtrlr"},
                                                         "variable": {"name": "OfflineThreshold"},
                                                         "attributeValue": "5"}]}, actor=ACTOR, timeout=10)
        await send_command(db, ingress.bus, tenant_id=fleet.cpam, charge_box_id=BOX, action="SetVariableMonitoring",
                           payload={"setMonitoringData": [
                               {"value": 1000, "type": "Delta", "severity": 5,
                                "component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"}},
                               {"value": 60, "type": "Periodic", "severity": 8,
                                "component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"}}]},
                           actor=ACTOR, timeout=10)
    async with db.session([fleet.cpam]) as session:
        charger = await registry.find_charger_in_tenant(session, fleet.cpam, BOX)
        rows = {r.key: r for r in (await device_model.list_variables(session, fleet.cpam, charger.id))[0]}
        heartbeat, offline = rows["OCPPCommCtrlr/HeartbeatInterval:Actual"], rows["OCPPCommCtrlr/OfflineThreshold:Actual"]
        assert (heartbeat.value, heartbeat.source) == ("120", "get")
        assert heartbeat.changed_at > heartbeat.seen_at - dt.timedelta(seconds=1)
        # Refused by the station: the value stays, the refusal is kept with what was asked.
        assert (offline.value, offline.set_value, offline.set_status, offline.set_reason) == (
            "60", "5", "Rejected", "OutOfRange")
        monitors = await device_model.list_monitors(session, fleet.cpam, charger.id)
        assert sorted(((m.monitor_id, m.type, m.value, m.status) for m in monitors if m.source == "set"),
                      key=str) == [(12, "Delta", "1000", "Accepted"), (None, "Periodic", "60", "UnsupportedMonitorType")]

    assert (await login(client, ADMIN, PASSWORD)).status_code in (302, 303)
    url = f"/t/{fleet.cpam}/bornes/{BOX}/modele"
    page = await client.get(url)
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Variables (6)" in text
    assert "OCPPCommCtrlr HeartbeatInterval Actual 120" in text
    assert "refusée par la borne : 5 (OutOfRange)" in text
    assert "Connector — EVSE 2, connecteur 1 AvailabilityState" in text
    assert "valeurs : Available,Occupied,Faulted" in text
    assert "Variables (NotifyReport), demande 50 : 3 parties, 6 éléments — complet" in text
    assert "demandée — refusée par la borne (UnsupportedMonitorType)" in text
    assert "Modèle de données" in text_of((await client.get(f"/t/{fleet.cpam}/bornes/{BOX}")).text)
    searched = text_of((await client.get(url, params={"q": "heartbeat"})).text)
    assert "Variables (1 pour « heartbeat »)" in searched and "OfflineThreshold" not in searched
    # The station gone: a « Relire » from the page says so (the command log has it); nothing changes.
    token = csrf_from(page.text)
    sent = await client.post(url, data={"_csrf_token": token, "operation": "lire", "composant": "OCPPCommCtrlr",
                                        "variable": "HeartbeatInterval", "type": "Actual"})
    assert sent.status_code == 200, sent.text[:300]
    assert "GetVariables : La borne n'est connectée à aucun ingress OCPP." in text_of(sent.text)
    assert (await client.post(url, data={"operation": "lire", "composant": "X", "variable": "Y"})).status_code == 403

    # Another tenant's admin: the same address is a 404, reading and sending.
    client.cookies.clear()
    assert (await login(client, OTHER, PASSWORD)).status_code in (302, 303)
    assert (await client.get(url)).status_code == 404
    other_page = await client.get(f"/t/{fleet.other}/bornes")
    assert (await client.post(url, data={"_csrf_token": csrf_from(other_page.text), "operation": "rapport"})
            ).status_code == 404
    assert (await client.get(f"/t/{fleet.other}/bornes/{BOX}/modele")).status_code == 404


class SlowCA(FakeCA):
    """A contract authority that answers only when told: its request stays in progress until then."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def ev_certificate(self, schema_version: str, action: str, exi_request: str) -> CertificateAnswer:
        await self.release.wait()
        return await super().ev_certificate(schema_version, action, exi_request)


async def test_a_message_id_reused_while_its_call_is_in_progress_is_refused(db, fleet, ingress, stations):
    """OCPP-J 2.0.1 §4.1.1: a CALL's message ID differs from every previous one on the connection;
    a second Call with the id of one not answered yet gets RpcFrameworkError, the first its answer."""
    ca = SlowCA()
    ingress.contract_authority = ca
    request = json.dumps([2, "dup", "Get15118EVCertificate", {
        "iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef", "action": "Update", "exiRequest": "RVhJ"}])
    ws = await stations.socket(BOX, protocol="ocpp2.0.1")
    try:
        await ws.send(request)
        await ws.send(request)  # the same id, its first use still waiting for the CA
        assert json.loads(await asyncio.wait_for(ws.recv(), 30)) == [
            4, "dup", "RpcFrameworkError", "Content of the call is not a valid RPC Request",
            {"cause": "MessageId already used by a call not answered yet"}]
        ca.release.set()
        assert json.loads(await asyncio.wait_for(ws.recv(), 30)) == [
            3, "dup", {"status": "Accepted", "exiResponse": "RVhJLXJlc3BvbnNl"}]
        assert await call(ws, "dup", "Heartbeat", {}) != []  # answered: the id is free again
    finally:
        await ws.close()
    assert [kind for kind, _ in ca.asked] == ["ev"]  # handled once
