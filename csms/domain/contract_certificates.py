"""The certificate side of ISO 15118 Plug & Charge, behind a seam (OCPP 2.0.1 M02 / M03 / M06).

A station asks the CSMS for two things it cannot do itself:

* Get15118EVCertificate (M02 install, M03 update): the EV's EXI-encoded
  CertificateInstallationReq goes to a contract certificate provider (a V2G PKI: Hubject,
  Gireve…) and its EXI CertificateInstallationRes comes back;
* GetCertificateStatus (M06): an OCSP request about a certificate of the chain, answered
  with the responder's DER OCSP response in base64.

Centrale is not a V2G PKI and holds no contract with one: the ingress talks to a
``ContractAuthority``; the one in place by default (``NoContractAuthority``) answers
``Failed`` as the spec allows when the CSMS cannot serve the request (M02.FR.?: « status
Failed » with an empty ``exiResponse``). A deployment with a provider plugs its client in
(``Ingress.contract_authority``); the tests plug in a fake one at that same edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["CertificateAnswer", "ContractAuthority", "NoContractAuthority"]


@dataclass
class CertificateAnswer:
    """``status`` (Accepted | Failed) and the payload for the station (EXI or OCSP, base64)."""

    status: str
    data: str = ""


class ContractAuthority(Protocol):
    async def ev_certificate(self, schema_version: str, action: str, exi_request: str) -> CertificateAnswer:
        """The EXI answer to an EV's CertificateInstallationReq (``action``: Install or Update)."""
        ...

    async def certificate_status(self, ocsp_request: dict[str, Any]) -> CertificateAnswer:
        """The OCSP response (base64 DER) for ``ocsp_request`` (hashAlgorithm, issuerNameHash,
        issuerKeyHash, serialNumber, responderURL; snake_case keys)."""
        ...


class NoContractAuthority:
    """No provider configured: every request is answered ``Failed``, without data."""

    async def ev_certificate(self, schema_version: str, action: str, exi_request: str) -> CertificateAnswer:
        return CertificateAnswer("Failed")

    async def certificate_status(self, ocsp_request: dict[str, Any]) -> CertificateAnswer:
        return CertificateAnswer("Failed")
