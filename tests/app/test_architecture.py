"""The structure the next components copy (docs/architecture.md): no import cycle anywhere.

``make lint`` checks the layers (import-linter); this checks what it cannot express: that
no two modules import each other, directly or through others, even inside a layer (the
cycles that used to be broken by imports inside functions).
"""

from __future__ import annotations

import grimp

from app.composition import COMPONENTS


def test_no_module_imports_itself_back_through_others():
    graph = grimp.build_graph("app", *COMPONENTS)
    cycles = sorted({
        tuple(sorted((module, imported)))
        for module in graph.modules
        for imported in graph.find_modules_directly_imported_by(module)
        if graph.chain_exists(importer=imported, imported=module)
    })
    assert cycles == [], "import cycles: " + ", ".join(f"{a} <-> {b}" for a, b in cycles)


def test_the_ingress_modules_are_in_the_graph_and_the_station_link_needs_none_of_the_others():
    """The cycle check above covers the ingress's modules (issue 11 §5): one connection's code
    (``csms.ingress.link``) builds on the domain only, the handlers on it, the server on all."""
    graph = grimp.build_graph("app", *COMPONENTS)
    ingress = {m for m in graph.modules if m.startswith("csms.ingress.")}
    assert {"csms.ingress.server", "csms.ingress.link", "csms.ingress.v16", "csms.ingress.v201",
            "csms.ingress.registry", "csms.ingress.processes"} <= ingress
    for other in ingress - {"csms.ingress.link"}:
        assert not graph.chain_exists(importer="csms.ingress.link", imported=other), other
    for handlers in ("csms.ingress.v16", "csms.ingress.v201"):
        assert not graph.chain_exists(importer=handlers, imported="csms.ingress.server"), handlers


def test_every_component_registers_through_its_manifest():
    from app.composition import components

    assert [c.name for c in components()] == list(COMPONENTS)
