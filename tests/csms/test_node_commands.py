"""Every remote command the product sends, from its typed forms, to an independent strict station.

CCTP CPAM 5-4-2-1 (« prise en main à distance » of the stations): each command of the portal's
typed forms (``csms.domain.command_forms.FORMS``, both OCPP versions: the core, the 1.6 security
whitepaper commands, the 2.0.1 device model, monitoring and certificates of issue 17) is built
from what a person fills in (``build_payload``), then sent the product's way
(``csms.domain.commands.execute_command``: its own schema check, the bus, the ingress, the log).
The station is ``tests/node/station.mjs``: the npm package ``ocpp-rpc`` in ``strictMode``,
which checks every call it receives against the OCPP schemas it bundles (and its own answers
too) before answering. A payload of ours it finds invalid is refused with a CallError and
reported as an ``invalid`` line: the test fails on it and names it.

The same station then gets the commands the product builds elsewhere: the load manager's
TxProfile at the start of a charge on a managed site and the lifting of it (CCTP CPAM 5-5-4),
the logs page's GetDiagnostics / GetLog with the product's own upload address, a firmware
campaign unsigned and signed (issue 17 §5). The CSMS's automatic commands (the local list at
the boot) go through the same strict check.

``VALUES`` says, per version and command, what the person changes from the form's defaults;
``test_every_typed_form_has_a_strict_station_case`` (no station) fails when a form is added
without a case here. One station process per version sends all its commands.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import json
import os
import re
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar.stores.memory import MemoryStore
from sqlalchemy import select

from app.db import Database, utcnow
from app.errors import ValidationFailed
from csms.domain import badges, command_forms, firmware, logs, registry, smart_charging
from csms.domain.commands import ACTIONS, URI_MESSAGE, outcome_status, validate_command
from csms.domain.models import CommandLog, Transaction
from tests.csms.test_commands_web import serve_web
from tests.csms.test_decommission import CSRF, sign_in
from tests.csms.test_node_ocpp_rpc import NODE_DIR, node_or_skip

ACTOR = {"user_id": None, "label": "test strict station"}
#: The logs page's requests (not the forms': the log rows of the forms are counted by ``ACTOR``).
PAGE_ACTOR = {"user_id": None, "label": "test strict station, page Journaux"}
#: Stand-ins in ``VALUES``: the charge started for the test, every badge of the tenant.
SESSION, ALL_BADGES = "<session>", "<all badges>"
PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2VudHJhbGU=\n-----END CERTIFICATE-----"

#: The same in both versions.
SHARED: dict[str, dict[str, Any]] = {
    "UnlockConnector": {"point": "2"},
    "ReserveNow": {"point": "2", "minutes": "45", "reservation": "7"},
    "CancelReservation": {"reservation": "7"},
    "GetLocalListVersion": {},
    "ClearCache": {},
    "UpdateFirmware": {"location": "https://exemple.fr/micrologiciel-2.4.bin", "delay": "10"},
}
#: What a person changes from the form's defaults, per command (an empty dict: the defaults and
#: the samples of the required fields, as the « Avancé » example shows them).
VALUES: dict[str, dict[str, dict[str, Any]]] = {
    "1.6": {
        **SHARED,
        "RemoteStartTransaction": {"point": "2"},
        "RemoteStopTransaction": {"session": SESSION},
        "Reset": {"type": "Soft"},
        "ChangeAvailability": {"point": "2", "availability": "Inoperative"},
        "GetConfiguration": {"keys": "HeartbeatInterval, MeterValueSampleInterval"},
        "ChangeConfiguration": {"key": "HeartbeatInterval", "value": "600"},
        "TriggerMessage": {"message": "MeterValues", "point": "1"},
        "SendLocalList": {"list_version": "4", "update": "Full", "badges": ALL_BADGES},
        "SetChargingProfile": {"point": "0", "purpose": "ChargePointMaxProfile", "limit": "7400", "unit": "W",
                               "duration": "90", "profile": "3", "stack": "2"},
        "ClearChargingProfile": {"profile": "3", "point": "", "purpose": "ChargePointMaxProfile"},
        "GetCompositeSchedule": {"point": "1", "minutes": "120", "unit": "A"},
        "GetDiagnostics": {"location": "ftp://exemple.fr/diagnostics/"},
        "DataTransfer": {"vendor": "fr.exemple", "message": "Ping", "data": '{"n": 1}'},
        "ExtendedTriggerMessage": {"message": "SignChargePointCertificate"},
        "GetLog": {"log": "SecurityLog", "location": "https://exemple.fr/journaux/"},
        "SignedUpdateFirmware": {"location": "https://exemple.fr/micrologiciel-2.4.bin", "certificate": PEM,
                                 "signature": "c2lnbmF0dXJl"},
        "InstallCertificate": {"type": "ManufacturerRootCertificate", "certificate": PEM},
        "DeleteCertificate": {"algorithm": "SHA384", "name_hash": "a" * 96, "key_hash": "b" * 96, "serial": "7f"},
        "GetInstalledCertificateIds": {"type": "CentralSystemRootCertificate"},
        "CertificateSigned": {"chain": PEM},
    },
    "2.0.1": {
        **SHARED,
        "RequestStartTransaction": {"point": "2"},
        "RequestStopTransaction": {"session": SESSION},
        "Reset": {"type": "OnIdle"},
        "ChangeAvailability": {"point": "0", "availability": "Inoperative"},
        "GetVariables": {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval"},
        "SetVariables": {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval", "value": "600"},
        "GetBaseReport": {"report": "FullInventory"},
        "TriggerMessage": {"message": "TransactionEvent", "point": "1"},
        "SendLocalList": {"list_version": "4", "update": "Differential", "badges": ALL_BADGES},
        "SetChargingProfile": {"point": "0", "purpose": "ChargingStationMaxProfile", "limit": "11000", "unit": "W",
                               "duration": "90", "profile": "3", "stack": "2"},
        "ClearChargingProfile": {"profile": "3", "point": "", "purpose": ""},
        "GetChargingProfiles": {"point": "1", "purpose": "TxDefaultProfile"},
        "GetCompositeSchedule": {"point": "1", "minutes": "120", "unit": "W"},
        "GetTransactionStatus": {"session": SESSION},
        "GetLog": {"log": "DiagnosticsLog", "location": "https://exemple.fr/journaux/"},
        "DataTransfer": {"vendor": "fr.exemple", "message": "", "data": ""},
        "GetReport": {"component": "EVSE", "variable": "Power"},
        "GetMonitoringReport": {"component": "EVSE"},
        "SetVariableMonitoring": {"component": "EVSE", "variable": "Power", "type": "Delta", "value": "500",
                                  "severity": "6"},
        "CertificateSigned": {"chain": PEM, "type": "V2GCertificate"},
        "InstallCertificate": {"type": "V2GRootCertificate", "certificate": PEM},
        "DeleteCertificate": {},
        "GetInstalledCertificateIds": {"type": "V2GCertificateChain"},
    },
}
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
#: The fleet fixture's stations, two points each.
STATIONS = {"1.6": ("CPAM-LM-01", "ocpp1.6", 2), "2.0.1": ("CPAM-LM-201", "ocpp2.0.1", 2)}


def test_every_typed_form_has_a_strict_station_case():
    """A command given a typed form without a case here fails CI (issue 17: each command, strict station)."""
    assert {v: sorted(VALUES[v]) for v in VALUES} == {v: sorted(command_forms.FORMS[v]) for v in command_forms.FORMS}
    assert {v: sorted(ACTIONS[v]) for v in ACTIONS} == {v: sorted(VALUES[v]) for v in VALUES}


class StrictStation:
    """``station.mjs`` as a subprocess; ``received`` holds every command it got, ours and the CSMS's own,
    with the answer it gave: (method, params, answer)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.received: list[tuple[str, Any, Any]] = []
        self.invalid: list[dict[str, Any]] = []

    async def next(self, *phases: str, within: float = 30) -> dict[str, Any]:
        assert self.process.stdout is not None
        while True:
            line = await asyncio.wait_for(self.process.stdout.readline(), within)
            if not line:
                stderr = await self.process.stderr.read() if self.process.stderr else b""
                raise AssertionError(f"the station exited before {phases}: {stderr.decode()[-2000:]}")
            message = json.loads(line)
            assert message["phase"] != "failed", message
            if message["phase"] == "command":
                self.received.append((message["method"], message["params"], message.get("answer")))
            elif message["phase"] == "invalid":
                self.invalid.append(message)
            if message["phase"] in phases:
                return message

    async def order(self, order: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(order).encode() + b"\n")
        await self.process.stdin.drain()

    async def until(self, method: str, wanted: Any = lambda params: True, *, after: int = 0,
                    within: float = 30) -> tuple[Any, Any]:
        """The first command of that name from the ``after``-th on, received or to come, whose params
        satisfy ``wanted``: its params and the station's answer."""
        seen = after
        while True:
            for name, params, answer in self.received[seen:]:
                if name == method and wanted(params):
                    return params, answer
            seen = len(self.received)
            message = await self.next("command", "invalid", within=within)
            if message["phase"] == "invalid" and message["method"] == method:
                raise AssertionError(f"the strict station refused {method}: {message['error']}")

    async def got(self, method: str, params: Any) -> None:
        """Until the station reports this command (the CSMS's own commands may come in between)."""
        while (method, params) not in [(m, p) for m, p, _ in self.received]:
            message = await self.next("command", "invalid")
            if message["phase"] == "invalid" and message["method"] == method:
                return


def blurred(value: Any) -> Any:
    """A payload with its instants (and the ids made of the time: requestId, remoteStartId) as one marker."""
    if isinstance(value, dict):
        return {k: "<instant>" if k in ("requestId", "remoteStartId") else blurred(v) for k, v in value.items()}
    if isinstance(value, list):
        return [blurred(v) for v in value]
    return "<instant>" if isinstance(value, str) and value[:4].isdigit() and value[10:11] == "T" else value


def form_context(version: str, points: int, tenant_badges: list[Any], running: list[Transaction]
                 ) -> command_forms.FormContext:
    """What the portal's command page offers: the station's points, the tenant's badges, its running charges."""
    return command_forms.FormContext(
        version=version, now=dt.datetime.now(dt.UTC),
        points=tuple(command_forms.PointChoice(n, str(n)) for n in range(1, points + 1)),
        badges=tuple(command_forms.BadgeChoice(b.id_tag, b.id_tag, b.status, b.expires_at) for b in tenant_badges),
        running=tuple(command_forms.RunningSession(t.id, t.ocpp_transaction_id, t.connector_id, t.id_tag, "",
                                                   t.started_at) for t in running))


def filled_in(version: str, action: str, ctx: command_forms.FormContext) -> dict[str, Any]:
    """The form as posted: its defaults, what ``VALUES`` changes, the sample of a required field left empty."""
    form = command_forms.FORMS[version][action]
    values = command_forms.default_values(form, ctx)
    for name, value in VALUES[version][action].items():
        values[name] = {SESSION: ctx.running[0].ocpp_transaction_id if ctx.running else "",
                        ALL_BADGES: [b.id_tag for b in ctx.badges]}.get(value, value) if isinstance(value, str) else value
    for f in form.fields:
        if f.kind == "buttons" and not values.get(f.name):
            values[f.name] = f.choices[0][0]
        elif f.required and not values.get(f.name):
            values[f.name] = f.sample
    return values


@pytest.fixture
async def portal(settings, db, fleet, people, ingress) -> AsyncIterator[httpx.AsyncClient]:
    """The web app on a real socket sharing the ingress's bus (embedded mode), an admin of the CPAM signed in."""
    from app.web import create_app

    app = create_app(settings, db=Database(settings.database_url, pool_size=2),
                     stores={"sessions": MemoryStore(), "throttle": MemoryStore()}, bus=ingress.bus)
    async with serve_web(app) as url, httpx.AsyncClient(base_url=url, timeout=60) as http:
        await sign_in(http, "admin@cpam-bornes.demo")
        yield http


async def post_form(http: httpx.AsyncClient, url: str, data: dict[str, Any]) -> str:
    """The page's form posted as HTMX does; the block it answers (the station's answer, or why none)."""
    token = CSRF.search((await http.get(url, params={"action": data.get("action", "")})).text)
    assert token is not None, url
    answer = await http.post(url, headers={"HX-Request": "true"}, data={"_csrf_token": token.group(1), **data})
    assert answer.status_code == 200, (data, answer.text[:500])
    if 'class="card confirm"' in answer.text:  # a charge would be cut: the person confirms (its hidden fields)
        confirm: dict[str, list[str]] = {}
        for name, value in HIDDEN.findall(answer.text.split('class="card confirm"', 1)[1].split("</form>", 1)[0]):
            confirm.setdefault(name, []).append(html.unescape(value))
        answer = await http.post(url, headers={"HX-Request": "true"}, data=confirm)
        assert answer.status_code == 200 and 'class="card confirm"' not in answer.text, answer.text[:500]
    return answer.text


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize("backend", ["postgres"])
async def test_every_typed_form_reaches_a_strict_ocpp_rpc_station_and_its_answer_is_logged(
        db, fleet, ingress, stations, portal, version):
    node = node_or_skip()
    charge_box_id, protocol, points = STATIONS[version]
    page = f"/t/{fleet.cpam}/bornes/{charge_box_id}/commandes"
    process = await asyncio.create_subprocess_exec(
        node, str(NODE_DIR / "station.mjs"), f"ws://127.0.0.1:{ingress.port}/ocpp", charge_box_id, stations.password,
        protocol, str(points), cwd=NODE_DIR, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=dict(os.environ))
    station = StrictStation(process)
    expected: list[tuple[str, Any, Any]] = []
    try:
        ready = await station.next("ready")
        assert set(ACTIONS[version]) <= set(ready["answers"])  # the station answers every command we may send
        # A managed site (CCTP CPAM 5-5-4, « pilotage »): the charge gets its TxProfile from the load manager.
        async with db.transaction([fleet.cpam], actor=ACTOR) as session:
            await smart_charging.set_power_budget(session, fleet.cpam, fleet.cpam_site, {"budget_kw": 10})
        await station.order({"do": "start", "idTag": "BADGE-OK", "point": 1})
        await station.next("started")  # answered once the transaction is committed: a charge to stop
        await ingress.load_manager.idle()
        tx_profile, _ = await station.until("SetChargingProfile", lambda p: TX_PROFILE in json.dumps(p))
        async with db.session([fleet.cpam]) as session:
            charger = await registry.find_charger_in_tenant(session, fleet.cpam, charge_box_id)
            running = [t for t in await registry.list_transactions(session, fleet.cpam, charger.id)
                       if t.status == "active"]
            ctx = form_context(version, points, await badges.list_badges(session, fleet.cpam), running)
        assert len(ctx.running) == 1 and len(ctx.badges) == 3
        # CCTP CPAM 5-4-2-1: each typed form posted from the station's « Commandes » page.
        for action in command_forms.FORMS[version]:
            values = filled_in(version, action, ctx)
            payload, errors = command_forms.build_payload(version, action, values, ctx)
            assert not errors and payload is not None, (action, errors)
            before = len(station.received)
            shown = await post_form(portal, page, {"action": action, "mode": "champs", **values})
            # As built (its instants, and the ids made of the time, taken when the page sent it).
            try:  # the page answers once the station has: its "command" line is already written
                received, answer = await station.until(
                    action, lambda p, payload=payload: blurred(p) == blurred(payload), after=before, within=5)
            except TimeoutError:
                raise AssertionError(f"{action} never reached the station; the page said: {shown[:1500]}") from None
            expected.append((action, received, answer))
        if version == "2.0.1":  # the « Modèle » page's own commands (issue 17 §2)
            device_page = f"/t/{fleet.cpam}/bornes/{charge_box_id}/modele"
            for operation, action in (("rapport", "GetBaseReport"), ("lire", "GetVariables"),
                                      ("modifier", "SetVariables")):
                before = len(station.received)
                await post_form(portal, device_page, {"operation": operation, "composant": "EVSE", "evse": "1",
                                                      "variable": "Power", "type": "Actual", "valeur": "7400"})
                expected.append((action, *await station.until(action, after=before)))
        others = await other_send_paths(db, ingress, fleet, station, version, charge_box_id)
        await station.order({"do": "stop"})
        await station.next("done")
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    # Every command passed the station's own schemas (and so did its answers): nothing invalid.
    assert [(m["method"], m["error"]) for m in station.invalid] == []
    # The product logged each one as the station got it, with the station's answer (no CallError).
    async with db.session([fleet.cpam]) as session:
        logged = list(await session.scalars(select(CommandLog).where(
            CommandLog.tenant_id == fleet.cpam, CommandLog.charge_box_id == charge_box_id,
            CommandLog.user_id.is_not(None)).order_by(CommandLog.requested_at)))
    assert [(row.action, row.protocol, row.payload, row.answer, row.error_code, row.status) for row in logged] == [
        (action, version, payload, answer, "", outcome_status(answer)) for action, payload, answer in expected]
    answers = {row.action: row.answer for row in logged}
    if version == "1.6":
        assert answers["GetConfiguration"] == {"configurationKey": [
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
            {"key": "MeterValueSampleInterval", "readonly": False, "value": "300"}]}
        assert answers["GetLog"] == {"status": "Accepted", "filename": "security.log"}
    else:
        assert answers["SetVariableMonitoring"]["setMonitoringResult"][0]["status"] == "Accepted"
        assert answers["GetTransactionStatus"] == {"messagesInQueue": False}
        assert answers["SetVariables"]["setVariableResult"][0]["attributeStatus"] == "Accepted"
    assert {row.status for row in logged} <= {"accepted", "rejected"}
    # The product's other builders, strictly valid too, and what it recorded of their answers.
    assert (tx_profile.get("csChargingProfiles") or tx_profile.get("chargingProfile"))["transactionId"] == (
        int(ctx.running[0].ocpp_transaction_id) if version == "1.6" else ctx.running[0].ocpp_transaction_id)
    assert others == OTHERS[version]


#: What the product recorded of its other send paths' answers, per version (see ``other_send_paths``).
OTHERS = {
    "1.6": {"GetDiagnostics": "requested", "GetLog": "requested", "UpdateFirmware": "sent",
            "SignedUpdateFirmware": "sent", "SendLocalList": "Accepted Full", "ClearChargingProfile": "cleared"},
    "2.0.1": {"GetLog": "requested", "UpdateFirmware": "sent", "UpdateFirmware (signé)": "sent",
              "SendLocalList": "Accepted Full", "ClearChargingProfile": "cleared"},
}
TX_PROFILE = '"chargingProfilePurpose": "TxProfile"'


async def other_send_paths(db: Any, ingress: Any, fleet: Any, station: StrictStation, version: str,
                           charge_box_id: str) -> dict[str, str]:
    """The commands the product builds outside the forms, each sent its own way to the strict station:
    a log request with the product's upload address (issue 17 §5), a firmware campaign unsigned and
    signed (§5), the local list sync, the lifting of the site's limits. Returns what the product recorded of each answer."""
    recorded: dict[str, str] = {}
    now = utcnow()
    for action in ("GetDiagnostics", "GetLog") if version == "1.6" else ("GetLog",):
        row = await logs.request_log(db, ingress.bus, tenant_id=fleet.cpam, charge_box_id=charge_box_id, action=action,
                                     log_type="SecurityLog", actor=PAGE_ACTOR, base_url="https://centrale.exemple.fr",
                                     now=now)
        params, _ = await station.until(action, lambda p: f"/{fleet.cpam}/" in json.dumps(p))
        assert (params.get("location") or params["log"]["remoteLocation"]).startswith("https://centrale.exemple.fr/")
        recorded[action] = row.status
    for signed in (False, True):
        extra = {"signing_certificate": PEM, "signature": "c2lnbmF0dXJl"} if signed else {}
        async with db.transaction([fleet.cpam], actor=ACTOR) as session:
            campaign = await firmware.create_campaign(session, fleet.cpam, {
                "name": f"Micrologiciel 3.0{' signé' if signed else ''}", "location": "https://exemple.fr/fw-3.0.bin",
                "model": "Node station", "window_end": now + dt.timedelta(hours=2), **extra}, now=now)
            campaign_id = campaign.id
        assert await firmware.advance_campaign(db, ingress.bus, fleet.cpam, campaign_id, now=now) == [charge_box_id]
        action = "SignedUpdateFirmware" if signed and version == "1.6" else "UpdateFirmware"
        await station.until(action, lambda p, signed=signed: "fw-3.0.bin" in json.dumps(p)
                            and ("signature" in json.dumps(p)) == signed)
        async with db.session([fleet.cpam]) as session:
            found = await firmware.campaign_rows(session, fleet.cpam, campaign_id)
        assert found is not None
        (row,) = found[1]
        recorded[action + (" (signé)" if signed and action == "UpdateFirmware" else "")] = row.state
    before = len(station.received)  # the local authorization list kept in sync (CCTP CPAM 5-5-5-3)
    synced = await badges.sync_station(db, ingress.bus, fleet.cpam, charge_box_id)
    sent_list, _ = await station.until("SendLocalList", after=before)
    assert sorted(e.get("idTag") or e["idToken"]["idToken"] for e in sent_list["localAuthorizationList"]) == [
        "BADGE-BLOCKED", "BADGE-OK", "BADGE-OLD"]
    recorded["SendLocalList"] = f"{synced.status} {synced.update_type}"
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        assert await smart_charging.remove_power_budget(session, fleet.cpam, fleet.cpam_site)
    result = await smart_charging.recompute_site(db, ingress.bus, fleet.cpam, fleet.cpam_site)
    await station.until("ClearChargingProfile", lambda p: p != {"chargingProfileId": 3} and p != {"id": 3})
    recorded["ClearChargingProfile"] = ",".join(sent.outcome for sent in result.sent)
    return recorded


#: Addresses a person may paste: the strict station's verdict (ajv-formats ``uri``) and ours must agree.
ADDRESSES = ["https://exemple.fr/micrologiciel-2.4.bin", "ftp://exemple.fr/diagnostics/", "sftp://exemple.fr/x",
             "https://exemple.fr/micrologiciel%202.4.bin", "https://[2001:db8::1]:8443/fw.bin?v=2#x",
             "https://exemple.fr/micrologiciel 2.4.bin", "https://exemple.fr/micrologiciel-été.bin",
             "https://exemple.fr/fw.bin?lot=a|b", "https://exemple.fr/[fw].bin", "https://exemple.fr/fw%2.bin",
             "https://exemple.fr/fw.bin\n"]


def test_an_address_a_strict_station_refuses_is_refused_before_it_is_sent():
    """OCPP 1.6 UpdateFirmware.req and GetDiagnostics.req ``location`` are URIs (anyURI; the JSON schemas'
    ``format: uri``, RFC 3986 §2.1: other characters percent-encoded). A space or an accented letter used
    to pass our check (which only knew https:// at the start) and the strict station refused the command
    with a FormatViolation; now the product refuses it first, in French, on the field (CCTP CPAM 5-5-2:
    « il effectue également à distance la mise à jour de la version logicielle des IRVE »)."""
    node = node_or_skip()
    script = ("const v = require('ocpp-rpc/lib/standard-validators.js').find((x) => x.subprotocol === 'ocpp1.6');"
              "const ok = (u) => { try { v.validate('urn:GetDiagnostics.req', { location: u }); return true; }"
              " catch (e) { return false; } };"
              "console.log(JSON.stringify(JSON.parse(process.argv[1]).map(ok)));")
    strict = json.loads(subprocess.run([node, "-e", script, json.dumps(ADDRESSES)], cwd=NODE_DIR, check=True,
                                       capture_output=True, text=True, timeout=30).stdout)
    ours = []
    for address in ADDRESSES:
        try:
            for action, payload in (("GetDiagnostics", {"location": address}),
                                    ("UpdateFirmware", {"location": address, "retrieveDate": "2026-12-08T10:00:00Z"})):
                validate_command("1.6", action, payload)
            ours.append(True)
        except ValidationFailed as exc:
            assert exc.errors == {"payload": f"« location » : {URI_MESSAGE}"}
            ours.append(False)
    assert dict(zip(ADDRESSES, ours, strict=True)) == dict(zip(ADDRESSES, strict, strict=True))
    assert ours == [True] * 5 + [False] * 6

    ctx = command_forms.FormContext(version="1.6", now=dt.datetime.now(dt.UTC))
    for version, action, label in (("1.6", "UpdateFirmware", "Adresse (URL)"),
                                   ("2.0.1", "UpdateFirmware", "Adresse (URL)"),
                                   ("1.6", "GetDiagnostics", "Adresse de dépôt (URL)"),
                                   ("2.0.1", "GetLog", "Adresse de dépôt (URL)")):
        payload, errors = command_forms.build_payload(version, action, {
            "location": "https://exemple.fr/micrologiciel 2.4.bin", "delay": "0", "log": "DiagnosticsLog"}, ctx)
        assert (payload, errors) == (None, {"location": f"{label} : {URI_MESSAGE}"})


async def test_a_firmware_campaign_to_an_address_that_is_not_a_uri_is_refused(db, fleet):
    now = utcnow()
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        with pytest.raises(ValidationFailed) as refused:
            await firmware.create_campaign(session, fleet.cpam, {
                "name": "Micrologiciel d'été", "location": "https://exemple.fr/micrologiciel-été.bin",
                "window_end": now + dt.timedelta(hours=2)}, now=now)
    assert refused.value.errors == {"location": f"Adresse du micrologiciel : {URI_MESSAGE}"}
