"""Station certificates: the CSR a station sends (SignCertificate) signed by a certificate authority.

OCPP 1.6 Security Whitepaper ed. 3 (« Installing a Charge Point certificate », use case A02/A03)
and OCPP 2.0.1 (A02 / A03): the station sends a certificate signing request (PEM, PKCS#10) in
SignCertificate; the central system answers Accepted when it will have it signed, then sends
the signed chain in CertificateSigned. The authority is at the edge of the world: behind the
``CertificateAuthority`` seam. ``FakeCertificateAuthority`` (the default, for the embedded mode,
the demo and the tests) really signs the CSR with a CA key made in memory at start: the chain is
a valid X.509 chain a test can verify; a production deployment plugs its own authority with
``use_authority``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import TYPE_CHECKING, Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from csms.domain import commands
from csms.domain import recording as supervision
from csms.domain.ports import Reporting, StationRef

if TYPE_CHECKING:
    from csms.domain.ports import IngressPort

__all__ = ["CertificateAuthority", "FakeCertificateAuthority", "authority", "read_csr", "receive_csr",
           "sign_later", "use_authority"]

log = logging.getLogger(__name__)

#: OCPP: a CSR of at most 5,500 characters (1.6 SignCertificate.req, 2.0.1 SignCertificateRequest).
MAX_CSR = 5500


def read_csr(csr_pem: str) -> x509.CertificateSigningRequest | None:
    """The CSR if it is a PEM PKCS#10 request with a valid signature; None otherwise."""
    if not csr_pem or len(csr_pem) > MAX_CSR or "BEGIN CERTIFICATE REQUEST" not in csr_pem:
        return None
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
    except ValueError:
        return None
    return csr if csr.is_signature_valid else None


class CertificateAuthority(Protocol):
    def sign(self, csr: x509.CertificateSigningRequest, *, charge_box_id: str, now: dt.datetime) -> str:
        """The PEM chain (the station's certificate, then the authority's) for ``csr``."""
        ...


class FakeCertificateAuthority:
    """A CA made in memory: signs any valid CSR for a year, the station's CN kept as sent."""

    def __init__(self, name: str = "Centrale — autorité de test") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        self.certificate = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(self.key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def sign(self, csr: x509.CertificateSigningRequest, *, charge_box_id: str, now: dt.datetime) -> str:
        leaf = (
            x509.CertificateBuilder().subject_name(csr.subject).issuer_name(self.certificate.subject)
            .public_key(csr.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, self.certificate)).decode()


_authority: CertificateAuthority | None = None


def authority() -> CertificateAuthority:
    """The process's authority (the fake one unless ``use_authority`` set another)."""
    global _authority  # noqa: PLW0603 - one authority per process, made on first use
    if _authority is None:
        _authority = FakeCertificateAuthority()
    return _authority


def use_authority(ca: CertificateAuthority) -> None:
    global _authority  # noqa: PLW0603
    _authority = ca


_background: set[asyncio.Task[Any]] = set()


def sign_later(ingress: IngressPort, ref: StationRef, csr: x509.CertificateSigningRequest, *, version: str,
               certificate_type: str | None, now: dt.datetime) -> None:
    """From the SignCertificate handler, after its answer: the chain signed and sent in CertificateSigned
    (a command like the others, in the station's command log)."""
    async def run() -> None:
        try:
            chain = authority().sign(csr, charge_box_id=ref.charge_box_id, now=now)
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
    register before it is answered; CertificateSigned follows, once the answer is sent (A02)."""
    now, ref = link.received_at, link.ref
    csr_obj = read_csr(csr)
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
