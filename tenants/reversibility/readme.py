"""``LISEZMOI.md``: every file and every column of the archive, in French, generated from the models so that it
cannot drift from them (issue 16 §1).

A column's description is, in this order: its ``comment=``, its ``doc=``, or the ``#:`` comment written above it
in its model (the codebase's convention for a column's meaning); its French name comes from the components' audit
labels (the « Journal »'s words) and its type always says how its values are written. ``undescribed_columns``
lists the columns that have neither description nor French name: the gap a test keeps visible.
"""

from __future__ import annotations

import functools
import inspect
import re
import sys
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Column, MetaData, Table
from sqlalchemy import types as sqltypes

from app.db import Base
from tenants.reversibility.archive import NEVER_EXPORTED, TablePlan

__all__ = ["column_description", "readme", "undescribed_columns"]

SCOPES = {
    "tenant_row": "la fiche du bénéficiaire",
    "tenant": "données du bénéficiaire",
    "attached": "données de la plateforme rattachées au bénéficiaire",
    "referenced": "données de la plateforme auxquelles les données du bénéficiaire renvoient",
}

_DOC_LINE = re.compile(r"^\s*#:\s?(.*)$")
_ATTRIBUTE = re.compile(r"^\s*(\w+)\s*:\s*Mapped\[")


@functools.cache
def _module_lines(module: str) -> tuple[str, ...]:
    try:
        return tuple(inspect.getsource(sys.modules[module]).splitlines())
    except (KeyError, OSError, TypeError):
        return ()


def _class_lines(klass: type) -> list[str]:
    """The source lines of a class body, found in its module's source read once (``inspect.getsource`` of a
    class re-parses the module every time)."""
    lines = _module_lines(klass.__module__)
    header = re.compile(rf"^class {re.escape(klass.__name__)}\b")
    for start, line in enumerate(lines):
        if header.match(line):
            body = []
            for following in lines[start + 1:]:
                if following and not following[0].isspace() and not following.startswith(")"):
                    break
                body.append(following)
            return body
    return []


@functools.cache
def _model_comments() -> dict[str, dict[str, str]]:
    """``#:`` comments above each mapped attribute, by table and column, read from the models' source."""
    found: dict[str, dict[str, str]] = {}
    for mapper in Base.registry.mappers:
        cls = mapper.class_
        table = getattr(cls, "__tablename__", None)
        if not table:
            continue
        comments = found.setdefault(table, {})
        for klass in cls.__mro__:
            if klass.__module__.startswith(("sqlalchemy", "builtins", "typing")):
                continue
            pending: list[str] = []
            for line in _class_lines(klass):
                doc = _DOC_LINE.match(line)
                if doc:
                    pending.append(doc.group(1).strip())
                    continue
                attribute = _ATTRIBUTE.match(line)
                if attribute and pending:
                    comments.setdefault(attribute.group(1), " ".join(pending))
                if not line.strip().startswith("#"):
                    pending = []
    return found


def _model_doc(table: str) -> str:
    for mapper in Base.registry.mappers:
        if getattr(mapper.class_, "__tablename__", None) == table and mapper.class_.__doc__:
            return " ".join(mapper.class_.__doc__.strip().split("\n\n")[0].split())
    return ""


def column_description(table: Table, column: Column[Any]) -> str:
    """The column's meaning as its model states it, or ``""``."""
    return (column.comment or column.doc or _model_comments().get(table.name, {}).get(column.name, "")).strip()


def _type_words(column: Column[Any]) -> str:
    kind = column.type
    impl = getattr(kind, "impl", kind)
    if isinstance(impl, sqltypes.DateTime):
        words = "horodatage ISO 8601 en UTC (« 2026-12-07T14:30:00+00:00 »)"
    elif isinstance(impl, sqltypes.Date):
        words = "date AAAA-MM-JJ"
    elif isinstance(impl, sqltypes.Boolean):
        words = "booléen (true / false)"
    elif isinstance(impl, sqltypes.Uuid):
        words = "identifiant UUID"
    elif isinstance(impl, sqltypes.Numeric) and not isinstance(impl, sqltypes.Float | sqltypes.Integer):
        scale = f", {impl.scale} décimales" if impl.scale else ""
        words = f"nombre décimal exact (point décimal{scale} ; une chaîne en JSON)"
    elif isinstance(impl, sqltypes.Float):
        words = "nombre"
    elif isinstance(impl, sqltypes.Integer):
        words = "entier"
    elif isinstance(impl, sqltypes.JSON):
        words = "JSON (clés triées)"
    elif isinstance(impl, sqltypes.LargeBinary):
        words = "binaire en base64"
    elif isinstance(impl, sqltypes.String) and impl.length:
        words = f"texte (au plus {impl.length} caractères)"
    else:
        words = "texte"
    extras = []
    if not column.nullable:
        extras.append("obligatoire")
    for fk in column.foreign_keys:
        if fk.column.name != "tenant_id":
            extras.append(f"renvoie à `{fk.column.table.name}.{fk.column.name}`")
    return words + (f" ; {', '.join(extras)}" if extras else "")


def _labels(reader: Any, table: str, column: str) -> str:
    if reader is None:
        return ""
    label = reader.field_label(table, column)
    return "" if label == column else label


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def readme(manifest: dict[str, Any], plans: list[TablePlan], *, reader: Any = None) -> str:
    """The archive's ``LISEZMOI.md``."""
    tenant = manifest["tenant"]
    files = {f["path"]: f for f in manifest["files"]}
    out = [
        f"# Export de réversibilité — {tenant['name']}",
        "",
        f"Archive produite le {manifest['generated_at']} (UTC) par Centrale {manifest['application']['version']}"
        f" (format `{manifest['format']}` version {manifest['format_version']}), pour le bénéficiaire"
        f" `{tenant['id']}` (SIRET {tenant['siret'] or '—'}, FINESS {tenant['finess'] or '—'}).",
        "",
        "Elle rassemble l'ensemble des données du bénéficiaire dans des formats ouverts et lisibles"
        " (CCTP CPAM 6-1 ; CCTP CANUT 5.7 ; CCP TGD V.4), pour lui-même ou pour le titulaire suivant.",
        "",
        "## Les fichiers",
        "",
        "- `manifest.json` : le format et sa version, le bénéficiaire, la date de production, la version de"
        " l'application, et pour chaque fichier son nombre de lignes de données et son empreinte SHA-256"
        " (calculée sur le fichier décompressé) ; pour chaque table, ses colonnes, sa clé primaire, ses clés"
        " étrangères et les colonnes écartées.",
        "- `tables/<table>.csv` : une table par fichier, en UTF-8, au format RFC 4180 (virgule, guillemets"
        " doubles au besoin, fin de ligne CRLF), avec une ligne d'en-tête ; les lignes sont triées par clé"
        " primaire. Les données sont brutes : une cellule qui commence par `=`, `+`, `-` ou `@` n'est pas"
        " neutralisée comme dans les exports destinés à un tableur ; ouvrez ces fichiers avec un outil de"
        " données, ou importez-les dans le tableur en mode texte. Une valeur absente est une cellule vide.",
        "- `tables/<table>.jsonl` : la même table en JSON Lines (un objet par ligne, dans le même ordre) ;"
        " c'est la forme sans perte : une valeur absente y est `null`, distincte d'un texte vide.",
        "- `documents/` : les fichiers que le produit a conservés (pièces jointes des tickets…).",
        "- `formats/` : les données dans des formats publics (bornes au schéma national IRVE d'Etalab).",
        "",
        "Les horodatages sont en UTC, au format ISO 8601 ; les montants sont des nombres décimaux exacts ;"
        " les identifiants sont des UUID et se correspondent d'une table à l'autre.",
        "",
        "## Ce qui n'est pas exporté en clair",
        "",
        "- Les secrets : mots de passe, jetons d'API et de réinitialisation, secrets OIDC ou TOTP, sessions."
        " Les bornes gardent l'empreinte (argon2id) de leur mot de passe, pour se connecter à la nouvelle"
        " instance avec celui qu'elles détiennent ; les comptes des utilisateurs n'ont pas d'empreinte de mot"
        " de passe, sauf demande de l'exploitant" + (" (incluses dans cette archive)." if manifest["options"][
            "password_hashes"] else " (non incluses ici) : chacun réinitialise son mot de passe."),
    ]
    out.extend(f"- `{name}` : {why}, jamais exporté." for name, why in sorted(NEVER_EXPORTED.items()))
    out += ["", "## Les tables", ""]
    for plan in plans:
        facts = manifest["tables"][plan.name]
        label = reader.entity_label(plan.name) if reader is not None else plan.name
        title = f"### `{plan.name}`" + (f" — {label}" if label != plan.name else "")
        out += [title, "", f"{SCOPES[plan.scope].capitalize()} ; {facts['rows']} lignes"
                f" (`tables/{plan.name}.csv`, `tables/{plan.name}.jsonl`)."]
        doc = _model_doc(plan.name)
        if doc:
            out += ["", doc]
        out += ["", "| colonne | nom | description | type |", "| --- | --- | --- | --- |"]
        for column in plan.columns:
            description = column_description(plan.table, column) or "(sans description)"
            out.append(f"| `{column.name}` | {_cell(_labels(reader, plan.name, column.name))} | "
                       f"{_cell(description)} | {_cell(_type_words(column))} |")
        for name, why in sorted(plan.omitted.items()):
            out.append(f"| `{name}` | | non exportée : {why} | |")
        out.append("")
    others = [f for path, f in sorted(files.items()) if path.startswith(("documents/", "formats/"))]
    if others:
        out += ["## Documents et formats publics", ""]
        out.extend(f"- `{f['path']}` : {f.get('description', '')}" + (f" ({f['rows']} lignes)" if f["rows"]
                                                                       is not None else "") for f in others)
        out.append("")
    return "\n".join(out)


def undescribed_columns(metadata: MetaData, tables: Iterable[str], *, reader: Any = None) -> list[str]:
    """``table.column`` of every exported column with no description and no French name."""
    missing = []
    for name in sorted(tables):
        table = metadata.tables[name]
        for column in table.columns:
            if column.name in ("id", "tenant_id"):
                continue
            if not column_description(table, column) and not _labels(reader, name, column.name):
                missing.append(f"{name}.{column.name}")
    return missing
