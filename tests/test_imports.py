"""The code reads one way: no module imports, directly or through others, a module importing it.

The graph is grimp's: ``from exporter.store import ingest`` is an import of the module
``exporter.store.ingest``, not of the package ``exporter.store``.
"""

from __future__ import annotations

import grimp
import pytest


@pytest.mark.parametrize("package", ["exporter", "bundle", "bench"])
def test_no_module_is_part_of_an_import_cycle(package: str) -> None:
    """Every direct import points away: the imported module cannot reach back to the importer."""
    graph = grimp.build_graph(package)
    cycles = [
        graph.find_shortest_chain(importer=imported, imported=module)
        for module in sorted(graph.modules)
        for imported in sorted(graph.find_modules_directly_imported_by(module))
        if graph.chain_exists(importer=imported, imported=module)
    ]
    assert cycles == []
