"""Portal pages of the station registry, in French: registering and importing are for the
beneficiary's administrator and the titulaire's technician (``register_stations``), editing and
retiring for the administrator (``manage_sites``).

* ``/t/{tenant}/bornes/nouvelle``: register a charger (borne) with its points; the
  canonical ids of CCTP CPAM 5-5-1 are generated (or given, for hardware already
  configured with another OCPP identity); the Basic-auth password is given, or
  generated and shown once (only its hash is kept, so it never goes through a
  redirect or the session).
* ``/t/{tenant}/bornes/import``: a CSV fleet, imported whole or not at all, with
  every bad line reported; ``/t/{tenant}/bornes/import/modele.csv`` an example.
* ``/t/{tenant}/bornes/{charge_box_id}/modifier`` and ``…/mot-de-passe``: edit a
  charger, give it a new password.
* ``/t/{tenant}/bornes/{charge_box_id}/hors-service`` (POST, from the edit page):
  retire the charger for good, with a reason and a confirmation (CCTP CPAM
  article 1: « le retrait le cas échéant »); its live socket is closed, its history
  stays readable.

Registry rules and messages are ``csms.domain.registry``'s; this module only maps forms.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import ValidationFailed
from app.exports import csv_bytes
from app.shell import flash, render, see_other, tenant_page
from csms.domain import registry
from csms.domain.models import Station
from csms.domain.profiles import PROFILES
from tenants import services
from tenants.context import TenantContext

__all__ = ["handlers"]

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
NAV_KEY = "stations"
POWER_OPTIONS = [("7", "7 kW"), ("11", "11 kW"), ("22", "22 kW")]
FIELDS = ("site", "station", "station_name", "charge_box_id", "canonical_id", "points", "power_kw", "usage_name",
          "security_profile")
#: Issue 17 §4: the security profile (1 to 3) the charger must use to connect, on the new and edit pages alike.
PROFILE_OPTIONS = [(str(number), label) for number, label in PROFILES.items()]
MAX_UPLOAD = 2 * 1024 * 1024
GIVEN = "given"  # password mode: typed by the administrator (else generated)


def _values(data: dict[str, Any]) -> dict[str, Any]:
    """Form fields as the registry takes them; repeated checkboxes arrive as a list."""
    values: dict[str, Any] = {k: str(data.get(k) or "").strip() for k in FIELDS}
    sockets = data.get("socket_types") or []
    values["socket_types"] = "+".join(sockets if isinstance(sockets, list) else [sockets])
    values["lenient"] = bool(data.get("lenient"))
    values["password_mode"] = GIVEN if data.get("password_mode") == GIVEN else "generated"
    return values


async def _form_context(session: AsyncSession, ctx: TenantContext, values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    tid = ctx.tenant_id
    sites = await services.list_sites(session, tid)
    stations = list(await session.scalars(select(Station).where(Station.tenant_id == tid).order_by(Station.canonical_id)))
    site_names = {s.id: s.name for s in sites}
    return tenant_page(
        ctx, NAV_KEY, values=values, errors=errors, sites=sites, power_options=POWER_OPTIONS,
        site_options=[(str(s.id), s.name) for s in sites], default_site=str(sites[0].id) if len(sites) == 1 else "",
        socket_options=list(registry.SOCKET_TYPES.items()), profile_options=PROFILE_OPTIONS,
        selected_sockets=set(str(values.get("socket_types") or "").split("+")),
        stations=[(s, site_names.get(s.site_id, "")) for s in stations],
    )


@get("/t/{tenant_id:uuid}/bornes/nouvelle")
async def station_new(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession) -> Template:
    tenant_ctx.require("register_stations")
    values = {"points": "2", "power_kw": "22", "socket_types": "T2+EF", "password_mode": "generated"}
    return render(request, "csms/registry_form.html", await _form_context(db_session, tenant_ctx, values, {}))


@post("/t/{tenant_id:uuid}/bornes/nouvelle")
async def station_create(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, data: Form) -> Any:
    tenant_ctx.require("register_stations")
    values = _values(data)
    password = str(data.get("password") or "")  # not stripped: spaces are refused with a message, not removed
    errors: dict[str, str] = {}
    generated = values["password_mode"] != GIVEN
    if not generated and not password:
        errors["password"] = "Saisissez le mot de passe configuré dans la borne, ou choisissez de le générer."  # noqa: S105
    if generated:
        password = registry.generate_station_password()
    if not errors:
        try:
            registered = await registry.register_charger(db_session, tenant_ctx.tenant_id, {**values, "password": password})
        except ValidationFailed as exc:
            errors = exc.errors
    if errors:
        return render(request, "csms/registry_form.html", await _form_context(db_session, tenant_ctx, values, errors),
                       status=422)
    message = (f"Borne {registered.charge_box_id} enregistrée : {registered.canonical_id}, "
               f"{len(registered.points)} point(s) de charge ({', '.join(registered.points)}).")
    if not generated:
        flash(request, message)
        return see_other(f"/t/{tenant_ctx.tenant_id}/bornes")
    # A generated password is shown once, on this page: it is stored only as a hash.
    return render(request, "csms/registry_created.html", tenant_page(
        tenant_ctx, NAV_KEY, registered=registered, password=password, message=message,
        ocpp_path=f"/ocpp/{registered.charge_box_id}",
    ))


# --------------------------------------------------------------------------- CSV import

EXAMPLE_HEADER = ["charge_box_id", "mot_de_passe", "site", "identifiant", "station", "nom_station", "points",
                  "puissance_kw", "prises", "nom_usage", "tolerant"]


async def _import_page(
    request: Request[Any, Any, Any], ctx: TenantContext, *, failed: registry.ImportFailed | None = None,
    errors: dict[str, str] | None = None, filename: str = "", status: int = 200,
) -> Template:
    lines = [{"line": n, "messages": m} for n, m in failed.errors.items()] if failed else []
    return render(request, "csms/registry_import.html", tenant_page(
        ctx, NAV_KEY, lines=lines, summary=failed.report()[0] if failed else "", errors=errors or {},
        filename=filename, columns=EXAMPLE_HEADER,
    ), status=status)


@get("/t/{tenant_id:uuid}/bornes/import")
async def station_import_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext) -> Template:
    tenant_ctx.require("register_stations")
    return await _import_page(request, tenant_ctx)


@post("/t/{tenant_id:uuid}/bornes/import")
async def station_import(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession) -> Any:
    tenant_ctx.require("register_stations")
    # Read the form here, after the tenant check: a wrong tenant is a 404 whatever the body.
    form = await request.form()
    upload = form.get("file")
    if upload is None or not hasattr(upload, "read"):
        return await _import_page(request, tenant_ctx, errors={"file": "Choisissez un fichier CSV."}, status=422)
    content = await upload.read()
    filename = getattr(upload, "filename", "") or ""
    if not content:
        return await _import_page(request, tenant_ctx, errors={"file": "Le fichier choisi est vide."}, filename=filename, status=422)
    if len(content) > MAX_UPLOAD:
        return await _import_page(request, tenant_ctx, errors={"file": "Fichier trop volumineux (2 Mio au plus)."},
                                  filename=filename, status=422)
    try:
        report = await registry.import_fleet(db_session, tenant_ctx.tenant_id, content)
    except registry.ImportFailed as exc:
        return await _import_page(request, tenant_ctx, failed=exc, filename=filename, status=422)
    flash(request, f"{len(report.chargers)} borne(s) importée(s) depuis « {filename} » : "
                    + ", ".join(c.canonical_id for c in report.chargers) + ".")
    return see_other(f"/t/{tenant_ctx.tenant_id}/bornes")


@get("/t/{tenant_id:uuid}/bornes/import/modele.csv")
async def station_import_example(tenant_ctx: TenantContext, db_session: AsyncSession) -> Response[bytes]:
    """An example file built on the tenant's own first site, so that it is valid as is."""
    tenant_ctx.require("register_stations")
    site = next(iter(await services.list_sites(db_session, tenant_ctx.tenant_id)), None)
    site_name = site.name if site else "Nom du site"
    city = (site.city if site else "") or site_name
    rows = [
        ["EXEMPLE-01", registry.generate_station_password(), site_name, "", "", f"{city} – parking", "2", "22", "T2+EF", "", "non"],
        ["EXEMPLE-02", registry.generate_station_password(), site_name, "", "", "", "1", "7", "EF", f"{city} – point atelier", "non"],
    ]
    # Formula-safe cells, and the byte order mark Excel needs to read UTF-8 (app/exports.py).
    return Response(csv_bytes(rows, header=EXAMPLE_HEADER), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="bornes-modele.csv"'})


# --------------------------------------------------------------------------- edit, new password


def _edit_values(charger: Any, station: Station | None, points: list[Any]) -> dict[str, Any]:
    first = points[0] if points else None
    return {
        "station_name": station.name if station else "",
        "power_kw": "" if first is None or first.power_kw is None else f"{first.power_kw:g}",
        "socket_types": (first.socket_types if first else "").replace(",", "+"),
        "lenient": charger.lenient,
        "security_profile": str(charger.security_profile),
    }


async def _edit_page(request: Request[Any, Any, Any], session: AsyncSession, ctx: TenantContext, charger: Any, *,
                     values: dict[str, Any] | None = None, errors: dict[str, str] | None = None, password: str = "",
                     status: int = 200, reason: str = "") -> Template:
    station = await session.get(Station, (ctx.tenant_id, charger.station_id))
    points = await registry.list_charge_points(session, ctx.tenant_id, charger.id)
    values = values or _edit_values(charger, station, points)
    return render(request, "csms/registry_edit.html", tenant_page(
        ctx, NAV_KEY, charger=charger, station=station, points=points, values=values, errors=errors or {},
        password=password, power_options=POWER_OPTIONS, socket_options=list(registry.SOCKET_TYPES.items()),
        selected_sockets=set(str(values.get("socket_types") or "").split("+")), reason=reason,
        reason_max=registry.DECOMMISSION_REASON_MAX,
        profile_options=PROFILE_OPTIONS,
    ), status=status)


@get("/t/{tenant_id:uuid}/bornes/{charge_box_id:str}/modifier")
async def station_edit(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, charge_box_id: str) -> Template:
    tenant_ctx.require("manage_sites")
    charger = await registry.find_charger_in_tenant(db_session, tenant_ctx.tenant_id, charge_box_id)
    return await _edit_page(request, db_session, tenant_ctx, charger)


@post("/t/{tenant_id:uuid}/bornes/{charge_box_id:str}/modifier")
async def station_update(
    request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, charge_box_id: str, data: Form
) -> Any:
    tenant_ctx.require("manage_sites")
    charger = await registry.find_charger_in_tenant(db_session, tenant_ctx.tenant_id, charge_box_id)
    sockets = data.get("socket_types") or []
    values = {
        "station_name": str(data.get("station_name") or "").strip(),
        "power_kw": str(data.get("power_kw") or "").strip(),
        "socket_types": "+".join(sockets if isinstance(sockets, list) else [sockets]),
        "lenient": bool(data.get("lenient")),
        "security_profile": str(data.get("security_profile") or "1"),
    }
    try:
        await registry.update_charger(db_session, tenant_ctx.tenant_id, charger, values)
    except ValidationFailed as exc:
        return await _edit_page(request, db_session, tenant_ctx, charger, values=values, errors=exc.errors, status=422)
    flash(request, f"Borne {charger.charge_box_id} ({charger.canonical_id}) enregistrée.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/bornes")


@post("/t/{tenant_id:uuid}/bornes/{charge_box_id:str}/mot-de-passe")
async def station_password(
    request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, charge_box_id: str, data: Form
) -> Template:
    """A new Basic-auth password, given or generated, shown once. The station must be
    reconfigured with it: its next connection with the old one is refused (401)."""
    tenant_ctx.require("manage_sites")
    charger = await registry.find_charger_in_tenant(db_session, tenant_ctx.tenant_id, charge_box_id)
    given = str(data.get("password") or "") if data.get("password_mode") == GIVEN else ""
    if data.get("password_mode") == GIVEN and not given:
        return await _edit_page(request, db_session, tenant_ctx, charger,
                                errors={"password": "Saisissez le nouveau mot de passe, ou choisissez de le générer."},  # noqa: S106
                                status=422)
    try:
        password = await registry.reset_station_password(db_session, charger, given or None)
    except ValidationFailed as exc:
        return await _edit_page(request, db_session, tenant_ctx, charger, errors=exc.errors, status=422)
    return await _edit_page(request, db_session, tenant_ctx, charger, password=password)


@post("/t/{tenant_id:uuid}/bornes/{charge_box_id:str}/hors-service")
async def station_decommission(
    request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, charge_box_id: str, data: Form
) -> Any:
    """Retire the charger for good: the same guard as ``station_update``; a reason and a ticked
    confirmation, else the edit page again (422) and nothing changes."""
    tenant_ctx.require("manage_sites")
    charger = await registry.find_charger_in_tenant(db_session, tenant_ctx.tenant_id, charge_box_id)
    reason = str(data.get("reason") or "").strip()
    errors: dict[str, str] = {}
    if charger.decommissioned_at is None:  # else the registry says since when it is
        if problem := registry.check_decommission_reason(reason):
            errors["reason"] = problem
        if not data.get("confirm"):
            errors["confirm"] = "Cochez la case pour confirmer la mise hors service définitive."
    if not errors:
        try:
            done = await registry.decommission_charger(db_session, tenant_ctx.tenant_id, charger, reason)
        except ValidationFailed as exc:
            errors = exc.errors
    if errors:
        return await _edit_page(request, db_session, tenant_ctx, charger, errors=errors, reason=reason, status=422)
    await db_session.commit()
    closed = await registry.announce_decommission(request.app.state.db, request.app.state.bus, done)
    details = [" Sa connexion en cours a été fermée." if closed else ""]
    if done.cancelled_reservations:
        details.append(f" {done.cancelled_reservations} réservation(s) annulée(s).")
    flash(request, f"Borne {charger.charge_box_id} ({charger.canonical_id}) mise hors service définitivement : "
                    f"elle ne peut plus se connecter ; son historique reste consultable.{''.join(details)}")
    return see_other(f"/t/{tenant_ctx.tenant_id}/bornes/{charger.charge_box_id}")


handlers: list[Any] = [
    station_new, station_create, station_import_page, station_import, station_import_example,
    station_edit, station_update, station_password, station_decommission,
]
