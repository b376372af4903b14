"""Station certificates: the CSR a station sends (SignCertificate) signed by a certificate authority.

OCPP 1.6 Security Whitepaper ed. 3 (« Installing a Charge Point certificate », use case A02/A03)
and OCPP 2.0.1 (A02 / A03): the station sends a certificate signing request (PEM, PKCS#10) in
SignCertificate; the central system answers Accepted when it will have it signed, then sends
the signed chain in CertificateSigned.

The authority is the ingress's ``certificate_authority`` (``authority_from_settings``, made once
when the ingress is built):

* **configured** (``CENTRALE_OCPP_CA_CERT_FILE`` and ``CENTRALE_OCPP_CA_KEY_FILE``, and
  ``CENTRALE_OCPP_CA_KEY_PASSWORD`` for an encrypted key): the operator's CA, the one the TLS
  proxy trusts for security profile 3 (« A00.FR.601 The Charge Point Operator MAY act as a
  certificate authority »). Its files are read and checked once (a CA certificate, the key that
  matches it, not expired); anything wrong stops the start with a ``SettingsError`` naming the
  setting. The key is never logged: the log names the CA's subject and SHA-256 fingerprint.
* **in memory** (``FakeCertificateAuthority``, when neither is set): a CA made at start, for the
  embedded demo and the tests; it really signs (the chain verifies against it) but nothing else
  trusts it and each process has its own. Its use is logged as a warning.

Either signs only a CSR whose CN is the station's charge_box_id: a security profile 3 station is
identified by its certificate's CN (csms.domain.profiles, A00.FR.405 / A00.FR.511), so signing another
CN would hand a station another one's identity.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from app.settings import Settings, SettingsError
from csms.domain import commands
from csms.domain import recording as supervision
from csms.domain.ports import CertificateAuthority, Reporting, StationRef

if TYPE_CHECKING:
    from csms.domain.ports import IngressPort

__all__ = ["CertificateAuthority", "FakeCertificateAuthority", "FileCertificateAuthority", "authority_from_settings",
           "check_authority", "load_authority", "read_csr", "receive_csr", "sign_later"]

log = logging.getLogger(__name__)

#: OCPP: a CSR of at most 5,500 characters (1.6 SignCertificate.req, 2.0.1 SignCertificateRequest).
MAX_CSR = 5500
#: A station certificate's validity.
LEAF_DAYS = 365


def read_csr(csr_pem: str) -> x509.CertificateSigningRequest | None:
    """The CSR if it is a PEM PKCS#10 request with a valid signature; None otherwise."""
    if not csr_pem or len(csr_pem) > MAX_CSR or "BEGIN CERTIFICATE REQUEST" not in csr_pem:
        return None
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
    except ValueError:
        return None
    return csr if csr.is_signature_valid else None


def common_names(name: x509.Name) -> list[str]:
    return [str(a.value) for a in name.get_attributes_for_oid(NameOID.COMMON_NAME)]


def _signed_leaf(csr: x509.CertificateSigningRequest, issuer: x509.Certificate, key: Any,
                 now: dt.datetime) -> x509.Certificate:
    """The station's certificate: the CSR's subject and key, a TLS client certificate (A00.FR.512: key usage
    restricted), SHA-256 (A00.FR.506), RSA-PSS for an RSA authority (A00.FR.505)."""
    builder = (
        x509.CertificateBuilder().subject_name(csr.subject).issuer_name(issuer.subject)
        .public_key(csr.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(csr.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()), critical=False)
    )
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return builder.sign(key, None)
    if isinstance(key, rsa.RSAPrivateKey):
        return builder.sign(key, hashes.SHA256(),
                            rsa_padding=padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32))
    return builder.sign(key, hashes.SHA256())


def _pem(*certificates: x509.Certificate) -> str:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates).decode()


class FakeCertificateAuthority:
    """A CA made in memory, for the embedded demo and the tests: signs a valid CSR for a year."""

    def __init__(self, name: str = "Centrale — autorité de test") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        self.certificate = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(self.key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )

    def sign(self, csr: x509.CertificateSigningRequest, *, charge_box_id: str, now: dt.datetime) -> str:
        return _pem(_signed_leaf(csr, self.certificate, self.key, now), self.certificate)


class FileCertificateAuthority:
    """The operator's CA, from its files (``load_authority``): the chain sent is the station's certificate,
    then the CA's file as given (the CA, then any issuers above it)."""

    def __init__(self, chain: list[x509.Certificate], key: Any) -> None:
        self.certificate, self.chain, self._key = chain[0], chain, key

    def __repr__(self) -> str:  # never the key
        return f"FileCertificateAuthority({self.certificate.subject.rfc4514_string()!r})"

    def sign(self, csr: x509.CertificateSigningRequest, *, charge_box_id: str, now: dt.datetime) -> str:
        return _pem(_signed_leaf(csr, self.certificate, self._key, now), *self.chain)


def _read(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"{setting} ({path}): unreadable ({exc.strerror or exc})") from None


def load_authority(cert_file: Path, key_file: Path, password: str = "", *,
                   now: dt.datetime | None = None) -> FileCertificateAuthority:
    """The CA of ``cert_file`` (PEM: the CA certificate first, then its issuers, if any) and ``key_file``
    (PEM or DER, PKCS#8 or traditional, encrypted with ``password`` or not), checked: a CA certificate
    (basicConstraints CA, keyCertSign when key usage is given), valid now, whose public key is the key's.
    A ``SettingsError`` names the setting and what is wrong; no message carries the key."""
    now = now or dt.datetime.now(dt.UTC)
    cert_setting, key_setting = "CENTRALE_OCPP_CA_CERT_FILE", "CENTRALE_OCPP_CA_KEY_FILE"
    cert_bytes, key_bytes = _read(cert_file, cert_setting), _read(key_file, key_setting)
    try:
        chain = x509.load_pem_x509_certificates(cert_bytes)
    except ValueError:
        raise SettingsError(f"{cert_setting} ({cert_file}): not a PEM X.509 certificate") from None
    try:
        loader = (serialization.load_pem_private_key if b"-----BEGIN" in key_bytes
                  else serialization.load_der_private_key)
        key = loader(key_bytes, password=password.encode() or None)
    except TypeError:
        raise SettingsError(f"{key_setting} ({key_file}): the key is encrypted and CENTRALE_OCPP_CA_KEY_PASSWORD "
                            "is not set, or it is set for a key that is not encrypted") from None
    except ValueError:
        raise SettingsError(f"{key_setting} ({key_file}): not a private key, or a wrong "
                            "CENTRALE_OCPP_CA_KEY_PASSWORD") from None
    ca = chain[0]
    try:
        constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise SettingsError(f"{cert_setting} ({cert_file}): not a certificate authority (basicConstraints CA:TRUE "
                            "missing)")
    try:
        if not ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign:
            raise SettingsError(f"{cert_setting} ({cert_file}): its key usage does not allow signing certificates")
    except x509.ExtensionNotFound:
        pass
    if not ca.not_valid_before_utc <= now <= ca.not_valid_after_utc:
        raise SettingsError(f"{cert_setting} ({cert_file}): valid from {ca.not_valid_before_utc:%Y-%m-%d} to "
                            f"{ca.not_valid_after_utc:%Y-%m-%d}, not now")
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if (key.public_key().public_bytes(serialization.Encoding.DER, public)
            != ca.public_key().public_bytes(serialization.Encoding.DER, public)):
        raise SettingsError(f"{key_setting} ({key_file}): this key is not the key of the certificate of "
                            f"{cert_setting}")
    return FileCertificateAuthority(chain, key)


#: The configured CAs loaded in this process, by their files: read once, by ``check_authority`` at the
#: command line's start or by the first ingress (a forked ``--processes`` child inherits it).
_loaded: dict[tuple[Path, Path], FileCertificateAuthority] = {}


def check_authority(settings: Settings) -> None:
    """Load the configured CA now (the command line, before it serves: a ``SettingsError`` becomes its
    one-line error); nothing when none is configured."""
    if settings.ocpp_ca_cert_file is not None or settings.ocpp_ca_key_file is not None:
        authority_from_settings(settings)


def authority_from_settings(settings: Settings) -> CertificateAuthority:
    """The process's authority: the configured CA, loaded once, or the in-memory one (demo and tests)."""
    if settings.ocpp_ca_cert_file is None and settings.ocpp_ca_key_file is None:
        log.warning("OCPP station certificates: in-memory certificate authority (demo and tests only; set "
                    "CENTRALE_OCPP_CA_CERT_FILE and CENTRALE_OCPP_CA_KEY_FILE in production)")
        return FakeCertificateAuthority()
    if settings.ocpp_ca_cert_file is None or settings.ocpp_ca_key_file is None:
        raise SettingsError("CENTRALE_OCPP_CA_CERT_FILE and CENTRALE_OCPP_CA_KEY_FILE go together: one is set "
                            "without the other")
    files = (settings.ocpp_ca_cert_file, settings.ocpp_ca_key_file)
    if files in _loaded:
        return _loaded[files]
    ca = _loaded[files] = load_authority(*files, settings.ocpp_ca_key_password)
    log.info("OCPP station certificates: signed by %s (SHA-256 %s), until %s", ca.certificate.subject.rfc4514_string(),
             ca.certificate.fingerprint(hashes.SHA256()).hex(), ca.certificate.not_valid_after_utc.date())
    return ca


_background: set[asyncio.Task[Any]] = set()


def sign_later(ingress: IngressPort, ref: StationRef, csr: x509.CertificateSigningRequest, *, version: str,
               certificate_type: str | None, now: dt.datetime) -> None:
    """From the SignCertificate handler, after its answer: the chain signed and sent in CertificateSigned
    (a command like the others, in the station's command log)."""
    async def run() -> None:
        try:
            chain = ingress.certificate_authority.sign(csr, charge_box_id=ref.charge_box_id, now=now)
            payload: dict[str, Any] = {"certificateChain": chain}
            if version == "2.0.1" and certificate_type:
                payload["certificateType"] = certificate_type
            await commands.send_command(ingress.db, ingress.bus, tenant_id=ref.tenant_id,
                                        charge_box_id=ref.charge_box_id, action="CertificateSigned",
                                        payload=payload, actor={"user_id": None, "label": "autorité de certification"})
        except Exception:
            log.exception("%s: CertificateSigned not delivered", ref.charge_box_id)

    task = asyncio.create_task(run(), name=f"certificate-signed-{ref.charge_box_id}")
    _background.add(task)
    task.add_done_callback(_background.discard)


async def receive_csr(link: Reporting, csr: str, *, version: str, certificate_type: str | None) -> str:
    """SignCertificate of either version: its status (Accepted for a valid CSR), recorded in the
    register before it is answered; CertificateSigned follows, once the answer is sent (A02).
    Rejected: not a valid CSR, or its CN is not the station's charge_box_id (see the module's docstring)."""
    now, ref = link.received_at, link.ref
    csr_obj = read_csr(csr)
    if csr_obj is not None and common_names(csr_obj.subject) != [ref.charge_box_id]:
        log.warning("%s: SignCertificate refused, the CSR's CN is %s", ref.charge_box_id,
                    common_names(csr_obj.subject))
        csr_obj = None
    status = "Accepted" if csr_obj is not None else "Rejected"
    details: dict[str, Any] = {"status": status}
    if version == "2.0.1":
        details["certificate_type"] = certificate_type or ""
    await link.submit(lambda s: supervision.record_station_event(
        s, ref, "sign_certificate", f"Demande de signature de certificat : {status}.", details, received_at=now,
        severity="info" if csr_obj is not None else "warning"))
    if csr_obj is not None:
        sign_later(link.ingress, ref, csr_obj, version=version, certificate_type=certificate_type, now=now)
    return status
