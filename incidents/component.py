"""The manifest of ``incidents``: for now the business-time and SLA engine's command line
(``centrale sla``); tickets, interventions and indicators come with the incidents issue."""

from __future__ import annotations

import click

from app.component import Component


def _cli() -> list[click.Command]:
    from incidents.cli import sla

    return [sla]


manifest = Component(name="incidents", cli=_cli)
