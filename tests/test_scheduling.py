"""The long tests are dealt out first (tests/scheduling.py), and LONG names tests that exist."""

from __future__ import annotations

import ast
from pathlib import Path

from tests import scheduling

ROOT = Path(__file__).resolve().parent.parent


def test_long_units_take_modules_whole_and_tests_one_by_one() -> None:
    """A module entry is one unit, a test prefix one unit per test; in LONG's order, none twice."""
    shared = "tests/test_alert_scenarios.py::test_scenarios_fire_exactly_the_expected_alerts"
    collection = [
        "tests/test_auth.py::test_a",
        f"{shared}[All replicas down]",
        "tests/test_demo_alerts.py::test_one",
        f"{shared}[A normal week + A total outage]",
        "tests/test_demo_alerts.py::test_two",
        f"{shared}[A holiday Monday]",
    ]
    assert scheduling.long_units(collection) == [[3], [2, 4], [1], [5]]
    assert scheduling.long_units(["tests/test_auth.py::test_a"]) == []


def test_every_long_entry_names_a_test_module_or_function() -> None:
    """A renamed test would silently lose its early start."""
    for entry in scheduling.LONG:
        module, _, name = entry.partition("::")
        path = ROOT / module
        assert path.is_file(), entry
        if name:
            tree = ast.parse(path.read_text(encoding="utf-8"))
            functions = {
                node.name
                for node in ast.walk(tree)
                if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef)
            }
            assert name.partition("[")[0] in functions, entry
