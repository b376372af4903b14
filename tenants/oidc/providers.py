"""OpenID Connect providers: their configuration, and their client secret encrypted at rest.

The client secret is stored encrypted (Fernet, key derived from the
application's secret key with HKDF-SHA256): rotating the secret key means
re-entering the client secrets (``centrale oidc add --replace``).
"""

from __future__ import annotations

import base64
import ipaddress
import re
import uuid
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound, ValidationFailed
from app.settings import Settings
from tenants.models import OidcProvider, Role, Tenant

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


def secure_url(url: str) -> bool:
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
    if not secure_url(discovery_url) or len(discovery_url) > 500:
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
