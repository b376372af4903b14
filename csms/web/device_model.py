"""The station's OCPP 2.0.1 device model on the web (issue 17 §2): « Modèle de données ».

``/t/{tenant}/bornes/{charge_box_id}/modele``: what the station reported of itself
(``csms.domain.device_model``): its variables' attributes with their value, mutability,
characteristics, the last change and the last SetVariables with the station's answer
(« refusée par la borne » when it said no), its monitors, the reports in parts received
and the station's other 2.0.1 messages; searchable with ``?q=``.

The same page sends GetBaseReport, GetVariables and SetVariables (the latter once the
person confirmed the stored value → the new one) through the remote commands (``csms.domain.commands``: validated, routed to the station's ingress, logged
in the command log, its answer stored in the device model in the same commit). Sending
needs ``operate_stations``; reading, ``read``. Another tenant's station is a 404.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import ValidationFailed
from app.shell import render, tenant_page
from csms.domain import commands, device_model, registry
from csms.domain.device_report import place_of, variable_key, variable_results
from csms.domain.models import Charger, StationEvent
from csms.domain.protocol import snake_keys
from csms.domain.vocabulary import ocpp_word
from tenants.context import TenantContext

__all__ = ["SET_LABELS", "SetPreview", "handlers", "set_outcomes", "set_variables_preview"]

PERMISSION = "operate_stations"
Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
#: The station register's kinds written by the 2.0.1 messages shown here (csms.ingress.v201).
MESSAGE_KINDS = ("charging_profiles", "reservation", "data_transfer", "charging_limit", "ev_charging_needs",
                 "ev_charging_schedule", "customer_information", "display_messages", "ev_certificate",
                 "certificate_status")
#: What a SetVariables / GetVariables status says, in French (OCPP 2.0.1 SetVariableStatusEnumType…).
SET_LABELS = {
    "Accepted": "acceptée", "RebootRequired": "acceptée, appliquée au prochain redémarrage",
    "Rejected": "refusée par la borne", "UnknownComponent": "refusée : composant inconnu de la borne",
    "UnknownVariable": "refusée : variable inconnue de la borne",
    "NotSupportedAttributeType": "refusée : type d'attribut non pris en charge",
}
SOURCE_LABELS = {"report": "rapport", "get": "lecture (GetVariables)", "set": "écriture (SetVariables)"}
QUERY_MAX = 100
VALUE_MAX = 1000
NAME_MAX = 50


def _labels(place: dict[str, Any]) -> tuple[str, str]:
    """The component and the variable as the model's table names them (instance, EVSE, connector)."""
    component = place["component"] + (f" [{place['component_instance']}]" if place["component_instance"] else "")
    if place["evse_id"] is not None:
        component += f" — EVSE {place['evse_id']}"
        if place["connector_id"] is not None:
            component += f", connecteur {place['connector_id']}"
    return component, place["variable"] + (f" [{place['variable_instance']}]" if place["variable_instance"] else "")


class SetPreview:
    """What a SetVariables would change, before it is sent: per attribute, the value the stored model
    has (``None``: the model does not have it, shown « inconnue ») and the new one; ``digest`` names
    the values shown, current and new, so that a confirmation given on other values asks again."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        shown = json.dumps([(r["key"], r["known"], r["current"], r["new"]) for r in rows], ensure_ascii=False)
        self.digest = hashlib.sha256(shown.encode()).hexdigest()[:20]


async def set_variables_preview(session: AsyncSession, charger: Charger, payload: dict[str, Any]) -> SetPreview:
    """Each ``setVariableData`` entry (camelCase, as sent) with the stored model's current value."""
    entries = [e for e in (snake_keys(payload).get("set_variable_data") or []) if isinstance(e, dict)]
    keys = [variable_key(e.get("component") or {}, e.get("variable") or {}, e.get("attribute_type") or "Actual")
            for e in entries]
    stored = await device_model.stored_values(session, charger.tenant_id, charger.id, keys)
    rows = []
    for key, entry in zip(keys, entries, strict=True):
        component, variable = _labels(place_of(entry.get("component") or {}, entry.get("variable") or {}))
        rows.append({"key": key, "component": component, "variable": variable,
                     "attribute_type": entry.get("attribute_type") or "Actual", "known": key in stored,
                     "current": stored.get(key), "new": str(entry.get("attribute_value") or "")})
    return SetPreview(rows)


def set_outcomes(payload: dict[str, Any], answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The station's answer per attribute, in French (« refusée par la borne », « acceptée, appliquée au
    prochain redémarrage »…) with its reasonCode (OCPP 2.0.1 B05, SetVariableResultType)."""
    outcomes = []
    for result in variable_results("SetVariables", snake_keys(payload), snake_keys(answer or {})):
        component, variable = _labels(result.place)
        outcomes.append({"component": component, "variable": variable, "attribute_type": result.attribute_type,
                         "value": result.value, "status": result.status, "reason": result.reason,
                         "label": SET_LABELS.get(result.status, result.status),
                         "ok": result.status in ("Accepted", "RebootRequired")})
    return outcomes


def _bounded(data: dict[str, Any], name: str, limit: int) -> str:
    value = data.get(name)
    return (value if isinstance(value, str) else "").strip()[:limit]


async def _page(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession, charger: Charger, *,
                query: str = "", result: dict[str, Any] | None = None, confirm: dict[str, Any] | None = None,
                status: int = 200) -> Any:
    tid = ctx.tenant_id
    variables, total = await device_model.list_variables(session, tid, charger.id, query=query)
    messages = list(await session.scalars(select(StationEvent).where(
        StationEvent.tenant_id == tid, StationEvent.charger_id == charger.id, StationEvent.kind.in_(MESSAGE_KINDS))
        .order_by(StationEvent.received_at.desc()).limit(50)))
    url = f"/t/{tid}/bornes/{charger.charge_box_id}/modele"
    return render(request, "csms/device_model.html", tenant_page(
        ctx, "stations", charger=charger, page_url=url, query=query, variables=variables, total=total,
        monitors=await device_model.list_monitors(session, tid, charger.id, query=query),
        reports=await device_model.list_reports(session, tid, charger.id), messages=messages,
        set_labels=SET_LABELS, source_labels=SOURCE_LABELS, result=result, confirm=confirm, ocpp_word=ocpp_word,
        is_201=charger.protocol != "ocpp1.6",
    ), status=status, block="model" if query or result or confirm else None)


@get("/t/{tenant_id:uuid}/bornes/{charge_box_id:str}/modele")
async def device_model_page(
    request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, charge_box_id: str,
    q: str = "",
) -> Any:
    """The device model, searched by component, variable, key or value (``q``)."""
    tenant_ctx.require("read")
    charger = await registry.find_charger_in_tenant(db_session, tenant_ctx.tenant_id, charge_box_id)
    return await _page(request, tenant_ctx, db_session, charger, query=q[:QUERY_MAX])


def _variable(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str]:
    component: dict[str, Any] = {"name": _bounded(data, "composant", NAME_MAX)}
    if _bounded(data, "instance_composant", NAME_MAX):
        component["instance"] = _bounded(data, "instance_composant", NAME_MAX)
    evse, connector = _bounded(data, "evse", 9), _bounded(data, "connecteur", 9)
    if evse.isdigit():
        component["evse"] = {"id": int(evse), **({"connectorId": int(connector)} if connector.isdigit() else {})}
    variable: dict[str, Any] = {"name": _bounded(data, "variable", NAME_MAX)}
    if _bounded(data, "instance_variable", NAME_MAX):
        variable["instance"] = _bounded(data, "instance_variable", NAME_MAX)
    kind = _bounded(data, "type", 10) or "Actual"
    return component, variable, kind


@post("/t/{tenant_id:uuid}/bornes/{charge_box_id:str}/modele")
async def device_model_send(
    request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, charge_box_id: str,
    data: Form,
) -> Any:
    """« Rapport complet » (GetBaseReport FullInventory), « Relire » (GetVariables) or « Modifier »
    (SetVariables) one attribute; the station's answer shown above the model, which it updated.
    « Modifier » first shows the stored value and the new one, and sends only once confirmed
    (``confirme``: the digest of the values shown)."""
    tenant_ctx.require(PERMISSION)
    tid = tenant_ctx.tenant_id
    charger = await registry.find_charger_in_tenant(db_session, tid, charge_box_id)
    operation = _bounded(data, "operation", 20)
    component, variable, kind = _variable(data)
    if operation == "rapport":
        action = "GetBaseReport"
        payload: dict[str, Any] = {"requestId": int(time.time()) % 2_000_000_000, "reportBase": "FullInventory"}
    elif operation in ("lire", "modifier") and component["name"] and variable["name"]:
        entry = {"component": component, "variable": variable, "attributeType": kind}
        if operation == "lire":
            action, payload = "GetVariables", {"getVariableData": [entry]}
        else:
            action, payload = "SetVariables", {"setVariableData": [
                {**entry, "attributeValue": _bounded(data, "valeur", VALUE_MAX)}]}
            # Nothing is sent before the person has seen the current value and the new one, and
            # confirmed them (a confirmation of other current values asks again).
            preview = await set_variables_preview(db_session, charger, payload)
            if _bounded(data, "confirme", 40) != preview.digest:
                hidden = [(k, v) for k, v in data.items() if k not in ("_csrf_token", "confirme") and isinstance(v, str)]
                return await _page(request, tenant_ctx, db_session, charger,
                                   confirm={"rows": preview.rows, "digest": preview.digest, "hidden": hidden})
    else:
        result = {"ok": False, "label": "Demande incomplète : choisissez une opération et une variable."}
        return await _page(request, tenant_ctx, db_session, charger, result=result, status=422)
    await db_session.commit()  # no database connection held while the station answers
    state = request.app.state
    try:
        outcome = await commands.execute_command(state.db, state.bus, tenant_id=tid, charge_box_id=charge_box_id,
                                                 action=action, payload=payload, actor=tenant_ctx.identity.actor)
        result = {"ok": outcome.status == "accepted", "action": action, "answer": outcome.answer,
                  "label": "Réponse de la borne reçue." if outcome.status == "accepted" else "Refusée par la borne."}
        if action == "SetVariables":
            result["variables"] = set_outcomes(payload, outcome.answer)
    except commands.CommandError as exc:
        result = {"ok": False, "action": action, "label": exc.message}
    except ValidationFailed as exc:
        result = {"ok": False, "action": action, "label": "; ".join(str(v) for v in exc.errors.values())}
    return await _page(request, tenant_ctx, db_session, charger, result=result)


handlers: list[Any] = [device_model_page, device_model_send]
