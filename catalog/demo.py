"""The catalog's demo data: a small BPU for each demo agreement, in force since the agreements' start, two catalog
solutions of the CPAM's IRVE agreement (one approved, one proposed), and the ordering of the demo beneficiaries at
each step (``ORDERING``): quotes, purchase orders, a delivery slip awaiting the buyer's decision and a verified
order, an amendment, the CHR's CAIH recurring maintenance contract and its infogérance tickets. Every row is made by
the services a user's click would call, dated back from now so that each deadline holds whatever day it is loaded.

Idempotent: an agreement that has a BPU version already is left as it is (the CPAM's gets a new version when the
one in force has no badge article: the demo of an earlier release); a tenant that has a quote or an order already
gets no demo ordering. ``Settings.demo_ordering`` off (the tests' shared template) loads the BPUs only.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from catalog import amendments, badges, deliveries, maintenance, orders, quotes, rules, services
from catalog.models import BpuVersion, PurchaseOrder, Quote
from tenants import services as tenants
from tenants.models import FrameworkAgreement

__all__ = ["BPU", "load"]

HEADER = ";".join(rules.COLUMNS)
#: Per agreement, its BPU as the coordinator would import it (French decimals, French family names).
BPU = {
    "2024-CAIH-SRV": [
        "CAIH-MNT-X86;Maintenance annuelle serveur X86;an;420,00;20;Maintenance;;Dell;achat",
        "CAIH-MNT-BAIE;Maintenance annuelle baie de stockage;an;1 850,00;20;Maintenance;;NetApp;achat",
        "CAIH-AT-N1;Journée d'assistance technique, exploitation niveau 1;jour;560,00;20;Journée d'assistance technique;;;achat",
        "CAIH-AT-N2;Journée d'assistance technique, exploitation niveau 2;jour;690,00;20;Journée d'assistance technique;;;achat",
        "CAIH-INFO-30;Ticket d'infogérance de 30 minutes;ticket;47,50;20;Ticket d'infogérance de 30 min;;;achat",
        "CAIH-REP-DEVIS;Réparation sur devis (pièces et main d'œuvre);devis;0;20;Réparation sur devis;;;achat",
    ],
    "2024_AOO_IOT": [
        "IOT-CAP-TEMP;Capteur de température LoRaWAN;unité;89,90;20;Fourniture;;Adeunis;achat",
        "IOT-CAP-CO2;Capteur de CO2 et qualité d'air LoRaWAN;unité;189,00;20;Fourniture;;Elsys;achat",
        "IOT-GW-OUT;Passerelle LoRaWAN extérieure;unité;1 250,00;20;Fourniture;;Kerlink;achat",
        "IOT-GW-LOC;Passerelle LoRaWAN, location mensuelle;mois;39,00;20;Fourniture;;Kerlink;location",
        "IOT-INT-S;Intégration d'une solution sur étagère;forfait;1 200,00;20;Prestation;Simple;;achat",
        "IOT-INT-M;Intégration avec développements;forfait;4 800,00;20;Prestation;Standard;;achat",
        "IOT-INT-C;Intégration au SI, développements spécifiques;forfait;12 500,00;20;Prestation;Complexe;;achat",
    ],
    "2025-CPAM72-IRVE": [
        "IRVE-BORNE-22;Borne de recharge 2 × 22 kW;unité;3 450,00;20;Fourniture;;Schneider Electric;achat",
        "IRVE-BORNE-7;Borne murale 7,4 kW;unité;980,00;20;Fourniture;;Hager;achat",
        # CPAM 5-5-5-3: the badges given at each charge point's commissioning (``catalog.badges.badge_article``).
        "IRVE-BADGE;Badge RFID de recharge (mise en service);unité;6,50;20;Fourniture;;;achat",
        "IRVE-POSE;Pose et raccordement d'une borne;unité;1 150,00;20;Installation;;;achat",
        "IRVE-MAINT;Maintenance préventive annuelle d'un point de charge;an;185,00;20;Maintenance;;;achat",
        "IRVE-SUPERV;Supervision d'un point de charge;mois;8,50;20;Prestation;;;achat",
    ],
    "2025-MJ-TGD-OM": [
        "TGD-TERM-01;Terminal d'alerte portatif;unité;245,00;8,5;Fourniture;;Thales;achat",
        "TGD-TERM-LOC;Terminal d'alerte, location mensuelle;mois;12,00;8,5;Fourniture;;Thales;location",
        "TGD-MAINT;Maintenance d'un terminal;an;36,00;8,5;Maintenance;;;achat",
    ],
}
CPAM_AGREEMENT = "2025-CPAM72-IRVE"
#: CPAM 8-1-3-1: typed characteristics, compared one by one when a substitute is proposed.
SOLUTIONS = [
    ("SOL-BORNE-22", "Borne double 22 kW", "Schneider Electric", "IRVE-BORNE-22", "3450", True,
     [{"name": "Puissance", "unit": "kW", "value": "22"}, {"name": "Points de charge", "unit": "", "value": "2"}]),
    ("SOL-BORNE-22-V2", "Borne double 22 kW, nouvelle génération", "Schneider Electric", "IRVE-BORNE-22", "3390", False,
     [{"name": "Puissance", "unit": "kW", "value": "22"}, {"name": "Points de charge", "unit": "", "value": "2"}]),
]
ACTOR = "démo"
DAY = dt.timedelta(days=1)
#: Per demo tenant (``tenants.demo`` keys): its agreement, the buyer (its admin) and who represents it on orders.
ORDERING = {
    "cpam": (CPAM_AGREEMENT, "admin@cpam72.demo"),
    "chr": ("2024-CAIH-SRV", "admin@chr-metz.demo"),
    "commune": ("2024_AOO_IOT", "admin@villeurbanne.demo"),
}
OPERATOR = "technicien@titulaire.demo"


async def _agreement(session: AsyncSession, reference: str) -> FrameworkAgreement | None:
    found: FrameworkAgreement | None = await session.scalar(
        select(FrameworkAgreement).where(FrameworkAgreement.reference == reference))
    return found


async def _bpus(session: AsyncSession, today: dt.date) -> int:
    versions = 0
    for reference, lines in BPU.items():
        agreement = await _agreement(session, reference)
        if agreement is None:
            continue
        content, filename = "\n".join([HEADER, *lines]), f"bpu-{reference}.csv"
        if await session.scalar(select(BpuVersion.id).where(BpuVersion.agreement_id == agreement.id)):
            # A demo loaded by an earlier release has a CPAM BPU without the badge article: a new version from
            # today, so that the commissioning badges can be ordered (the older orders keep their prices).
            if reference == CPAM_AGREEMENT and await badges.badge_article(session, agreement.id, today) is None:
                await services.import_bpu(session, agreement, content, filename, valid_from=today, imported_by=ACTOR)
                versions += 1
            continue
        await services.import_bpu(session, agreement, content, filename,
                                  valid_from=agreement.starts_on or dt.date(2025, 1, 1), imported_by=ACTOR)
        versions += 1
        if reference == CPAM_AGREEMENT:
            for code, name, maker, article, price, approved, characteristics in SOLUTIONS:
                solution = await services.propose_solution(session, agreement, {
                    "code": code, "name": name, "maker": maker, "article_code": article, "price_ht": price,
                    "characteristics": characteristics}, actor=ACTOR)
                if approved:
                    await services.approve_solution(session, agreement, solution.id, actor=ACTOR)
    return versions


@dataclass
class _Buyer:
    """One demo beneficiary's ordering, each step ``ago`` before ``now`` (its local day for the dates)."""

    session: AsyncSession
    tenant_id: uuid.UUID
    agreement: FrameworkAgreement
    zone: Any
    now: dt.datetime
    place: str
    buyer: Any
    operator: Any

    def at(self, ago: float) -> dt.datetime:
        return self.now - ago * DAY

    def day(self, ago: float) -> dt.date:
        return self.at(ago).astimezone(self.zone).date()

    @property
    def representative(self) -> str:
        return self.buyer.full_name if self.buyer is not None else "Acheteur (démo)"

    def _id(self, user: Any) -> uuid.UUID | None:
        return user.id if user is not None else None

    async def order(self, ago: float, lines: list[tuple[str, str]], conditions: str, *,
                    issue: bool = True) -> PurchaseOrder:
        order = await orders.create_order(self.session, self.tenant_id, {
            "agreement_id": str(self.agreement.id), "delivery_place": self.place,
            "representative": self.representative, "delivery_conditions": conditions,
            "lines": [{"article_code": code, "quantity": quantity} for code, quantity in lines]},
            order_date=self.day(ago), now=self.at(ago))
        if issue:
            order = await orders.act_on_order(self.session, self.tenant_id, order.id, "issue", now=self.at(ago))
        return order

    async def slip(self, order: PurchaseOrder, ago: float, lines: list[tuple[int, str]], note: str = "") -> Any:
        return await deliveries.record_delivery(self.session, self.tenant_id, order.id, {
            "delivered_on": self.day(ago), "note": note,
            "lines": [{"position": position, "quantity": quantity} for position, quantity in lines]},
            recorded_by=self._id(self.operator), now=self.at(ago))

    async def quote(self, ago: float, kind: str, need: str, site_id: Any) -> Quote:
        return await quotes.request_quote(self.session, self.tenant_id, self._id(self.buyer), {
            "agreement_id": str(self.agreement.id), "kind": kind, "need": need, "site_id": site_id,
            "place": "" if site_id else self.place}, now=self.at(ago))

    async def price(self, quote: Quote, visit_ago: float, ago: float, lines: list[tuple[str, str]], note: str) -> Quote:
        await quotes.record_visit(self.session, self.tenant_id, quote.id, self.day(visit_ago), now=self.at(visit_ago))
        return await quotes.answer_quote(self.session, self.tenant_id, quote.id, {
            "note": note, "lines": [{"article_code": code, "quantity": quantity} for code, quantity in lines]},
            answered_by=self._id(self.operator), now=self.at(ago))


async def _cpam(d: _Buyer, site_id: Any) -> None:
    """CPAM 5-1-4 to 5-3-1 and CCP TGD VI-VII: one quote or order at each step the buyer and the titulaire see."""
    # An accepted quote whose works have started: the titulaire records the commissioning and orders the badges.
    works = await d.quote(35, "works", "Installation de deux bornes 2 × 22 kW au parking des véhicules de service, "
                                       "tranchée et raccordement au TGBT compris.", site_id)
    await d.price(works, 32, 28, [("IRVE-BORNE-22", "2"), ("IRVE-POSE", "2"), ("IRVE-SUPERV", "24")],
                  "Raccordement sur le départ existant du TGBT, sans renforcement.")
    await quotes.accept_quote(d.session, d.tenant_id, works.id, {}, decided_by=d._id(d.buyer),
                              representative=d.representative, now=d.at(20))
    await quotes.record_works_start(d.session, d.tenant_id, works.id, d.day(8), now=d.at(8))
    # A quote priced, waiting for the buyer's decision.
    priced = await d.quote(12, "works", "Quatre bornes murales 7,4 kW pour le parking du personnel.", site_id)
    await d.price(priced, 8, 5, [("IRVE-BORNE-7", "4"), ("IRVE-POSE", "4"), ("IRVE-MAINT", "4")],
                  "Pose sur les poteaux existants ; maintenance préventive de la première année incluse.")
    # A request the titulaire has not visited yet.
    await d.quote(2, "works", "Remplacement de la borne du parking visiteurs (câble arraché) par une borne "
                              "2 × 22 kW.", site_id)

    # Verified: one slip of everything, then the buyer's « réception » of every line (TGD VII.3).
    verified = await d.order(30, [("IRVE-BORNE-22", "1"), ("IRVE-POSE", "1")], "Livraison en semaine, de 8 h à 17 h.")
    slip = await d.slip(verified, 21, [(1, "1"), (2, "1")], "Borne posée et raccordée.")
    await deliveries.decide_delivery(d.session, d.tenant_id, slip.id, {
        "decided_on": d.day(18), "verification_ended_on": d.day(19),
        "lines": [{"position": 1, "kind": "reception"}, {"position": 2, "kind": "reception"}]},
        decided_by=d._id(d.buyer), now=d.at(18))
    # Started: a partial slip (two of the four charge points) waiting for the buyer's decision.
    started = await d.order(15, [("IRVE-BORNE-22", "4"), ("IRVE-POSE", "4")], "Pose en deux tranches.")
    await d.slip(started, 3, [(1, "2")], "Première tranche : deux bornes livrées sur site, pose à suivre.")
    # Issued, then amended (TGD VI.3: notified ten days at least before it takes effect).
    amended = await d.order(10, [("IRVE-MAINT", "10"), ("IRVE-SUPERV", "120")],
                            "Maintenance et supervision des dix points de charge du siège, douze mois.")
    await amendments.amend_order(d.session, d.tenant_id, amended.id, {
        "effective_on": d.day(2) + 14 * DAY,
        "reason": "Deux points de charge mis en service en plus : maintenance et supervision de douze points.",
        "lines": [{"article_code": "IRVE-MAINT", "quantity": "12"}, {"article_code": "IRVE-SUPERV", "quantity": "144"}]},
        now=d.at(2))
    await d.order(4, [("IRVE-SUPERV", "36")], "Supervision des trois bornes du site annexe, douze mois.")
    await d.order(1, [("IRVE-BORNE-7", "3"), ("IRVE-POSE", "3")], "À compléter : créneau de pose à convenir.",
                  issue=False)


async def _chr(d: _Buyer) -> None:
    """CAIH 2.1.7: the 30-minute tickets the interventions consume; CAIH 2.1.32: the recurring maintenance, its
    first order notified and started within the 30 days."""
    await d.order(40, [("CAIH-INFO-30", "40")], "Tickets d'infogérance de 30 minutes, consommés par intervention.")
    contract = await maintenance.create_contract(d.session, d.tenant_id, {
        "agreement_id": str(d.agreement.id), "delivery_place": d.place, "representative": d.representative,
        "lines": [{"article_code": "CAIH-MNT-X86", "quantity": "12"},
                  {"article_code": "CAIH-MNT-BAIE", "quantity": "2"}]}, now=d.at(20))
    await orders.act_on_order(d.session, d.tenant_id, contract.first_order_id, "issue", now=d.at(20))
    await orders.act_on_order(d.session, d.tenant_id, contract.first_order_id, "start", now=d.at(6))


async def _commune(d: _Buyer, site_id: Any) -> None:
    await d.quote(3, "works", "Capteurs de CO2 dans les douze salles de l'école Jean-Jaurès, remontée vers "
                              "l'hyperviseur de la ville.", site_id)
    await d.order(6, [("IOT-CAP-TEMP", "20"), ("IOT-GW-OUT", "1"), ("IOT-INT-S", "1")],
                  "Installation au gymnase municipal.")


async def _ordering(session: AsyncSession, shared: dict[str, Any], now: dt.datetime) -> int:
    made = 0
    operator = await tenants.find_user_by_email(session, OPERATOR)
    for key, (reference, buyer_email) in ORDERING.items():
        tenant = shared.get("tenants", {}).get(key)
        agreement = await _agreement(session, reference)
        if tenant is None or agreement is None:
            continue
        if (await session.scalar(select(func.count()).select_from(PurchaseOrder)
                                 .where(PurchaseOrder.tenant_id == tenant.id))
                or await session.scalar(select(func.count()).select_from(Quote).where(Quote.tenant_id == tenant.id))):
            continue
        site = shared.get("first_sites", {}).get(key)
        place = ", ".join(p for p in (site.name, site.address, f"{site.postal_code} {site.city}") if p) if site else \
            f"{tenant.name}, {tenant.address or ''}".strip(", ")
        calendar = await quotes.tenant_calendar(session, tenant.id)
        d = _Buyer(session, tenant.id, agreement, calendar.zone, now, place,
                   await tenants.find_user_by_email(session, buyer_email), operator)
        site_id = str(site.id) if site else None
        if key == "cpam":
            await _cpam(d, site_id)
        elif key == "chr":
            await _chr(d)
        else:
            await _commune(d, site_id)
        made += 1
    return made


async def load(session: AsyncSession, shared: dict[str, Any]) -> dict[str, Any]:
    now = utcnow()
    versions = await _bpus(session, now.date())
    ordering = getattr(shared.get("settings"), "demo_ordering", True)  # off in the tests' shared template
    return {"bpu_versions": versions, "ordering_tenants": await _ordering(session, shared, now) if ordering else 0}
