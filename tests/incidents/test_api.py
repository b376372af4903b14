"""The incidents API (``/api/v1/tenants/{tenant_id}/tickets``, ``…/sla-policy``) with bearer tokens.

Each SLA row of the three tenders goes through a ticket opened by the API at a chosen ``reported_at``;
the deadlines it answers are compared with the engine (``incidents.sla.compute_deadline`` under the
policy the API itself shows and the tenant's calendar), which proves the wiring — the engine's own tests
(test_sla.py) cover the arithmetic — and a few are also written out (a Friday 16:30 report, a Moselle
holiday). Then the workflow through events (closure refused without the admin's consent, reopen
accumulation), interventions, policy changes, walls, authentication and validation.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.db import unscoped, utcnow
from app.outbox import Delivery
from incidents import subscribers
from incidents import tickets as svc
from incidents.models import SlaPolicyVersion, Ticket
from incidents.sla import SlaPolicy, compute_deadline
from tests.incidents.conftest import without_tickets


@pytest.fixture
async def demo(demo, db):
    """The demo's accounts and stations without its tickets and policies: these tests count what they open."""
    return await without_tickets(db, demo)

PROBLEM = "application/problem+json"
PARIS = ZoneInfo("Europe/Paris")
ADMIN_CPAM, VIEWER_CPAM, ADMIN_CHR = "admin@cpam72.demo", "visu@cpam72.demo", "admin@chr-metz.demo"
ADMIN_VLB, OPERATOR = "admin@villeurbanne.demo", "technicien@titulaire.demo"
COORD_CAIH, COORD_CANUT = "coordination@caih.demo", "coordination@canut.demo"
#: A Friday at 16:30 in Paris (in the past of every run).
FRIDAY_1630 = dt.datetime(2026, 11, 27, 16, 30, tzinfo=PARIS)


def paris(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS)


def instant(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text is not None else None


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers["content-type"]
    body = response.json()
    assert body["status"] == status
    return body


def tickets_url(tenant_id: str) -> str:
    return f"/api/v1/tenants/{tenant_id}/tickets"


async def open_ticket(client: Any, auth: dict[str, str], tenant_id: str, reported_at: dt.datetime | None,
                      **fields: Any) -> dict[str, Any]:
    body = {"title": fields.pop("title", "Panne signalée"), "channel": fields.pop("channel", "phone"), **fields}
    if reported_at is not None:
        body["reported_at"] = reported_at.isoformat()
    response = await client.post(tickets_url(tenant_id), headers=auth, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def policy_of(client: Any, auth: dict[str, str], tenant_id: str) -> SlaPolicy:
    response = await client.get(f"/api/v1/tenants/{tenant_id}/sla-policy", headers=auth)
    assert response.status_code == 200, response.text
    return SlaPolicy.from_dict(response.json()["policy"])


async def engine_deadlines(db: Any, tenant_id: str, policy: SlaPolicy, reported_at: dt.datetime,
                           ticket: dict[str, Any]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """What the engine gives for this ticket's classification, from its report, without pauses."""
    async with db.session([uuid.UUID(tenant_id)]) as session:
        calendar = await svc.tenant_calendar(session, uuid.UUID(tenant_id))
    context = {"affected": ticket["affected_points"], "fleet": ticket["fleet_points"]}
    level = policy.levels[ticket["level"]]
    intervention = compute_deadline(reported_at, level.intervention, calendar, context) if level.intervention else None
    restoration_level = policy.restoration_levels[ticket["restoration_level"]] if policy.restoration_levels else level
    start = intervention if policy.restoration_from == "intervention_deadline" and intervention else reported_at
    restoration = (compute_deadline(start, restoration_level.restoration, calendar, context)
                   if restoration_level.restoration else None)
    return intervention, restoration


async def check_row(client: Any, db: Any, auth: dict[str, str], tenant_id: str, policy: SlaPolicy,
                    reported_at: dt.datetime, **fields: Any) -> dict[str, Any]:
    ticket = await open_ticket(client, auth, tenant_id, reported_at, **fields)
    due = ticket["deadlines"]
    expected = await engine_deadlines(db, tenant_id, policy, reported_at, ticket)
    assert (instant(due["intervention_due_at"]), instant(due["restoration_due_at"])) == expected, (fields, ticket)
    assert ticket["status"] == "new" and ticket["number"].startswith(f"INC-{reported_at.astimezone(dt.UTC).year}-")
    assert instant(ticket["reported_at"]) == reported_at
    return ticket


async def count_tickets(db: Any, tenant_id: str) -> int:
    async with db.session([uuid.UUID(tenant_id)]) as session:
        return await session.scalar(select(func.count()).select_from(Ticket)) or 0


# --------------------------------------------------------------------------- SLA rows, CPAM


async def test_cpam_rows_through_the_api(client, db, demo, api_token):
    cpam, auth = demo["tenant_ids"]["cpam"], await api_token(ADMIN_CPAM)
    policy = await policy_of(client, auth, cpam)
    assert policy.code == "cpam-irve"  # the template of the CPAM72 agreement, made on first use

    # CCTP CPAM 5-4-4 « Niveau 2 … 4 heures ouvrés (de 8 heures à 17 heures du lundi au vendredi) »: a Friday
    # 16:30 report runs 30 min on Friday and 3 h 30 on Monday.
    ticket = await check_row(client, db, auth, cpam, policy, FRIDAY_1630, level="2", charge_box_id="CPAM-LM-01",
                             connector_id=1)
    assert ticket["deadlines"]["intervention_due_at"] == "2026-11-30T11:30:00+01:00"
    # CPAM 5-4-5: one point of the tenant's five (< 30 %); restoration level 2 by default, « 24 heures » from the
    # expiry of the intervention delay.
    assert (ticket["affected_points"], ticket["fleet_points"], ticket["affected_share"]) == (1, 5, 0.2)
    assert ticket["restoration_level"] == "2"
    assert ticket["deadlines"]["restoration_due_at"] == "2026-12-01T11:30:00+01:00"
    assert ticket["site_id"] is not None and ticket["charge_box_id"] == "CPAM-LM-01"
    # « 48h ouvrés maximum » (8-17, 9 h a day): 0.5 h on Friday, 45 h the next week, 2.5 h on Monday.
    ticket = await check_row(client, db, auth, cpam, policy, FRIDAY_1630, level="3")
    assert ticket["deadlines"]["intervention_due_at"] == "2026-12-07T10:30:00+01:00"
    # Niveau 2 reported outside the working hours: « 12 heures hors jours et heures ouvrés ».
    ticket = await check_row(client, db, auth, cpam, policy, paris(2026, 11, 28, 10, 0), level="2")
    assert ticket["deadlines"]["intervention_due_at"] == "2026-11-28T22:00:00+01:00"
    # « Télémaintenance … 12h »; « Niveau 1 … Immédiat ».
    ticket = await check_row(client, db, auth, cpam, policy, FRIDAY_1630, level="telemaintenance")
    assert ticket["deadlines"]["intervention_due_at"] == "2026-11-28T04:30:00+01:00"
    ticket = await check_row(client, db, auth, cpam, policy, FRIDAY_1630, level="1")
    assert ticket["deadlines"]["intervention_due_at"] == "2026-11-27T16:30:00+01:00"
    # CPAM 5-4-5, each restoration level, under and over 30 % of the fleet (the whole of CPAM-LM-01: 2 of 5).
    for restoration in ("1", "2", "3", "4"):
        for where in ({"charge_box_id": "CPAM-LM-01", "connector_id": 2}, {"charge_box_id": "CPAM-LM-01"}):
            ticket = await check_row(client, db, auth, cpam, policy, paris(2026, 11, 25, 9, 15), level="3",
                                     restoration_level=restoration, **where)
            assert ticket["restoration_level"] == restoration
    # « Niveau 4 : avec remplacement de la borne … 30 % des IRVE ou plus : 96 heures » after the intervention.
    assert ticket["affected_share"] == 0.4
    assert instant(ticket["deadlines"]["restoration_due_at"]) - instant(ticket["deadlines"]["intervention_due_at"]) \
        == dt.timedelta(hours=96)


# --------------------------------------------------------------------------- SLA rows, CANUT


async def test_canut_rows_through_the_api(client, db, demo, api_token):
    commune, auth = demo["tenant_ids"]["commune"], await api_token(ADMIN_VLB)
    policy = await policy_of(client, auth, commune)
    assert policy.code == "canut-iot"
    # CCTP CANUT 6.6, HO = lun-ven 8h-18h. « Bloquant | P0 | < 1h (HO) | < 4h »: from Friday 16:30.
    ticket = await check_row(client, db, auth, commune, policy, FRIDAY_1630, incident_type="bloquant")
    assert (ticket["level"], ticket["incident_type"]) == ("P0", "bloquant")
    assert ticket["deadlines"] == {"intervention_due_at": "2026-11-27T17:30:00+01:00",
                                   "restoration_due_at": "2026-11-30T10:30:00+01:00"}
    # « Majeur | P1 voire P0 | < 4h (HO) | < 12h ».
    ticket = await check_row(client, db, auth, commune, policy, FRIDAY_1630, incident_type="majeur")
    assert ticket["level"] == "P1"
    assert ticket["deadlines"] == {"intervention_due_at": "2026-11-30T10:30:00+01:00",
                                   "restoration_due_at": "2026-12-01T08:30:00+01:00"}
    ticket = await check_row(client, db, auth, commune, policy, FRIDAY_1630, incident_type="majeur", level="P0")
    assert ticket["level"] == "P0"
    # « Mineur | P2 voire P1 | < 24h | < 5 jours ouvrés ».
    ticket = await check_row(client, db, auth, commune, policy, FRIDAY_1630, incident_type="mineur")
    assert ticket["deadlines"] == {"intervention_due_at": "2026-12-02T10:30:00+01:00",
                                   "restoration_due_at": "2026-12-04T16:30:00+01:00"}
    await check_row(client, db, auth, commune, policy, FRIDAY_1630, incident_type="mineur", level="P1")
    # « Tout incident non-inclus dans la liste … sera considéré comme un incident mineur » ; P2 by default.
    ticket = await check_row(client, db, auth, commune, policy, FRIDAY_1630)
    assert (ticket["level"], ticket["incident_type"], ticket["level_label"]) == ("P2", "mineur", "P2 : traitement planifié")
    # A priority the type does not admit, or a type the policy does not have, is refused.
    body = assert_problem(await client.post(tickets_url(commune), headers=auth, json={
        "title": "X", "incident_type": "mineur", "level": "P0"}), 422)
    assert "n'est pas admise pour un incident Mineur" in body["errors"]["level"]
    body = assert_problem(await client.post(tickets_url(commune), headers=auth, json={
        "title": "X", "incident_type": "bloquante"}), 422)
    assert body["errors"]["incident_type"].startswith("Type d'incident inconnu « bloquante » : bloquant, majeur, mineur")


# --------------------------------------------------------------------------- SLA rows, CAIH (Moselle)


async def test_caih_rows_and_moselle_holidays_through_the_api(client, db, demo, api_token):
    chr_, auth = demo["tenant_ids"]["chr"], await api_token(ADMIN_CHR)
    policy = await policy_of(client, auth, chr_)
    assert policy.code == "caih-maintenance-ho"
    # CCTP CAIH 2.1.21 / 2.1.22: GTR 4 h, 10 h, 50 h in HO (lun-ven 8h-18h, hors jours fériés), « à partir de
    # l'heure d'enregistrement de l'incident »; maintenance has no intervention delay (GTI is the infogérance's).
    for level in ("4h", "10h", "50h"):
        ticket = await check_row(client, db, auth, chr_, policy, FRIDAY_1630, level=level)
        assert ticket["deadlines"]["intervention_due_at"] is None
    ticket = await check_row(client, db, auth, chr_, policy, FRIDAY_1630, level="4h")
    assert ticket["deadlines"]["restoration_due_at"] == "2026-11-30T10:30:00+01:00"
    # Metz is in Moselle: 26 December (St Stephen's Day) is a holiday there, so a 4 h GTR reported on Wednesday 24
    # December at 16:00 runs 2 h that day and 2 h on Monday 29.
    ticket = await check_row(client, db, auth, chr_, policy, paris(2025, 12, 24, 16, 0), level="4h")
    assert ticket["deadlines"]["restoration_due_at"] == "2025-12-29T10:00:00+01:00"
    assert ticket["number"].startswith("INC-2025-")
    # Good Friday too (and Easter Monday everywhere): from Thursday 2 April 2026 at 17:00, 1 h then Tuesday.
    ticket = await check_row(client, db, auth, chr_, policy, paris(2026, 4, 2, 17, 0), level="4h")
    assert ticket["deadlines"]["restoration_due_at"] == "2026-04-07T11:00:00+02:00"
    await check_row(client, db, auth, chr_, policy, paris(2026, 4, 2, 17, 0), level="50h")
    # The same CAIH template in metropolitan France (the CPAM, by its admin): 26 December is a working day.
    cpam, cpam_admin = demo["tenant_ids"]["cpam"], await api_token(ADMIN_CPAM)
    put = await client.put(f"/api/v1/tenants/{cpam}/sla-policy", headers=cpam_admin,
                           json={"template": "caih-maintenance-ho"})
    assert put.status_code == 200, put.text
    ticket = await open_ticket(client, cpam_admin, cpam, paris(2025, 12, 24, 16, 0), level="4h")
    assert ticket["deadlines"]["restoration_due_at"] == "2025-12-26T10:00:00+01:00"

    # The 24/7 option, set by the CAIH's coordinator: holidays and nights count.
    coordinator = await api_token(COORD_CAIH)
    put = await client.put(f"/api/v1/tenants/{chr_}/sla-policy", headers=coordinator,
                           json={"template": "caih-maintenance-24x7"})
    assert put.status_code == 200, put.text
    assert (put.json()["template"], put.json()["version"]) == ("caih-maintenance-24x7", 2)
    assert [level["restoration"] for level in put.json()["levels"]] == [
        "4 h (24 h/24, 7 j/7)", "10 h (24 h/24, 7 j/7)", "50 h (24 h/24, 7 j/7)"]
    policy24 = await policy_of(client, auth, chr_)
    for level in ("4h", "10h", "50h"):
        await check_row(client, db, auth, chr_, policy24, paris(2025, 12, 24, 16, 0), level=level)
    ticket = await check_row(client, db, auth, chr_, policy24, paris(2025, 12, 26, 10, 0), level="4h")
    assert ticket["deadlines"]["restoration_due_at"] == "2025-12-26T14:00:00+01:00"
    assert ticket["policy_version"] == 2
    ticket = await check_row(client, db, auth, chr_, policy24, FRIDAY_1630, level="50h")
    assert ticket["deadlines"]["restoration_due_at"] == "2026-11-29T18:30:00+01:00"


# --------------------------------------------------------------------------- workflow


async def test_workflow_consent_and_reopen_accumulation(client, db, demo, api_token):
    chr_ = demo["tenant_ids"]["chr"]
    admin, operator, viewer = await api_token(ADMIN_CHR), await api_token(OPERATOR), await api_token(COORD_CAIH)
    assert (await client.put(f"/api/v1/tenants/{chr_}/sla-policy", headers=viewer,
                             json={"template": "caih-maintenance-24x7"})).status_code == 200
    t0 = utcnow().replace(microsecond=0) - dt.timedelta(hours=5)
    ticket = await open_ticket(client, admin, chr_, t0, level="4h", channel="portal")
    url = f"{tickets_url(chr_)}/{ticket['id']}"

    async def step(auth: dict[str, str], kind: str, at: dt.datetime | None = None, **more: Any) -> Any:
        body = {"kind": kind, **more}
        if at is not None:
            body["at"] = at.isoformat()
        return await client.post(f"{url}/events", headers=auth, json=body)

    for kind, minutes in (("acknowledge", 10), ("start", 20), ("wait", 60), ("resume", 120), ("resolve", 150)):
        response = await step(operator, kind, t0 + dt.timedelta(minutes=minutes))
        assert response.status_code == 201, (kind, response.text)
    detail = response.json()
    assert detail["ticket"]["status"] == "resolved" and detail["ticket"]["status_label"] == "résolu"
    clock = detail["clocks"]["restoration"]
    # 1 h running, 1 h waiting for the beneficiary (paused), 30 min running: 1 h 30 of the 4 h used.
    assert (clock["consumed_seconds"], clock["met"], clock["reached_at"]) == (
        5400.0, True, (t0 + dt.timedelta(minutes=150)).astimezone(PARIS).isoformat())
    assert detail["clocks"]["acknowledged_at"] == (t0 + dt.timedelta(minutes=10)).astimezone(PARIS).isoformat()
    assert [e["kind"] for e in detail["events"]] == ["open", "acknowledge", "start", "wait", "resume", "resolve"]
    assert {e["channel"] for e in detail["events"][1:]} == {"api"}
    assert detail["events"][0]["channel"] == "portal"

    # Closing needs the beneficiary's consent: its admin accepts (CCTP CAIH 2.1.5); the operator cannot.
    body = assert_problem(await step(operator, "accept"), 403)
    assert body["title"] == "Seul l'administrateur du bénéficiaire peut accepter la résolution (CCTP CAIH 2.1.5)."
    assert_problem(await step(viewer, "accept"), 403)
    assert (await client.get(url, headers=admin)).json()["ticket"]["status"] == "resolved"
    accepted = await step(admin, "accept")
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["ticket"]["status"] == "closed" and accepted.json()["ticket"]["closed_at"] is not None

    # CCTP CAIH 2.1.22: « En cas de réouverture d'un ticket, le temps précédemment consommé avant la clôture sera
    # pris en compte et ajouté au temps des interventions suivantes ».
    reopened = await step(admin, "reopen", reason="Le serveur est retombé en panne")
    assert reopened.status_code == 201, reopened.text
    detail = reopened.json()
    assert (detail["ticket"]["status"], detail["ticket"]["reopen_count"]) == ("in_progress", 1)
    assert detail["ticket"]["resolved_at"] is None and detail["ticket"]["closed_at"] is None
    reopen_at = instant(detail["events"][-1]["at"])
    clock = detail["clocks"]["restoration"]
    assert instant(clock["started_at"]) == t0  # the original start is kept
    assert clock["reached_at"] is None and clock["met"] is None
    # 2 h 30 of the 4 h left: the deadline is 2 h 30 after the reopening, whatever the pauses before.
    assert instant(clock["deadline"]) == reopen_at + dt.timedelta(minutes=150)
    assert instant(detail["ticket"]["deadlines"]["restoration_due_at"]) == reopen_at + dt.timedelta(minutes=150)
    assert 5400 <= clock["consumed_seconds"] < 5400 + 120
    # Paused: 1 h waiting plus the time between the resolution and the reopening.
    assert detail["clocks"]["paused_seconds"] >= 3600 + 150 * 60 - 1
    again = await step(operator, "resolve")
    assert again.status_code == 201
    assert (await step(admin, "accept")).json()["ticket"]["status"] == "closed"
    kinds = [e["kind"] for e in (await client.get(url, headers=operator)).json()["events"]]
    assert kinds[-4:] == ["accept", "reopen", "resolve", "accept"]


async def test_refused_steps_change_nothing(client, db, demo, api_token):
    commune = demo["tenant_ids"]["commune"]
    admin, operator = await api_token(ADMIN_VLB), await api_token(OPERATOR)
    ticket = await open_ticket(client, admin, commune, FRIDAY_1630, incident_type="majeur")
    url = f"{tickets_url(commune)}/{ticket['id']}"
    before = (await client.get(url, headers=admin)).json()

    # A step the workflow refuses; an accept on a ticket not resolved; a reclassification without its reason.
    body = assert_problem(await client.post(f"{url}/events", headers=operator, json={"kind": "resume"}), 422)
    assert body["errors"] == {"kind": "« reprise » impossible sur un ticket nouveau."}
    body = assert_problem(await client.post(f"{url}/events", headers=admin, json={"kind": "accept"}), 422)
    assert body["errors"] == {"kind": "« acceptation de la résolution » impossible sur un ticket nouveau."}
    body = assert_problem(await client.post(f"{url}/events", headers=operator,
                                            json={"kind": "reclassify", "level": "P0"}), 422)
    assert body["errors"] == {"reason": "Le motif du reclassement est obligatoire."}
    body = assert_problem(await client.post(f"{url}/events", headers=operator, json={"kind": "fermer"}), 422)
    assert body["errors"]["kind"].startswith("Événement inconnu « fermer » : acknowledge, start")
    future = (utcnow() + dt.timedelta(hours=1)).isoformat()
    body = assert_problem(await client.post(f"{url}/events", headers=operator, json={"kind": "acknowledge", "at": future}), 422)
    assert body["errors"] == {"at": "L'instant ne peut pas être dans le futur."}
    early = (FRIDAY_1630 - dt.timedelta(minutes=1)).isoformat()
    body = assert_problem(await client.post(f"{url}/events", headers=operator, json={"kind": "acknowledge", "at": early}), 422)
    assert body["errors"] == {"at": "L'instant de l'événement précède le signalement."}
    body = assert_problem(await client.post(f"{url}/events", headers=admin, json={"kind": "note"}), 422)
    assert "reason" in body["errors"]
    # The admin does not run the operator's workflow.
    assert_problem(await client.post(f"{url}/events", headers=admin, json={"kind": "acknowledge"}), 403)
    assert (await client.get(url, headers=admin)).json()["events"] == before["events"]

    # A reclassification with its reason is applied from the start and shown in the timeline.
    done = await client.post(f"{url}/events", headers=operator, json={
        "kind": "reclassify", "level": "P0", "reason": "Tout le réseau de capteurs est tombé", "at": FRIDAY_1630.isoformat()})
    assert done.status_code == 201, done.text
    detail = done.json()
    assert detail["ticket"]["level"] == "P0"
    assert detail["ticket"]["deadlines"] == {"intervention_due_at": "2026-11-27T17:30:00+01:00",
                                             "restoration_due_at": "2026-11-30T10:30:00+01:00"}
    last = detail["events"][-1]
    assert (last["kind"], last["kind_label"], last["reason"], last["data"]["from_level"]) == (
        "reclassify", "reclassement", "Tout le réseau de capteurs est tombé", "P1")
    note = await client.post(f"{url}/events", headers=admin, json={"kind": "note", "reason": "Rappelé à 17 h"})
    assert note.status_code == 201 and note.json()["events"][-1]["reason"] == "Rappelé à 17 h"


async def test_interventions(client, db, demo, api_token):
    cpam = demo["tenant_ids"]["cpam"]
    admin, operator = await api_token(ADMIN_CPAM), await api_token(OPERATOR)
    reported = utcnow().replace(microsecond=0) - dt.timedelta(hours=3)
    ticket = await open_ticket(client, operator, cpam, reported, level="2", charge_box_id="CPAM-LM-03")
    url = f"{tickets_url(cpam)}/{ticket['id']}/interventions"
    started, ended = reported + dt.timedelta(minutes=30), reported + dt.timedelta(minutes=95)
    body = {"mode": "on_site", "technician": "Thomas", "started_at": started.isoformat(), "ended_at": ended.isoformat(),
            "actions": "Remplacement du contacteur", "parts": [{"label": "Contacteur 40 A", "quantity": 1,
                                                              "expected_at": "2026-12-10"}]}
    assert_problem(await client.post(url, headers=admin, json=body), 403)
    created = await client.post(url, headers=operator, json=body)
    assert created.status_code == 201, created.text
    row = created.json()
    # CAIH 2.1.7: 65 minutes are three started units of 30 minutes; the report is due 48 h after the visit.
    assert (row["mode"], row["units"], row["report_late"], row["record_late"]) == ("on_site", 3, False, False)
    assert instant(row["report_due_at"]) == ended + dt.timedelta(hours=48)
    assert row["parts"] == [{"label": "Contacteur 40 A", "quantity": 1, "expected_at": "2026-12-10"}]
    detail = (await client.get(f"{tickets_url(cpam)}/{ticket['id']}", headers=admin)).json()
    assert [i["id"] for i in detail["interventions"]] == [row["id"]]
    # The intervention target is reached at its start.
    assert instant(detail["clocks"]["intervention"]["reached_at"]) == started
    assert detail["events"][-1]["kind"] == "intervention"

    for bad, field in (({"mode": "visio"}, "mode"),
                       ({"mode": "remote", "started_at": started.isoformat(), "ended_at": reported.isoformat()}, "ended_at"),
                       ({"mode": "remote", "started_at": (reported - dt.timedelta(hours=1)).isoformat()}, "started_at"),
                       ({"mode": "remote", "started_at": "2026-11-27T16:30:00"}, "started_at"),
                       ({"mode": "remote", "parts": [{"label": "x", "quantity": 0}]}, "parts")):
        problem = assert_problem(await client.post(url, headers=operator, json=bad), 422)
        assert field in "".join(problem["errors"]), (bad, problem)
    detail = (await client.get(f"{tickets_url(cpam)}/{ticket['id']}", headers=admin)).json()
    assert len(detail["interventions"]) == 1


# --------------------------------------------------------------------------- lists, alerts


async def test_list_filters_and_paging(client, db, demo, api_token):
    cpam = demo["tenant_ids"]["cpam"]
    admin, operator = await api_token(ADMIN_CPAM), await api_token(OPERATOR)
    old = await open_ticket(client, admin, cpam, paris(2026, 11, 2, 9, 0), level="1")  # immediate: breached
    fresh = await open_ticket(client, admin, cpam, utcnow() - dt.timedelta(minutes=5), level="3",
                              charge_box_id="CPAM-LM-01")
    await client.post(f"{tickets_url(cpam)}/{fresh['id']}/events", headers=operator, json={"kind": "acknowledge"})

    async def ids(**params: Any) -> list[str]:
        response = await client.get(tickets_url(cpam), headers=admin, params=params)
        assert response.status_code == 200, response.text
        return [t["id"] for t in response.json()["items"]]

    # The nearest deadline first.
    assert await ids() == [old["id"], fresh["id"]]
    assert await ids(status="acknowledged") == [fresh["id"]]
    assert await ids(status="new,acknowledged") == [old["id"], fresh["id"]]
    assert await ids(breached="true") == [old["id"]]
    assert await ids(breached="false") == [fresh["id"]]
    assert await ids(site_id=fresh["site_id"]) == [fresh["id"]]
    first = (await client.get(tickets_url(cpam), headers=admin, params={"per_page": 1})).json()
    assert ([t["id"] for t in first["items"]], first["has_more"]) == ([old["id"]], True)
    second = (await client.get(tickets_url(cpam), headers=admin, params={"per_page": 1, "page": 2})).json()
    assert ([t["id"] for t in second["items"]], second["has_more"]) == ([fresh["id"]], False)
    body = assert_problem(await client.get(tickets_url(cpam), headers=admin, params={"status": "ouvert"}), 400)
    assert body["errors"]["status"].startswith("Statut inconnu « ouvert »")
    assert_problem(await client.get(tickets_url(cpam), headers=admin, params={"per_page": 1000}), 400)
    assert_problem(await client.get(tickets_url(cpam), headers=admin, params={"breached": "peut-être"}), 400)
    # The viewer reads.
    viewer = await api_token(VIEWER_CPAM)
    assert len((await client.get(tickets_url(cpam), headers=viewer)).json()["items"]) == 2


async def test_a_ticket_opened_from_an_alert_shows_its_channel_and_alert(client, db, demo, api_token):
    from csms.domain.events import AlertOpened
    from csms.domain.models import Charger

    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    async with db.session([cpam]) as session:
        charger_id = await session.scalar(select(Charger.id).where(Charger.tenant_id == cpam,
                                                                   Charger.charge_box_id == "CPAM-LM-02"))
    alert = AlertOpened(tenant_id=cpam, alert_id=uuid.uuid4(), charger_id=charger_id, charge_box_id="CPAM-LM-02",
                        canonical_id="FR72181P0001010201", connector_id=1, kind="faulted", state="Hors service",
                        status="Faulted", error_code="GroundFailure",
                        since=utcnow().replace(microsecond=0) - dt.timedelta(minutes=3))
    async with db.transaction([cpam], actor={"user_id": None, "label": "abonné"}) as session:
        await subscribers.ticket_from_alert(Delivery(event_id=uuid.uuid4(), subscriber="t", attempt=1,
                                                     session=session, db=db, bus=None, settings=None), alert)
    admin = await api_token(ADMIN_CPAM)
    [item] = (await client.get(tickets_url(str(cpam)), headers=admin)).json()["items"]
    assert (item["channel"], item["alert_id"], item["charge_box_id"]) == ("supervision", str(alert.alert_id), "CPAM-LM-02")
    assert item["deadlines"]["intervention_due_at"] is not None
    detail = (await client.get(f"{tickets_url(str(cpam))}/{item['id']}", headers=admin)).json()
    assert detail["events"][0]["actor_name"] == "supervision"
    # A caller cannot pretend to be the supervision.
    body = assert_problem(await client.post(tickets_url(str(cpam)), headers=admin,
                                            json={"title": "X", "channel": "supervision"}), 422)
    assert "ouvertures automatiques" in body["errors"]["channel"]


# --------------------------------------------------------------------------- SLA policy


async def test_sla_policy_read_set_and_edit(client, db, demo, api_token):
    cpam = demo["tenant_ids"]["cpam"]
    admin, viewer = await api_token(ADMIN_CPAM), await api_token(VIEWER_CPAM)
    url = f"/api/v1/tenants/{cpam}/sla-policy"
    shown = (await client.get(url, headers=viewer)).json()
    assert (shown["version"], shown["template"], shown["code"]) == (1, "cpam-irve", "cpam-irve")
    assert shown["levels"][2] == {
        "code": "2", "label": "Niveau 2 : danger pour la sécurité des personnes",
        "intervention": "4 h (heures ouvrées, lun-ven 8 h-17 h), 12 h (24 h/24, 7 j/7) hors de ces heures",
        "restoration": None, "article": "CCTP CPAM 5-4-4"}
    assert "caih-maintenance-24x7" in shown["templates"]
    before = await open_ticket(client, admin, cpam, FRIDAY_1630, level="3")

    assert_problem(await client.put(url, headers=viewer, json={"template": "canut-iot"}), 403)
    for payload, field in (({"template": "itil"}, "template"), ({}, "template"),
                           ({"template": "canut-iot", "policy": shown["policy"]}, "template"),
                           ({"policy": {**shown["policy"], "default_level": "9"}}, "policy"),
                           ({"policy": {**shown["policy"], "levels": []}}, "policy"),
                           ({"policy": "cpam"}, "policy"),
                           ({"policy": {**shown["policy"], "levels": {**shown["policy"]["levels"], "3": {
                               "label": "Niveau 3", "intervention": {"minutes": 10**12, "calendar": "ho-8-17"}}}}},
                            "policy.levels.3"),
                           ({"policy": {**shown["policy"], "levels": {**shown["policy"]["levels"], "3": {
                               "label": "Niveau 3", "intervention": {"minutes": 60, "calendar": "lune"}}}}}, "policy")):
        body = assert_problem(await client.put(url, headers=admin, json=payload), 422)
        assert field in body["errors"], (payload, body)
    assert (await client.get(url, headers=admin)).json()["version"] == 1

    # Editing a delay: the level 3 intervention in 24 h ouvrées instead of 48.
    edited = shown["policy"]
    edited["levels"]["3"]["intervention"]["minutes"] = 24 * 60
    put = await client.put(url, headers=admin, json={"policy": edited})
    assert put.status_code == 200, put.text
    assert (put.json()["version"], put.json()["template"]) == (2, "cpam-irve")
    assert put.json()["levels"][3]["intervention"] == "24 h (heures ouvrées, lun-ven 8 h-17 h)"
    after = await check_row(client, db, admin, cpam, SlaPolicy.from_dict(edited), FRIDAY_1630, level="3")
    assert after["deadlines"]["intervention_due_at"] == "2026-12-02T13:30:00+01:00"
    assert after["policy_version"] == 2
    # A ticket keeps the version it was opened under.
    kept = (await client.get(f"{tickets_url(cpam)}/{before['id']}", headers=admin)).json()["ticket"]
    assert (kept["policy_version"], kept["deadlines"]) == (1, before["deadlines"])

    # The coordinator of another central does not see this tenant at all; a coordinator of its own may set it.
    assert_problem(await client.put(url, headers=await api_token(COORD_CANUT), json={"template": "canut-iot"}), 404)
    commune = demo["tenant_ids"]["commune"]
    put = await client.put(f"/api/v1/tenants/{commune}/sla-policy", headers=await api_token(COORD_CANUT),
                           json={"template": "canut-iot-24x7"})
    assert put.status_code == 200 and (put.json()["code"], put.json()["version"]) == ("canut-iot-24x7", 1)
    async with db.session([uuid.UUID(commune)]) as session:
        [row] = (await session.scalars(select(SlaPolicyVersion))).all()
        assert row.created_by.startswith("coordination@canut.demo")
    # The change is in the tenant's journal, signed by the token's account.
    events = (await client.get(f"/api/v1/tenants/{cpam}/audit-events", headers=admin,
                               params={"entity": "incident_sla_policies"})).json()["items"]
    assert {e["actor_label"] for e in events} >= {"admin@cpam72.demo (API)"}


# --------------------------------------------------------------------------- walls, authentication, validation


async def test_another_tenants_tickets_are_404(client, db, demo, api_token):
    cpam, commune = demo["tenant_ids"]["cpam"], demo["tenant_ids"]["commune"]
    theirs = await open_ticket(client, await api_token(ADMIN_VLB), commune, FRIDAY_1630)
    mine = await api_token(ADMIN_CPAM)
    before = await count_tickets(db, commune)
    calls = [
        ("GET", tickets_url(commune), None),
        ("POST", tickets_url(commune), {"title": "Intrus"}),
        ("GET", f"{tickets_url(commune)}/{theirs['id']}", None),
        ("GET", f"{tickets_url(cpam)}/{theirs['id']}", None),
        ("POST", f"{tickets_url(cpam)}/{theirs['id']}/events", {"kind": "note", "reason": "Intrus"}),
        ("POST", f"{tickets_url(commune)}/{theirs['id']}/events", {"kind": "note", "reason": "Intrus"}),
        ("POST", f"{tickets_url(cpam)}/{theirs['id']}/interventions", {"mode": "remote"}),
        ("GET", f"/api/v1/tenants/{commune}/sla-policy", None),
        ("PUT", f"/api/v1/tenants/{commune}/sla-policy", {"template": "cpam-irve"}),
        ("GET", f"{tickets_url(cpam)}/{uuid.uuid4()}", None),
    ]
    for method, url, payload in calls:
        assert_problem(await client.request(method, url, headers=mine, json=payload), 404)
    # The operator, whose tenants these are not, neither.
    operator = await api_token(OPERATOR)
    assert (await client.get(f"{tickets_url(cpam)}/{theirs['id']}", headers=operator)).status_code == 404
    assert await count_tickets(db, commune) == before
    detail = (await client.get(f"{tickets_url(commune)}/{theirs['id']}", headers=await api_token(ADMIN_VLB))).json()
    assert [e["kind"] for e in detail["events"]] == ["open"]


async def test_without_a_token_every_route_is_401(client, demo):
    cpam = demo["tenant_ids"]["cpam"]
    some = uuid.uuid4()
    for method, url in (("GET", tickets_url(cpam)), ("POST", tickets_url(cpam)), ("GET", f"{tickets_url(cpam)}/{some}"),
                        ("POST", f"{tickets_url(cpam)}/{some}/events"),
                        ("POST", f"{tickets_url(cpam)}/{some}/interventions"),
                        ("GET", f"/api/v1/tenants/{cpam}/sla-policy"), ("PUT", f"/api/v1/tenants/{cpam}/sla-policy")):
        assert_problem(await client.request(method, url, json={"title": "x"} if method != "GET" else None), 401)
        assert_problem(await client.request(method, url, headers={"Authorization": "Bearer inconnu"}), 401)


async def test_invalid_tickets_are_field_errors_and_write_nothing(client, db, demo, api_token):
    cpam = demo["tenant_ids"]["cpam"]
    admin = await api_token(ADMIN_CPAM)
    await open_ticket(client, admin, cpam, FRIDAY_1630)  # the policy exists: refusals below write nothing at all
    async with db.session([uuid.UUID(cpam)]) as session:
        with unscoped(session):
            versions = await session.scalar(select(func.count()).select_from(SlaPolicyVersion))
    before = await count_tickets(db, cpam)
    future = (utcnow() + dt.timedelta(minutes=10)).isoformat()
    cases = [
        ({}, {"title": "Champ obligatoire."}),
        ({"title": "   "}, {"title": "Le titre est obligatoire."}),
        ({"title": "x" * 201}, None),
        ({"title": "X", "titre": "Y"}, {"titre": "Champ inconnu."}),
        ({"title": "X", "reported_at": future}, {"reported_at": "L'instant ne peut pas être dans le futur."}),
        ({"title": "X", "reported_at": "2026-11-27T16:30:00"},
         {"reported_at": "Indiquez le décalage horaire de l'instant (ex. 2026-11-27T16:30:00+01:00 ou …Z)."}),
        ({"title": "X", "reported_at": "vendredi"}, None),
        ({"title": "X", "level": "4"}, {"level": "Niveau inconnu « 4 » : niveaux de la politique telemaintenance, 1, 2, 3."}),
        ({"title": "X", "restoration_level": "5"}, {"restoration_level": "Niveau de rétablissement inconnu « 5 » : 1, 2, 3, 4."}),
        ({"title": "X", "incident_type": "majeur"}, None),
        ({"title": "X", "channel": "pigeon"}, None),
        ({"title": "X", "charge_box_id": "INCONNUE-01"}, {"charge_box_id": "Borne inconnue : INCONNUE-01."}),
        ({"title": "X", "charge_box_id": "VLB-HDV-01"}, {"charge_box_id": "Borne inconnue : VLB-HDV-01."}),
        ({"title": "X", "connector_id": 1}, {"connector_id": "Un point de charge se donne avec sa borne (charge_box_id)."}),
        ({"title": "X", "connector_id": 2**40, "charge_box_id": "CPAM-LM-01"}, None),
        ({"title": "X", "charge_box_id": "CPAM-LM-01", "asset_id": str(uuid.uuid4())}, None),
        ({"title": "X", "site_id": str(uuid.uuid4())}, {"site_id": "Site inconnu chez ce bénéficiaire."}),
    ]
    for payload, errors in cases:
        body = assert_problem(await client.post(tickets_url(cpam), headers=admin, json=payload), 422)
        if errors is not None:
            assert body["errors"] == errors, payload
        else:
            assert body["errors"], payload
    # Another tenant's site is unknown here.
    sites = (await client.get(f"/api/v1/tenants/{demo['tenant_ids']['commune']}/sites",
                              headers=await api_token(ADMIN_VLB))).json()
    body = assert_problem(await client.post(tickets_url(cpam), headers=admin,
                                            json={"title": "X", "site_id": sites[0]["id"]}), 422)
    assert body["errors"] == {"site_id": "Site inconnu chez ce bénéficiaire."}
    assert_problem(await client.post(tickets_url(cpam), headers={**admin, "content-type": "application/json"},
                                     content=b'{"title": '), 400)
    # The viewer reads but does not report.
    assert_problem(await client.post(tickets_url(cpam), headers=await api_token(VIEWER_CPAM), json={"title": "X"}), 403)
    assert await count_tickets(db, cpam) == before
    async with db.session([uuid.UUID(cpam)]) as session:
        with unscoped(session):
            assert await session.scalar(select(func.count()).select_from(SlaPolicyVersion)) == versions


async def test_openapi_documents_the_incidents_api(client, demo):
    doc = (await client.get("/schema/openapi.json")).json()
    paths = doc["paths"]
    for path, methods in (("/api/v1/tenants/{tenant_id}/tickets", {"get", "post"}),
                          ("/api/v1/tenants/{tenant_id}/tickets/{ticket_id}", {"get"}),
                          ("/api/v1/tenants/{tenant_id}/tickets/{ticket_id}/events", {"post"}),
                          ("/api/v1/tenants/{tenant_id}/tickets/{ticket_id}/interventions", {"post"}),
                          ("/api/v1/tenants/{tenant_id}/sla-policy", {"get", "put"})):
        assert set(paths[path]) >= methods, path
    create = paths["/api/v1/tenants/{tenant_id}/tickets"]["post"]
    assert create["summary"] == "Ouvrir un ticket d'incident" and create["tags"] == ["Incidents"]
    assert create["responses"]["422"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"}
    schemas = doc["components"]["schemas"]
    assert schemas["TicketCreate"]["required"] == ["title"]
    assert set(schemas["DeadlinesOut"]["properties"]) == {"intervention_due_at", "restoration_due_at"}
