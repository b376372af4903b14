"""OCPP security profiles 2 and 3 through a real TLS proxy (issue 17 §4).

Debian's nginx runs ``docker/nginx/ocpp-tls.conf.template`` (the file compose mounts), rendered the way the
nginx image renders it; the certificates are made here: a stations' CA, the proxy's server certificate, and
client certificates whose CN is or is not the station's identity (OCPP 1.6 Security Whitepaper ed. 3 §2.3.3,
OCPP 2.0.1 Part 2 A00.FR.417: the CN carries the charge box identity). The ingress believes the proxy's
headers from ``ocpp_trusted_proxies`` only: a station that forges them on a direct connection is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
import shutil
import signal
import socket
import ssl
import string
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from app.bus import LocalBus
from csms.domain import profiles, registry
from csms.domain.models import Charger
from tests.csms.conftest import PASSWORD, basic_auth

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "docker" / "nginx" / "ocpp-tls.conf.template"
ACTOR = {"user_id": None, "label": "test"}
NOW = dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)


# --------------------------------------------------------------------------- certificates


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _cert(subject_cn: str, key: Any, issuer: tuple[x509.Name, Any] | None = None, *, ca: bool = False,
          san: list[x509.GeneralName] | None = None, days: int = 30) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Centrale tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)])
    issuer_name, issuer_key = issuer or (name, key)
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: Any) -> tuple[Path, Path]:
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
    return path.with_suffix(".pem"), path.with_suffix(".key")


@dataclasses.dataclass
class Pki:
    ca_pem: Path
    server: tuple[Path, Path]
    clients: dict[str, tuple[Path, Path]]  # name -> (cert, key)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca_key, stranger_key = _key(), _key()
    ca = _cert("Centrale stations CA", ca_key, ca=True, days=365)
    stranger_ca = _cert("Another CA", stranger_key, ca=True, days=365)
    ca_pem = folder / "stations-ca.pem"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    import ipaddress

    server_key = _key()
    server = _write(folder / "server", _cert("localhost", server_key, (ca.subject, ca_key),
                                              san=[x509.DNSName("localhost"),
                                                   x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), server_key)
    clients = {}
    for name, cn, issuer in (("good", "CPAM-LM-SP3", (ca.subject, ca_key)), ("wrong-cn", "CPAM-LM-01", (ca.subject, ca_key)),
                             ("stranger", "CPAM-LM-SP3", (stranger_ca.subject, stranger_key))):
        key = _key()
        clients[name] = _write(folder / f"client-{name}", _cert(cn, key, issuer), key)
    return Pki(ca_pem, server, clients)


# --------------------------------------------------------------------------- the proxy


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def nginx(folder: Path, pki: Pki, upstream_port: int) -> Any:
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is missing: `make test` installs Debian's nginx-light (make proxy)")
        pytest.skip("nginx is not installed (make proxy)")
    port = _free_port()
    server_block = string.Template(TEMPLATE.read_text()).safe_substitute(
        OCPP_TLS_PORT=f"127.0.0.1:{port}", INGRESS_UPSTREAM=f"127.0.0.1:{upstream_port}",
        TLS_CERT=pki.server[0], TLS_KEY=pki.server[1], STATIONS_CA=pki.ca_pem)
    for part in ("logs", "tmp"):
        (folder / part).mkdir(parents=True, exist_ok=True)
    (folder / "ocpp-tls.conf").write_text(server_block)
    (folder / "nginx.conf").write_text(f"""
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/logs/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {folder}/logs/access.log;
    client_body_temp_path {folder}/tmp/body;
    proxy_temp_path {folder}/tmp/proxy;
    fastcgi_temp_path {folder}/tmp/fastcgi;
    uwsgi_temp_path {folder}/tmp/uwsgi;
    scgi_temp_path {folder}/tmp/scgi;
    include {folder}/ocpp-tls.conf;
}}
""")
    process = subprocess.Popen([binary, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g", "daemon off;"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:  # positive signal: the TLS port accepts
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            break
        if process.poll() is not None or time.monotonic() > deadline:
            output = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"nginx did not start: {output}")
        time.sleep(0.05)
    try:
        yield port
    finally:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
async def fleet3(db, fleet, password_hash):
    """CPAM-LM-SP3 in profile 3, CPAM-LM-SP2 in profile 2; the fleet's others stay in profile 1."""
    for charge_box_id, profile in (("CPAM-LM-SP3", 3), ("CPAM-LM-SP2", 2)):
        async with db.transaction([fleet.cpam], actor=ACTOR) as session:
            await registry.register_charger(session, fleet.cpam, {"charge_box_id": charge_box_id, "password": PASSWORD,
                                                                  "security_profile": profile},
                                            password_hash=password_hash)
    return fleet


@pytest.fixture
async def proxied(settings, db, fleet3, tmp_path, pki) -> AsyncIterator[tuple[int, int]]:
    """(TLS proxy port, ingress port): the ingress trusts 127.0.0.1, where nginx connects from."""
    from csms.ingress.server import Ingress

    server = Ingress(dataclasses.replace(settings, ocpp_port=0, ocpp_trusted_proxies=("127.0.0.1/32",)), db=db,
                     bus=LocalBus(), max_message_size=16 * 1024)
    await server.start()
    try:
        with nginx(tmp_path / "nginx", pki, server.port) as tls_port:
            yield tls_port, server.port
    finally:
        await server.stop()


def _tls(pki: Pki, client: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca_pem))
    if client:
        cert, key = pki.clients[client]
        context.load_cert_chain(cert, key)
    return context


async def _boot(ws: Any) -> list[Any]:
    import json

    await ws.send(json.dumps([2, "boot-1", "BootNotification", {"chargePointVendor": "Test", "chargePointModel": "SP3"}]))
    return json.loads(await asyncio.wait_for(ws.recv(), 20))


# --------------------------------------------------------------------------- tests


async def test_profile3_station_connects_through_the_proxy_with_its_certificate_and_no_password(proxied, pki):
    tls_port, _ = proxied
    async with connect(f"wss://localhost:{tls_port}/ocpp/CPAM-LM-SP3", subprotocols=["ocpp1.6"],
                       ssl=_tls(pki, "good"), open_timeout=20) as ws:
        answer = await _boot(ws)
    assert answer[0] == 3 and answer[1] == "boot-1" and answer[2]["status"] == "Accepted"


@pytest.mark.parametrize(("client", "status", "says"), [
    ("wrong-cn", 403, "nom commun (CN)"),          # a valid certificate of another station
    (None, 403, "aucun certificat client"),         # TLS but no certificate: a profile 2 connection
    ("stranger", 400, ""),                          # signed by another CA: nginx ends it
])
async def test_profile3_refuses_another_cn_no_certificate_and_another_ca(proxied, pki, client, status, says):
    tls_port, _ = proxied
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"wss://localhost:{tls_port}/ocpp/CPAM-LM-SP3", subprotocols=["ocpp1.6"],
                      ssl=_tls(pki, client), additional_headers=basic_auth("CPAM-LM-SP3", PASSWORD), open_timeout=20)
    assert refused.value.response.status_code == status
    assert says in refused.value.response.body.decode()


async def test_forged_proxy_headers_on_a_direct_connection_are_ignored(proxied, pki):
    """From 127.0.0.2 (not a trusted proxy) the headers say nothing: profile 3 and 2 need TLS, refused."""
    _, ingress_port = proxied
    cert_pem = pki.clients["good"][0].read_text()
    forged = {"X-Forwarded-Proto": "https", "X-Client-Verify": "SUCCESS", "X-Client-Cert": quote(cert_pem)}
    for charge_box_id in ("CPAM-LM-SP3", "CPAM-LM-SP2"):
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"ws://127.0.0.1:{ingress_port}/ocpp/{charge_box_id}", subprotocols=["ocpp1.6"],
                          additional_headers={**forged, **basic_auth(charge_box_id, PASSWORD)},
                          local_addr=("127.0.0.2", 0), open_timeout=20)
        assert refused.value.response.status_code == 403
        assert "TLS exigée" in refused.value.response.body.decode()


async def test_profiles_1_and_2_keep_their_password_through_the_proxy(proxied, pki):
    tls_port, ingress_port = proxied
    for charge_box_id in ("CPAM-LM-SP2", "CPAM-LM-01"):
        async with connect(f"wss://localhost:{tls_port}/ocpp/{charge_box_id}", subprotocols=["ocpp1.6"],
                           ssl=_tls(pki, None), additional_headers=basic_auth(charge_box_id, PASSWORD),
                           open_timeout=20) as ws:
            assert (await _boot(ws))[2]["status"] == "Accepted"
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"wss://localhost:{tls_port}/ocpp/{charge_box_id}", subprotocols=["ocpp1.6"],
                          ssl=_tls(pki, None), additional_headers=basic_auth(charge_box_id, PASSWORD + "x"),
                          open_timeout=20)
        assert refused.value.response.status_code == 401
    # Profile 1 still connects directly, without TLS.
    async with connect(f"ws://127.0.0.1:{ingress_port}/ocpp/CPAM-LM-01", subprotocols=["ocpp1.6"],
                       additional_headers=basic_auth("CPAM-LM-01", PASSWORD), open_timeout=20) as ws:
        assert (await _boot(ws))[2]["status"] == "Accepted"


async def test_the_registry_page_sets_the_profile_and_refuses_others(db, fleet):
    charger = fleet.chargers["CPAM-LM-01"]
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        row = await session.get(Charger, (fleet.cpam, charger.charger_id))
        assert row.security_profile == 1
        await registry.update_charger(session, fleet.cpam, row, {"security_profile": "3"})
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        row = await session.get(Charger, (fleet.cpam, charger.charger_id))
        assert row.security_profile == 3
        from app.errors import ValidationFailed

        with pytest.raises(ValidationFailed) as refused:
            await registry.update_charger(session, fleet.cpam, row, {"security_profile": "4"})
        assert refused.value.errors["security_profile"] == "Profil de sécurité OCPP : 1, 2 ou 3."


def test_admission_rules_on_their_own(pki):
    """The pure rules (csms.domain.profiles.admit), for what the proxy test cannot show: an expired certificate,
    a peer outside the trusted networks, IPv4-mapped IPv6 peers."""
    import ipaddress

    trusted = [ipaddress.ip_network("10.0.0.10/32")]
    pem = quote(pki.clients["good"][0].read_text())
    headers = {"X-Forwarded-Proto": "https", "X-Client-Verify": "SUCCESS", "X-Client-Cert": pem}
    assert profiles.admit(3, "CPAM-LM-SP3", peer="10.0.0.10", headers=headers, trusted=trusted, now=NOW).ok
    assert profiles.admit(3, "CPAM-LM-SP3", peer="::ffff:10.0.0.10", headers=headers, trusted=trusted, now=NOW).ok
    assert not profiles.admit(3, "CPAM-LM-SP3", peer="10.0.0.11", headers=headers, trusted=trusted, now=NOW).ok
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=60)
    expired = profiles.admit(3, "CPAM-LM-SP3", peer="10.0.0.10", headers=headers, trusted=trusted, now=later)
    assert not expired.ok and "expiré" in expired.reason
    assert profiles.admit(3, "CPAM-LM-SP3", peer="10.0.0.10", headers={**headers, "X-Client-Cert": "x" * 100},
                          trusted=trusted, now=NOW).reason.endswith("illisible.")
    assert profiles.admit(1, "X", peer=None, headers={}, trusted=[], now=NOW).needs_password
    two = profiles.admit(2, "X", peer="10.0.0.10", headers={"X-Forwarded-Proto": "https"}, trusted=trusted, now=NOW)
    assert two.ok and two.needs_password
