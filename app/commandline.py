"""What every ``centrale`` subcommand shares, whatever component defines it.

- ``load_settings()``: the settings from the environment, a clear error when they are wrong;
- ``run(factory)``: runs ``async factory(settings)`` and returns its result;
- ``emit(as_json, payload, human)``: one JSON object with ``--json`` (so that scripts can
  drive the command), else the French sentence;
- ``fail(exc, as_json)``: a ``NotFound`` is a click error; a ``ValidationFailed`` prints one
  French message per field (or ``{"errors": …}`` with ``--json``) and exits with status 2;
  anything else is raised again.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import click

from app.errors import NotFound, ValidationFailed
from app.settings import Settings, SettingsError

__all__ = ["CLI_ACTOR", "emit", "fail", "load_settings", "run"]

T = TypeVar("T")

#: Who the audit log names for a change made from the command line.
CLI_ACTOR = {"user_id": None, "label": "cli"}


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


def run(factory: Callable[[Settings], Awaitable[T]]) -> T:
    return asyncio.run(factory(load_settings()))


def emit(as_json: bool, payload: dict[str, Any], human: str) -> None:
    click.echo(json.dumps(payload, ensure_ascii=False, default=str) if as_json else human)


def fail(exc: Exception, as_json: bool) -> NoReturn:
    if isinstance(exc, NotFound):
        raise click.ClickException(f"introuvable : {exc}")
    if isinstance(exc, ValidationFailed):
        if as_json:
            click.echo(json.dumps({"errors": exc.errors}, ensure_ascii=False), err=True)
        else:
            for key, msg in exc.errors.items():
                click.echo(f"erreur ({key}) : {msg}", err=True)
        sys.exit(2)
    raise exc
