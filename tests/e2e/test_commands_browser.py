"""The remote-command forms in a real browser, against real stations over a socket (issue 12 §3,
CCTP CPAM 5-4-2-1 « prise en main à distance »).

The stations are ``tests/node/station.mjs``: an independent OCPP implementation (npm
``ocpp-rpc``) in strict mode, which validates every command against the OCPP 1.6 or 2.0.1
schemas before answering, and reports each command it received. A person picks a point, a
badge, a duration, a Reset button; the test asserts the exact payload the station got.
A disruptive command during a charge asks for a confirmation naming it first. The
« Afficher l'exemple » path shows one form (the bug of issue 12) and its JSON is sent.

These tests connect stations and change their state: they run on a server of their own
(``serve_demo``), not the session's shared one. axe-core checks every page state visited.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from csms.demo import DEMO_STATION_PASSWORD
from tests.e2e.conftest import LiveServer, serve_demo
from tests.e2e.test_portal_browser import ADMIN, assert_accessible, assert_fits_the_screen, field, log_in

pytestmark = pytest.mark.browser
NODE_DIR = Path(__file__).resolve().parents[1] / "node"
ALICE = "04B1C2D3E4F5A6"  # demo badge « Alice Agent » (csms.demo.DEMO_BADGES)
VEHICLE = "04A2B3C4D5E6F7"
#: What the CSMS sends a station on its own (local list at boot, charging profiles at a start).
AUTOMATIC = {"GetLocalListVersion", "SendLocalList", "SetChargingProfile", "ClearChargingProfile"}


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of this module's own: its stations get connected, charge, and go out of service."""
    yield from serve_demo(tmp_path_factory)


class NodeStation:
    """``station.mjs`` as a subprocess: the commands it received, in order."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.received: list[tuple[str, dict[str, Any]]] = []

    async def _next(self, phase: str, *, any_command: bool = False) -> dict[str, Any]:
        assert self.process.stdout is not None
        while True:
            line = await asyncio.wait_for(self.process.stdout.readline(), 30)
            if not line:
                stderr = await self.process.stderr.read() if self.process.stderr else b""
                raise AssertionError(f"the station exited before {phase!r}: {stderr.decode()[-2000:]}")
            message = json.loads(line)
            assert message["phase"] not in ("failed", "invalid"), f"the station refused: {message}"
            if message["phase"] == "command":
                self.received.append((message["method"], message["params"]))
                if phase == "command" and (any_command or message["method"] not in AUTOMATIC):
                    return message
            elif message["phase"] == phase:
                return message

    async def command(self) -> tuple[str, dict[str, Any]]:
        """The next command a person sent (not the CSMS's automatic ones)."""
        message = await self._next("command")
        return message["method"], message["params"]

    async def received_exactly(self, method: str, params: dict[str, Any]) -> None:
        """Until the station gets this command with these params (the CSMS also sends its own
        commands of that name, e.g. the local list after the boot)."""
        while (method, params) not in self.received:
            try:
                await self._next("command", any_command=True)
            except TimeoutError:
                raise AssertionError(f"{method} {params} never came; received: {self.received}") from None

    async def start(self, id_tag: str, point: int = 1) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"do": "start", "idTag": id_tag, "point": point}).encode() + b"\n")
        await self.process.stdin.drain()
        return str((await self._next("started"))["transactionId"])


@contextlib.asynccontextmanager
async def node_station(server: LiveServer, charge_box_id: str, protocol: str, points: int) -> AsyncIterator[NodeStation]:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "ocpp-rpc" / "package.json").exists():
        pytest.skip("node and ocpp-rpc are needed (make node)")
    process = await asyncio.create_subprocess_exec(
        node, str(NODE_DIR / "station.mjs"), f"ws://127.0.0.1:{server.ocpp_port}/ocpp", charge_box_id,
        DEMO_STATION_PASSWORD, protocol, str(points), cwd=NODE_DIR,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    station = NodeStation(process)
    try:
        await station._next("ready")
        yield station
    finally:
        if process.returncode is None:
            assert process.stdin is not None
            process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


async def choose_command(page: Any, label: str) -> None:
    """The command list swaps the command's form in place (HTMX), like a person choosing it."""
    await page.get_by_label("Commande", exact=True).select_option(label=label)
    await expect(page.locator("#titre-commande")).to_contain_text(label.split(" (")[0])


async def send(page: Any, button: str = "Envoyer à la borne") -> None:
    await page.locator("#formulaire").get_by_role("button", name=button).click()


async def test_typed_forms_send_their_payload_to_an_ocpp_16_station(new_page: Any, live_server: LiveServer) -> None:
    cpam = live_server.tenant_ids["cpam"]
    async with node_station(live_server, "CPAM-LM-01", "ocpp1.6", 2) as station:
        page = await new_page()
        await log_in(page, ADMIN)
        await page.goto(f"/t/{cpam}/bornes/CPAM-LM-01/commandes")
        await expect(page.get_by_text("connectée", exact=True)).to_be_visible()
        await assert_accessible(page, "the commands page")

        # A remote start: the point and the badge are chosen from lists.
        await expect(page.locator("#titre-commande")).to_contain_text("Démarrer une recharge")
        await field(page, "Point de charge").select_option("2")  # « Point 2 (FR…) »
        await field(page, "Badge").select_option(label=f"{ALICE} — Alice Agent")
        await send(page)
        assert await station.command() == ("RemoteStartTransaction", {"idTag": ALICE, "connectorId": 2})
        await expect(page.locator("#reponse")).to_have_text(
            "RemoteStartTransaction : Acceptée — réponse de la borne : acceptée")
        newest = page.locator("#journal tbody tr").first
        await expect(newest).to_contain_text("RemoteStartTransaction")
        await expect(newest).to_contain_text(ADMIN)

        await choose_command(page, "Changer la disponibilité (ChangeAvailability)")
        await field(page, "Point de charge").select_option("1")
        await field(page, "Disponibilité").select_option(label="Hors service (indisponible)")
        await send(page)
        assert await station.command() == ("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})

        await choose_command(page, "Lire le programme de charge (GetCompositeSchedule)")
        await field(page, "Durée du programme (minutes)").fill("90")
        await send(page)
        assert await station.command() == ("GetCompositeSchedule", {"connectorId": 0, "duration": 5400})

        await choose_command(page, "Envoyer la liste locale des badges (SendLocalList)")
        await page.get_by_label(f"{ALICE} — Alice Agent").check()
        await send(page)
        await station.received_exactly("SendLocalList", {
            "listVersion": 1, "updateType": "Full",
            "localAuthorizationList": [{"idTag": ALICE, "idTagInfo": {"status": "Accepted"}}]})
        await expect(page.locator("#reponse")).to_contain_text("SendLocalList : Acceptée")

        await choose_command(page, "Redémarrer la borne (Reset)")
        await assert_accessible(page, "the Reset form and its two buttons")
        await send(page, "Redémarrage complet (Hard)")
        assert await station.command() == ("Reset", {"type": "Hard"})
        await expect(page.locator("#reponse")).to_contain_text("Reset : Acceptée")

        # During a charge, a Reset asks first, naming the charge; only the confirmation sends it.
        tx = await station.start(VEHICLE, point=1)
        await page.goto(f"/t/{cpam}/bornes/CPAM-LM-01/commandes?action=Reset")
        await send(page, "Redémarrage logiciel (Soft)")
        confirmation = page.get_by_role("alert").filter(has_text="Confirmer")
        await expect(confirmation).to_contain_text("Confirmer : Redémarrer la borne (Reset) interrompt une recharge")
        await expect(confirmation.get_by_role("link", name=re.compile(rf"^Recharge n° {tx} — point 1, badge {VEHICLE}"))).to_be_visible()
        await assert_accessible(page, "the confirmation of a Reset during a charge")
        await confirmation.get_by_role("button", name="Confirmer et interrompre la recharge").click()
        assert await station.command() == ("Reset", {"type": "Soft"})
        await expect(page.locator("#reponse")).to_contain_text("Reset : Acceptée")
        assert [p for m, p in station.received if m == "Reset"] == [{"type": "Hard"}, {"type": "Soft"}]

        # « Afficher l'exemple » then « Envoyer »: one form, the log stays, the example is sent.
        await choose_command(page, "Lire le programme de charge (GetCompositeSchedule)")
        await page.get_by_text("Avancé : contenu JSON de la commande").click()
        await page.get_by_role("link", name="Afficher l'exemple de cette commande").click()
        payload = page.locator("#f-payload")
        await expect(payload).to_have_value(re.compile(r'"duration": 3600'))
        assert await page.locator("#f-action").count() == 1 and await payload.count() == 1
        await expect(page.get_by_role("heading", name="Journal des commandes")).to_be_visible()
        await page.get_by_role("button", name="Envoyer ce JSON à la borne").click()
        assert await station.command() == ("GetCompositeSchedule", {"connectorId": 0, "duration": 3600})
        await expect(page.locator("#reponse")).to_contain_text("GetCompositeSchedule : Refusée par la borne")  # the station has no schedule
        await assert_accessible(page, "the commands page after the JSON example was sent")


async def test_typed_forms_on_a_phone_with_an_ocpp_201_station(new_page: Any, live_server: LiveServer) -> None:
    cpam = live_server.tenant_ids["cpam"]
    async with node_station(live_server, "CPAM-LM-03", "ocpp2.0.1", 1) as station:
        page = await new_page(390, 844, is_mobile=True, has_touch=True, device_scale_factor=2)
        await log_in(page, ADMIN)
        await page.goto(f"/t/{cpam}/bornes/CPAM-LM-03/commandes")
        await expect(page.locator("main p").first).to_contain_text("OCPP 2.0.1 · connectée")
        await expect(page.locator("#titre-commande")).to_contain_text("(RequestStartTransaction)")
        await field(page, "Badge").select_option(label=f"{ALICE} — Alice Agent")
        await send(page)
        action, payload = await station.command()
        assert action == "RequestStartTransaction"
        assert {k: payload[k] for k in ("idToken", "evseId")} == {"idToken": {"idToken": ALICE, "type": "ISO14443"},
                                                                  "evseId": 1}
        assert isinstance(payload["remoteStartId"], int)
        await assert_fits_the_screen(page, 390, "the commands page")
        await assert_accessible(page, "the commands page on a phone")

        await choose_command(page, "Redémarrer la borne (Reset)")
        await send(page, "Redémarrer dès que la borne est libre (OnIdle)")
        assert await station.command() == ("Reset", {"type": "OnIdle"})

        # A charge runs: stopping it names it, and the confirmation sends the stop.
        tx = await station.start(ALICE)
        await page.goto(f"/t/{cpam}/bornes/CPAM-LM-03/commandes?action=RequestStopTransaction")
        await expect(field(page, "Recharge en cours")).to_contain_text(f"Recharge n° {tx}")
        await send(page)
        confirmation = page.get_by_role("alert").filter(has_text="Confirmer")
        await expect(confirmation).to_contain_text(f"Recharge n° {tx} — point 1, badge {ALICE} (Alice Agent)")
        await assert_accessible(page, "the confirmation of a stop on a phone")
        await confirmation.get_by_role("button", name="Confirmer et interrompre la recharge").click()
        assert await station.command() == ("RequestStopTransaction", {"transactionId": tx})

        await choose_command(page, "Changer la disponibilité (ChangeAvailability)")
        await field(page, "Disponibilité").select_option(label="Hors service (indisponible)")
        await send(page)
        confirmation = page.get_by_role("alert").filter(has_text="Confirmer")
        await expect(confirmation).to_contain_text("Changer la disponibilité (ChangeAvailability) interrompt une recharge")
        await confirmation.get_by_role("button", name="Confirmer et interrompre la recharge").click()
        assert await station.command() == ("ChangeAvailability", {"operationalStatus": "Inoperative"})
        await expect(page.locator("#reponse")).to_contain_text("ChangeAvailability : Acceptée")
