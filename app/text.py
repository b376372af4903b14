"""French words: « de » before a name with its article and elision (``elide_de``). Apart from the web shell (which
re-exports it for the templates) so that the calendars and territories import no web machinery."""

from __future__ import annotations

from typing import Any

__all__ = ["elide_de"]


#: The gender of the first word of a name, for « de » (``elide_de``): institutions and the
#: territories' names. A word not listed keeps no article (« de Metz », « d'Orléans »).
_FEMININE = frozenset({
    "antenne", "agence", "administration", "annexe", "association", "académie", "assemblée", "école", "université",
    "unité", "union", "usine", "caisse", "commune", "communauté", "clinique", "cour", "direction", "préfecture",
    "sous-préfecture", "mairie", "maison", "métropole", "région", "résidence", "salle", "station", "agglomération",
    "cpam", "caf", "caih", "canut", "urssaf", "dreal", "ars", "martinique", "guadeloupe", "guyane",
    "nouvelle-calédonie", "polynésie", "collectivité", "gendarmerie", "bibliothèque", "médiathèque", "piscine",
})
_MASCULINE = frozenset({
    "centre", "tribunal", "palais", "siège", "conseil", "service", "groupement", "syndicat", "ministère",
    "département", "musée", "parking", "site", "lycée", "collège", "commissariat", "chu", "chr", "ch", "sdis",
    "hôpital", "hôtel", "établissement", "ehpad", "institut", "office", "espace", "entrepôt", "immeuble",
    "observatoire", "atelier", "garage", "dépôt", "bâtiment", "pôle", "campus", "groupe", "gip", "smur", "samu",
})
_PLURAL = frozenset({"hôpitaux", "hospices", "centres", "services", "établissements", "archives", "thermes"})
_VOWELS = tuple("aeiouyàâäéèêëîïôöûüœAEIOUYÀÂÄÉÈÊËÎÏÔÖÛÜŒhH")


def elide_de(name: Any) -> str:
    """« de » before a name, with its article and elision: « de l'Antenne de Sablé », « du Centre
    hospitalier », « de la CPAM de la Sarthe », « de La Réunion », « des Hôpitaux », « d'Orléans »."""
    text = str(name or "").strip()
    if not text:
        return "de"
    first, _, rest = text.partition(" ")
    lower = first.lower()
    if lower == "le":
        return f"du {rest}"
    if lower == "les":
        return f"des {rest}"
    if lower in ("la", "l'") or lower.startswith(("l'", "l’")):
        return f"de {text}"  # the article is part of the proper name (La Réunion, L'Haÿ-les-Roses)
    elided = text.startswith(_VOWELS)
    if lower in _PLURAL:
        return f"des {text}"
    if lower in _FEMININE:
        return f"de l'{text}" if elided else f"de la {text}"
    if lower in _MASCULINE:
        return f"de l'{text}" if elided else f"du {text}"
    return f"d'{text}" if elided else f"de {text}"
