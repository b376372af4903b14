"""Security events, station certificates, firmware campaigns and log uploads (issue 17 §3, §5), over real sockets.

Raw OCPP-J frames from a test station (1.6 and 2.0.1) and what the ingress answers and stores; a firmware
campaign over ten stations (the ``ocpp`` library's ChargePoint) two of which fail; a diagnostics upload to
the product's own endpoint, downloaded from the station's page.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import time
import uuid
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ocpp.routing import on
from ocpp.v16 import ChargePoint as Station16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from sqlalchemy import select

from app.db import utcnow
from csms.domain import firmware, logs
from csms.domain.models import Alert, CommandLog, SecurityEvent, StationLog
from tests.csms.conftest import MEMBER_PASSWORD, PASSWORD

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)


def make_csr(common_name: str) -> tuple[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode(), key


async def call(ws: Any, unique_id: str, action: str, payload: dict[str, Any]) -> Any:
    await ws.send(json.dumps([2, unique_id, action, payload]))
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 20))
        if frame[1] == unique_id:
            return frame


async def until(predicate: Any, within: float = 30.0) -> Any:
    """Poll the database for a state that must come (never used to prove an absence)."""
    deadline = time.monotonic() + within
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("state not reached in time")
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(("charge_box_id", "protocol"), [("CPAM-LM-01", "ocpp1.6"), ("CPAM-LM-201", "ocpp2.0.1")])
async def test_each_security_message_in_raw_frames(db, fleet, ingress, stations, charge_box_id, protocol):
    ws = await stations.socket(charge_box_id, protocol=protocol)
    try:
        at = "2026-12-07T08:00:00Z"
        # A critical security event (1.6 whitepaper ed. 3 / 2.0.1 A04): stored once, an alert opened.
        event = {"type": "TamperDetectionActivated", "timestamp": at, "techInfo": "capot ouvert"}
        assert await call(ws, "s1", "SecurityEventNotification", event) == [3, "s1", {}]
        assert await call(ws, "s2", "SecurityEventNotification", event) == [3, "s2", {}]  # a replay
        routine = {"type": "StartupOfTheDevice", "timestamp": at}
        assert await call(ws, "s3", "SecurityEventNotification", routine) == [3, "s3", {}]
        # Firmware and log statuses.
        if protocol == "ocpp1.6":
            fw = await call(ws, "f1", "SignedFirmwareStatusNotification", {"status": "Downloading", "requestId": 7})
        else:
            fw = await call(ws, "f1", "FirmwareStatusNotification", {"status": "Downloading", "requestId": 7})
        assert fw == [3, "f1", {}]
        assert await call(ws, "l1", "LogStatusNotification", {"status": "Uploading", "requestId": 9}) == [3, "l1", {}]
        bad = await call(ws, "l2", "LogStatusNotification", {"status": "Sleeping"})
        assert bad[0] == 4 and bad[2] == "PropertyConstraintViolation"
        # SignCertificate: a real CSR is accepted, and CertificateSigned follows with a chain for its key.
        csr, key = make_csr(charge_box_id)
        assert await call(ws, "c1", "SignCertificate", {"csr": csr}) == [3, "c1", {"status": "Accepted"}]
        frame = json.loads(await asyncio.wait_for(ws.recv(), 20))
        assert frame[0] == 2 and frame[2] == "CertificateSigned"
        chain = x509.load_pem_x509_certificates(frame[3]["certificateChain"].encode())
        assert chain[0].public_key().public_numbers() == key.public_key().public_numbers()
        assert chain[0].issuer == chain[1].subject
        await ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
        assert await call(ws, "c2", "SignCertificate", {"csr": "not a CSR"}) == [3, "c2", {"status": "Rejected"}]
    finally:
        await ws.close()
    async with db.session([fleet.cpam]) as session:
        rows = list(await session.scalars(select(SecurityEvent).where(SecurityEvent.tenant_id == fleet.cpam)))
        assert sorted((r.event_type, r.critical, r.tech_info) for r in rows) == [
            ("StartupOfTheDevice", True, ""), ("TamperDetectionActivated", True, "capot ouvert")]
        alerts = list(await session.scalars(select(Alert).where(Alert.tenant_id == fleet.cpam)))
        # CCTP CPAM 5-5-4 « détecter via des alertes les défaillances » : one alert, the routine event none.
        assert [(a.kind, a.status) for a in alerts] == [("security", "TamperDetectionActivated")]

        async def signed() -> Any:
            return await session.scalar(select(CommandLog).where(
                CommandLog.tenant_id == fleet.cpam, CommandLog.action == "CertificateSigned",
                CommandLog.status == "accepted"))

        assert await until(signed)


#: (event, 1.6 whitepaper ed. 3 §8 « CRITICAL », 2.0.1 Appendix 1 v1.3 « Critical »), the events whose flags
#: differ between the two lists, and the routine one of each list that opens no alert.
VERSIONED_EVENTS = {
    "ocpp1.6": [("InvalidCentralSystemCertificate", False), ("InvalidFirmwareSignature", False),
                ("InvalidTLSVersion", False), ("StartupOfTheDevice", True)],
    "ocpp2.0.1": [("InvalidCsmsCertificate", True), ("InvalidFirmwareSignature", True), ("InvalidTLSVersion", True),
                  ("MaintenanceLoginAccepted", True), ("MaintenanceLoginFailed", True), ("StartupOfTheDevice", True)],
}


@pytest.mark.parametrize(("charge_box_id", "protocol"), [("CPAM-LM-01", "ocpp1.6"), ("CPAM-LM-201", "ocpp2.0.1")])
async def test_a_security_event_is_critical_per_the_list_of_the_station_s_version(
        db, fleet, ingress, stations, client, people, charge_box_id, protocol):
    """OCPP 1.6 Security Whitepaper ed. 3 §8 and OCPP 2.0.1 Appendix 1 « Security Events » (v1.3): an invalid
    certificate, firmware signature or TLS version is « No » in 1.6 and « Yes » in 2.0.1. A critical event
    outside routine operation opens the security alert (CCTP CPAM 5-5-4); the feed says « Critique : Oui/Non »."""
    from tests.conftest import login

    ws = await stations.socket(charge_box_id, protocol=protocol)
    try:
        for n, (event_type, _critical) in enumerate(VERSIONED_EVENTS[protocol]):
            event = {"type": event_type, "timestamp": f"2026-12-07T08:0{n}:00Z"}
            assert await call(ws, f"e{n}", "SecurityEventNotification", event) == [3, f"e{n}", {}]
    finally:
        await ws.close()
    async with db.session([fleet.cpam]) as session:
        rows = list(await session.scalars(select(SecurityEvent).where(SecurityEvent.tenant_id == fleet.cpam)))
        assert sorted((r.event_type, r.critical) for r in rows) == sorted(VERSIONED_EVENTS[protocol])
        alerts = list(await session.scalars(select(Alert).where(Alert.tenant_id == fleet.cpam)))
    # One security alert per charger: the first non-routine critical event opened it.
    assert [(a.kind, a.status) for a in alerts] == (
        [("security", "InvalidCsmsCertificate")] if protocol == "ocpp2.0.1" else [])
    assert (await login(client, "admin@cpam-bornes.demo", MEMBER_PASSWORD)).status_code in (302, 303)
    page = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", (await client.get(f"/t/{fleet.cpam}/securite")).text)).replace("&#39;", "'")
    if protocol == "ocpp2.0.1":
        assert "Certificat de la supervision invalide (InvalidCsmsCertificate) Oui" in page
        assert "Connexion à l'interface de maintenance locale (MaintenanceLoginAccepted) Oui" in page
    else:
        assert "Certificat de la supervision invalide (InvalidCentralSystemCertificate) Non" in page
    assert "Démarrage de la borne (StartupOfTheDevice) Oui" in page


class FirmwareStation(Station16):
    """A 1.6 station that takes UpdateFirmware and reports its progress; ``fails``: its downloads fail."""

    in_flight = 0
    most = 0

    def __init__(self, *args: Any, fails: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fails = fails
        self.received: list[dict[str, Any]] = []

    @on("UpdateFirmware")
    async def on_update_firmware(self, location: str, retrieve_date: str, **kwargs: Any) -> Any:
        self.received.append({"location": location, "retrieve_date": retrieve_date})
        FirmwareStation.in_flight += 1
        FirmwareStation.most = max(FirmwareStation.most, FirmwareStation.in_flight)
        asyncio.get_running_loop().create_task(self.progress())
        return result16.UpdateFirmware()

    async def progress(self) -> None:
        await asyncio.sleep(0)
        statuses = ["Downloading", "DownloadFailed"] if self.fails else ["Downloading", "Downloaded", "Installing",
                                                                          "Installed"]
        for status in statuses[:-1]:
            await self.call(call16.FirmwareStatusNotification(status=status))
        FirmwareStation.in_flight -= 1  # before its last word: the server may send the next wave at once
        await self.call(call16.FirmwareStatusNotification(status=statuses[-1]))


async def test_a_firmware_campaign_over_ten_stations_with_two_failures(db, fleet, ingress, stations, password_hash):
    """CCTP CPAM 5-5-2 « Il effectue également à distance la mise à jour de la version logicielle des IRVE »."""
    from csms.domain import registry

    ids = [f"FW-{n:02d}" for n in range(1, 11)]
    for charge_box_id in ids:
        async with db.transaction([fleet.cpam], actor={"user_id": None, "label": "test"}) as session:
            await registry.register_charger(session, fleet.cpam, {"charge_box_id": charge_box_id, "points": 1,
                                                                  "password": PASSWORD}, password_hash=password_hash)
    FirmwareStation.in_flight = FirmwareStation.most = 0
    connected: dict[str, Any] = {}
    contexts = []
    for charge_box_id in ids:
        ws = await stations.socket(charge_box_id)
        cp = FirmwareStation(charge_box_id, ws, fails=charge_box_id in ("FW-03", "FW-07"), response_timeout=30)
        contexts.append((ws, asyncio.create_task(cp.start())))
        await cp.call(call16.BootNotification(charge_point_vendor="Borneo", charge_point_model="BX-22"))
        connected[charge_box_id] = cp
    try:
        async with db.transaction([fleet.cpam], actor={"user_id": None, "label": "test"}) as session:
            campaign = await firmware.create_campaign(session, fleet.cpam, {
                "name": "BX-22 v2.4", "location": "https://firmware.exemple.fr/bx22-2.4.bin", "model": "BX-22",
                "window_end": utcnow() + dt.timedelta(hours=2), "concurrency": "3", "max_attempts": "2",
            }, now=utcnow())
            campaign_id = campaign.id
        sent = await firmware.advance_campaign(db, ingress.bus, fleet.cpam, campaign_id, now=utcnow())
        assert sent == ["FW-01", "FW-02", "FW-03"]  # the first wave: the concurrency limit

        async def done() -> Any:
            async with db.session([fleet.cpam]) as session:
                found = await firmware.campaign_rows(session, fleet.cpam, campaign_id)
                assert found is not None
                return found if found[0].status == "done" else None

        campaign, rows = await until(done, within=60)
    finally:
        for ws, task in contexts:
            task.cancel()
            await ws.close()
    states = {r.charge_box_id: (r.state, r.attempts, r.last_status) for r in rows}
    assert states == {
        **{cid: ("installed", 1, "Installed") for cid in ids if cid not in ("FW-03", "FW-07")},
        "FW-03": ("failed", 2, "DownloadFailed"), "FW-07": ("failed", 2, "DownloadFailed"),  # retried once
    }
    assert firmware.counts(r.state for r in rows) | {} == {
        "pending": 0, "sent": 0, "downloading": 0, "downloaded": 0, "installing": 0, "installed": 8, "failed": 2,
        "total": 10}
    assert FirmwareStation.most <= 3
    assert [len(connected[cid].received) for cid in ids] == [1, 1, 2, 1, 1, 1, 2, 1, 1, 1]
    assert connected["FW-05"].received[0]["location"] == "https://firmware.exemple.fr/bx22-2.4.bin"


def test_the_wave_plan_keeps_the_limit_and_the_window():
    rows = [firmware.WaveRow(uuid.UUID(int=n), state, attempts) for n, (state, attempts) in enumerate(
        [("installing", 1), ("pending", 0), ("pending", 1), ("pending", 2), ("failed", 2), ("pending", 0)])]
    plan = firmware.plan_wave(rows, concurrency=3, max_attempts=2, now=NOW, window_start=NOW,
                              window_end=NOW + dt.timedelta(hours=1))
    assert plan == [uuid.UUID(int=1), uuid.UUID(int=2)]  # one in flight: two places; the third has no attempt left
    assert firmware.plan_wave(rows, concurrency=3, max_attempts=2, now=NOW - dt.timedelta(seconds=1),
                              window_start=NOW, window_end=NOW + dt.timedelta(hours=1)) == []
    assert firmware.next_state("downloading", "DownloadFailed", attempts=1, max_attempts=2) == "pending"
    assert firmware.next_state("installing", "InstallationFailed", attempts=2, max_attempts=2) == "failed"
    assert firmware.next_state("pending", "Installed", attempts=0, max_attempts=2) is None
    assert firmware.next_state("sent", "Idle", attempts=1, max_attempts=2) is None


class DiagnosticsStation(Station16):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.location: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    @on("GetDiagnostics")
    async def on_get_diagnostics(self, location: str, **kwargs: Any) -> Any:
        self.location.set_result(location)
        return result16.GetDiagnostics(file_name="diag-CPAM-LM-01.tar.gz")


@pytest.mark.parametrize("backend", ["postgres"])
async def test_a_diagnostics_upload_to_the_product_and_its_download(db, fleet, ingress, stations, client, people,
                                                                     settings):
    """CCTP CPAM 5-5 « De remonter des données et diagnostics »: the station uploads to our one-time URL."""
    from tests.conftest import login

    ws = await stations.socket("CPAM-LM-01")
    cp = DiagnosticsStation("CPAM-LM-01", ws, response_timeout=30)
    task = asyncio.create_task(cp.start())
    try:
        row = await logs.request_log(db, ingress.bus, tenant_id=fleet.cpam, charge_box_id="CPAM-LM-01",
                                     action="GetDiagnostics", log_type="", actor={"user_id": None, "label": "test"},
                                     base_url="http://testserver.local", now=utcnow())
        location = await asyncio.wait_for(cp.location, 20)
        assert (row.status, row.filename) == ("requested", "diag-CPAM-LM-01.tar.gz")
        assert location.startswith(f"http://testserver.local/api/v1/station-logs/{fleet.cpam}/")
        path = location.removeprefix("http://testserver.local")
        await cp.call(call16.DiagnosticsStatusNotification(status="Uploading"))
        content = b"\x1f\x8b diagnostics " * 1000
        answer = await client.post(path, files={"file": ("diag-CPAM-LM-01.tar.gz", content)})
        assert answer.status_code == 201, answer.text
        again = await client.post(path, files={"file": ("x.bin", b"again")})
        assert again.status_code == 404  # the token is spent
        forged = await client.post(path[:-4] + "AAAA", files={"file": ("x.bin", b"x")})
        assert forged.status_code == 404
        other_tenant = await client.post(path.replace(str(fleet.cpam), str(fleet.other)), files={"file": ("x", b"x")})
        assert other_tenant.status_code == 404
        await cp.call(call16.DiagnosticsStatusNotification(status="Uploaded"))
    finally:
        task.cancel()
        await ws.close()
    async with db.session([fleet.cpam]) as session:
        stored = await session.scalar(select(StationLog).where(StationLog.tenant_id == fleet.cpam))
        assert (stored.status, stored.size, stored.last_status) == ("uploaded", len(content), "Uploaded")
        assert logs.log_path(settings.var_dir, stored).read_bytes() == content
    # Downloaded from the station's page by the tenant's admin; another tenant's admin gets 404.
    assert (await login(client, "admin@cpam-bornes.demo", MEMBER_PASSWORD)).status_code in (302, 303)
    page = await client.get(f"/t/{fleet.cpam}/bornes/CPAM-LM-01/journaux")
    assert page.status_code == 200 and "diag-CPAM-LM-01.tar.gz" in page.text
    download = await client.get(f"/t/{fleet.cpam}/bornes/CPAM-LM-01/journaux/{stored.id}")
    assert download.status_code == 200 and download.content == content
    client.cookies.clear()
    assert (await login(client, "admin@vlb-bornes.demo", MEMBER_PASSWORD)).status_code in (302, 303)
    assert (await client.get(f"/t/{fleet.other}/bornes/CPAM-LM-01/journaux/{stored.id}")).status_code == 404
