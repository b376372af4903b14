"""The catalog's demo data: a small BPU for each demo agreement, in force since the agreements' start, and
two catalog solutions of the CPAM's IRVE agreement (one approved, one proposed).

Idempotent: an agreement that has a BPU version already is left as it is.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog import rules, services
from catalog.models import BpuVersion
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
#: CPAM 8-1-3-1: typed characteristics, compared one by one when a substitute is proposed.
SOLUTIONS = [
    ("SOL-BORNE-22", "Borne double 22 kW", "Schneider Electric", "IRVE-BORNE-22", "3450", True,
     [{"name": "Puissance", "unit": "kW", "value": "22"}, {"name": "Points de charge", "unit": "", "value": "2"}]),
    ("SOL-BORNE-22-V2", "Borne double 22 kW, nouvelle génération", "Schneider Electric", "IRVE-BORNE-22", "3390", False,
     [{"name": "Puissance", "unit": "kW", "value": "22"}, {"name": "Points de charge", "unit": "", "value": "2"}]),
]
ACTOR = "démo"


async def load(session: AsyncSession, shared: dict[str, Any]) -> dict[str, Any]:
    versions = 0
    for reference, lines in BPU.items():
        agreement = await session.scalar(select(FrameworkAgreement).where(FrameworkAgreement.reference == reference))
        if agreement is None or await session.scalar(select(BpuVersion.id).where(BpuVersion.agreement_id == agreement.id)):
            continue
        await services.import_bpu(session, agreement, "\n".join([HEADER, *lines]), f"bpu-{reference}.csv",
                                  valid_from=agreement.starts_on or dt.date(2025, 1, 1), imported_by=ACTOR)
        versions += 1
        if reference == "2025-CPAM72-IRVE":
            for code, name, maker, article, price, approved, characteristics in SOLUTIONS:
                solution = await services.propose_solution(session, agreement, {
                    "code": code, "name": name, "maker": maker, "article_code": article, "price_ht": price,
                    "characteristics": characteristics}, actor=ACTOR)
                if approved:
                    await services.approve_solution(session, agreement, solution.id, actor=ACTOR)
    return {"bpu_versions": versions}
