"""OCPP security profiles at the handshake: what the ingress requires of a station's connection.

The three profiles (OCPP 1.6 Security Whitepaper ed. 3, §2; OCPP 2.0.1 Part 2 A00 « Security profiles »):

1. unsecured transport with HTTP Basic authentication: the station's password (csms.domain.passwords);
2. TLS with HTTP Basic authentication: the password, over TLS;
3. TLS with client-side certificates: the station presents a certificate whose subject's common name
   is its identity (1.6 whitepaper §2.3.3 and 2.0.1 A00.FR.417: the CN holds the charge box's
   identity); no password.

TLS is terminated by the proxy in front of the ingress (nginx: ``docker/nginx/ocpp-tls.conf.template``),
which verifies the client certificate against the stations' CA and passes what it saw in headers:
``X-Forwarded-Proto`` (``https``), ``X-Client-Verify`` (nginx's ``$ssl_client_verify``: ``SUCCESS``,
``NONE``, ``FAILED:reason``) and ``X-Client-Cert`` (``$ssl_client_escaped_cert``: the URL-encoded PEM).
The headers are believed from the configured proxy addresses only (``CENTRALE_OCPP_TRUSTED_PROXIES``);
from anywhere else they are ignored, so a station reaching the ingress directly is a profile 1
connection whatever it sends. The certificate is parsed here (``cryptography``), not its subject
string: a DN's escaping rules leave no doubt to a parser and some to a regular expression.

Pure: no database, no socket; the ingress passes the peer address and the headers.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

__all__ = ["PROFILES", "Admission", "ClientCertificate", "admit", "is_trusted_peer", "parse_client_certificate"]

#: Profile → what the registry page says of it.
PROFILES: dict[int, str] = {
    1: "Profil 1 : mot de passe (HTTP Basic), sans TLS exigé",
    2: "Profil 2 : mot de passe (HTTP Basic) sur TLS",
    3: "Profil 3 : certificat client TLS",
}

#: nginx's ``$ssl_client_escaped_cert`` of a 4096-bit RSA certificate with a long chain stays under 8 KiB.
MAX_CERT_HEADER = 16 * 1024

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    common_names: tuple[str, ...]
    #: SHA-256 of the DER certificate, hex: what the connection's log names (never the certificate itself).
    fingerprint: str
    not_after: dt.datetime


@dataclass(frozen=True, slots=True)
class Admission:
    """``ok`` or the refusal: ``status`` (HTTP) and ``reason`` (French, shown to the station's installer)."""

    ok: bool
    status: int = 200
    reason: str = ""
    #: Whether the password must still be checked (profiles 1 and 2).
    needs_password: bool = True
    certificate: ClientCertificate | None = None


def is_trusted_peer(peer: str | None, networks: Iterable[Network]) -> bool:
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def parse_client_certificate(header: str) -> ClientCertificate | None:
    """The proxy's URL-encoded PEM, or ``None`` when it is absent, oversized or not a certificate."""
    if not header or len(header) > MAX_CERT_HEADER:
        return None
    try:
        certificate = x509.load_pem_x509_certificate(unquote(header).encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return None
    names = tuple(str(attribute.value) for attribute in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME))
    return ClientCertificate(names, certificate.fingerprint(hashes.SHA256()).hex(), certificate.not_valid_after_utc)


def admit(profile: int, charge_box_id: str, *, peer: str | None, headers: Mapping[str, str],
          trusted: Iterable[Network], now: dt.datetime) -> Admission:
    """What the handshake of ``charge_box_id`` (registered with ``profile``) may go on with."""
    if profile <= 1:
        return Admission(True)
    from_proxy = is_trusted_peer(peer, trusted)
    tls = from_proxy and headers.get("X-Forwarded-Proto", "").strip().lower() in {"https", "wss"}
    if not tls:
        return Admission(False, 403, f"Profil de sécurité {profile} : connexion TLS exigée (wss://, par le proxy TLS).")
    if profile == 2:
        return Admission(True)
    verify = headers.get("X-Client-Verify", "").strip()
    if verify != "SUCCESS":
        what = "aucun certificat client présenté" if verify in {"", "NONE"} else "certificat client refusé par le proxy"
        return Admission(False, 403, f"Profil de sécurité 3 : {what}.", needs_password=False)
    certificate = parse_client_certificate(headers.get("X-Client-Cert", ""))
    if certificate is None:
        return Admission(False, 403, "Profil de sécurité 3 : certificat client illisible.", needs_password=False)
    if now >= certificate.not_after:
        return Admission(False, 403, "Profil de sécurité 3 : certificat client expiré.", needs_password=False,
                         certificate=certificate)
    if certificate.common_names != (charge_box_id,):
        return Admission(False, 403, "Profil de sécurité 3 : le nom commun (CN) du certificat n'est pas "
                         f"l'identifiant de la borne ({charge_box_id}).", needs_password=False, certificate=certificate)
    return Admission(True, needs_password=False, certificate=certificate)
