"""The incidents portal (issue 13 §6): the beneficiary reports and follows, the operator records a call,
works the ticket and its interventions from its queue sorted by deadline, the admin accepts; refused forms
change nothing and say why in French; attachments are checked and kept per tenant; the home cards and the
menu come from the component's manifest."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from incidents.models import Attachment, Ticket, TicketEventRow
from tests.conftest import csrf_from, login
from tests.incidents.conftest import without_tickets

ADMIN_CPAM, VIEWER_CPAM, ADMIN_CHR = "admin@cpam72.demo", "visu@cpam72.demo", "admin@chr-metz.demo"
OPERATOR = "technicien@titulaire.demo"
PARIS = ZoneInfo("Europe/Paris")
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


@pytest.fixture
async def demo(demo, db):
    """The demo without its tickets: these tests count what they open."""
    return await without_tickets(db, demo)


def cpam(demo) -> uuid.UUID:
    return uuid.UUID(demo["tenant_ids"]["cpam"])


async def _post(client, page: str, action: str, data: dict[str, str]):
    html = (await client.get(page)).text
    return await client.post(action, data={**data, "_csrf_token": csrf_from(html)}, follow_redirects=False)


async def _tickets(db, tid):
    async with db.transaction([tid]) as session:
        return list(await session.scalars(select(Ticket).where(Ticket.tenant_id == tid).order_by(Ticket.opened_at)))


async def _events(db, tid, ticket_id):
    async with db.transaction([tid]) as session:
        return [e.kind for e in await session.scalars(select(TicketEventRow).where(
            TicketEventRow.tenant_id == tid, TicketEventRow.ticket_id == ticket_id).order_by(TicketEventRow.seq))]


async def test_an_admin_reports_the_operator_works_it_and_the_admin_accepts(client, db, demo):
    tid = cpam(demo)
    await login(client, ADMIN_CPAM)
    new = await client.get(f"/t/{tid}/incidents/nouveau")
    assert new.status_code == 200 and "Signaler un incident" in new.text
    # The CPAM policy's levels are offered, with its restoration levels (CCTP CPAM 5-4-4 / 5-4-5).
    assert 'value="telemaintenance"' in new.text and 'name="restoration_level"' in new.text
    # A beneficiary cannot choose a channel or back-date the first information: those are the operator's.
    assert 'name="reported_at"' not in new.text and 'name="channel"' not in new.text
    data = {"title": "Borne muette au parking visiteurs", "description": "Écran éteint", "level": "2",
            "charge_box_id": "CPAM-LM-03"}
    made = await client.post(f"/t/{tid}/incidents/nouveau", data={**data, "_csrf_token": csrf_from(new.text)},
                             follow_redirects=False)
    assert made.status_code == 303, made.text
    (ticket,) = await _tickets(db, tid)
    assert made.headers["location"] == f"/t/{tid}/incidents/{ticket.id}"
    assert ticket.channel == "portal" and ticket.status == "new" and ticket.number.startswith("INC-")
    assert ticket.charge_box_id == "CPAM-LM-03" and ticket.affected_points > 0
    page = (await client.get(made.headers["location"])).text
    assert ticket.number in page and "Délais" in page and "Intervention" in page
    # CPAM 5-4-5: the share of the charge points affected, computed at opening, is shown.
    assert f'data-share="{ticket.affected_points}/{ticket.fleet_points}"' in page
    # The admin may not take the operator's steps: no such button.
    assert 'value="acknowledge"' not in page and 'value="accept"' not in page
    listing = (await client.get(f"/t/{tid}/incidents")).text
    assert f'href="/t/{tid}/incidents/{ticket.id}"' in listing and "Dans les délais" in listing

    client.cookies.clear()
    await login(client, OPERATOR)
    queue = (await client.get("/operateur/incidents")).text
    assert ticket.number in queue
    home = (await client.get("/operateur")).text
    assert ticket.number in home  # the work queue's line, from the component's hook
    ticket_url = f"/t/{tid}/incidents/{ticket.id}"
    for kind in ("acknowledge", "start"):
        done = await _post(client, ticket_url, f"{ticket_url}/evenements", {"kind": kind})
        assert done.status_code == 303, done.text
    interv = await _post(client, ticket_url, f"{ticket_url}/interventions", {
        "mode": "on_site", "technician": "J. Martin", "actions": "Remplacement du contrôleur",
        "parts": "Contrôleur CCU ; 1 ; 2026-12-20", "report": "Borne remise en service"})
    assert interv.status_code == 303, interv.text
    done = await _post(client, ticket_url, f"{ticket_url}/evenements", {"kind": "resolve", "reason": "OK"})
    assert done.status_code == 303
    page = (await client.get(ticket_url)).text
    assert "J. Martin" in page and "Contrôleur CCU × 1" in page and "20/12/2026" in page
    # The operator cannot accept on the beneficiary's behalf (CCTP CAIH 2.1.5).
    assert 'value="accept"' not in page
    refused = await _post(client, ticket_url, f"{ticket_url}/evenements", {"kind": "accept"})
    assert refused.status_code == 403
    assert (await _tickets(db, tid))[0].status == "resolved"

    client.cookies.clear()
    await login(client, ADMIN_CPAM)
    home = (await client.get(f"/t/{tid}")).text
    assert f'href="/t/{tid}/incidents?statut=resolved"' in home and 'data-card="incidents"' in home
    accepted = await _post(client, ticket_url, f"{ticket_url}/evenements", {"kind": "accept"})
    assert accepted.status_code == 303
    (ticket,) = await _tickets(db, tid)
    assert ticket.status == "closed"
    assert await _events(db, tid, ticket.id) == ["open", "acknowledge", "start", "intervention", "resolve", "accept"]


async def test_the_operator_records_a_call_with_the_moment_of_the_first_information(client, db, demo):
    tid = cpam(demo)
    await login(client, OPERATOR)
    called = dt.datetime.now(PARIS).replace(second=0, microsecond=0) - dt.timedelta(hours=2)
    made = await _post(client, f"/t/{tid}/incidents/nouveau", f"/t/{tid}/incidents/nouveau", {
        "title": "Appel du site : point de charge en défaut", "channel": "phone", "level": "1",
        "reported_at": called.strftime("%Y-%m-%dT%H:%M"), "reporter_name": "Accueil CPAM",
        "reporter_email": "accueil@cpam72.demo"})
    assert made.status_code == 303, made.text
    (ticket,) = await _tickets(db, tid)
    # CANUT 6.6: the channel and the moment of the first information are recorded; the clocks start there.
    assert ticket.channel == "phone" and ticket.reporter_name == "Accueil CPAM"
    assert ticket.reported_at == called.astimezone(dt.UTC)


async def test_a_refused_form_changes_nothing_and_says_why_beside_the_field(client, db, demo):
    tid = cpam(demo)
    await login(client, OPERATOR)
    future = (dt.datetime.now(PARIS) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    bad = await _post(client, f"/t/{tid}/incidents/nouveau", f"/t/{tid}/incidents/nouveau",
                      {"title": "", "level": "P7", "reported_at": future, "channel": "phone"})
    assert bad.status_code == 422
    assert "Le titre est obligatoire." in bad.text and "Niveau inconnu « P7 »" in bad.text
    assert "ne peut pas être dans le futur" in bad.text
    assert 'aria-invalid="true"' in bad.text
    assert await _tickets(db, tid) == []

    made = await _post(client, f"/t/{tid}/incidents/nouveau", f"/t/{tid}/incidents/nouveau",
                       {"title": "Test", "level": "2"})
    (ticket,) = await _tickets(db, tid)
    url = made.headers["location"]
    # A reclassification needs its reason (issue 13 §1); refused, the timeline is unchanged.
    refused = await _post(client, url, f"{url}/evenements", {"kind": "reclassify", "level": "1", "reason": ""})
    assert refused.status_code == 422 and "motif du reclassement est obligatoire" in refused.text
    # A step the workflow does not allow from « nouveau »: refused in French, nothing recorded.
    refused = await _post(client, url, f"{url}/evenements", {"kind": "resume"})
    assert refused.status_code == 422 and "impossible sur un ticket nouveau" in refused.text
    assert await _events(db, tid, ticket.id) == ["open"]
    done = await _post(client, url, f"{url}/evenements", {"kind": "reclassify", "level": "1",
                                                          "reason": "Borne seule du site"})
    assert done.status_code == 303
    page = (await client.get(url)).text
    assert "reclassement" in page and "Borne seule du site" in page


async def test_attachments_are_checked_by_content_and_downloaded_as_files(client, db, demo, settings):
    tid = cpam(demo)
    await login(client, ADMIN_CPAM)
    made = await _post(client, f"/t/{tid}/incidents/nouveau", f"/t/{tid}/incidents/nouveau", {"title": "Photo"})
    url = made.headers["location"]
    token = csrf_from((await client.get(url)).text)
    fake = await client.post(f"{url}/pieces-jointes", data={"_csrf_token": token},
                             files={"file": ("photo.png", b"<script>alert(1)</script>", "image/png")},
                             follow_redirects=False)
    assert fake.status_code == 422 and "ne correspond pas à son type" in fake.text
    kind = await client.post(f"{url}/pieces-jointes", data={"_csrf_token": token},
                             files={"file": ("page.html", b"<html>", "text/html")}, follow_redirects=False)
    assert kind.status_code == 422 and "type de fichier refusé" in kind.text.lower()
    good = await client.post(f"{url}/pieces-jointes", data={"_csrf_token": token},
                             files={"file": ("borne.png", PNG, "image/png")}, follow_redirects=False)
    assert good.status_code == 303, good.text
    async with db.transaction([tid]) as session:
        (row,) = list(await session.scalars(select(Attachment).where(Attachment.tenant_id == tid)))
    # Stored in the tenant's own folder.
    assert (settings.var_dir / "attachments" / str(tid) / row.sha256).read_bytes() == PNG
    page = (await client.get(url)).text
    link = re.search(rf'href="({url}/pieces-jointes/[0-9a-f-]+)"', page)
    assert link and "borne.png" in page
    got = await client.get(link.group(1))
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["content-disposition"].startswith("attachment;")
    assert got.headers["x-content-type-options"] == "nosniff"
    # Another tenant's admin sees neither the ticket nor its file.
    client.cookies.clear()
    await login(client, ADMIN_CHR)
    assert (await client.get(url)).status_code == 404
    assert (await client.get(link.group(1))).status_code == 404


async def test_the_list_filters_and_badges_the_deadlines(client, db, demo):
    tid = cpam(demo)
    await login(client, OPERATOR)
    long_ago = (dt.datetime.now(PARIS) - dt.timedelta(days=20)).strftime("%Y-%m-%dT%H:%M")
    for title, when in (("Ancien, en retard", long_ago), ("Récent", "")):
        made = await _post(client, f"/t/{tid}/incidents/nouveau", f"/t/{tid}/incidents/nouveau",
                           {"title": title, "level": "1", "channel": "phone", "reported_at": when})
        assert made.status_code == 303, made.text
    page = (await client.get(f"/t/{tid}/incidents")).text
    # The nearest deadline first: the late one leads, with its red badge.
    assert page.index("Ancien, en retard") < page.index("Récent")
    assert 'data-deadline="danger"' in page and "Délai dépassé" in page
    late = (await client.get(f"/t/{tid}/incidents?depasse=1")).text
    assert "Ancien, en retard" in late and "Récent" not in late
    closed = (await client.get(f"/t/{tid}/incidents?statut=closed")).text
    assert "Aucun ticket pour ces filtres" in closed
    queue = (await client.get("/operateur/incidents")).text
    assert queue.index("Ancien, en retard") < queue.index("Récent")


async def test_a_viewer_reads_but_does_not_report_and_the_menu_and_home_show_incidents(client, db, demo):
    tid = cpam(demo)
    await login(client, VIEWER_CPAM)
    page = await client.get(f"/t/{tid}/incidents")
    assert page.status_code == 200 and "Signaler un incident" not in page.text
    assert f'href="/t/{tid}/incidents"' in page.text  # the menu entry of the manifest
    assert (await client.get(f"/t/{tid}/incidents/nouveau")).status_code == 403
    home = (await client.get(f"/t/{tid}")).text
    assert "Incidents" in home and f"/t/{tid}/incidents?statut=ouverts" in home
    async with db.transaction([tid]) as session:
        assert await session.scalar(select(func.count()).select_from(Ticket).where(Ticket.tenant_id == tid)) == 0


async def test_the_policy_page_shows_the_delays_and_each_profile_sets_its_own_settings(client, db, demo):
    tid = uuid.UUID(demo["tenant_ids"]["chr"])
    url = f"/t/{tid}/incidents/politique"
    await login(client, ADMIN_CHR)
    page = (await client.get(url)).text
    # CAIH 2.1.22: the GTR of each level in words, from the CHR's template.
    assert "caih-maintenance-ho" in page and 'data-level="4h"' in page
    assert 'name="infogerance_units_ordered"' not in page  # the coordinator's
    bad = await _post(client, url, f"{url}/reglages", {"acceptance_delay_hours": "0"})
    assert bad.status_code == 422 and "de 1 à 720 heures" in bad.text
    done = await _post(client, url, f"{url}/reglages", {"acceptance_delay_hours": "48"})
    assert done.status_code == 303
    refused = await _post(client, url, f"{url}/reglages", {"infogerance_units_ordered": "40"})
    assert refused.status_code == 403
    made = await _post(client, url, f"{url}/modele", {"template": "caih-maintenance-24x7"})
    assert made.status_code == 303
    page = (await client.get(url)).text
    assert "48 h après la résolution" in page and "version 2" in page

    client.cookies.clear()
    await login(client, "coordination@caih.demo")
    done = await _post(client, url, f"{url}/reglages", {"infogerance_units_ordered": "40"})
    assert done.status_code == 303, done.text
    page = (await client.get(url)).text
    assert "0 consommé sur 40 commandés" in page
    from incidents import tickets as svc

    async with db.transaction([tid]) as session:
        settings = await svc.incident_settings(session, tid)
        assert (settings.acceptance_delay_hours, settings.infogerance_units_ordered) == (48, 40)


async def test_a_ticket_is_reclassified_within_the_policy_it_was_opened_under(client, db, demo):
    tid = uuid.UUID(demo["tenant_ids"]["chr"])
    await login(client, OPERATOR)
    made = await _post(client, f"/t/{tid}/incidents/nouveau", f"/t/{tid}/incidents/nouveau",
                       {"title": "Disque en défaut", "level": "10h"})
    url = made.headers["location"]
    from incidents import tickets as svc

    async with db.transaction([tid]) as session:  # the tenant moves to another template afterwards
        await svc.set_policy_from_template(session, tid, "canut-iot")
    page = (await client.get(url)).text
    # The reclassification form offers the GTR levels of the ticket's own version (CAIH 2.1.22), not P0–P2.
    assert 'value="4h"' in page and 'value="P0"' not in page
    done = await _post(client, url, f"{url}/evenements", {"kind": "reclassify", "level": "4h",
                                                          "reason": "Serveur de production"})
    assert done.status_code == 303, done.text
