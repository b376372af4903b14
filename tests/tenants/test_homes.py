"""The home pages of every role on the demo data, read as a browser would (issue 12 §1, §2),
and the kernel's home and menu registries they are built from.

The figures are the components' contributions through their manifests (``app.shell.HomeCardHook``,
``BeneficiaryColumnsHook``, ``WorkQueueHook``, ``MenuHook`` groups): the tests read the pages,
so they fail when a contribution is lost on its way from a manifest to the page.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Any

import pytest

from app import composition
from app.shell import (
    Chart,
    Figure,
    Home,
    HomeCard,
    HomeCardHook,
    Menu,
    MenuHook,
    WorkItem,
    WorkQueueHook,
    menu_groups,
)
from tests.conftest import login

NOW = dt.datetime(2026, 12, 3, 10, 0, tzinfo=dt.UTC)


def text_of(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#39;", "'").replace("&nbsp;", " ").strip()


def card(html: str, key: str) -> str:
    """The markup of the home card ``key``, up to the next card."""
    start = html.index(f'data-card="{key}"')
    after = html.find('data-card="', start + 1)
    return html[start:after if after > 0 else len(html)]


def figure(html: str, key: str, name: str) -> str:
    """The value of the figure ``name`` (a state, or its label) in the home card ``key``."""
    block = card(html, key)
    match = re.search(rf'data-figure="{re.escape(name)}">\s*<span class="value">([^<]*)</span>', block)
    assert match, f"no figure {name} in card {key}"
    return match.group(1).strip()


# --------------------------------------------------------------------------- the kernel's registries


def test_menu_groups_follow_the_hooks_and_mark_the_current_page():
    menu = Menu()
    menu.add([
        MenuHook(900, lambda ctx: [("sites", "/s", "Sites")], group="Administration"),
        MenuHook(0, lambda ctx: [("home", "/", "Accueil")]),
        MenuHook(100, lambda ctx: [("stations", "/b", "Bornes"), ("alerts", "/a", "Alertes"),
                                   ("odd", "/o", "Ailleurs", "Administration")], group="Supervision"),
        MenuHook(1000, lambda ctx: [("account", "/compte", "Mon compte")]),
    ])
    items = menu.items(None, current="alerts")
    groups = menu_groups(items)
    assert [(g["label"], [e["label"] for e in g["entries"]]) for g in groups] == [
        ("", ["Accueil"]), ("Supervision", ["Bornes", "Alertes"]), ("Administration", ["Ailleurs", "Sites"]),
        ("", ["Mon compte"]),
    ]
    assert [e["key"] for e in items if e["current"]] == ["alerts"]


async def test_home_collects_cards_in_hook_order_and_sorts_the_queue_by_urgency():
    async def late(session, ctx, now):
        return [HomeCard("b", "Second", figures=(Figure("x", 1),))]

    async def early(session, ctx, now):
        return [] if ctx == "other" else [HomeCard("a", "Premier", severity="danger")]

    async def queue(session, tenant_ids, now):
        return [WorkItem("t1", 3, "Badges", "badges", "/b"),
                WorkItem("t2", 0, "Alerte", "hors service récent", "/x", since=NOW),
                WorkItem("t1", 0, "Alerte", "hors service ancien", "/y", since=NOW - dt.timedelta(days=1)),
                WorkItem("t2", 1, "Alerte", "hors ligne", "/z", since=NOW - dt.timedelta(days=3))]

    home = Home()
    home.add(cards=[HomeCardHook(200, late), HomeCardHook(100, early)], queue=[WorkQueueHook(1, queue)])
    assert [c.key for c in await home.cards_for(None, "tenant", NOW)] == ["a", "b"]
    assert [c.key for c in await home.cards_for(None, "other", NOW)] == ["b"]
    assert [i.title for i in await home.work_queue(None, ["t1", "t2"], NOW)] == [
        "hors service ancien", "hors service récent", "hors ligne", "badges"]


def test_a_chart_draws_bars_in_proportion():
    bars = Chart("Recharges", "recharges", (("01/12", 2), ("02/12", 4), ("03/12", 0)), width=300, height=130).geometry()
    assert [b["h"] for b in bars] == [50.0, 100.0, 0.0]  # 100 = the drawing's height less its margins
    assert bars[1]["y"] == 10.0 and bars[2]["y"] == 110.0  # bars stand on the same axis


def test_csms_contributes_its_home_hooks_and_menu_groups_through_its_manifest():
    web = composition.web_parts()
    # In component order; the homes show them by each hook's ``order`` (catalog's orders after the others).
    assert [h.cards.__module__ for h in web.home_cards] == ["catalog.orders_home", "catalog.quotes_home",
                                                            "catalog.badge_requests_home",
                                                            "catalog.deliveries_home", "catalog.maintenance_home",
                                                            "csms.web.home",
                                                            "incidents.web.home", "billing.home", "billing.charging_home", "reporting.web",
                                                            "reporting.usage_web"]
    assert [c.label for h in web.beneficiary_columns for c in h.columns] == [
        "Bornes", "Disponibilité (30 j)", "Alertes ouvertes"]
    assert [h.items.__module__ for h in web.work_queue] == ["catalog.orders_home", "catalog.quotes_home",
                                                            "catalog.badge_requests_home",
                                                            "catalog.deliveries_home", "csms.web.home",
                                                            "incidents.web.home"]
    assert {h.group for h in web.menu} == {"", "Supervision", "Badges et réservations", "Incidents et maintenance",
                                           "Commandes", "Rapports", "Administration"}


# --------------------------------------------------------------------------- the homes on the demo data


async def signed_in(client: Any, email: str) -> Any:
    client.cookies.clear()
    response = await login(client, email)
    assert response.status_code in (302, 303), response.text[:300]
    return response


async def test_admin_and_viewer_homes_say_what_needs_attention(client, demo):
    """CCTP CPAM 5-5-4 « connaitre en temps réel l'état des points de charge »: the demo's five points,
    cut since last night, are « Hors ligne » and their three chargers have their alert open."""
    cpam = demo["tenant_ids"]["cpam"]
    for email in ("admin@cpam72.demo", "visu@cpam72.demo"):
        await signed_in(client, email)
        html = (await client.get(f"/t/{cpam}")).text
        assert [figure(html, "stations", s) for s in ("disponible", "en_charge", "hors_service", "hors_ligne")] == [
            "0", "0", "0", "5"]
        assert f'href="/t/{cpam}/bornes?etat=hors_ligne"' in html
        assert figure(html, "alerts", "alertes ouvertes") == "3"
        assert figure(html, "sessions", "recharge commencée") == "0"  # the demo's sessions are days old
        # Two badges, never loaded on the stations (they never connected): CCTP CPAM 5-5-5-3.
        assert figure(html, "badges", "badges pas encore chargés sur toutes les bornes") == "2"
        assert "À traiter" in text_of(card(html, "alerts"))  # the alerts' card says it in words, not in colour only


async def test_the_station_list_filters_by_the_state_a_card_links_to(client, demo):
    cpam = demo["tenant_ids"]["cpam"]
    await signed_in(client, "admin@cpam72.demo")
    offline = text_of((await client.get(f"/t/{cpam}/bornes?etat=hors_ligne")).text)
    assert "Borne CPAM-LM-01" in offline
    available = text_of((await client.get(f"/t/{cpam}/bornes?etat=disponible")).text)
    assert "Borne CPAM-LM-01" not in available and "Aucun point de charge ne correspond" in available


async def test_coordinator_home_lists_beneficiaries_with_figures_sorted_and_searched(client, demo):
    await signed_in(client, "coordination@canut.demo")
    html = (await client.get("/c/CANUT")).text
    row = text_of(re.search(r'<tr data-tenant=.*?</tr>', html, flags=re.S).group(0))
    assert row.startswith("Commune de Villeurbanne")
    assert re.search(r"Villeurbanne .* 1 \d+,\d % 1$", row), row  # one charger, its availability, one open alert
    assert "3 recharges en 30 jours" in text_of(html)  # the demo's three sessions at Villeurbanne
    assert re.search(r'<svg [^>]*role="img" aria-labelledby="graphique-activity-titre"', html)
    # The day ticks: one a week and the last day, none drawn over another (04/11 … 03/12).
    ticks = [(float(x), label) for x, label in re.findall(r'<text x="([\d.]+)"[^>]*>(\d\d/\d\d)</text>', html)]
    assert len(ticks) == 5 and len({label for _, label in ticks}) == 5
    assert all(b[0] - a[0] >= 60 for a, b in zip(ticks, ticks[1:], strict=False)), ticks
    assert "Données du graphique (tableau)" in html
    by_alerts = (await client.get("/c/CANUT?tri=alerts")).text
    assert re.search(r'<th scope="col" class="num" aria-sort="descending">\s*<a class="sort" href="/c/CANUT\?tri=alerts&amp;ordre=asc',
                     by_alerts)
    nothing = text_of((await client.get("/c/CANUT?q=introuvable")).text)
    assert "0 bénéficiaire pour « introuvable »" in nothing and "Aucun bénéficiaire ne correspond" in nothing
    # Another central's beneficiary is not in this table, whatever the search.
    assert "<tr data-tenant=" not in (await client.get("/c/CANUT?q=Sarthe")).text


async def test_operator_lands_on_one_queue_across_its_tenants(client, demo):
    landing = await signed_in(client, "technicien@titulaire.demo")
    assert landing.headers["location"].endswith("/operateur")
    html = (await client.get("/operateur")).text
    rows = [text_of(r) for r in re.findall(r'<tr data-kind=.*?</tr>', html, flags=re.S)]
    alerts = [r for r in rows if " Alerte " in f" {r} "]
    assert {("CPAM de la Sarthe" in r, "Villeurbanne" in r) for r in alerts} == {(True, False), (False, True)}
    stations = [r for r in rows if " Ticket " not in f" {r} "]  # the tickets' lines: tests/incidents/test_portal.py
    assert len(alerts) == 4 and stations[:4] == alerts  # alerts before badges: the most urgent first
    assert any("2 badges à charger sur les bornes" in r for r in rows)
    cpam = demo["tenant_ids"]["cpam"]
    only = (await client.get(f"/operateur?beneficiaire={cpam}")).text
    queue = text_of(re.search(r'<div id="file">.*', only, flags=re.S).group(0).split("</table>")[0])
    assert "Villeurbanne" not in queue and "CPAM de la Sarthe" in queue and " Alerte " in f" {queue} "
    # The titulaire's technician registers and imports the stations it installs (CCTP CPAM 5-5-2).
    assert (await client.get(f"/t/{cpam}/bornes/nouvelle")).status_code == 200
    assert (await client.get(f"/t/{cpam}/bornes/import")).status_code == 200


async def test_someone_without_operator_role_has_no_queue(client, demo):
    await signed_in(client, "admin@cpam72.demo")
    assert (await client.get("/operateur")).status_code == 404


async def test_the_agent_sees_and_downloads_only_its_own_sessions(client, demo):
    """CCTP CPAM 5-5-5 « Historique des charges de l'usager »: the sessions of the agent's badge,
    not the service vehicle's, on the page and in the statement."""
    cpam = demo["tenant_ids"]["cpam"]
    await signed_in(client, "admin@cpam72.demo")
    everyone = text_of((await client.get(f"/t/{cpam}/recharges")).text)
    assert "Véhicule de service AB-123-CD" in everyone  # the vehicle's sessions exist
    await signed_in(client, "agent@cpam72.demo")
    html = (await client.get(f"/t/{cpam}/agent")).text
    assert len(re.findall(r'<tr data-session=', html)) == 3
    assert "04B1C2D3E4F5A6" in html and "04A2B3C4D5E6F7" not in html
    statement = await client.get(f"/t/{cpam}/agent/releve.csv")
    assert statement.status_code == 200 and statement.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(statement.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["Début", "Fin", "Durée (min)", "Borne", "Point de charge", "Badge", "Énergie (kWh)", "Montant (€)",
                       "État"]
    assert len(rows) == 4 and {r[5] for r in rows[1:]} == {"04B1C2D3E4F5A6"}
    assert {r[8] for r in rows[1:]} == {"Terminée"}
    # Another tenant's statement is a 404, like every route of a tenant the caller has no role in.
    other = demo["tenant_ids"]["commune"]
    assert (await client.get(f"/t/{other}/agent/releve.csv")).status_code == 404


async def test_the_menu_is_grouped_and_marks_the_current_page(client, demo):
    cpam = demo["tenant_ids"]["cpam"]
    await signed_in(client, "admin@cpam72.demo")
    html = (await client.get(f"/t/{cpam}/alertes")).text
    nav = re.search(r'<nav class="main-nav" aria-label="Navigation principale">.*?</nav>', html, flags=re.S).group(0)
    assert "<summary>Menu</summary>" in nav
    labels = re.findall(r'<span class="nav-group-label" id="[^"]+">([^<]+)</span>', nav)
    # The usage report (issue 15 §2, reporting.usage_web) sits in « Supervision »: the desktop menu stays short.
    assert labels == ["Supervision", "Badges et réservations", "Incidents et maintenance", "Commandes", "Administration"]
    assert re.findall(r'<a href="([^"]+)" aria-current="page">', nav) == [f"/t/{cpam}/alertes"]


@pytest.mark.parametrize("path", ["/nulle-part", "/t/00000000-0000-0000-0000-000000000000/bornes", "/un/deux/trois"])
async def test_unknown_routes_get_a_french_page_in_the_portal_layout(client, demo, path):
    await signed_in(client, "admin@cpam72.demo")
    page = await client.get(path)
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    text = text_of(page.text)
    assert "Page introuvable" in text and "Not Found" not in text
    assert "Se déconnecter" in text and 'href="/compte"' in page.text  # the portal's header and menu
    # Under a prefix some route serves, the page is French too (without the caller's header).
    deeper = await client.get("/compte/inconnu")
    assert deeper.status_code == 404 and "Page introuvable" in text_of(deeper.text)


async def test_unsupported_methods_get_a_french_page_and_the_api_keeps_problem_json(client, demo):
    await signed_in(client, "admin@cpam72.demo")
    wrong = await client.put("/compte")
    assert wrong.status_code == 405 and "Méthode non autorisée" in text_of(wrong.text)
    assert "Method Not Allowed" not in wrong.text
    api = await client.get("/api/v1/nulle-part")
    assert api.status_code == 404 and api.headers["content-type"] == "application/problem+json"
    assert api.json()["title"] == "Introuvable"


async def test_the_coordinator_table_sorts_and_searches_as_an_htmx_block(client, demo):
    await signed_in(client, "coordination@canut.demo")
    block = await client.get("/c/CANUT?tri=alerts&ordre=desc", headers={"HX-Request": "true"})
    assert block.status_code == 200 and block.text.lstrip().startswith('<div id="beneficiaires">')
    assert "Commune de Villeurbanne" in block.text and 'aria-sort="descending"' in block.text
