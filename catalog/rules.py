"""The rules of the price schedules and the catalog, without a database (``today`` is passed in).

* A BPU line (issue 14 §1): the columns ``code_article``, ``libelle``, ``unite``, ``prix_unitaire_ht``,
  ``taux_tva`` (percent), ``famille``, ``complexite``, ``constructeur``, ``achat_location``, as French
  spreadsheets write them: decimal comma or point, a space or a non-breaking space between thousands,
  « 20 % », families and complexities by their French label or their code.
* The families: supply, installation, maintenance, service, the assistance day (CCTP CAIH 2.1.18
  « L'unité d'œuvre sera définie à la journée »), the infogérance ticket of 30 minutes (CAIH 2.1.7),
  the repair on quote (CAIH 2.1.17 « le titulaire doit présenter un devis au bénéficiaire »).
* The complexity of a service (CCTP CANUT 5.5 « Prestation Simple … Standard … Complexe »), optional.
* A withdrawal from the catalog (CCTP CPAM 8-1-2-2): « Le titulaire devra obligatoirement informer la
  CPAM au moins 6 semaines avant le retrait d'une référence au présent marché ».
* A substitute (CPAM 8-1-3-1): « caractéristiques techniques égales ou supérieures aux caractéristiques
  du modèle à remplacer » and « prix égal ou inférieur au prix du modèle à remplacer »; the
  characteristics are typed values (``{"name", "unit", "value"}``) compared one by one.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "COLUMNS",
    "COMPLEXITIES",
    "FAMILIES",
    "MODES",
    "REQUIRED_COLUMNS",
    "WITHDRAWAL_NOTICE",
    "BpuLine",
    "earliest_withdrawal",
    "parse_bpu_line",
    "parse_characteristics",
    "parse_decimal",
    "substitution_problems",
    "withdrawal_problems",
]

#: The columns of a BPU file, in order.
COLUMNS = ("code_article", "libelle", "unite", "prix_unitaire_ht", "taux_tva", "famille", "complexite",
           "constructeur", "achat_location")
REQUIRED_COLUMNS = ("code_article", "libelle", "prix_unitaire_ht", "taux_tva", "famille")

FAMILIES = {
    "supply": "Fourniture",
    "installation": "Installation",
    "maintenance": "Maintenance",
    "service": "Prestation",
    "assistance_day": "Journée d'assistance technique",
    "infogerance_ticket_30min": "Ticket d'infogérance de 30 min",
    "repair_on_quote": "Réparation sur devis",
}
#: CANUT 5.5.
COMPLEXITIES = {"simple": "Simple", "standard": "Standard", "complexe": "Complexe"}
MODES = {"achat": "Achat", "location": "Location"}

#: CPAM 8-1-2-2: « au moins 6 semaines avant le retrait ».
WITHDRAWAL_NOTICE = dt.timedelta(weeks=6)

#: The text fields: their column in the file and the length of the stored column (``catalog.models.BpuItem``).
_TEXTS = {"article_code": ("code_article", 64), "label": ("libelle", 500), "unit": ("unite", 40),
          "maker": ("constructeur", 100)}
_MAX_PRICE = Decimal("9999999999.9999")  # Numeric(14, 4)


def _key(text: str) -> str:
    """« Journée d'assistance » and ``journee-d'assistance`` alike: no accent, lower case, ``_``."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "_".join(plain.casefold().replace("'", " ").replace("-", " ").split())


def _aliases(codes: Mapping[str, str], extra: Mapping[str, str] = {}) -> dict[str, str]:  # noqa: B006 - read only
    return {_key(label): code for code, label in codes.items()} | {code: code for code in codes} \
        | {_key(k): v for k, v in extra.items()}


_FAMILY_OF = _aliases(FAMILIES, {"fournitures": "supply", "prestations": "service", "journee d'assistance": "assistance_day",
                                 "assistance technique": "assistance_day", "ticket infogerance": "infogerance_ticket_30min",
                                 "ticket d'infogerance": "infogerance_ticket_30min", "reparation": "repair_on_quote"})
_COMPLEXITY_OF = _aliases(COMPLEXITIES, {"prestation simple": "simple", "prestation standard": "standard",
                                         "prestation complexe": "complexe", "complexe": "complexe"})
_MODE_OF = _aliases(MODES, {"a": "achat", "l": "location", "vente": "achat", "loc": "location"})


def parse_decimal(value: Any) -> Decimal | None:
    """A number as a spreadsheet gives it: ``12,50``, ``1 234.5``, ``1.234,5``, ``20 %``, a float of a
    workbook cell (read through its shortest text, so 0.1 stays 0.1); ``None`` when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    else:
        text = str(value or "").strip().removesuffix("%").removesuffix("€").strip()
        text = text.replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
        if "," in text and "." in text:  # the last one is the decimal mark
            text = text.replace(".", "").replace(",", ".") if text.rfind(",") > text.rfind(".") else text.replace(",", "")
        else:
            text = text.replace(",", ".")
        try:
            number = Decimal(text)
        except InvalidOperation:
            return None
    return number if number.is_finite() else None


@dataclass(frozen=True)
class BpuLine:
    """One checked article of a BPU file."""

    article_code: str
    label: str
    unit: str
    unit_price_ht: Decimal
    vat_rate: Decimal
    family: str
    complexity: str | None
    maker: str
    purchase_or_rental: str


def _cell(row: Mapping[str, Any], column: str) -> str:
    value = row.get(column)
    return "" if value is None else str(value).strip()


def parse_bpu_line(row: Mapping[str, Any]) -> tuple[BpuLine | None, list[str]]:
    """The line, or ``None`` and every French message that refuses it (all of them, not the first)."""
    problems: list[str] = []
    texts = {field: _cell(row, column) for field, (column, _) in _TEXTS.items()}
    for field, (column, limit) in _TEXTS.items():
        if not texts[field] and field in ("article_code", "label"):
            problems.append(f"{column} : obligatoire")
        elif len(texts[field]) > limit:
            problems.append(f"{column} : {limit} caractères au plus")
    price = parse_decimal(row.get("prix_unitaire_ht"))
    if price is None:
        problems.append(f"prix_unitaire_ht : nombre attendu (« {_cell(row, 'prix_unitaire_ht')[:20]} »)")
    elif price < 0 or price > _MAX_PRICE:
        problems.append("prix_unitaire_ht : doit être positif ou nul (10 milliards d'euros au plus)")
    elif price != price.quantize(Decimal("0.0001")):
        problems.append("prix_unitaire_ht : quatre décimales au plus")
    vat = parse_decimal(row.get("taux_tva"))
    if vat is None:
        problems.append(f"taux_tva : pourcentage attendu, par exemple 20 ou 5,5 (« {_cell(row, 'taux_tva')[:20]} »)")
    elif not Decimal(0) <= vat <= Decimal(100) or vat != vat.quantize(Decimal("0.01")):
        problems.append("taux_tva : un pourcentage entre 0 et 100, deux décimales au plus (20 pour 20 %)")
    family = _FAMILY_OF.get(_key(_cell(row, "famille")))
    if family is None:
        problems.append(f"famille inconnue : « {_cell(row, 'famille')[:40]} » (attendu : {', '.join(FAMILIES.values())})")
    complexity = None
    if _cell(row, "complexite"):
        complexity = _COMPLEXITY_OF.get(_key(_cell(row, "complexite")))
        if complexity is None:
            problems.append(f"complexite inconnue : « {_cell(row, 'complexite')[:40]} » (attendu : simple, standard, complexe)")
    mode = _MODE_OF.get(_key(_cell(row, "achat_location") or "achat"))
    if mode is None:
        problems.append(f"achat_location : « achat » ou « location » (« {_cell(row, 'achat_location')[:20]} »)")
    if problems:
        return None, problems
    assert price is not None and vat is not None and family is not None and mode is not None
    return BpuLine(article_code=texts["article_code"], label=texts["label"], unit=texts["unit"],
                   unit_price_ht=price, vat_rate=vat, family=family, complexity=complexity, maker=texts["maker"],
                   purchase_or_rental=mode), []


# --------------------------------------------------------------------------- catalog solutions


def earliest_withdrawal(notice_on: dt.date) -> dt.date:
    """CPAM 8-1-2-2: the first day a withdrawal notified on ``notice_on`` may take effect."""
    return notice_on + WITHDRAWAL_NOTICE


def withdrawal_problems(notice_on: dt.date, effective_on: dt.date, today: dt.date) -> list[str]:
    problems = []
    if notice_on > today:
        problems.append("la date d'information ne peut pas être dans le futur")
    if effective_on < earliest_withdrawal(notice_on):
        problems.append(
            f"retrait au plus tôt le {earliest_withdrawal(notice_on):%d/%m/%Y} : « Le titulaire devra obligatoirement "
            "informer la CPAM au moins 6 semaines avant le retrait d'une référence au présent marché » (CCTP CPAM 8-1-2-2)")
    return problems


def parse_characteristics(items: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, str]], list[str]]:
    """Typed characteristics ``{"name", "unit", "value"}`` (the value a number), as stored: the value as
    its text, names unique regardless of case."""
    out: list[dict[str, str]] = []
    problems: list[str] = []
    seen: set[str] = set()
    for n, item in enumerate(items, start=1):
        name = str(item.get("name") or "").strip()[:100]
        unit = str(item.get("unit") or "").strip()[:20]
        value = parse_decimal(item.get("value"))
        twice = _key(name) in seen
        if not name:
            problems.append(f"caractéristique {n} : nom obligatoire")
        elif twice:
            problems.append(f"caractéristique « {name} » : déclarée deux fois")
        if value is None:
            problems.append(f"caractéristique « {name or n} » : valeur numérique attendue")
        if name and not twice and value is not None:
            seen.add(_key(name))
            out.append({"name": name, "unit": unit, "value": str(value)})
    return out, problems


def _euros(amount: Decimal) -> str:
    """« 1 250,00 € » (four decimals only when the price has them)."""
    digits = 2 if amount == amount.quantize(Decimal("0.01")) else 4
    return f"{amount:,.{digits}f} €".replace(",", "\u202f").replace(".", ",")


def _quantity(value: Any, unit: str) -> str:
    """« 10 km », « 8 »: a characteristic's value in French with its unit."""
    return f"{str(value).replace('.', ',')} {unit}".strip()


def substitution_problems(replaced_price: Decimal, replaced: Sequence[Mapping[str, Any]],
                          substitute_price: Decimal, substitute: Sequence[Mapping[str, Any]]) -> list[str]:
    """Why ``substitute`` may not replace ``replaced`` (CPAM 8-1-3-1), every reason; ``[]`` when it may.
    A characteristic of the replaced model must be declared by the substitute, in the same unit, with a
    value at least as high."""
    problems = []
    if substitute_price > replaced_price:
        problems.append(f"prix {_euros(substitute_price)} HT supérieur à celui du modèle remplacé "
                        f"({_euros(replaced_price)} HT) : « prix égal ou inférieur au prix du modèle à remplacer » "
                        "(CCTP CPAM 8-1-3-1)")
    offered = {_key(str(c["name"])): c for c in substitute}
    for c in replaced:
        name, unit = str(c["name"]), str(c.get("unit") or "")
        mine = offered.get(_key(name))
        if mine is None:
            problems.append(f"caractéristique « {name} » non déclarée par le modèle de substitution")
            continue
        if _key(str(mine.get("unit") or "")) != _key(unit):
            problems.append(f"caractéristique « {name} » : unité « {mine.get('unit') or ''} » au lieu de « {unit} »")
            continue
        theirs, ours = parse_decimal(c["value"]), parse_decimal(mine["value"])
        if theirs is not None and (ours is None or ours < theirs):
            problems.append(f"caractéristique « {name} » : {_quantity(mine['value'], unit)} inférieure à "
                            f"{_quantity(c['value'], unit)} : « caractéristiques techniques égales ou supérieures » "
                            "(CCTP CPAM 8-1-3-1)")
    return problems
