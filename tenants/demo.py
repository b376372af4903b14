"""Demo data of ``tenants`` (``centrale demo load``): idempotent, safe to run at every start.

Identifiers are computed with their check digits (Luhn) so that they pass the
same validation as real input; they belong to no real organisation.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from sqlalchemy import select
from stdnum import luhn

from app.db import scope_session
from tenants import services
from tenants.models import (
    Central,
    CentralMembership,
    FrameworkAgreement,
    Membership,
    Subscription,
    Tenant,
    User,
)

__all__ = ["DEMO_PASSWORD", "DEMO_USERS", "banner", "load"]

DEMO_PASSWORD = "Centrale-demo-2026"  # noqa: S105 - public demo password, documented in the README


def _with_key(digits: str) -> str:
    return digits + luhn.calc_check_digit(digits)


def _siret(siren: str, nic: str) -> str:
    """A SIRET from 8 SIREN digits and 4 NIC digits: both the SIREN and the SIRET carry a Luhn key."""
    return _with_key(_with_key(siren) + nic)


CENTRALS = [
    ("CAIH", "Centrale d'achat de l'informatique hospitalière", "centrale",
     [("2024-CAIH-SRV", "Maintenance et infogérance des serveurs et du stockage", "Lot 1")]),
    ("CANUT", "Centrale d'achat du numérique et des télécoms", "centrale",
     [("2024_AOO_IOT", "Solutions IoT pour les collectivités", "Lot unique")]),
    ("CPAM72", "CPAM de la Sarthe (acheteur direct)", "acheteur",
     [("2025-CPAM72-IRVE", "IRVE : installation, maintenance et supervision", "Lot unique")]),
    ("MJ", "Ministère de la Justice (acheteur direct)", "acheteur",
     [("2025-MJ-TGD-OM", "Terminaux et dispositifs des juridictions d'outre-mer", "Lot 2")]),
]

TENANTS = [
    # key, central, data
    ("cpam", "CPAM72", {"name": "CPAM de la Sarthe", "siret": _siret("77582405", "0001"), "insee_code": "72181",
                        "postal_code": "72000", "city": "Le Mans", "address": "178 avenue Bollée", "territory": "metropole"}),
    ("chr", "CAIH", {"name": "Centre hospitalier régional de Metz-Thionville", "finess": _with_key("57000001"),
                     "insee_code": "57463", "postal_code": "57000", "city": "Metz", "address": "1 allée du Château",
                     "territory": "alsace-moselle"}),
    ("commune", "CANUT", {"name": "Commune de Villeurbanne", "siret": _siret("21690026", "0001"), "insee_code": "69266",
                          "postal_code": "69100", "city": "Villeurbanne", "address": "Place Lazare-Goujon", "territory": "metropole"}),
    ("tj", "MJ", {"name": "Tribunal judiciaire de Saint-Denis (La Réunion)", "siret": _siret("11000001", "0004"),
                  "insee_code": "97411", "postal_code": "97400", "city": "Saint-Denis", "address": "2 rue Juliette Dodu",
                  "territory": "974"}),
]

#: (email, full name, role, tenant key or central code)
DEMO_USERS = [
    ("coordination@caih.demo", "Claire Coordinatrice (CAIH)", "coordinator", "CAIH"),
    ("coordination@canut.demo", "Camille Coordinateur (CANUT)", "coordinator", "CANUT"),
    ("admin@cpam72.demo", "Anne Administratrice (CPAM)", "admin", "cpam"),
    ("visu@cpam72.demo", "Victor Visualisation (CPAM)", "viewer", "cpam"),
    ("agent@cpam72.demo", "Alice Agent (CPAM)", "agent", "cpam"),
    ("responsable@cpam72.demo", "Romain Responsable (CPAM)", "manager", "cpam"),
    ("admin@chr-metz.demo", "Hugo Administrateur (CHR)", "admin", "chr"),
    ("admin@villeurbanne.demo", "Inès Administratrice (Villeurbanne)", "admin", "commune"),
    ("admin@tj-reunion.demo", "Rémi Administrateur (TJ Saint-Denis)", "admin", "tj"),
    ("technicien@titulaire.demo", "Thomas Technicien (titulaire)", "operator", "*"),
    ("teleassistance@titulaire.demo", "Téa Téléassistante (titulaire)", "tgd", "tj"),
]

SITES = {
    "cpam": [{"name": "Siège — parking des véhicules de service", "insee_code": "72181", "postal_code": "72000",
              "city": "Le Mans", "address": "178 avenue Bollée", "building_code": "0001",
              "latitude": "48.0061", "longitude": "0.2132"}],
    "chr": [{"name": "Hôpital de Mercy — salle serveurs", "insee_code": "57463", "postal_code": "57000", "city": "Metz",
             "address": "1 allée du Château", "building_code": "0001"}],
    "commune": [{"name": "Hôtel de ville", "insee_code": "69266", "postal_code": "69100", "city": "Villeurbanne",
                 "address": "Place Lazare-Goujon", "building_code": "0001"}],
    "tj": [{"name": "Palais de justice", "insee_code": "97411", "postal_code": "97400", "city": "Saint-Denis",
            "address": "2 rue Juliette Dodu", "building_code": "0001"}],
}


@functools.cache
def _demo_password_hash() -> str:
    # One argon2id hash for every demo account (same public password): ~0.15 s per hash saved.
    return services.hash_password(DEMO_PASSWORD)


async def load(session: Any, demo: dict[str, Any]) -> dict[str, Any]:
    """The centrals, agreements, beneficiaries, sites and accounts (``tenants``'s demo loader).

    Puts ``tenants`` (key -> Tenant) and ``first_sites`` (key -> Site) in ``demo`` for the
    components loaded after it.
    """

    centrals: dict[str, Central] = {}
    for code, name, kind, agreements in CENTRALS:
        central = await session.scalar(select(Central).where(Central.code == code))
        if central is None:
            central = await services.create_central(session, code=code, name=name, kind=kind)
        centrals[code] = central
        for reference, title, lot in agreements:
            if not await session.scalar(select(FrameworkAgreement.id).where(FrameworkAgreement.reference == reference)):
                session.add(FrameworkAgreement(
                    central_id=central.id, reference=reference, title=title, lot=lot, titulaire="Titulaire Démo SAS",
                    starts_on=dt.date(2025, 1, 1), ends_on=dt.date(2028, 12, 31),
                ))
    await session.flush()

    tenants: dict[str, Tenant] = {}
    for key, central_code, data in TENANTS:
        ident = Tenant.siret == data["siret"] if "siret" in data else Tenant.finess == data["finess"]
        tenant = await session.scalar(select(Tenant).where(ident))
        if tenant is None:
            tenant = await services.create_tenant(session, data, central=centrals[central_code])
        tenants[key] = tenant
        for agreement in await session.scalars(select(FrameworkAgreement).where(FrameworkAgreement.central_id == centrals[central_code].id)):
            if not await session.scalar(select(Subscription.id).where(Subscription.tenant_id == tenant.id, Subscription.agreement_id == agreement.id)):
                session.add(Subscription(tenant_id=tenant.id, agreement_id=agreement.id, since=dt.date(2025, 1, 1)))
    await session.flush()
    # On PostgreSQL, RLS checks writes against the published scope: publish every demo tenant.
    scope_session(session, [t.id for t in tenants.values()])

    users = 0
    for email, full_name, role, where in DEMO_USERS:
        user = await services.find_user_by_email(session, email)
        if user is None:
            user = User(email=email, full_name=full_name, password_hash=_demo_password_hash())
            session.add(user)
            await session.flush()
        users += 1
        if role == "coordinator":
            central = centrals[where]
            if not await session.scalar(select(CentralMembership.id).where(CentralMembership.user_id == user.id, CentralMembership.central_id == central.id)):
                session.add(CentralMembership(central_id=central.id, user_id=user.id, role=role))
            continue
        for key in (tenants if where == "*" else [where]):
            tenant = tenants[key]
            if not await session.scalar(select(Membership.id).where(Membership.user_id == user.id, Membership.tenant_id == tenant.id)):
                session.add(Membership(tenant_id=tenant.id, user_id=user.id, role=role))
    await session.flush()

    await _scope_demo_responsable(session, tenants["cpam"])

    first_sites = {}
    for key, sites in SITES.items():
        existing = {s.name: s for s in await services.list_sites(session, tenants[key].id)}
        for site in sites:
            if site["name"] not in existing:
                existing[site["name"]] = await services.create_site(session, tenants[key].id, site)
        first_sites[key] = existing[sites[0]["name"]]
    await session.flush()
    demo.update(tenants=tenants, first_sites=first_sites)
    return {"tenants": len(tenants), "users": users, "tenant_ids": {k: str(t.id) for k, t in tenants.items()}}


#: CCTP CPAM 5-5-5-3 « le responsable […] pour un site ou un service »: the demo agent works in this service and
#: the demo responsable validates its badge requests; an admin's own request is in nobody's perimeter (the admins).
DEMO_SERVICE = "Service logistique"


async def _scope_demo_responsable(session: Any, tenant: Tenant) -> None:
    """The agent's service and the responsable's perimeter, set once: left alone when either already has one."""
    members = {m.user.email: m for m in await services.list_tenant_members(session, tenant.id)}
    agent, manager = members.get("agent@cpam72.demo"), members.get("responsable@cpam72.demo")
    if agent is None or manager is None or agent.service:
        return
    if not (await services.manager_perimeter(session, tenant.id, manager.user_id)).whole_tenant:
        return
    agent.service = DEMO_SERVICE
    await session.flush()
    await services.set_manager_perimeter(session, manager, [], [DEMO_SERVICE])


def banner(settings: Any) -> list[str]:
    """The demo logins, for the embedded server's banner."""
    return ["", f"Comptes de démonstration (mot de passe : {DEMO_PASSWORD}) :",
            *(f"  {email:<32} {role}" for email, _name, role, _where in DEMO_USERS)]
