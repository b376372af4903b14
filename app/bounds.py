"""Bounds on what comes from outside, applied where it enters (issue 10; ASVS 4.0 V5.1).

One place for every limit, so that no component invents its own and none forgets:

- **Integers.** A Python ``int`` has no limit, but the database's do (``INTEGER`` is
  32 bits, ``BIGINT`` 64) and an offset computed from ``page=`` followed by forty 9s
  overflows them: a 500. Query parameters use :data:`Page` / :func:`per_page`; JSON
  fields :data:`Int32` (or a narrower ``Meta``); form fields :func:`int_value`. The
  API walk in ``tests/app/test_input_bounds.py`` fails on any unbounded ``int``.
- **Text.** A free-text field is limited to its column's length
  (:func:`column_length`), with a French field error rather than a database error on
  PostgreSQL or a silent acceptance on SQLite: :func:`text_value`.
- **Bodies.** :data:`MAX_BODY_BYTES` for the whole request (413 above it); JSON nested
  deeper than :data:`MAX_JSON_DEPTH` or not in UTF-8 is refused with a 400 before any
  parser sees it (:func:`json_body_guard`, a middleware of the application).
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Annotated, Any

from litestar.params import Parameter
from msgspec import Meta

__all__ = [
    "uuid_value",
    "INT32_MAX",
    "INT64_MAX",
    "MAX_BODY_BYTES",
    "MAX_JSON_DEPTH",
    "PAGE_MAX",
    "Int32",
    "NonNegative32",
    "Page",
    "column_length",
    "int_value",
    "json_body_guard",
    "json_body_problem",
    "json_depth_ok",
    "per_page",
    "text_value",
]

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
PAGE_MAX = 100_000
#: Request bodies: a fleet CSV of a few thousand lines is well under it.
MAX_BODY_BYTES = 4_000_000
#: The deepest JSON document a client may send (ours nest 4 levels at most).
MAX_JSON_DEPTH = 32

Page = Annotated[int, Parameter(ge=1, le=PAGE_MAX, description="Numéro de page (1 pour la première)")]
Int32 = Annotated[int, Meta(ge=-INT32_MAX - 1, le=INT32_MAX)]
NonNegative32 = Annotated[int, Meta(ge=0, le=INT32_MAX)]


def uuid_value(value: Any) -> uuid.UUID | None:
    """A UUID from a form or body value; ``None`` when empty or not a UUID (the caller says why)."""
    if value in (None, ""):
        return None
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def per_page(maximum: int) -> Any:
    """The ``per_page`` query parameter, 1 to ``maximum``."""
    return Annotated[int, Parameter(ge=1, le=maximum, description=f"Éléments par page (1 à {maximum})")]


def column_length(column: Any) -> int:
    """The length of a ``String(n)`` column (an ORM attribute such as ``Site.name``)."""
    length = getattr(column.property.columns[0].type, "length", None)
    if not length:
        raise TypeError(f"{column} has no length: give text_value an explicit limit")
    return int(length)


def _count(n: int) -> str:
    return f"{n:,}".replace(",", "\u202f")


def text_value(data: dict[str, Any], key: str, errors: dict[str, str], *, limit: Any, label: str) -> str:
    """The stripped text of ``data[key]`` ("" when absent); over ``limit`` characters (a number,
    or a column whose length is the limit) it is a field error, not a truncation."""
    value = data.get(key)
    text = "" if value is None else str(value).strip()
    maximum = limit if isinstance(limit, int) else column_length(limit)
    if len(text) > maximum:
        errors[key] = f"{label} : {_count(maximum)} caractères au plus ({_count(len(text))} saisis)."
        return text[:maximum]
    return text


def int_value(data: dict[str, Any], key: str, errors: dict[str, str], *, low: int, high: int, label: str,
              default: int | None = None) -> int | None:
    """The integer of a form or CSV field, between ``low`` and ``high``; else a field error."""
    raw = data.get(key)
    if raw is None or str(raw).strip() == "":
        return default
    text = str(raw).strip()
    # int() of a 5,000-digit string is refused by Python itself: say it the same way.
    if len(text) > 20 or not text.lstrip("+-").isdigit():
        errors[key] = f"{label} : nombre entier attendu, de {_count(low)} à {_count(high)}."
        return default
    number = int(text)
    if not low <= number <= high:
        errors[key] = f"{label} : de {_count(low)} à {_count(high)} ({text[:20]} donné)."
        return default
    return number


#: What is not a bracket of the JSON structure: strings, and runs of anything but brackets.
_NOT_STRUCTURE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[^\[\]{}]+')
_OBJECTS_AS_ARRAYS = str.maketrans("{}", "[]")


def json_depth_ok(text: str | bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text nests arrays / objects at most ``limit`` deep (brackets inside
    strings do not count), decided before any parser recurses into it: msgspec and
    ``json`` raise ``RecursionError`` near 1,000 levels, a 500 or a closed socket if
    nobody catches it. Used by the web body guard and the OCPP ingress.

    Counting the opening brackets settles almost every document. Otherwise the brackets
    are kept alone (strings dropped) and the innermost pairs removed ``limit`` times over:
    pairs still left mean a deeper nesting. Every step runs at C speed.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if text.count("[") + text.count("{") <= limit:
        return True
    brackets = _NOT_STRUCTURE.sub("", text).translate(_OBJECTS_AS_ARRAYS)
    for _ in range(limit):
        shorter = brackets.replace("[]", "")
        if shorter == brackets:
            return True  # no pair left: not deeper (or not JSON, which the parser will say)
        brackets = shorter
    return "[]" not in brackets


def json_body_problem(body: bytes) -> str | None:
    """Why a JSON request body is refused before it is parsed (French), or None."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"Corps de la requête illisible : le texte n'est pas en UTF-8 valide (octet {exc.start})."
    if not json_depth_ok(body):
        return f"Corps de la requête refusé : JSON imbriqué sur plus de {MAX_JSON_DEPTH} niveaux."
    return None


_NOT_JSON = (b"multipart/", b"application/x-www-form-urlencoded", b"text/csv", b"text/plain")


def json_body_guard(app: Any) -> Any:
    """ASGI middleware: a JSON body over :data:`MAX_BODY_BYTES` answers 413, one in invalid
    UTF-8 or nested too deep answers 400 (``application/problem+json``); nothing reaches
    the handler. Other bodies (forms, CSV uploads) pass, under the same size limit."""

    async def guard(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await app(scope, receive, send)
            return
        content_type = dict(scope.get("headers") or []).get(b"content-type", b"").lower()
        if content_type.startswith(_NOT_JSON):
            await app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                await _problem(send, scope, 413, f"Requête trop volumineuse : {MAX_BODY_BYTES // 1_000_000} Mo au plus.")
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        problem = json_body_problem(body)
        if problem is not None:
            await _problem(send, scope, 400, problem)
            return
        delivered = False

        async def replay() -> Any:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await app(scope, replay, send)

    return guard


async def _problem(send: Any, scope: Any, status: int, title: str) -> None:
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "instance": scope.get("path", "")},
                      ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
