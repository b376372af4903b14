"""The manifest of ``catalog``: ordering under the framework agreements (issue 14) — price schedules (BPU) and
the catalog, and the agents' badge requests approved by their manager (CCTP CPAM 5-5-5-3)."""

from __future__ import annotations

from pathlib import Path

from app.component import Component, Web

#: What each role may do with ordering (added to the roles' permissions by the manifest).
PERMISSIONS: dict[str, frozenset[str]] = {}


def _web() -> Web:
    return Web()


manifest = Component(
    name="catalog",
    models=("catalog.models",),
    web=_web,
    templates=Path(__file__).parent / "templates",
    permissions=PERMISSIONS,
)
