"""Core behaviours: demo data, the audit trail, the CLI's --json contract."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import func, select

from app.audit import AuditEvent, PlatformAuditEvent
from app.composition import load_demo
from tenants import services
from tenants.demo import DEMO_USERS
from tenants.models import Membership, Site, Tenant, User


async def test_demo_load_is_idempotent(settings, db, demo):
    again = await load_demo(settings, db)
    assert again["tenant_ids"] == demo["tenant_ids"]
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Tenant)) == 4
        assert await session.scalar(select(func.count()).select_from(User)) == len(DEMO_USERS)
    # Sites are tenant-owned: count them inside the four demo tenants' scope
    # (row-level security hides them from an unscoped read on PostgreSQL).
    tenant_ids = [uuid.UUID(t) for t in demo["tenant_ids"].values()]
    async with db.session(tenant_ids) as session:
        assert await session.scalar(select(func.count()).select_from(Site)) == 4


async def test_every_mutation_is_audited_with_before_and_after(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    actor = {"user_id": None, "label": "admin@cpam72.demo"}
    async with db.transaction([cpam], actor=actor) as session:
        site = await services.create_site(session, cpam, {"name": "Parking B", "insee_code": "72181"})
        site_id = site.id
    async with db.transaction([cpam], actor=actor) as session:
        site = await services.access_site(session, cpam, site_id)
        await services.update_site(session, site, {"name": "Parking Bis"})
    async with db.transaction([cpam], actor=actor) as session:
        await services.delete_site(session, await services.access_site(session, cpam, site_id))
    async with db.session([cpam]) as session:
        events = (await session.scalars(
            select(AuditEvent).where(AuditEvent.entity_id == str(site_id)).order_by(AuditEvent.at)
        )).all()
    assert [e.action for e in events] == ["create", "update", "delete"]
    assert events[0].after["name"] == "Parking B" and events[0].before is None
    assert events[1].before == {"name": "Parking B"} and events[1].after == {"name": "Parking Bis"}
    assert events[2].before["name"] == "Parking Bis" and events[2].after is None
    assert {e.actor_label for e in events} == {"admin@cpam72.demo"}


async def test_secrets_are_redacted_in_the_audit_log(db, demo):
    async with db.transaction(actor={"user_id": None, "label": "test"}) as session:
        user = await services.create_user(session, email="nouveau@exemple.fr", password="Un-mot-de-passe-2026")
        user_id = user.id
    async with db.session() as session:
        event = await session.scalar(select(PlatformAuditEvent).where(PlatformAuditEvent.entity_id == str(user_id)))
    assert event is not None and event.after["password_hash"] == "***"
    assert "argon2" not in json.dumps(event.after)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_cli_creates_tenant_user_and_token_as_json(centrale, db):
    siret = "73282932000074"  # valid SIREN and SIRET keys (python-stdnum's own example)
    out = await centrale("tenants", "create", "--name", "Mairie de Test", "--siret", siret, "--json")
    assert out.exit_code == 0, out.output
    tenant_id = json.loads(out.output)["id"]
    out = await centrale("users", "create", "--email", "Admin@Test.fr", "--role", "admin",
                         "--tenant", tenant_id, "--password", "Motdepasse-solide-1", "--json")
    assert out.exit_code == 0, out.output
    user_id = json.loads(out.output)["id"]
    out = await centrale("tokens", "create", "--email", "admin@test.fr", "--json")
    assert out.exit_code == 0, out.output
    token = json.loads(out.output)["token"]
    assert token.startswith("ctr_")
    async with db.session([uuid.UUID(tenant_id)]) as session:
        membership = await session.scalar(select(Membership).where(Membership.user_id == uuid.UUID(user_id)))
        assert membership is not None and membership.role == "admin"
        assert (await session.get(User, uuid.UUID(user_id))).email == "admin@test.fr"
        assert await services.user_for_token(session, token) is not None


def test_make_run_banner_prints_urls_logins_and_demo_stations(settings):
    from app.server import banner_text
    from csms.demo import DEMO_STATION_PASSWORD

    text = banner_text(settings, services=True)
    assert f"{settings.base_url}/" in text and f"ws://{settings.ocpp_host}:{settings.ocpp_port}/ocpp/" in text
    assert "admin@cpam72.demo" in text and "Centrale-demo-2026" in text
    assert "CPAM-LM-01" in text and DEMO_STATION_PASSWORD in text
    assert "Bornes de démonstration" not in banner_text(settings, services=False)
