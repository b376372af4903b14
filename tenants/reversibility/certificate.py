"""The certificate of a tenant's destruction (issue 16 §4; CCP TGD V.4 and annexe 2 II.2.4 « destruction »): what
was erased (rows per table, platform rows, stored files), when, by whom, for which tenant, and how long the backups
keep it. Pure: the facts and ``now`` come in, a JSON document and its PDF come out; ``app.signing`` signs the
document with the instance's key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.documents import Layout, layout_pdf

__all__ = ["FORMAT", "FORMAT_VERSION", "DestructionFacts", "build_certificate", "certificate_pdf"]

FORMAT = "centrale-certificat-destruction"
FORMAT_VERSION = 1


@dataclass
class DestructionFacts:
    """What the destruction did, as the workflow counted it."""

    certificate_id: str
    tenant: dict[str, Any]
    requested_by: str
    requested_at: dt.datetime
    not_before: dt.datetime
    export_id: str | None
    destroyed_by: str
    started_at: dt.datetime
    #: Rows erased per tenant table (every table of the registry, 0 included), the tenant's row included.
    tables: dict[str, int]
    #: Platform rows erased because they were the tenant's only (accounts, their tokens, mails, events).
    platform: dict[str, int]
    #: Accounts kept because another tenant or a central still has them (only their link to this tenant went).
    users_kept: int
    files: int
    file_bytes: int
    folders: list[str] = field(default_factory=list)
    #: Kept rows rewritten so that they name an erased account by its pseudonym, not its e-mail (per table).
    pseudonymised: dict[str, int] = field(default_factory=dict)
    instance: dict[str, Any] = field(default_factory=dict)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def build_certificate(facts: DestructionFacts, *, backup_retention_days: int, now: dt.datetime) -> dict[str, Any]:
    """The certificate's document (to be signed). ``now`` is when the erasure finished."""
    backups_until = now + dt.timedelta(days=backup_retention_days)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "certificate_id": facts.certificate_id,
        "tenant": facts.tenant,
        "request": {"confirmed_by": facts.requested_by, "confirmed_at": _iso(facts.requested_at),
                    "cooling_off_ended_at": _iso(facts.not_before), "export_id": facts.export_id},
        "destruction": {"by": facts.destroyed_by, "started_at": _iso(facts.started_at), "finished_at": _iso(now)},
        "erased": {
            "tables": dict(sorted(facts.tables.items())),
            "rows": sum(facts.tables.values()),
            "platform_rows": dict(sorted(facts.platform.items())),
            "accounts_kept": facts.users_kept,
            "files": facts.files,
            "file_bytes": facts.file_bytes,
            "folders": sorted(facts.folders),
            "pseudonymised": dict(sorted(facts.pseudonymised.items())),
        },
        "backups": {
            "retention_days": backup_retention_days,
            "erased_from_backups_by": _iso(backups_until),
            "statement": (f"Les sauvegardes de la plateforme sont conservées {backup_retention_days} jours puis "
                          f"écrasées : les données du bénéficiaire n'y figurent plus après le "
                          f"{backups_until:%d/%m/%Y} (UTC). Elles ne sont jamais restaurées pour ce bénéficiaire."),
        },
        "kept": ["ce certificat (table tenant_destructions de la plateforme)",
                 "le journal de la plateforme (platform_audit_events), en ajout seul : les adresses des comptes "
                 "effacés y sont remplacées par un pseudonyme stable (efface- et les 16 premiers chiffres "
                 "hexadécimaux du SHA-256 de l'adresse en minuscules)"],
        "instance": facts.instance,
    }


def _rows(values: Mapping[str, int]) -> list[tuple[str, str]]:
    return [(name, f"{count:,}".replace(",", " ")) for name, count in values.items()]


def certificate_pdf(document: Mapping[str, Any], signature: Mapping[str, Any]) -> bytes:
    """The certificate for a reader: the same facts as the JSON, its signature and how to check it."""
    tenant, erased, backups = document["tenant"], document["erased"], document["backups"]
    identity = ", ".join(f"{k.upper()} {tenant[k]}" for k in ("siret", "finess") if tenant.get(k))
    layout = Layout("Certificat de destruction des données",
                    f"{tenant['name']} ({identity}) — certificat {document['certificate_id']}")
    layout.add("pairs", [
        ("Bénéficiaire", f"{tenant['name']} — identifiant {tenant['id']}"),
        ("Réversibilité confirmée par", f"{document['request']['confirmed_by']}, le "
                                        f"{document['request']['confirmed_at']}"),
        ("Fin du délai de réflexion", document["request"]["cooling_off_ended_at"]),
        ("Destruction effectuée par", document["destruction"]["by"]),
        ("Commencée / terminée (UTC)", f"{document['destruction']['started_at']} / "
                                       f"{document['destruction']['finished_at']}"),
        ("Lignes effacées", f"{erased['rows']:,}".replace(",", " ")),
        ("Fichiers effacés", f"{erased['files']} ({erased['file_bytes']:,} octets)".replace(",", " ")),
        ("Adresses pseudonymisées", f"{sum(erased.get('pseudonymised', {}).values())} lignes conservées "
                                    "(journal de la plateforme, demandes de destruction) nomment désormais les "
                                    "comptes effacés par un pseudonyme"),
        ("Comptes conservés", f"{erased['accounts_kept']} (membres d'un autre bénéficiaire ou d'une centrale : "
                              "seul leur lien avec ce bénéficiaire est effacé)"),
        ("Sauvegardes", backups["statement"]),
    ])
    layout.add("heading", "Lignes effacées par table")
    layout.table("Tables", ("Table", "Lignes"), _rows(erased["tables"]), widths=(3, 1))
    layout.add("heading", "Lignes de la plateforme effacées")
    layout.table("Plateforme", ("Table", "Lignes"), _rows(erased["platform_rows"]), widths=(3, 1))
    layout.add("heading", "Signature")
    layout.add("pairs", [("Algorithme", signature["algorithm"]), ("Clé", signature["key_id"]),
                         ("Clé publique (base64)", signature["public_key"]), ("Signature (base64)", signature["value"])])
    layout.add("paragraph", "Ce document reprend le fichier JSON signé du certificat. Pour vérifier la signature : "
                            "« centrale destroy verify certificat.json ».")
    return layout_pdf(layout)
