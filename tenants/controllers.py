"""Portal pages (HTML, French): login, password reset, home routing.

Tenant and coordinator pages live in ``tenants/portal.py``; this module gathers
every portal handler in ``portal_handlers``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.enums import MediaType, RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import client_address, identity_of
from app.db import utcnow
from app.errors import ValidationFailed
from app.security import verify_password
from app.sessions import FORM_SESSION_OPT
from tenants import services
from tenants.auth import identity_for, login_session
from tenants.landing import LOGGED_OUT, home_url_for, safe_next
from tenants.models import Role
from tenants.territories import DEFAULT_ZONE, zone_time_label

__all__ = ["admin_menu", "portal_handlers", "tenant_menu"]

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


def tenant_menu(ctx: Any) -> list[tuple[str, str, str]]:
    """The first entries of ``tenants``: each portal's home (coordinator, admin, viewer, agent,
    operator); the operator's work queue on every page it sees."""
    from tenants.context import CentralContext, OperatorContext, TenantContext

    items: list[tuple[str, str, str]] = []
    if isinstance(ctx, CentralContext):
        base = f"/c/{ctx.central.code}"
        items = [("home", base, "Accueil")]
    elif isinstance(ctx, OperatorContext):
        items = [("queue", "/operateur", "File de travail")]
    elif isinstance(ctx, TenantContext):
        base = f"/t/{ctx.tenant_id}"
        if ctx.role == Role.AGENT:
            items = [("agent", f"{base}/agent", "Accueil")]
        else:
            items = [("home", base, "Accueil")]
            if ctx.role == Role.COORDINATOR:
                items.insert(0, ("central", "/", "Ma centrale"))
            if ctx.role == Role.OPERATOR:
                items.insert(0, ("queue", "/operateur", "File de travail"))
    return items


def admin_menu(ctx: Any) -> list[tuple[str, str, str]]:
    """« Administration »: the central's beneficiaries; a tenant's sites, users, log and mails."""
    from tenants.context import CentralContext, TenantContext

    items: list[tuple[str, str, str]] = []
    if isinstance(ctx, CentralContext):
        items = [("beneficiaries", f"/c/{ctx.central.code}/beneficiaires", "Bénéficiaires")]
    elif isinstance(ctx, TenantContext) and ctx.role != Role.AGENT:
        base = f"/t/{ctx.tenant_id}"
        items = [("sites", f"{base}/sites", "Sites")]
        if ctx.can("manage_users") or ctx.can("read"):
            items.append(("users", f"{base}/utilisateurs", "Utilisateurs"))
        if ctx.can("audit"):
            items.append(("audit", f"{base}/journal", "Journal"))
        if ctx.can("outbox"):
            items.append(("outbox", f"{base}/courriels", "Courriels"))
    return items


@get("/", include_in_schema=False)
async def home(request: Request[Any, Any, Any], db_session: AsyncSession) -> Redirect:
    identity = identity_of(request)
    if identity is None:
        return Redirect("/connexion")
    return Redirect(await home_url_for(db_session, identity))


async def _providers(db_session: AsyncSession) -> list[Any]:
    from tenants.oidc.providers import list_login_providers

    return await list_login_providers(db_session)


@get("/connexion", include_in_schema=False, opt={FORM_SESSION_OPT: True})
async def login_page(request: Request[Any, Any, Any], db_session: AsyncSession, suivant: str = "/",
                     deconnecte: str = "") -> Template:
    return Template(
        "login.html",
        context={"errors": {}, "email": "", "next": safe_next(suivant), "providers": await _providers(db_session),
                 "logged_out": deconnecte == "1"},
    )


def _minutes(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    return f"{minutes} minute{'s' if minutes > 1 else ''}"


def _retry_at(wait: int) -> str:
    """« Réessayez dans 15 minutes, à partir de 14 h 32 (heure de Paris). »: the login page belongs
    to no tenant, and the same words whether or not the address is an account's (a tenant's zone
    would tell a stranger that the account exists, and where)."""
    at = (utcnow() + dt.timedelta(seconds=wait)).astimezone(ZoneInfo(DEFAULT_ZONE))
    return f"Réessayez dans {_minutes(wait)}, à partir de {at:%H} h {at:%M} ({zone_time_label(DEFAULT_ZONE)})."


# A handler annotated "-> Any" would send its templates as application/json.
@post("/connexion", include_in_schema=False, media_type=MediaType.HTML)
async def login_submit(request: Request[Any, Any, Any], state: State, db_session: AsyncSession, data: Form) -> Any:
    email = str(data.get("email", "")).strip().lower()
    password = str(data.get("password", ""))
    next_url = safe_next(data.get("suivant"))
    address = client_address(request)
    wait = await state.throttle.blocked_for(email, address)
    if wait:
        return Template(
            "login.html",
            context={"errors": {"email": "Trop de tentatives de connexion. " + _retry_at(wait)},
                     "email": email, "next": next_url, "providers": []},
            status_code=429,
            headers={"Retry-After": str(wait)},
        )
    user = await services.find_user_by_email(db_session, email) if email else None
    if user is None or not user.is_active or not verify_password(user.password_hash, password):
        if user is None:
            verify_password(None, password)  # same work whether or not the account exists
        left = await state.throttle.failed(email, address)
        message = "Adresse électronique ou mot de passe incorrect."
        if left == 1:
            minutes = _minutes(state.throttle.window)
            message += f" Attention : dernière tentative avant blocage des connexions pendant {minutes}."
        elif left == 0:
            # The lock ends with the counter that reached the threshold (counted from its first failure).
            message += " Trop de tentatives : " + _retry_at(await state.throttle.blocked_for(email, address))
        return Template(
            "login.html",
            context={"errors": {"email": message}, "email": email,
                     "next": next_url, "providers": await _providers(db_session)},
            status_code=400,
        )
    await state.throttle.succeeded(email)
    user.last_login_at = utcnow()
    login_session(request, user)
    if next_url == "/":
        # Loaded as the middleware will (on PostgreSQL the memberships show under app.user_id).
        identity = await identity_for(state.db, user)
        next_url = await home_url_for(db_session, identity)
    return Redirect(next_url)


@post("/deconnexion", include_in_schema=False)
async def logout(request: Request[Any, Any, Any]) -> Redirect:
    from tenants.oidc.web import end_session_url

    target = await end_session_url(request)  # the provider's logout when signed in through OIDC
    request.clear_session()
    return Redirect(target or LOGGED_OUT)


@get("/mot-de-passe-oublie", include_in_schema=False, opt={FORM_SESSION_OPT: True})
async def forgot_page() -> Template:
    return Template("password_forgot.html", context={"errors": {}, "sent": False, "email": ""})


@post("/mot-de-passe-oublie", include_in_schema=False)
async def forgot_submit(request: Request[Any, Any, Any], state: State, db_session: AsyncSession, data: Form) -> Template:
    email = str(data.get("email", "")).strip().lower()
    address = client_address(request)
    if await state.throttle.blocked_for(f"reset:{email}", address):
        return Template("password_forgot.html", context={"errors": {"email": "Trop de demandes. Réessayez plus tard."}, "sent": False, "email": email}, status_code=429)
    await state.throttle.failed(f"reset:{email}", address)  # reset requests are throttled like failures
    user = await services.find_user_by_email(db_session, email) if email else None
    if user is not None and user.is_active:
        token = await services.create_password_reset(db_session, user)
        link = f"{state.settings.base_url}/reinitialiser/{token}"
        await db_session.commit()
        await request.app.state.jobs.enqueue(
            "send_email",
            to=user.email,
            subject="Centrale : réinitialisation de votre mot de passe",
            body=(
                "Bonjour,\n\nPour choisir un nouveau mot de passe, ouvrez ce lien (valable 2 heures) :\n"
                f"{link}\n\nSi vous n'êtes pas à l'origine de cette demande, ignorez ce message.\n"
            ),
        )
    # Same answer whether or not the account exists.
    return Template("password_forgot.html", context={"errors": {}, "sent": True, "email": email})


@get("/reinitialiser/{token:str}", include_in_schema=False, opt={FORM_SESSION_OPT: True})
async def reset_page(token: str) -> Template:
    return Template("password_reset.html", context={"errors": {}, "token": token, "done": False})


@post("/reinitialiser/{token:str}", include_in_schema=False)
async def reset_submit(token: str, db_session: AsyncSession, data: Form) -> Template:
    password = str(data.get("password", ""))
    confirm = str(data.get("password_confirm", ""))
    if password != confirm:
        return Template("password_reset.html", context={"errors": {"password_confirm": "Les deux mots de passe diffèrent."}, "token": token, "done": False}, status_code=400)
    try:
        await services.consume_password_reset(db_session, token, password)
    except ValidationFailed as exc:
        return Template("password_reset.html", context={"errors": exc.errors, "token": token, "done": False}, status_code=400)
    return Template("password_reset.html", context={"errors": {}, "token": "", "done": True})


from tenants.journal import handlers as journal_pages  # noqa: E402
from tenants.oidc.web import handlers as oidc_handlers  # noqa: E402
from tenants.portal import handlers as tenant_pages  # noqa: E402

portal_handlers: list[Any] = [
    home, login_page, login_submit, logout, forgot_page, forgot_submit, reset_page, reset_submit,
    *tenant_pages, *journal_pages, *oidc_handlers,
]
