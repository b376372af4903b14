"""The protocol side of an OpenID Connect login: discovery, key sets, the code exchange and
the verification of the ID token and of the userinfo response (see ``tenants.oidc``)."""

from __future__ import annotations

import re
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import httpx
from authlib.integrations.base_client import OAuthError
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from litestar.datastructures import State

from app.settings import Settings
from tenants.models import OidcProvider

with warnings.catch_warnings():
    # authlib prefers the httpx2 fork and warns when it falls back to httpx, which works.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.httpx_client import AsyncOAuth2Client
from tenants.oidc.providers import (
    DISCOVERY_SUFFIX,
    HTTP_TIMEOUT,
    LEEWAY,
    METADATA_TTL,
    SIGNING_ALGS,
    decrypt_secret,
    secure_url,
)

# --------------------------------------------------------------------------- provider metadata


class Refused(Exception):
    """The login cannot go on; the page tells the user why, in French."""

    def __init__(self, detail: str, *, status: int = 403, reason: str = "") -> None:
        super().__init__(reason or detail)
        self.detail = detail
        self.status = status


def _unverifiable(reason: str) -> Refused:
    return Refused(
        "La réponse du fournisseur d'identité n'a pas pu être vérifiée. Recommencez la connexion ; "
        "si le problème persiste, contactez le support.",
        reason=reason,
    )


@dataclass
class _Directory:
    """Per-application cache of discovery documents and key sets, by discovery URL."""

    metadata: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    jwks: dict[str, KeySet] = field(default_factory=dict)


def _directory(state: State) -> _Directory:
    directory = state.get("oidc_directory")
    if directory is None:
        directory = _Directory()
        state["oidc_directory"] = directory
    return directory


async def _get_json(url: str) -> dict[str, Any]:
    try:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as client:
            response = await client.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise Refused(
            "Le fournisseur d'identité ne répond pas. Réessayez dans quelques minutes.",
            status=502, reason=f"GET {url}: {exc!r}",
        ) from exc
    if not isinstance(data, dict):
        raise Refused("Le fournisseur d'identité a répondu de façon inattendue.", status=502, reason=f"GET {url}: not an object")
    return data


async def provider_metadata(state: State, provider: OidcProvider) -> dict[str, Any]:
    directory = _directory(state)
    cached = directory.metadata.get(provider.discovery_url)
    if cached and time.monotonic() - cached[0] < METADATA_TTL:
        return cached[1]
    data = await _get_json(provider.discovery_url)
    problems = [key for key in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri") if not data.get(key)]
    if provider.userinfo_signed and not data.get("userinfo_endpoint"):
        problems.append("userinfo_endpoint")
    if provider.discovery_url.endswith(DISCOVERY_SUFFIX):
        # OIDC Discovery 4.3: the issuer is the URL the document was fetched from, minus the suffix.
        expected = provider.discovery_url[: -len(DISCOVERY_SUFFIX)].rstrip("/")
        if str(data.get("issuer", "")).rstrip("/") != expected:
            problems.append("issuer")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint", "end_session_endpoint"):
        if data.get(key) and not secure_url(str(data[key])):
            problems.append(key)
    if problems:
        raise Refused(
            "Le fournisseur d'identité est mal configuré. Contactez le support.",
            status=502, reason=f"discovery document of {provider.slug}: bad {', '.join(problems)}",
        )
    directory.metadata[provider.discovery_url] = (time.monotonic(), data)
    return data


async def _key_set(state: State, provider: OidcProvider, metadata: dict[str, Any], *, refresh: bool = False) -> KeySet:
    directory = _directory(state)
    keys = directory.jwks.get(provider.discovery_url)
    if keys is None or refresh:
        try:
            keys = KeySet.import_key_set(await _get_json(metadata["jwks_uri"]))  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError, JoseError) as exc:
            raise _unverifiable(f"JWKS of {provider.slug}: {exc!r}") from exc
        directory.jwks[provider.discovery_url] = keys
    return keys


def _algorithms(metadata: dict[str, Any], key: str) -> list[str]:
    return [alg for alg in (metadata.get(key) or ["RS256"]) if alg in SIGNING_ALGS]


async def _verify_jwt(
    state: State, provider: OidcProvider, metadata: dict[str, Any], token: str, algorithms: list[str]
) -> jwt.Token:
    """Check a JWT's signature against the provider's keys, refreshing them once for an unknown ``kid``."""
    if not algorithms:
        raise _unverifiable(f"{provider.slug}: no acceptable signing algorithm")
    registry = JWSRegistry(algorithms=algorithms, strict_check_header=False)
    keys = await _key_set(state, provider, metadata)
    try:
        try:
            return jwt.decode(token, keys, registry=registry)
        except InvalidKeyIdError:
            # The provider may have rotated its keys since they were cached.
            keys = await _key_set(state, provider, metadata, refresh=True)
            return jwt.decode(token, keys, registry=registry)
    except (JoseError, ValueError, TypeError) as exc:
        raise _unverifiable(f"{provider.slug}: bad JWT signature: {exc!r}") from exc


def _token_auth_method(provider: OidcProvider, metadata: dict[str, Any]) -> str:
    configured = (provider.settings or {}).get("token_endpoint_auth_method")
    if configured:
        return str(configured)
    # RFC 8414: an absent list means client_secret_basic. ProConnect offers client_secret_post.
    supported = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    return "client_secret_basic" if "client_secret_basic" in supported else "client_secret_post"


def redirect_uri(settings: Settings, slug: str, leaf: str) -> str:
    return f"{settings.base_url}/auth/oidc/{slug}/{leaf}"


async def fetch_identity(
    state: State, provider: OidcProvider, metadata: dict[str, Any], pending: dict[str, Any], code: str
) -> tuple[dict[str, Any], str]:
    """Exchange the code, verify the ID token and the userinfo response; returns (claims, id_token)."""
    settings: Settings = state.settings
    try:
        async with AsyncOAuth2Client(
            client_id=provider.client_id,
            client_secret=decrypt_secret(settings.secret_key, provider.client_secret_encrypted),
            token_endpoint_auth_method=_token_auth_method(provider, metadata),
            redirect_uri=redirect_uri(settings, provider.slug, "callback"),
            timeout=HTTP_TIMEOUT,
        ) as client:
            token = await client.fetch_token(
                metadata["token_endpoint"], grant_type="authorization_code", code=code, code_verifier=pending["verifier"]
            )
            id_token = token.get("id_token")
            access_token = token.get("access_token")
            if not id_token or not access_token:
                raise _unverifiable(f"{provider.slug}: token response without id_token or access_token")
            parsed = await _verify_jwt(
                state, provider, metadata, id_token, _algorithms(metadata, "id_token_signing_alg_values_supported")
            )
            claims = CodeIDToken(
                parsed.claims,
                parsed.header,
                {
                    "iss": {"essential": True, "value": metadata["issuer"]},
                    "aud": {"essential": True, "value": provider.client_id},
                    "sub": {"essential": True},
                    "exp": {"essential": True},
                    "nonce": {"essential": True, "value": pending["nonce"]},
                },
                {"nonce": pending["nonce"], "client_id": provider.client_id, "access_token": access_token},
            )
            try:
                claims.validate(leeway=LEEWAY)
            except JoseError as exc:
                raise _unverifiable(f"{provider.slug}: ID token rejected: {exc!r}") from exc
            identity = dict(claims)
            if metadata.get("userinfo_endpoint"):
                response = await client.request(
                    "GET",
                    metadata["userinfo_endpoint"],
                    headers={"Authorization": f"Bearer {access_token}"},
                    withhold_token=True,
                )
                response.raise_for_status()
                identity.update(await _userinfo_claims(state, provider, metadata, response, identity["sub"]))
    except (OAuthError, httpx.HTTPError, ValueError) as exc:
        raise Refused(
            "Le fournisseur d'identité n'a pas confirmé la connexion. Recommencez depuis la page de connexion.",
            status=502, reason=f"{provider.slug}: token or userinfo request failed: {exc!r}",
        ) from exc
    return identity, id_token


async def _userinfo_claims(
    state: State, provider: OidcProvider, metadata: dict[str, Any], response: httpx.Response, sub: str
) -> dict[str, Any]:
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/jwt":
        parsed = await _verify_jwt(
            state, provider, metadata, response.text.strip(),
            _algorithms(metadata, "userinfo_signing_alg_values_supported"),
        )
        data = dict(parsed.claims)
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY,
            iss={"value": metadata["issuer"]},
            aud={"value": provider.client_id},
        )
        try:
            registry.validate(data)
        except JoseError as exc:
            raise _unverifiable(f"{provider.slug}: userinfo JWT rejected: {exc!r}") from exc
    elif provider.userinfo_signed:
        raise _unverifiable(f"{provider.slug}: unsigned userinfo ({content_type}) from a provider configured as signed")
    else:
        data = response.json()
        if not isinstance(data, dict):
            raise _unverifiable(f"{provider.slug}: userinfo is not an object")
    if data.get("sub") != sub:
        # OIDC Core 5.3.2: otherwise the response may belong to someone else.
        raise _unverifiable(f"{provider.slug}: userinfo sub differs from the ID token's")
    return data


def full_name(claims: dict[str, Any]) -> str:
    given = str(claims.get("given_name") or "").strip()
    family = str(claims.get("usual_name") or claims.get("family_name") or "").strip()
    return f"{given} {family}".strip()[:200]


def siret_claim(claims: dict[str, Any]) -> str:
    value = re.sub(r"\s", "", str(claims.get("siret") or ""))
    return value if len(value) == 14 and value.isdigit() else ""
