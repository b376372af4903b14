"""The certificate authority that signs the stations' CSRs (SignCertificate → CertificateSigned).

OCPP 1.6 Security Whitepaper ed. 3 A02/A03 and OCPP 2.0.1 A02: the operator's CA, configured with
``CENTRALE_OCPP_CA_CERT_FILE`` / ``CENTRALE_OCPP_CA_KEY_FILE`` (« A00.FR.601 The Charge Point Operator
MAY act as a certificate authority »), written to files by the test; the chain a real socket receives
verifies against it with cryptography's X.509 path validation. Misconfigurations stop the start with a
message naming the setting; the key is never logged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store

from app.bus import LocalBus
from app.settings import Settings, SettingsError
from csms.domain import certificates
from tests.csms.conftest import LogRecords, open_socket
from tests.csms.test_fleet_operations import call, make_csr

NOW = dt.datetime.now(dt.UTC)


def make_ca(directory: Path, *, name: str = "CPAM Sarthe — AC des bornes", key: Any = None, ca: bool = True,
            password: bytes | None = None, days: int = 3650) -> tuple[x509.Certificate, Path, Path]:
    """A self-signed CA written as PEM files (the key encrypted with ``password`` when given)."""
    key = key or ec.generate_private_key(ec.SECP384R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CPAM de la Sarthe"),
                         x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=not ca, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=ca,
                                         crl_sign=ca, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = directory / "ca.pem", directory / "ca-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))
    return cert, cert_file, key_file


def env(cert_file: Path | None, key_file: Path | None, password: str = "") -> dict[str, str]:
    values = {"CENTRALE_SECRET_KEY": "x" * 32}
    if cert_file:
        values["CENTRALE_OCPP_CA_CERT_FILE"] = str(cert_file)
    if key_file:
        values["CENTRALE_OCPP_CA_KEY_FILE"] = str(key_file)
    if password:
        values["CENTRALE_OCPP_CA_KEY_PASSWORD"] = password
    return values


@pytest.fixture
def ca_log() -> Any:
    handler = LogRecords(logging.DEBUG)
    logger = logging.getLogger(certificates.__name__)
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def verify_client_chain(chain_pem: str, ca: x509.Certificate) -> x509.Certificate:
    """RFC 5280 path validation of the station's certificate up to ``ca`` (A00.FR.403), as a TLS client,
    the Web PKI profile but for the subjectAltName it requires: a station certificate is named by its CN
    and SHOULD NOT carry a dnsName (A00.FR.511)."""
    leaf, *intermediates = x509.load_pem_x509_certificates(chain_pem.encode())
    station_profile = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
    verifier = (PolicyBuilder().store(Store([ca])).time(dt.datetime.now(dt.UTC))
                .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=station_profile)
                .build_client_verifier())
    verified = verifier.verify(leaf, [c for c in intermediates if c != ca])
    assert verified.chain[-1] == ca
    return leaf


@pytest.mark.parametrize(("charge_box_id", "protocol"), [("CPAM-LM-01", "ocpp1.6"), ("CPAM-LM-201", "ocpp2.0.1")])
async def test_the_configured_ca_signs_the_station_s_csr_and_the_chain_verifies(
        settings, db, fleet, tmp_path, ca_log, charge_box_id, protocol):
    from csms.ingress.server import Ingress

    ca, cert_file, key_file = make_ca(tmp_path / "ca", password=b"phrase-de-passe-ac")
    configured = Settings.from_env(env(cert_file, key_file, "phrase-de-passe-ac"))
    assert (configured.ocpp_ca_cert_file, configured.ocpp_ca_key_file) == (cert_file, key_file)
    assert "phrase-de-passe-ac" not in repr(configured)
    ingress = Ingress(dataclasses.replace(settings, ocpp_port=0, ocpp_ca_cert_file=cert_file,
                                          ocpp_ca_key_file=key_file, ocpp_ca_key_password="phrase-de-passe-ac"),
                      db=db, bus=LocalBus())
    await ingress.start()
    try:
        ws = await open_socket(ingress.port, charge_box_id, protocol=protocol)
        try:
            csr, key = make_csr(charge_box_id)
            request = {"csr": csr, **({"certificateType": "ChargingStationCertificate"}
                                      if protocol == "ocpp2.0.1" else {})}
            assert await call(ws, "c1", "SignCertificate", request) == [3, "c1", {"status": "Accepted"}]
            frame = json.loads(await asyncio.wait_for(ws.recv(), 20))
            assert frame[0] == 2 and frame[2] == "CertificateSigned"
            await ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
            # A CSR naming another station is refused: under security profile 3 the CN is the identity.
            other, _ = make_csr("CPAM-LM-02")
            assert await call(ws, "c2", "SignCertificate", {"csr": other}) == [3, "c2", {"status": "Rejected"}]
        finally:
            await ws.close()
    finally:
        await ingress.stop()
    leaf = verify_client_chain(frame[3]["certificateChain"], ca)
    assert leaf.public_key().public_numbers() == key.public_key().public_numbers()
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == charge_box_id
    assert leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.CLIENT_AUTH])
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc > dt.timedelta(days=364)
    if protocol == "ocpp2.0.1":
        assert frame[3]["certificateType"] == "ChargingStationCertificate"
    # The start says which CA signs (subject, fingerprint); neither the key nor its password is logged.
    assert ca.fingerprint(hashes.SHA256()).hex() in ca_log.text and "in-memory" not in ca_log.text
    key_pem = key_file.read_text()
    assert "phrase-de-passe-ac" not in ca_log.text and key_pem.splitlines()[1] not in ca_log.text


async def test_an_rsa_ca_signs_with_rsa_pss(tmp_path):
    """A00.FR.505: « For signing by the certificate authority RSA-PSS, or ECDSA SHOULD be used »."""
    ca, cert_file, key_file = make_ca(tmp_path, key=rsa.generate_private_key(public_exponent=65537, key_size=3072))
    authority = certificates.load_authority(cert_file, key_file)
    csr, _ = make_csr("CPAM-LM-01")
    chain = authority.sign(x509.load_pem_x509_csr(csr.encode()), charge_box_id="CPAM-LM-01", now=NOW)
    leaf = verify_client_chain(chain, ca)
    assert leaf.signature_algorithm_oid == x509.oid.SignatureAlgorithmOID.RSASSA_PSS


def test_without_ca_files_the_in_memory_ca_is_used_and_said(ca_log):
    authority = certificates.authority_from_settings(Settings.from_env(env(None, None)))
    assert isinstance(authority, certificates.FakeCertificateAuthority)
    assert "WARNING OCPP station certificates: in-memory certificate authority (demo and tests only" in ca_log.text


def test_a_misconfigured_ca_stops_the_start_with_the_setting_named(tmp_path, ca_log):
    ca, cert_file, key_file = make_ca(tmp_path / "good", password=b"secret-ac")
    _, other_cert, other_key = make_ca(tmp_path / "other")
    _, leaf_cert, leaf_key = make_ca(tmp_path / "not-ca", ca=False)
    missing = tmp_path / "absent.pem"
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("pas un certificat")

    def refused(cert: Path | None, key: Path | None, password: str = "") -> str:
        with pytest.raises(SettingsError) as caught:
            certificates.authority_from_settings(Settings.from_env(env(cert, key, password)))
        return str(caught.value)

    assert refused(cert_file, None) == ("CENTRALE_OCPP_CA_CERT_FILE is set without CENTRALE_OCPP_CA_KEY_FILE: the "
                                        "station certificate authority needs both")
    assert refused(None, key_file).startswith("CENTRALE_OCPP_CA_KEY_FILE is set without CENTRALE_OCPP_CA_CERT_FILE")
    assert refused(missing, key_file) == f"CENTRALE_OCPP_CA_CERT_FILE ({missing}): not a readable file"
    assert refused(garbage, key_file) == f"CENTRALE_OCPP_CA_CERT_FILE ({garbage}): not a PEM X.509 certificate"
    assert refused(cert_file, key_file).startswith(
        f"CENTRALE_OCPP_CA_KEY_FILE ({key_file}): the key is encrypted and CENTRALE_OCPP_CA_KEY_PASSWORD is not set")
    assert refused(cert_file, key_file, "wrong") == (
        f"CENTRALE_OCPP_CA_KEY_FILE ({key_file}): not a private key, or a wrong CENTRALE_OCPP_CA_KEY_PASSWORD")
    assert refused(cert_file, other_key, "x") .startswith(f"CENTRALE_OCPP_CA_KEY_FILE ({other_key}): ")
    assert refused(other_cert, leaf_key) == (
        f"CENTRALE_OCPP_CA_KEY_FILE ({leaf_key}): this key is not the key of the certificate of "
        "CENTRALE_OCPP_CA_CERT_FILE")
    assert refused(leaf_cert, leaf_key) == (
        f"CENTRALE_OCPP_CA_CERT_FILE ({leaf_cert}): not a certificate authority (basicConstraints CA:TRUE missing)")
    _, expired_cert, expired_key = make_ca(tmp_path / "expired", days=-0)
    with pytest.raises(SettingsError, match=r"CENTRALE_OCPP_CA_CERT_FILE .*: valid from .* not now"):
        certificates.load_authority(expired_cert, expired_key, now=NOW + dt.timedelta(days=2))
    assert "secret-ac" not in ca_log.text
    assert certificates.load_authority(cert_file, key_file, "secret-ac").certificate == ca


def test_centrale_ingress_stops_at_once_on_a_wrong_ca_file(centrale, monkeypatch, tmp_path):
    """The production command says what is wrong in one line and serves nothing."""
    _, cert_file, _ = make_ca(tmp_path / "ca")
    _, _, other_key = make_ca(tmp_path / "other")
    monkeypatch.setenv("CENTRALE_OCPP_CA_CERT_FILE", str(cert_file))
    monkeypatch.setenv("CENTRALE_OCPP_CA_KEY_FILE", str(other_key))
    monkeypatch.setenv("CENTRALE_OCPP_PORT", "1")  # never listened on: the command stops before
    monkeypatch.setenv("CENTRALE_HTTP_PORT", "1")
    for command in ("ingress", "serve"):  # scaled mode's ingress, embedded mode (components' preflight)
        result = centrale.invoke(command)
        assert result.exit_code == 1, (command, result.output)
        assert result.output.strip() == (f"Error: CENTRALE_OCPP_CA_KEY_FILE ({other_key}): this key is not the key "
                                         "of the certificate of CENTRALE_OCPP_CA_CERT_FILE"), command
    monkeypatch.delenv("CENTRALE_OCPP_CA_KEY_FILE")
    result = centrale.invoke("ingress")
    assert result.exit_code == 1 and result.output.strip() == (
        "Error: CENTRALE_OCPP_CA_CERT_FILE is set without CENTRALE_OCPP_CA_KEY_FILE: the station certificate "
        "authority needs both")
