"""The public web shell every portal and API handler uses, whatever its component.

Pages (server-rendered Jinja2 + HTMX, French):

- ``render(request, template, context, block=...)``: the full page, or only ``block``
  for an HTMX request (jinja2-fragments); the flash message of the session is shown
  once, on the next full page;
- ``tenant_page(ctx, current, **extra)`` / ``central_page(...)`` / ``account_page(...)``:
  the context every page of a tenant, of a central or of « Mon compte » starts from,
  with the menu of the request's portal (``Menu``, built from the components' manifests
  by the composition root and kept in ``app.state.menu``);
- ``flash``, ``see_other`` (POST-redirect-GET), ``form_fields`` (a submitted form
  without its CSRF token), ``wants_block``, ``parse_day`` (a date filter with its
  French field error), ``Paged`` and ``pager`` (server-side pagination that keeps the
  filters).

API: ``Problem`` is the RFC 9457 shape of every error answer (``application/problem+json``);
``problem(request, status, title, errors=...)`` writes one; ``api_validation_error`` and
``api_client_error`` are the exception handlers of every API router (French messages for
msgspec's decoding errors); ``error_responses(403, 404, ...)`` documents them in OpenAPI.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from jinja2_fragments.litestar import HTMXBlockTemplate
from litestar import Request, Response, route
from litestar.enums import MediaType, RequestEncodingType
from litestar.exceptions import ClientException, HTTPException, NotAuthorizedException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from msgspec import UNSET, Struct, UnsetType

from app.db import TenantScopeError
from app.errors import Forbidden, NotFound, ValidationFailed
from app.paging import Paged
from app.text import elide_de

__all__ = [
    "PROBLEM",
    "BeneficiaryColumnsHook",
    "Chart",
    "Column",
    "Figure",
    "Form",
    "Home",
    "HomeCard",
    "HomeCardHook",
    "Menu",
    "MenuHook",
    "Paged",
    "Problem",
    "account_page",
    "api_client_error",
    "api_validation_error",
    "central_page",
    "elide_de",
    "error_responses",
    "exception_handler",
    "flash",
    "form_fields",
    "menu_groups",
    "operator_page",
    "pager",
    "parse_day",
    "problem",
    "render",
    "see_other",
    "tenant_page",
    "unknown_page",
    "wants_block",
    "WorkItem",
    "WorkQueueHook",
]

#: An URL-encoded form body, as portal forms post it.
Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]

#: Where the menu of a page is resolved: ``render`` replaces it with the entries of ``app.state.menu``.
_NAV = "_nav"


# --------------------------------------------------------------------------- menu


@dataclass(frozen=True)
class MenuHook:
    """A component's menu entries: ``entries(ctx)`` returns ``(key, href, label)`` tuples, or
    ``(key, href, label, group)`` to place one entry in another group than the hook's.

    ``ctx`` is the page's tenant context, central context, operator context or ``None``
    (« Mon compte »); the hook decides from the role what it shows. Hooks are listed by
    ``order`` (then by component order), so a component places its entries without knowing
    the others. ``group`` (« Supervision », « Badges et réservations », « Administration »)
    gathers the entries under a heading of the menu; groups come in the order of their first
    entry, and entries without a group stand alone (« Accueil », « Mon compte »).
    """

    order: int
    entries: Callable[[Any], list[tuple[str, ...]]]
    group: str = ""


@dataclass
class Menu:
    """Every component's menu hooks, assembled once by the composition root."""

    hooks: list[MenuHook] = field(default_factory=list)

    def add(self, hooks: list[MenuHook] | tuple[MenuHook, ...]) -> None:
        self.hooks.extend(hooks)
        self.hooks.sort(key=lambda h: h.order)  # stable: equal orders keep the component order

    def items(self, ctx: Any, current: str = "") -> list[dict[str, Any]]:
        """The entries, flat (each with its ``group``, ``""`` for none)."""
        found = []
        for hook in self.hooks:
            for entry in hook.entries(ctx):
                key, href, label, *group = entry
                found.append({"key": key, "href": href, "label": label, "current": key == current,
                              "group": group[0] if group else hook.group})
        return found


def menu_groups(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries gathered by group, in the order of each group's first entry: ``[{label, entries}]``
    (``label`` empty for an entry standing alone)."""
    groups: list[dict[str, Any]] = []
    by_label: dict[str, dict[str, Any]] = {}
    for item in items:
        label = item.get("group", "")
        if not label:
            groups.append({"label": "", "entries": [item]})
            continue
        if label not in by_label:
            by_label[label] = {"label": label, "entries": []}
            groups.append(by_label[label])
        by_label[label]["entries"].append(item)
    return groups


# --------------------------------------------------------------------------- home pages


#: The severities of a home card or a figure, from calm to urgent (CSS ``severity-*``).
SEVERITIES = ("ok", "info", "warning", "danger")


@dataclass(frozen=True)
class Figure:
    """One number of a home card (« 2 Hors service »), linked to the list it counts.

    ``state``: a station state (``csms.domain.states``) shown with its colour and icon;
    ``severity``: how much it calls for attention (``SEVERITIES``).
    """

    label: str
    value: int | str
    href: str = ""
    state: str = ""
    severity: str = "ok"


@dataclass(frozen=True)
class Chart:
    """A bar chart drawn on the server (inline SVG) with its data table as the text
    alternative (RGAA 1.3: an image that carries information has an equivalent)."""

    title: str
    unit: str
    bars: tuple[tuple[str, float], ...]
    #: Width and height of the drawing (SVG units); it scales down on a phone.
    width: int = 640
    height: int = 200
    #: The heading of the data table's first column (what a bar is).
    category: str = "Jour"
    #: Label every bar under the axis (few bars) rather than one in seven (a month of days).
    every_label: bool = False

    def geometry(self) -> list[dict[str, Any]]:
        """Each bar's label, value and rectangle (``x``, ``y``, ``w``, ``h``) in the drawing."""
        if not self.bars:
            return []
        top = max((v for _, v in self.bars), default=0) or 1
        inner = self.height - 30
        step = self.width / len(self.bars)
        out = []
        for i, (label, value) in enumerate(self.bars):
            h = round(inner * value / top, 1)
            out.append({"label": label, "value": value, "x": round(i * step + step * 0.15, 1), "w": round(step * 0.7, 1),
                        "y": round(inner - h + 10, 1), "h": h})
        return out


@dataclass(frozen=True)
class HomeCard:
    """What a component puts on a home page: a title, figures, links, a severity.

    ``severity`` is the card's as a whole (its most urgent figure, usually): a
    ``danger`` or ``warning`` card is outlined and says so in words. ``chart``: an optional bar chart.
    """

    key: str
    title: str
    figures: tuple[Figure, ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    severity: str = "ok"
    note: str = ""
    chart: Chart | None = None


@dataclass(frozen=True)
class HomeCardHook:
    """A component's home cards: ``await cards(session, ctx, now)`` returns ``HomeCard``s.

    ``ctx`` is the home's context: a tenant context (admin, viewer, coordinator or operator
    in one tenant), a central context (the coordinator's home) or an operator context (the
    titulaire's technician across its tenants); the hook returns ``[]`` for a context it has
    nothing for. Cards are shown by ``order`` (then component order).
    """

    order: int
    cards: Callable[[Any, Any, dt.datetime], Awaitable[list[HomeCard]]]


@dataclass(frozen=True)
class Column:
    """A column of the coordinator's beneficiary table (``fmt``: ``int``, ``percent`` or ``text``)."""

    key: str
    label: str
    fmt: str = "int"
    #: Sorting this column descending first (open alerts: the most first).
    descending: bool = True


@dataclass(frozen=True)
class BeneficiaryColumnsHook:
    """Key figures of each beneficiary, for the coordinator's table:
    ``await values(session, tenant_ids, now)`` returns ``{tenant_id: {column key: value}}``."""

    order: int
    columns: tuple[Column, ...]
    values: Callable[[Any, list[Any], dt.datetime], Awaitable[dict[Any, dict[str, Any]]]]


@dataclass(frozen=True)
class WorkItem:
    """One line of the operator's work queue: what needs doing, where, since when.

    ``urgency``: 0 is the most urgent (a station out of service), larger is less; the
    queue is sorted by urgency, then oldest first.
    """

    tenant_id: Any
    urgency: int
    kind: str
    title: str
    href: str
    since: dt.datetime | None = None
    detail: str = ""
    severity: str = "warning"


@dataclass(frozen=True)
class WorkQueueHook:
    """A component's lines of the operator's queue: ``await items(session, tenant_ids, now)``."""

    order: int
    items: Callable[[Any, list[Any], dt.datetime], Awaitable[list[WorkItem]]]


@dataclass
class Home:
    """Every component's home contributions, assembled once by the composition root."""

    cards: list[HomeCardHook] = field(default_factory=list)
    columns: list[BeneficiaryColumnsHook] = field(default_factory=list)
    queue: list[WorkQueueHook] = field(default_factory=list)

    def add(self, *, cards: Iterable[HomeCardHook] = (), columns: Iterable[BeneficiaryColumnsHook] = (),
            queue: Iterable[WorkQueueHook] = ()) -> None:
        self.cards = sorted([*self.cards, *cards], key=lambda h: h.order)
        self.columns = sorted([*self.columns, *columns], key=lambda h: h.order)
        self.queue = sorted([*self.queue, *queue], key=lambda h: h.order)

    async def cards_for(self, session: Any, ctx: Any, now: dt.datetime) -> list[HomeCard]:
        """The cards of ``ctx``'s home, in hook order: a card keeps its place from one visit to
        the next, its severity (outline, icon) says when it needs attention."""
        found: list[HomeCard] = []
        for hook in self.cards:
            found += await hook.cards(session, ctx, now)
        return found

    async def beneficiary_figures(
        self, session: Any, tenant_ids: list[Any], now: dt.datetime,
    ) -> tuple[list[Column], dict[Any, dict[str, Any]]]:
        """The columns of every component, and each tenant's value in each."""
        columns: list[Column] = []
        values: dict[Any, dict[str, Any]] = {tid: {} for tid in tenant_ids}
        for hook in self.columns:
            columns += hook.columns
            for tid, row in (await hook.values(session, tenant_ids, now)).items():
                values.setdefault(tid, {}).update(row)
        return columns, values

    async def work_queue(self, session: Any, tenant_ids: list[Any], now: dt.datetime) -> list[WorkItem]:
        """Every component's work items across ``tenant_ids``, the most urgent first, then the oldest."""
        items = [item for hook in self.queue for item in await hook.items(session, tenant_ids, now)]
        far = dt.datetime.max.replace(tzinfo=dt.UTC)
        return sorted(items, key=lambda i: (i.urgency, i.since or far, i.title))


# --------------------------------------------------------------------------- pages


def flash(request: Request[Any, Any, Any], message: str) -> None:
    """A message shown once, on the next full page of this session."""
    request.session["flash"] = message


def _take_flash(request: Request[Any, Any, Any]) -> str:
    session = request.scope.get("session")
    return session.pop("flash", "") if isinstance(session, dict) else ""


def see_other(url: str) -> Redirect:
    """The answer to a successful form post (POST-redirect-GET)."""
    return Redirect(url, status_code=303)


def form_fields(data: dict[str, Any]) -> dict[str, str]:
    """Submitted fields without the CSRF token, as stripped strings."""
    return {k: str(v).strip() for k, v in data.items() if k != "_csrf_token"}


def wants_block(request: Request[Any, Any, Any]) -> bool:
    """An HTMX request that swaps a block (not a history restore, which needs the whole page)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


def _resolve_nav(request: Request[Any, Any, Any], context: dict[str, Any]) -> None:
    """The page's menu from ``app.state.menu``: flat (``nav``) and by group (``nav_groups``)."""
    if _NAV in context:
        ctx, current, before = context.pop(_NAV)
        menu: Menu | None = getattr(request.app.state, "menu", None)
        context["nav"] = [*before, *(menu.items(ctx, current) if menu else [])]
        context["nav_groups"] = menu_groups(context["nav"])
        context["nav_current"] = current


def render(
    request: Request[Any, Any, Any],
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    block: str | None = None,
) -> Template:
    """Full page, or only ``block`` for an HTMX request (jinja2-fragments)."""
    _resolve_nav(request, context)
    headers = {"Vary": "HX-Request"} if block else None
    if block and wants_block(request):
        # The block shows no flash message: it stays for the next full page.
        return HTMXBlockTemplate(template_name=template, block_name=block, context=context, status_code=status,
                                 headers=headers, media_type=MediaType.HTML)
    if "flash" not in context:
        context["flash"] = _take_flash(request)
    # Explicit: a handler annotated "-> Any" would otherwise send the page as application/json.
    return Template(template, context=context, status_code=status, headers=headers, media_type=MediaType.HTML)


def tenant_page(ctx: Any, current: str, **extra: Any) -> dict[str, Any]:
    """The context of a page of one tenant (``ctx``: the request's tenant context)."""
    return {
        "identity": ctx.identity,
        _NAV: (ctx, current, []),
        "tenant": ctx.tenant,
        "tz": ctx.tenant.timezone,
        "role": ctx.role,
        "role_label": ctx.role_label,
        "can": ctx.can,
        "base": f"/t/{ctx.tenant_id}",
        **extra,
    }


def central_page(ctx: Any, current: str, **extra: Any) -> dict[str, Any]:
    """The context of a page of a purchasing central (``ctx``: the request's central context)."""
    return {
        "identity": ctx.identity,
        _NAV: (ctx, current, []),
        "central": ctx.central,
        "base": f"/c/{ctx.central.code}",
        **extra,
    }


def operator_page(ctx: Any, current: str, **extra: Any) -> dict[str, Any]:
    """The context of a page across the tenants an operator serves (``ctx``: its operator context)."""
    return {"identity": ctx.identity, _NAV: (ctx, current, []), **extra}


def account_page(identity: Any, current: str, **extra: Any) -> dict[str, Any]:
    """The context of a page outside any tenant (« Mon compte »): the menu for no tenant."""
    start = {"key": "start", "href": "/", "label": "Accueil", "current": False}
    return {"identity": identity, _NAV: (None, current, [start]), **extra}


def parse_day(value: str, field: str, errors: dict[str, str]) -> dt.date | None:
    """A date filter (``AAAA-MM-JJ``); a bad one adds its French message to ``errors``."""
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        errors[field] = "Date invalide (format attendu : AAAA-MM-JJ)."
        return None


def pager(path: str, params: dict[str, Any], page: Paged) -> dict[str, Any]:
    """Previous/next links keeping the filters; ``None`` when there is no such page."""
    kept = {k: v for k, v in params.items() if v not in ("", None)}

    def url(n: int) -> str:
        return f"{path}?{urlencode({**kept, 'page': n})}"

    return {
        "page": page.page,
        "pages": page.pages,
        "total": page.total,
        "prev": url(page.page - 1) if page.page > 1 else None,
        "next": url(page.page + 1) if page.page < page.pages else None,
    }


# --------------------------------------------------------------------------- errors


#: The framework's own errors get these titles (their detail may name server paths).
FRAMEWORK_TITLES = {
    404: "Introuvable",
    405: "Méthode non autorisée",
    413: "Requête trop volumineuse",
    415: "Type de contenu non pris en charge",
    500: "Erreur interne",
}


def _wants_problem_json(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith("/api/")


def _html_error(request: Request[Any, Any, Any], status: int, title: str, detail: str = "") -> Response[Any]:
    """A French error page in the portal's layout: the signed-in caller keeps its header and
    the menu outside any tenant (« Accueil », « Mon compte ») to find its way back."""
    identity = request.scope.get("user")
    context: dict[str, Any] = {"status": status, "title": title, "detail": detail}
    if identity is not None and not getattr(identity, "via_token", False):
        context.update(account_page(identity, ""))
        try:
            _resolve_nav(request, context)
        except Exception:  # noqa: BLE001 - an error page must render even when a menu hook fails
            context.pop("nav", None)
            context.pop("nav_groups", None)
    return Template("error.html", context=context, status_code=status, media_type=MediaType.HTML)


@route("/{unknown:path}", http_method=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def unknown_page(unknown: str) -> None:
    """Any path no component serves: a 404 raised behind the middlewares, so the page has the
    signed-in caller's header and menu (a path no route matches never reaches the middlewares)."""
    raise NotFound("page")


def exception_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Every error as a French page (portals) or a problem+json answer (``/api/``); a 500 is logged."""
    if isinstance(exc, NotFound | TenantScopeError):
        status, title = 404, "Introuvable"
        # A tenant-scope violation is a bug or an attack: answer like a 404, never leak.
        if isinstance(exc, TenantScopeError):
            request.logger.error("tenant scope violation on %s: %s", request.url.path, exc)
        return problem(request, status, title) if _wants_problem_json(request) else _html_error(
            request, status, "Page introuvable", "Cette page n'existe pas ou vous n'y avez pas accès."
        )
    if isinstance(exc, Forbidden):
        return problem(request, 403, str(exc)) if _wants_problem_json(request) else _html_error(request, 403, "Accès refusé", str(exc))
    if isinstance(exc, ValidationFailed):
        if _wants_problem_json(request):
            return problem(request, 422, "Données invalides", errors=exc.errors)
        return _html_error(request, 422, "Données invalides", "; ".join(exc.errors.values()))
    if isinstance(exc, NotAuthorizedException):
        if _wants_problem_json(request):
            return problem(request, 401, "Authentification requise.")
        if request.headers.get("hx-request"):
            return Response("", status_code=200, headers={"HX-Redirect": "/connexion"})
        return Redirect(f"/connexion?suivant={request.url.path}")
    if isinstance(exc, ValidationException):
        if _wants_problem_json(request):
            return problem(request, 400, "Requête invalide", errors=exc.extra or [])
        keys = [str(e.get("key")) for e in (exc.extra or []) if isinstance(e, dict) and e.get("key")]
        detail = (f"Paramètre{'s' if len(keys) > 1 else ''} invalide{'s' if len(keys) > 1 else ''} ou hors limites : "
                  + ", ".join(f"« {k} »" for k in keys) + ".") if keys else "La requête est mal formée."
        return _html_error(request, 400, "Requête invalide", detail)
    if isinstance(exc, HTTPException):
        # The framework's own answers (a missing route or static file, a wrong method, a body
        # too large) get a fixed French title: their detail may name server paths.
        title = FRAMEWORK_TITLES.get(exc.status_code, exc.detail)
        if _wants_problem_json(request):
            return problem(request, exc.status_code, title, **({"errors": exc.extra} if exc.extra else {}))
        if exc.status_code == 404:
            return _html_error(request, 404, "Page introuvable", "Cette page n'existe pas ou vous n'y avez pas accès.")
        return _html_error(request, exc.status_code, title)
    request.logger.exception("unhandled error on %s", request.url.path, exc_info=exc)
    if _wants_problem_json(request):
        return problem(request, 500, "Erreur interne")
    return _html_error(request, HTTP_500_INTERNAL_SERVER_ERROR, "Erreur interne", "L'incident a été enregistré.")


# --------------------------------------------------------------------------- API


#: The media type of every API error answer.
PROBLEM = "application/problem+json"


class Problem(Struct, kw_only=True):
    """An error (RFC 9457 problem details, ``application/problem+json``)."""

    type: str
    title: str
    status: int
    instance: str
    #: Invalid data (422): one French message per field.
    errors: dict[str, str] | UnsetType = UNSET



def problem(request: Request[Any, Any, Any], status: int, title: str, **extra: Any) -> Response[Any]:
    """An error answer of the API (``extra``: e.g. ``errors={field: message}``)."""
    body = {"type": "about:blank", "title": title, "status": status, "instance": request.url.path, **extra}
    return Response(body, status_code=status, media_type=PROBLEM)


_MISSING = re.compile(r"missing required field `([^`]+)`")
_UNKNOWN = re.compile(r"unknown field `([^`]+)`")
_EXPECTED = re.compile(r"Expected `([^`]+)`")
_TYPES = {"str": "texte", "int": "nombre entier", "float": "nombre", "bool": "booléen", "object": "objet", "array": "liste"}


def _french(message: str) -> tuple[str | None, str]:
    """A French message for msgspec's decoding errors, and the field it names when it names one."""
    if match := _MISSING.search(message):
        return match.group(1), "Champ obligatoire."
    if match := _UNKNOWN.search(message):
        return match.group(1), "Champ inconnu."
    if match := _EXPECTED.search(message):
        wanted = " ou ".join(_TYPES.get(t.strip(), t.strip()) for t in match.group(1).split("|") if t.strip() != "null")
        return None, f"Valeur invalide ({wanted} attendu)."
    if "<=" in message or ">=" in message or "length" in message:
        return None, "Valeur hors des limites autorisées."
    return None, "Valeur invalide."


def api_validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """Body errors are field errors (422, like the services'); a bad query or path parameter is a 400."""
    errors: dict[str, str] = {}
    in_body = False
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if not isinstance(item, dict):
            continue
        named, message = _french(str(item.get("message", "")))
        key = named or str(item.get("key") or "data")
        in_body = in_body or item.get("source") == "body" or key == "data" or named is not None
        errors[key.removeprefix("data.")] = message
    if in_body:
        return problem(request, 422, "Données invalides", errors=errors)
    return problem(request, 400, "Requête invalide", errors=errors)


def api_client_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """The framework's own client errors (unreadable body, wrong method) as French problems."""
    if type(exc) is ClientException:  # the body could not be decoded
        return problem(request, 400, "Corps de requête invalide : JSON attendu.")
    titles = {404: "Introuvable", 405: "Méthode non autorisée", 403: "Accès refusé"}
    return problem(request, exc.status_code, titles.get(exc.status_code, str(exc.detail)))


_ERROR_TEXTS = {
    400: "Requête illisible : JSON invalide ou paramètre mal formé",
    401: "Jeton absent, inconnu, révoqué ou expiré",
    403: "Le profil de l'appelant ne permet pas cette action",
    404: "Absent, ou chez un bénéficiaire auquel l'appelant n'a pas accès (les deux se confondent)",
    422: "Données invalides : un message en français par champ dans `errors`",
}


def error_responses(*codes: int) -> dict[int, ResponseSpec]:
    """The OpenAPI error responses of a handler: 400 and 401 always, plus ``codes``."""
    return {
        code: ResponseSpec(data_container=Problem, description=_ERROR_TEXTS[code], media_type=PROBLEM, generate_examples=False)
        for code in (400, 401, *codes)
    }
