"""OpenID Connect login, compatible with ProConnect (the French state's agent SSO).

One ``OidcProvider`` row per configured provider, enabled for the whole platform,
for a central or for a tenant. The flow is the authorization code flow with PKCE
(S256); ``state`` and ``nonce`` are 43 characters (ProConnect requires at least 32).
What the provider returns is trusted only after verification:

- the ID token: signature against the provider's JWKS (asymmetric algorithms only),
  ``iss``, ``aud``, ``exp``, ``nonce`` (and ``at_hash`` when present);
- the userinfo response: ProConnect answers with a signed JWT
  (``application/jwt``), verified like the ID token; a plain JSON userinfo is
  accepted only from a provider configured with ``userinfo_signed = False``. Its
  ``sub`` must equal the ID token's (OIDC Core 5.3.2).

Accounts are matched by e-mail. A provider scoped to a central or a tenant only
signs in users who belong to that scope, so that a provider trusted by one
beneficiary cannot open the account of another. Just-in-time provisioning
(``settings.jit_role``) creates an account only when the ``siret`` claim is the
SIRET of a tenant the provider serves.

The client secret is stored encrypted (Fernet, key derived from the
application's secret key with HKDF-SHA256): rotating the secret key means
re-entering the client secrets (``centrale oidc add --replace``).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import secrets
import time
import uuid
import warnings
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import click
import httpx
from authlib.integrations.base_client import OAuthError
from authlib.oidc.core import CodeIDToken
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.response import Redirect, Template
from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import record_event
from app.db import scope_session, unscoped, utcnow
from app.errors import NotFound, ValidationFailed
from app.settings import Settings
from tenants.models import CentralMembership, Membership, OidcProvider, Role, Tenant, User

with warnings.catch_warnings():
    # authlib prefers the httpx2 fork and warns when it falls back to httpx, which works.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.httpx_client import AsyncOAuth2Client

__all__ = [
    "add_provider",
    "decrypt_secret",
    "encrypt_secret",
    "end_session_url",
    "handlers",
    "list_login_providers",
    "list_providers",
    "oidc",
]

DEFAULT_SCOPE = "openid email given_name usual_name siret uid"
#: Roles an account may receive at its first OIDC login; never admin or operator.
JIT_ROLES = (Role.AGENT, Role.VIEWER)
#: Asymmetric algorithms only: an HMAC "signature" keyed with the client secret
#: would let anyone holding the secret forge identities.
SIGNING_ALGS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})
PENDING_KEY = "oidc_pending"
LOGIN_KEY = "oidc"
PENDING_TTL = 600  # seconds between the redirect to the provider and the callback
MAX_PENDING = 5  # concurrent logins from several tabs
METADATA_TTL = 3600
LEEWAY = 60
HTTP_TIMEOUT = 10.0
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
DISCOVERY_SUFFIX = "/.well-known/openid-configuration"
#: Parameters of the authorization request that the flow itself sets.
RESERVED_AUTHORIZE_PARAMS = frozenset(
    {"state", "nonce", "client_id", "redirect_uri", "response_type", "scope", "code_challenge", "code_challenge_method"}
)


# --------------------------------------------------------------------------- client secret at rest


def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"centrale", info=b"oidc-client-secret").derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_secret(secret_key: str, plain: str) -> str:
    return _fernet(secret_key).encrypt(plain.encode()).decode() if plain else ""


def decrypt_secret(secret_key: str, token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet(secret_key).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise RuntimeError("OIDC client secret unreadable: was the secret key changed?") from exc


# --------------------------------------------------------------------------- configuration


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _secure_url(url: str) -> bool:
    """HTTPS, or plain HTTP to this machine only (development and tests)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname))


async def list_providers(session: AsyncSession) -> list[OidcProvider]:
    return list(await session.scalars(select(OidcProvider).order_by(OidcProvider.name, OidcProvider.slug)))


async def list_login_providers(session: AsyncSession) -> list[OidcProvider]:
    """The buttons of the login page: every enabled provider."""
    rows = await session.scalars(
        select(OidcProvider).where(OidcProvider.enabled.is_(True)).order_by(OidcProvider.name, OidcProvider.slug)
    )
    return list(rows)


async def get_enabled_provider(session: AsyncSession, slug: str) -> OidcProvider:
    provider = await session.scalar(select(OidcProvider).where(OidcProvider.slug == slug))
    if provider is None or not provider.enabled:
        raise NotFound("fournisseur d'identité")
    return provider


async def add_provider(
    session: AsyncSession,
    settings: Settings,
    *,
    slug: str,
    name: str,
    discovery_url: str,
    client_id: str,
    client_secret: str,
    central_code: str | None = None,
    tenant_id: uuid.UUID | str | None = None,
    jit_role: str | None = None,
    scope: str = DEFAULT_SCOPE,
    userinfo_signed: bool = True,
    authorize_params: dict[str, str] | None = None,
    replace: bool = False,
) -> OidcProvider:
    """Create a provider (or, with ``replace``, update the one with this slug)."""
    from tenants.models import Central

    errors: dict[str, str] = {}
    slug = slug.strip().lower()
    name = name.strip()
    discovery_url = discovery_url.strip()
    client_id = client_id.strip()
    scope = " ".join(scope.split())
    if not SLUG_RE.match(slug):
        errors["slug"] = "Identifiant invalide : minuscules, chiffres et tirets, 40 caractères au plus."
    if not name or len(name) > 100:
        errors["name"] = "Le nom affiché est obligatoire (100 caractères au plus)."
    if not _secure_url(discovery_url) or len(discovery_url) > 500:
        errors["discovery_url"] = "L'URL de découverte doit être en HTTPS (HTTP accepté seulement vers localhost)."
    if not client_id or len(client_id) > 200:
        errors["client_id"] = "L'identifiant client est obligatoire (200 caractères au plus)."
    if not client_secret or len(client_secret) > 200:
        errors["client_secret"] = "Le secret client est obligatoire (200 caractères au plus)."  # noqa: S105
    if "openid" not in scope.split():
        errors["scope"] = "La portée doit contenir « openid »."
    if central_code and tenant_id:
        errors["central"] = "Choisissez une centrale ou un bénéficiaire, pas les deux."
    central = None
    if central_code and "central" not in errors:
        central = await session.scalar(select(Central).where(Central.code == central_code.strip().upper()))
        if central is None:
            errors["central"] = f"Centrale inconnue : {central_code}."
    tenant = None
    if tenant_id and "central" not in errors:
        try:
            tenant = await session.get(Tenant, uuid.UUID(str(tenant_id)))
        except ValueError:
            tenant = None
        if tenant is None:
            errors["tenant"] = "Bénéficiaire inconnu."
    if jit_role:
        if jit_role not in {r.value for r in JIT_ROLES}:
            errors["jit_role"] = "Création automatique : profil « agent » ou « viewer » seulement."
        elif central_code is None and tenant_id is None:
            errors["jit_role"] = "La création automatique de comptes exige une centrale ou un bénéficiaire."
    reserved = sorted(set(authorize_params or {}) & RESERVED_AUTHORIZE_PARAMS)
    if reserved:
        errors["authorize_params"] = "Paramètres fixés par Centrale, non modifiables : " + ", ".join(reserved) + "."
    existing = await session.scalar(select(OidcProvider).where(OidcProvider.slug == slug))
    if existing is not None and not replace:
        errors["slug"] = "Un fournisseur porte déjà cet identifiant (utilisez --replace pour le modifier)."
    if errors:
        raise ValidationFailed(errors)
    provider = existing or OidcProvider(slug=slug)
    provider.name = name
    provider.discovery_url = discovery_url
    provider.client_id = client_id
    provider.client_secret_encrypted = encrypt_secret(settings.secret_key, client_secret)
    provider.scope = scope
    provider.central_id = central.id if central else None
    provider.tenant_id = tenant.id if tenant else None
    provider.userinfo_signed = userinfo_signed
    provider.enabled = True
    provider.settings = {
        **(existing.settings if existing else {}),
        "jit_role": jit_role or None,
        "authorize_params": dict(authorize_params or {}),
    }
    if existing is None:
        session.add(provider)
    await session.flush()
    return provider


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


async def _metadata(state: State, provider: OidcProvider) -> dict[str, Any]:
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
        if data.get(key) and not _secure_url(str(data[key])):
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


def _redirect_uri(settings: Settings, slug: str, leaf: str) -> str:
    return f"{settings.base_url}/auth/oidc/{slug}/{leaf}"


# --------------------------------------------------------------------------- the flow


def _session_dict(request: Request[Any, Any, Any]) -> dict[str, Any]:
    data = request.session
    return dict(data) if isinstance(data, dict) else {}


def _refused_page(request: Request[Any, Any, Any], exc: Refused, provider_name: str = "") -> Template:
    request.logger.warning("OIDC login refused: %s", exc)
    return Template(
        "error.html",
        context={"status": exc.status, "title": "Connexion impossible", "detail": exc.detail, "provider": provider_name},
        status_code=exc.status,
    )


@get("/auth/oidc/{slug:str}/login", include_in_schema=False)
async def oidc_login(
    slug: str, request: Request[Any, Any, Any], state: State, db_session: AsyncSession, suivant: str = "/"
) -> Redirect | Template:
    """Send the browser to the provider, remembering state, nonce and PKCE verifier in the session."""
    from tenants.controllers import _safe_next

    provider = await get_enabled_provider(db_session, slug)
    try:
        metadata = await _metadata(state, provider)
    except Refused as exc:
        return _refused_page(request, exc, provider.name)
    oidc_state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64)
    now = time.time()
    data = _session_dict(request)
    pending = {
        key: value for key, value in (data.get(PENDING_KEY) or {}).items() if now - value.get("at", 0) < PENDING_TTL
    }
    pending[oidc_state] = {"slug": slug, "nonce": nonce, "verifier": verifier, "next": _safe_next(suivant), "at": now}
    data[PENDING_KEY] = dict(sorted(pending.items(), key=lambda item: item[1]["at"])[-MAX_PENDING:])
    request.set_session(data)
    extra = dict((provider.settings or {}).get("authorize_params") or {})
    async with AsyncOAuth2Client(
        client_id=provider.client_id,
        scope=provider.scope,
        redirect_uri=_redirect_uri(state.settings, slug, "callback"),
        code_challenge_method="S256",
    ) as client:
        url, _ = client.create_authorization_url(
            metadata["authorization_endpoint"], state=oidc_state, code_verifier=verifier, nonce=nonce, **extra
        )
    return Redirect(url)


async def _fetch_identity(
    state: State, provider: OidcProvider, metadata: dict[str, Any], pending: dict[str, Any], code: str
) -> tuple[dict[str, Any], str]:
    """Exchange the code, verify the ID token and the userinfo response; returns (claims, id_token)."""
    settings: Settings = state.settings
    try:
        async with AsyncOAuth2Client(
            client_id=provider.client_id,
            client_secret=decrypt_secret(settings.secret_key, provider.client_secret_encrypted),
            token_endpoint_auth_method=_token_auth_method(provider, metadata),
            redirect_uri=_redirect_uri(settings, provider.slug, "callback"),
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


def _full_name(claims: dict[str, Any]) -> str:
    given = str(claims.get("given_name") or "").strip()
    family = str(claims.get("usual_name") or claims.get("family_name") or "").strip()
    return f"{given} {family}".strip()[:200]


def _siret(claims: dict[str, Any]) -> str:
    value = re.sub(r"\s", "", str(claims.get("siret") or ""))
    return value if len(value) == 14 and value.isdigit() else ""


async def _allowed_tenant_ids(session: AsyncSession, provider: OidcProvider) -> set[uuid.UUID] | None:
    """The tenants a scoped provider serves; None for a platform-wide provider."""
    from tenants.services import tenant_ids_of_central

    if provider.tenant_id is not None:
        return {provider.tenant_id}
    if provider.central_id is not None:
        return set(await tenant_ids_of_central(session, provider.central_id))
    return None


async def _user_in_scope(session: AsyncSession, provider: OidcProvider, user: User, allowed: set[uuid.UUID] | None) -> bool:
    if allowed is None:
        return True
    with unscoped(session):
        if allowed and await session.scalar(
            select(exists().where(Membership.user_id == user.id, Membership.tenant_id.in_(allowed)))
        ):
            return True
        if provider.central_id is None:
            return False
        return bool(await session.scalar(
            select(exists().where(CentralMembership.user_id == user.id, CentralMembership.central_id == provider.central_id))
        ))


def _no_account(email: str) -> Refused:
    return Refused(
        f"Aucun compte Centrale n'est associé à {email} ; "
        "demandez à l'administrateur de votre structure de vous inviter.",
        reason=f"no account for {email}",
    )


async def _provision(
    session: AsyncSession, provider: OidcProvider, claims: dict[str, Any], email: str, allowed: set[uuid.UUID] | None
) -> User:
    """Just-in-time account: only with a configured role and the SIRET of a tenant the provider serves."""
    from tenants import services

    role = (provider.settings or {}).get("jit_role")
    siret = _siret(claims)
    if not role or role not in {r.value for r in JIT_ROLES} or not siret or not allowed:
        raise _no_account(email)
    tenant = await session.scalar(select(Tenant).where(Tenant.siret == siret))
    if tenant is None or tenant.id not in allowed or not tenant.is_active:
        raise Refused(
            f"Aucun compte Centrale n'est associé à {email} et le SIRET de votre structure ({siret}) "
            f"n'ouvre pas de compte automatiquement avec {provider.name} ; "
            "demandez à l'administrateur de votre structure de vous inviter.",
            reason=f"JIT refused for {email}: siret {siret} not served by {provider.slug}",
        )
    scope_session(session, [tenant.id], actor={"user_id": None, "label": f"{email} (création via {provider.name})"})
    try:
        return await services.create_user(
            session, email=email, full_name=_full_name(claims), role=role, tenant_id=tenant.id
        )
    except ValidationFailed as exc:
        raise Refused("Votre compte n'a pas pu être créé : " + "; ".join(exc.errors.values()), reason=str(exc)) from exc


async def _account_for(session: AsyncSession, provider: OidcProvider, claims: dict[str, Any]) -> User:
    from tenants import services

    email = str(claims.get("email") or "").strip().lower()
    if not email or "@" not in email:
        raise Refused(
            f"{provider.name} n'a pas transmis votre adresse électronique ; Centrale ne peut pas vous identifier.",
            reason="no email claim",
        )
    if claims.get("email_verified") is False:
        raise Refused(f"{provider.name} indique que votre adresse électronique n'est pas vérifiée.", reason="email not verified")
    allowed = await _allowed_tenant_ids(session, provider)
    user = await services.find_user_by_email(session, email)
    if user is None:
        return await _provision(session, provider, claims, email, allowed)
    if not user.is_active:
        raise Refused("Votre compte Centrale est désactivé ; contactez l'administrateur de votre structure.", reason=f"{email} inactive")
    # From here the request acts as this user: on PostgreSQL, RLS shows a user their own memberships.
    scope_session(session, None, actor={"user_id": user.id, "label": user.email})
    if not await _user_in_scope(session, provider, user, allowed):
        raise Refused(
            f"Votre compte Centrale ({email}) n'est pas ouvert à la connexion avec {provider.name} ; "
            "utilisez votre mot de passe ou le fournisseur d'identité de votre structure.",
            reason=f"{email} outside the scope of {provider.slug}",
        )
    if not user.full_name:
        user.full_name = _full_name(claims)
    return user


@get("/auth/oidc/{slug:str}/callback", include_in_schema=False)
async def oidc_callback(
    slug: str, request: Request[Any, Any, Any], state: State, db_session: AsyncSession
) -> Redirect | Template:
    """The provider sends the browser back here with ``code`` and ``state`` (a GET: ``state`` stands in for CSRF)."""
    from app.auth import login_session
    from tenants import services
    from tenants.controllers import home_url_for

    provider = await get_enabled_provider(db_session, slug)
    params = request.query_params
    data = _session_dict(request)
    pending_all = dict(data.get(PENDING_KEY) or {})
    pending = pending_all.pop(str(params.get("state") or ""), None)  # single use, even when refused below
    data[PENDING_KEY] = pending_all
    request.set_session(data)
    try:
        if pending is None or pending.get("slug") != slug or time.time() - pending.get("at", 0) > PENDING_TTL:
            raise Refused(
                "Cette demande de connexion a expiré ou n'est pas valide. Recommencez depuis la page de connexion.",
                status=400, reason="unknown, expired or foreign state",
            )
        if params.get("error"):
            raise Refused(
                f"La connexion avec {provider.name} a été interrompue. Recommencez depuis la page de connexion.",
                status=400, reason=f"provider error {params.get('error')}: {params.get('error_description')}",
            )
        code = str(params.get("code") or "")
        if not code:
            raise Refused("Réponse incomplète du fournisseur d'identité.", status=400, reason="no code")
        metadata = await _metadata(state, provider)
        claims, id_token = await _fetch_identity(state, provider, metadata, pending, code)
        user = await _account_for(db_session, provider, claims)
    except Refused as exc:
        return _refused_page(request, exc, provider.name)
    user.last_login_at = utcnow()
    scope_session(db_session, None, actor={"user_id": user.id, "label": user.email})  # a new account too
    record_event(
        db_session, action="login", entity="users", entity_id=str(user.id),
        details={"via": provider.slug, "uid": claims.get("uid"), "siret": claims.get("siret")},
    )
    await db_session.flush()
    login_session(request, user)
    request.set_session({**_session_dict(request), LOGIN_KEY: {"slug": slug, "id_token": id_token}})
    next_url = pending.get("next") or "/"
    if next_url == "/":
        next_url = await home_url_for(db_session, await services.load_identity(db_session, user))
    return Redirect(next_url)


async def end_session_url(request: Request[Any, Any, Any]) -> str | None:
    """Where to send the browser at logout: the provider's ``end_session_endpoint`` when the
    session came from OIDC and the provider offers one, else None. Call before clearing the session."""
    login = _session_dict(request).get(LOGIN_KEY)
    if not isinstance(login, dict) or not login.get("slug"):
        return None
    state: State = request.app.state
    try:
        async with state.db.session() as session:
            provider = await get_enabled_provider(session, login["slug"])
        metadata = await _metadata(state, provider)
    except (NotFound, Refused) as exc:
        request.logger.warning("OIDC logout without the provider: %s", exc)
        return None
    endpoint = metadata.get("end_session_endpoint")
    if not endpoint:
        return None
    query = {
        "id_token_hint": login.get("id_token") or "",
        "post_logout_redirect_uri": _redirect_uri(state.settings, provider.slug, "logout"),
        "state": secrets.token_urlsafe(32),
        "client_id": provider.client_id,
    }
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode({k: v for k, v in query.items() if v})}"


@post("/auth/oidc/{slug:str}/logout", include_in_schema=False)
async def oidc_logout(request: Request[Any, Any, Any]) -> Redirect:
    """Close the local session, then the provider's (RP-initiated logout)."""
    target = await end_session_url(request)
    request.clear_session()
    return Redirect(target or "/connexion")


@get("/auth/oidc/{slug:str}/logout", include_in_schema=False)
async def oidc_logged_out(request: Request[Any, Any, Any]) -> Redirect:
    """The provider's ``post_logout_redirect_uri``: the local session is already closed."""
    return Redirect("/connexion")


handlers: list[Any] = [oidc_login, oidc_callback, oidc_logout, oidc_logged_out]


# --------------------------------------------------------------------------- CLI


def _describe(provider: OidcProvider, scope_label: str) -> dict[str, Any]:
    return {
        "id": str(provider.id),
        "slug": provider.slug,
        "name": provider.name,
        "discovery_url": provider.discovery_url,
        "client_id": provider.client_id,
        "scope": provider.scope,
        "for": scope_label,
        "central_id": str(provider.central_id) if provider.central_id else None,
        "tenant_id": str(provider.tenant_id) if provider.tenant_id else None,
        "jit_role": (provider.settings or {}).get("jit_role"),
        "authorize_params": (provider.settings or {}).get("authorize_params") or {},
        "userinfo_signed": provider.userinfo_signed,
        "enabled": provider.enabled,
    }


@click.group(help="Fournisseurs d'identité OpenID Connect (ProConnect…).")
def oidc() -> None:
    pass


@oidc.command("add", help="Déclare un fournisseur d'identité (le secret client est chiffré en base).")
@click.option("--slug", required=True, help="Identifiant dans les URL, ex. proconnect")
@click.option("--name", required=True, help="Nom affiché : « Se connecter avec NOM »")
@click.option("--discovery-url", required=True, help="URL du document /.well-known/openid-configuration")
@click.option("--client-id", required=True)
@click.option("--client-secret", required=True)
@click.option("--central", "central_code", help="Réservé à une centrale (code)")
@click.option("--tenant", "tenant_id", help="Réservé à un bénéficiaire (identifiant)")
@click.option("--jit-role", type=click.Choice([r.value for r in JIT_ROLES]), help="Crée le compte à la première connexion si le SIRET correspond")
@click.option("--scope", default=DEFAULT_SCOPE, show_default=True)
@click.option("--userinfo-json", is_flag=True, help="userinfo en JSON simple (par défaut : JWT signé, comme ProConnect)")
@click.option("--authorize-param", "authorize_params", multiple=True, metavar="CLÉ=VALEUR",
              help="Paramètre ajouté à la demande d'autorisation (ex. acr_values=eidas1) ; répétable")
@click.option("--replace", is_flag=True, help="Met à jour le fournisseur de même identifiant")
@click.option("--json", "as_json", is_flag=True)
def oidc_add(
    slug: str, name: str, discovery_url: str, client_id: str, client_secret: str, central_code: str | None,
    tenant_id: str | None, jit_role: str | None, scope: str, userinfo_json: bool, authorize_params: tuple[str, ...],
    replace: bool, as_json: bool,
) -> None:
    from app.cli import _emit, _handle_cli_error, _run

    extra: dict[str, str] = {}
    for item in authorize_params:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"attendu CLÉ=VALEUR, reçu « {item} »", param_hint="--authorize-param")
        extra[key.strip()] = value

    async def go(settings: Settings) -> Any:
        from app.db import Database

        database = Database(settings.database_url)
        try:
            async with database.transaction(actor={"user_id": None, "label": "cli"}) as session:
                provider = await add_provider(
                    session, settings, slug=slug, name=name, discovery_url=discovery_url, client_id=client_id,
                    client_secret=client_secret, central_code=central_code, tenant_id=tenant_id, jit_role=jit_role,
                    scope=scope, userinfo_signed=not userinfo_json, authorize_params=extra, replace=replace,
                )
                return provider.id
        finally:
            await database.dispose()

    try:
        provider_id = _run(go)
    except Exception as exc:  # noqa: BLE001
        _handle_cli_error(exc, as_json)
    _emit(as_json, {"id": str(provider_id), "slug": slug.strip().lower()}, f"fournisseur d'identité enregistré : {slug}")


def _set_enabled(slug: str, enabled: bool) -> None:
    from app.cli import _handle_cli_error, _run

    async def go(settings: Settings) -> None:
        from app.db import Database

        database = Database(settings.database_url)
        try:
            async with database.transaction(actor={"user_id": None, "label": "cli"}) as session:
                provider = await session.scalar(select(OidcProvider).where(OidcProvider.slug == slug.strip().lower()))
                if provider is None:
                    raise NotFound(f"fournisseur d'identité {slug}")
                provider.enabled = enabled
        finally:
            await database.dispose()

    try:
        _run(go)
    except Exception as exc:  # noqa: BLE001
        _handle_cli_error(exc, False)
    click.echo(f"fournisseur d'identité {slug} {'activé' if enabled else 'désactivé'}")


@oidc.command("enable", help="Réactive un fournisseur d'identité.")
@click.argument("slug")
def oidc_enable(slug: str) -> None:
    _set_enabled(slug, True)


@oidc.command("disable", help="Désactive un fournisseur d'identité (son bouton disparaît de la page de connexion).")
@click.argument("slug")
def oidc_disable(slug: str) -> None:
    _set_enabled(slug, False)


@oidc.command("list", help="Liste les fournisseurs d'identité (sans les secrets).")
@click.option("--json", "as_json", is_flag=True)
def oidc_list(as_json: bool) -> None:
    from app.cli import _run

    async def go(settings: Settings) -> list[dict[str, Any]]:
        from app.db import Database
        from tenants.models import Central

        database = Database(settings.database_url)
        try:
            async with database.session() as session:
                out = []
                for provider in await list_providers(session):
                    label = "toute la plateforme"
                    if provider.central_id:
                        central = await session.get(Central, provider.central_id)
                        label = f"centrale {central.code if central else provider.central_id}"
                    elif provider.tenant_id:
                        tenant = await session.get(Tenant, provider.tenant_id)
                        label = f"bénéficiaire {tenant.name if tenant else provider.tenant_id}"
                    out.append(_describe(provider, label))
                return out
        finally:
            await database.dispose()

    rows = _run(go)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        click.echo("aucun fournisseur d'identité")
    for row in rows:
        state = "actif" if row["enabled"] else "désactivé"
        jit = f", création automatique : {row['jit_role']}" if row["jit_role"] else ""
        click.echo(f"{row['slug']}\t{row['name']}\t{row['for']}\t{state}{jit}\t{row['discovery_url']}")
