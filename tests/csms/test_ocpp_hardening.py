"""OCPP wire hardening (issue 10, « OCPP »): what a misbehaving station can no longer do.

Over real sockets: answers to calls never made are dropped at the edge (and memory
stays flat under 1,000 of 400 KB), a frame nested ~1,000 deep gets its CallError
and the socket stays open, integers beyond the OCPP ``integer`` range get a
CallError instead of an ``InternalError``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint as Station16
from ocpp.v16 import call
from ocpp.v16 import call_result as station_result

from tests.csms.conftest import LogRecords, open_socket
from tests.csms.test_commands_web import live  # noqa: F401 - the web app and the ingress, embedded
from tests.csms.test_ingress import NOW, counts
from tests.csms.test_kill9 import IngressProcess

BOTH = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


async def _raw(ws: Any, frame: str) -> Any:
    """Send a frame, return the answer to it (the CSMS's own calls, e.g. local list checks, are skipped)."""
    await ws.send(frame)
    while True:
        answer = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if answer[0] != 2:
            return answer


# --------------------------------------------------------------------------- unsolicited answers


class _ConfigurableStation(Station16):
    @on("GetConfiguration")
    async def on_get_configuration(self, **kwargs: Any) -> Any:
        return station_result.GetConfiguration(configuration_key=[
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"}])


async def test_answers_to_calls_never_made_are_dropped_counted_and_logged_once(ingress, stations):
    """OCPP-J 1.6 §4.1.3 / 2.0.1 §4.2.2: a CallResult (3) or CallError (4) answers a Call of the
    receiver, matched by its MessageId. Those answering nothing never reach the library's queue."""
    records = LogRecords()
    logging.getLogger("csms.ingress.server").addHandler(records)
    ws = await stations.socket("CPAM-LM-01")
    try:
        assert await _raw(ws, json.dumps([2, "warm", "Heartbeat", {}])) == [3, "warm", {"currentTime": NOW}]
        link = ingress.registry.get("CPAM-LM-01")
        for number in range(40):
            await ws.send(json.dumps([3, f"never-sent-{number}", {"data": "x" * 1000}]))
            await ws.send(json.dumps([4, f"never-sent-e{number}", "GenericError", "", {}]))
        # Frames are handled in order: once this is answered, the 80 before it were.
        assert await _raw(ws, json.dumps([2, "after", "Heartbeat", {}])) == [3, "after", {"currentTime": NOW}]
        assert link.unsolicited_answers == 80
        assert ingress.unsolicited_answers == 80
        assert link._response_queue.qsize() == 0  # noqa: SLF001 - the library's queue holds none of them
        warnings = [r.getMessage() for r in records.records if "unsolicited" in r.getMessage()]
        assert len(warnings) == 1 and warnings[0].startswith("CPAM-LM-01: 1 unsolicited")
        # The library's own calls still get their answers (their ids are let through).
        station = _ConfigurableStation("CPAM-LM-01", stations.Wire(ws))
        task = asyncio.create_task(station.start())
        try:
            result = await ingress.registry.call("CPAM-LM-01", call.GetConfiguration(key=["HeartbeatInterval"]))
            assert result.configuration_key == [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]
            assert link.unsolicited_answers == 80
        finally:
            task.cancel()
    finally:
        logging.getLogger("csms.ingress.server").removeHandler(records)
        await ws.close()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


UNSOLICITED_FRAMES = 1000
FRAME_BYTES = 400 * 1024


async def test_memory_stays_flat_under_1000_unsolicited_400kb_answers(settings, db, fleet, tmp_path):
    """The review's attack on a real ``centrale ingress`` process: 150 frames of 450 KB grew it by
    142 MiB, held. Now 1,000 frames of 400 KB (400 MB on the wire) leave its RSS where it was,
    and the station is still answered on the same socket."""
    ingress = IngressProcess(settings, tmp_path)
    await ingress.start()
    assert ingress.process is not None
    pid = ingress.process.pid
    try:
        ws = await open_socket(ingress.port, "CPAM-LM-01", max_size=None)
        filler = "x" * (FRAME_BYTES - 64)

        async def flood(count: int, start: int) -> None:
            for number in range(start, start + count):
                await ws.send(f'[3, "unsolicited-{number}", {{"data": "{filler}"}}]')
            assert await _raw(ws, json.dumps([2, f"hb-{start}", "Heartbeat", {}])) == [
                3, f"hb-{start}", {"currentTime": NOW}]

        await flood(20, 0)  # warm-up: the allocator's steady state for frames of this size
        before = rss_mib(pid)
        await flood(UNSOLICITED_FRAMES, 20)
        after = rss_mib(pid)
        print(f"ingress RSS: {before:.1f} MiB before, {after:.1f} MiB after {UNSOLICITED_FRAMES} unsolicited "
              f"CallResults of {FRAME_BYTES // 1024} KB")
        assert after - before < 40, (before, after)
        await ws.close()
    finally:
        await ingress.kill()


# --------------------------------------------------------------------------- nesting


FORMATION = "Payload for Action is syntactically incorrect or not conform the PDU structure for Action"


@pytest.mark.parametrize(("charge_box_id", "protocol", "code"), [
    ("CPAM-LM-01", "ocpp1.6", "FormationViolation"),
    ("CPAM-LM-201", "ocpp2.0.1", "RpcFrameworkError"),
])
async def test_a_frame_nested_1000_deep_gets_its_call_error_and_the_socket_stays_open(
        db, fleet, ingress, stations, charge_box_id, protocol, code):
    """OCPP-J 1.6 §4.2.3: FormationViolation « Payload for Action is syntactically incorrect »;
    2.0.1 §4.3: RpcFrameworkError « Content of the call is not a valid RPC Request » (its MessageId
    cannot be read: answered with "-1"). Once a RecursionError and a 1011 close."""
    ws = await stations.socket(charge_box_id, protocol=protocol)
    before = await counts(db, fleet.cpam)
    nested = "[" * 990 + "]" * 990
    answer = await _raw(ws, nested)
    assert answer[:3] == [4, "-1", code]
    assert answer[4] == {"cause": "nested deeper than 32 levels"}
    # Deep inside a readable Call: the CallError names the call.
    deep_call = '[2, "deep-1", "Heartbeat", {"a": ' + "[" * 990 + "]" * 990 + "}]"
    answer = await _raw(ws, deep_call)
    assert answer[:3] == [4, "deep-1", "FormationViolation" if protocol == "ocpp1.6" else "FormatViolation"]
    assert await _raw(ws, json.dumps([2, "after", "Heartbeat", {}])) == [3, "after", {"currentTime": NOW}]
    assert ws.close_code is None
    await ws.close()
    assert await counts(db, fleet.cpam) == before


# --------------------------------------------------------------------------- integer bounds


TYPE_CONSTRAINT = ("Payload for Action is syntactically correct but at least one of the fields violates data type "
                   "constraints")


@pytest.mark.parametrize("backend", BOTH)
async def test_integers_beyond_the_ocpp_integer_get_a_call_error_and_nothing_is_written(db, fleet, ingress, stations):
    """OCPP 2.0.1 Part 2 §2.1: an OCPP integer is 32 bits, signed. 2^63 once passed the schema and
    overflowed the column: the station got InternalError. Now TypeConstraintViolation (OCPP-J 1.6
    §4.2.3: « violates data type constraints »), and nothing is stored."""
    ws = await stations.socket("CPAM-LM-01")
    assert await _raw(ws, json.dumps([2, "warm", "Heartbeat", {}])) == [3, "warm", {"currentTime": NOW}]
    before = await counts(db, fleet.cpam)
    start = '{"connectorId": %s, "idTag": "BADGE-OK", "meterStart": 0, "timestamp": "2026-01-01T10:00:00Z"}'
    cases = [
        ("big-1", "StartTransaction", start % "9223372036854775808", "data.connectorId must be smaller than or equal to 2147483647"),
        ("big-2", "StartTransaction", start % "2147483648", "data.connectorId must be smaller than or equal to 2147483647"),
        ("big-3", "StartTransaction", start % "-9223372036854775809",
         "data.connectorId must be bigger than or equal to -2147483648"),
        ("big-4", "StopTransaction", '{"meterStop": 10, "timestamp": "2026-01-01T11:00:00Z", '
                                     '"transactionId": 9223372036854775808}',
         "data.transactionId must be smaller than or equal to 2147483647"),
        ("big-5", "MeterValues", '{"connectorId": 1, "transactionId": 4294967296, "meterValue": '
                                 '[{"timestamp": "2026-01-01T10:30:00Z", "sampledValue": [{"value": "10"}]}]}',
         "data.transactionId must be smaller than or equal to 2147483647"),
    ]
    for unique_id, action, payload, cause in cases:
        answer = await _raw(ws, f'[2, "{unique_id}", "{action}", {payload}]')
        assert answer == [4, unique_id, "TypeConstraintViolation", TYPE_CONSTRAINT, {"cause": cause}], answer
    assert await _raw(ws, json.dumps([2, "after", "Heartbeat", {}])) == [3, "after", {"currentTime": NOW}]
    await ws.close()
    assert await counts(db, fleet.cpam) == before


def test_a_command_with_an_integer_beyond_the_ocpp_integer_is_refused_before_sending():
    """The same bound checks our own commands (``csms.domain.commands.validate_command``): a 422, nothing sent."""
    from app.errors import ValidationFailed
    from csms.domain.commands import validate_command

    with pytest.raises(ValidationFailed) as caught:
        validate_command("1.6", "UnlockConnector", {"connectorId": 2**63})
    assert caught.value.errors == {"payload": "« connectorId » : valeur trop grande (maximum 2147483647)."}
    with pytest.raises(ValidationFailed):
        validate_command("2.0.1", "UnlockConnector", {"evseId": 1, "connectorId": -(2**31) - 1})
    assert validate_command("1.6", "UnlockConnector", {"connectorId": 2**31 - 1}) == "1.6"


# --------------------------------------------------------------------------- station password rotation


class KeyedStation(Station16):
    """A 1.6 station that takes a new AuthorizationKey (``refuse``: it answers Rejected) and, like some
    firmwares despite the key being write-only, gives it back in GetConfiguration."""

    key = ""
    refuse = False

    @on("ChangeConfiguration")
    async def on_change_configuration(self, key: str, value: str, **kwargs: Any) -> Any:
        if self.refuse:
            return station_result.ChangeConfiguration(status="Rejected")
        self.key = value
        return station_result.ChangeConfiguration(status="Accepted")

    @on("GetConfiguration")
    async def on_get_configuration(self, **kwargs: Any) -> Any:
        return station_result.GetConfiguration(configuration_key=[
            {"key": "AuthorizationKey", "readonly": False, "value": self.key}])


def _auth(charge_box_id: str, password: bytes) -> dict[str, str]:
    import base64

    return {"Authorization": "Basic " + base64.b64encode(charge_box_id.encode() + b":" + password).decode()}


async def _connects(port: int, charge_box_id: str, password: bytes) -> int:
    """101 when the station gets in (and its Heartbeat is answered), else the handshake's HTTP status."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    try:
        ws = await connect(f"ws://127.0.0.1:{port}/ocpp/{charge_box_id}", subprotocols=["ocpp1.6"],
                           additional_headers=_auth(charge_box_id, password), open_timeout=30)
    except InvalidStatus as exc:
        return exc.response.status_code
    try:
        assert await _raw(ws, json.dumps([2, "hb", "Heartbeat", {}])) == [3, "hb", {"currentTime": NOW}]
    finally:
        await ws.close()
    return 101


async def _raw_rows(db: Any, tenant_id: Any, table: str) -> str:
    from sqlalchemy import text

    async with db.session([tenant_id]) as session:
        return "\n".join(str(tuple(row)) for row in await session.execute(text(f"SELECT * FROM {table}")))


@pytest.mark.parametrize("backend", BOTH)
async def test_an_accepted_authorization_key_becomes_the_station_password_and_is_never_shown(
        live, api_token, backend):  # noqa: F811 - the fixture imported above
    """OCPP-J 1.6 §6.2 (security profiles 1 and 2): the CSMS sets the station's Basic-auth password with
    ChangeConfiguration of ``AuthorizationKey``, the hex encoding of a random 16-20 byte password (OCTT
    TC_073_CSMS). Accepted by the station, it is the password at once: the old one gets 401, the new
    one gets in. The key is in no log row, no API answer, no portal page, no audit row, no log line."""
    import os

    import httpx

    from tests.csms.test_commands_web import CPAM_BOX, CSRF, portal_login

    records = LogRecords(logging.DEBUG)
    logging.getLogger().addHandler(records)
    new_password = os.urandom(20)  # random binary, as the specification advises
    key = new_password.hex().upper()
    old_password = b"Borne-secret-2026-xyz"
    port, tenant = live.ingress.port, live.tenants[CPAM_BOX]
    url = f"/api/v1/stations/{CPAM_BOX}/commands"
    try:
        ws = await open_socket(port, CPAM_BOX)
        station = KeyedStation(CPAM_BOX, ws)
        task = asyncio.create_task(station.start())
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
            admin, viewer = await api_token("admin@cpam72.demo"), await api_token("visu@cpam72.demo")
            await live.ingress.events.wait("station.connected", lambda p: p["charge_box_id"] == CPAM_BOX)
            # A weak key is refused before anything is sent.
            weak = await http.post(url, headers=admin, json={"action": "ChangeConfiguration",
                                                             "payload": {"key": "AuthorizationKey", "value": "abc"}})
            assert weak.status_code == 422 and "AuthorizationKey" in weak.json()["errors"]["payload"]
            # Refused by the station: nothing changes.
            station.refuse = True
            refused = await http.post(url, headers=admin, json={
                "action": "ChangeConfiguration", "payload": {"key": "AuthorizationKey", "value": key}})
            assert (refused.status_code, refused.json()["status"]) == (200, "rejected")
            assert await _connects(port, CPAM_BOX, new_password) == 401
            station.refuse = False
            sent = await http.post(url, headers=admin, json={
                "action": "ChangeConfiguration", "payload": {"key": "AuthorizationKey", "value": key}})
            assert sent.status_code == 200, sent.text
            assert (sent.json()["status"], sent.json()["answer"]) == ("accepted", {"status": "Accepted"})
            assert station.key == key  # the station, and only the station, got it
            read = await http.post(url, headers=admin, json={"action": "GetConfiguration",
                                                             "payload": {"key": ["AuthorizationKey"]}})
            assert read.json()["answer"] == {"configurationKey": [
                {"key": "AuthorizationKey", "readonly": False, "value": "[masqué]"}]}
            task.cancel()
            await ws.close()
            # The station reconnects with its new password; the old one is refused.
            assert await _connects(port, CPAM_BOX, old_password) == 401
            assert await _connects(port, CPAM_BOX, new_password) == 101
            # Nothing in clear: the API log (a read-only viewer reads it), the portal page, the raw rows.
            listed = await http.get(url, headers=viewer)
            assert listed.status_code == 200
            entries = {(e["action"], e["status"]): e for e in listed.json()["items"]}
            assert entries[("ChangeConfiguration", "accepted")]["payload"] == {
                "key": "AuthorizationKey", "value": "[masqué]"}
            await portal_login(http, "admin@cpam72.demo")
            page_url = f"/t/{tenant}/bornes/{CPAM_BOX}/commandes"
            page = await http.get(page_url)
            assert page.status_code == 200 and "[masqué]" in page.text
            # Sent from the portal form, the key typed in does not come back in the page either.
            again = os.urandom(16).hex()
            token = CSRF.search(page.text).group(1)
            posted = await http.post(page_url, headers={"HX-Request": "true"}, data={
                "_csrf_token": token, "action": "ChangeConfiguration",
                "payload": json.dumps({"key": "AuthorizationKey", "value": again}), "timeout": "5"})
            assert posted.status_code == 200 and "Borne hors ligne" in posted.text
            texts = [listed.text, page.text, posted.text, sent.text, read.text, refused.text]
            for table in ("charger_commands", "audit_events"):
                texts.append(await _raw_rows(live.db, tenant, table))
            # The server's log lines (the test station's own library logs what it receives: not ours).
            texts += [f"{r.name}: {r.getMessage()}" for r in records.records if r.name != "ocpp"]
        for secret in (key, key.lower(), again):
            assert not [t for t in texts if secret in t], secret
        # The change is in the audit trail, under who sent it, the hash itself redacted.
        from sqlalchemy import select

        from app.audit import AuditEvent

        async with live.db.session([tenant]) as session:
            changes = [(e.actor_label, e.after) for e in await session.scalars(
                select(AuditEvent).where(AuditEvent.entity == "chargers", AuditEvent.action == "update"))]
        assert [c for c in changes if "password_hash" in c[1]] == [("admin@cpam72.demo (API)", {"password_hash": "***"})]
    finally:
        logging.getLogger().removeHandler(records)


class PasswordStation201:
    """A 2.0.1 station taking SecurityCtrlr.BasicAuthPassword (use case A01)."""

    @staticmethod
    def make() -> type:
        from ocpp.v201 import ChargePoint as Station201
        from ocpp.v201 import call_result as result201

        class Station(Station201):
            password = ""

            @on("SetVariables")
            async def on_set_variables(self, set_variable_data: list[dict[str, Any]], **kwargs: Any) -> Any:
                self.password = set_variable_data[0]["attribute_value"]
                return result201.SetVariables(set_variable_result=[
                    {"attribute_status": "Accepted", "component": d["component"], "variable": d["variable"]}
                    for d in set_variable_data])

        return Station


async def test_a_2_0_1_basic_auth_password_accepted_replaces_the_old_one(db, fleet, ingress, stations):
    """OCPP 2.0.1 A01 « Update Charging Station Password for HTTP Basic Authentication »: SetVariables of
    SecurityCtrlr.BasicAuthPassword; accepted, the station reconnects with it and the old one is refused."""
    from websockets.exceptions import InvalidStatus

    from csms.domain.commands import send_command
    from tests.csms.test_commands import command_log

    new_password = "Nouveau-Secret-2.0.1-borne"
    ws = await open_socket(ingress.port, "CPAM-LM-201", protocol="ocpp2.0.1")
    station = PasswordStation201.make()("CPAM-LM-201", ws)
    task = asyncio.create_task(station.start())
    try:
        await ingress.events.wait("station.connected", lambda p: p["charge_box_id"] == "CPAM-LM-201")
        answer = await send_command(db, ingress.bus, tenant_id=fleet.cpam, charge_box_id="CPAM-LM-201",
                                    action="SetVariables", actor={"user_id": None, "label": "test"}, timeout=10,
                                    payload={"setVariableData": [{"attributeValue": new_password,
                                                                  "component": {"name": "SecurityCtrlr"},
                                                                  "variable": {"name": "BasicAuthPassword"}}]})
        assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
        assert station.password == new_password
    finally:
        task.cancel()
        await ws.close()
    with pytest.raises(InvalidStatus) as caught:
        await stations.socket("CPAM-LM-201", protocol="ocpp2.0.1")  # the old password
    assert caught.value.response.status_code == 401
    assert await _raw(await stations.socket("CPAM-LM-201", password=new_password, protocol="ocpp2.0.1"),
                      json.dumps([2, "hb", "Heartbeat", {}])) == [3, "hb", {"currentTime": NOW}]
    [row] = await command_log(db, fleet.cpam)
    assert row.payload["setVariableData"][0]["attributeValue"] == "[masqué]"
    assert new_password not in await _raw_rows(db, fleet.cpam, "charger_commands")


def test_one_redaction_covers_every_secret_of_a_command():
    from csms.domain.commands import redact_payload

    pem = "-----BEGIN PRIVATE KEY-----\nMIIE...\n-----END PRIVATE KEY-----"
    assert redact_payload({"key": "AuthorizationKey", "value": "00ff" * 8}) == {
        "key": "AuthorizationKey", "value": "[masqué]"}
    assert redact_payload({"key": "HeartbeatInterval", "value": "300"}) == {"key": "HeartbeatInterval", "value": "300"}
    assert redact_payload({"configurationKey": [{"key": "AuthorizationKey", "readonly": False, "value": "x"},
                                                {"key": "MeterValueSampleInterval", "readonly": False, "value": "60"}],
                           "unknownKey": ["Password"]}) == {
        "configurationKey": [{"key": "AuthorizationKey", "readonly": False, "value": "[masqué]"},
                             {"key": "MeterValueSampleInterval", "readonly": False, "value": "60"}],
        "unknownKey": ["Password"]}
    assert redact_payload({"getVariableResult": [{"attributeStatus": "Accepted", "attributeValue": "s3cret",
                                                  "component": {"name": "SecurityCtrlr"},
                                                  "variable": {"name": "BasicAuthPassword"}}]}) == {
        "getVariableResult": [{"attributeStatus": "Accepted", "attributeValue": "[masqué]",
                               "component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}}]}
    assert redact_payload({"vendorId": "x", "data": pem}) == {"vendorId": "x", "data": "[masqué]"}
    assert redact_payload({"customData": {"vendorId": "x", "private_key": "k", "clientSecret": "c", "note": "ok"}}) == {
        "customData": {"vendorId": "x", "private_key": "[masqué]", "clientSecret": "[masqué]", "note": "ok"}}
    assert redact_payload(None) is None


def test_migration_0012_redacts_the_secrets_logged_before_it(tmp_path):
    """Rows written in clear before the redaction existed are rewritten by the same
    function (migration 0012): nothing of the old key is left in the database file
    (SQLite's VACUUM-free file may keep freed pages, hence the VACUUM below)."""
    import json as _json
    import sqlite3

    from app.migrate import upgrade
    from tests.conftest import make_settings

    settings = make_settings(tmp_path)
    upgrade(settings, "0011")
    path = settings.database_url.split("///", 1)[1]
    secret = "Ancienne-cle-en-clair-2026"
    payload = {"key": "AuthorizationKey", "value": secret}
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA foreign_keys = OFF")
        tenant, log = uuid.uuid4().hex, uuid.uuid4().hex
        conn.execute("INSERT INTO charger_commands (tenant_id, id, charger_id, charge_box_id, action, payload, protocol, "
                     "status, answer, error_code, error, requested_at, actor, duration_ms, node) VALUES "
                     "(?, ?, ?, 'OLD-01', 'ChangeConfiguration', ?, '1.6', 'accepted', ?, '', '', '2026-11-30 10:00:00', "
                     "'admin', 12, '')", (tenant, log, uuid.uuid4().hex, _json.dumps(payload), _json.dumps({"status": "Accepted"})))
    upgrade(settings)
    with sqlite3.connect(path) as conn:
        conn.execute("VACUUM")
        stored = conn.execute("SELECT payload FROM charger_commands").fetchone()[0]
    from csms.domain.commands import REDACTED

    assert _json.loads(stored) == {"key": "AuthorizationKey", "value": REDACTED}
    assert secret.encode() not in Path(path).read_bytes()
