"""The order in which pytest-xdist hands out the tests: the long ones first, one per worker.

``--dist load`` sends each worker a run of consecutive tests and more as it finishes them, so a
long test late in the collection (a promtool run of a few minutes) can be the whole tail of the
suite while the other workers wait. Here the tests of ``LONG`` (longest first, by ``--durations``)
are dealt out round robin before anything else, each worker starting on its own; the rest follows
as ``--dist load`` would send it. A ``LONG`` entry that names a module (``…py::``) is one unit,
so that its module-scoped fixtures are built once; any other entry makes each test it prefixes a
unit of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import cycle

from xdist.scheduler import LoadScheduling

LONG = (
    # The shared promtool run and the demo's (with its module-scoped simulation).
    "tests/test_alert_scenarios.py::test_scenarios_fire_exactly_the_expected_alerts[A normal week",
    "tests/test_demo_alerts.py::",
    "tests/test_openapi.py::test_schemathesis_finds_no_fault_in_the_live_service",
    "tests/test_report_properties.py::test_any_is_a_union_of_categories",
    # The other promtool runs, 15-25 s each.
    "tests/test_alert_scenarios.py::test_scenarios_fire_exactly_the_expected_alerts",
    "tests/test_ingest_properties.py::test_any_order_and_split_and_replay_store_the_same_activity",
    "tests/test_replicas.py::test_replicas_store_and_export_what_one_sequential_ingest_would",
    "tests/test_day_blocks.py::test_daily_rows_are_the_hourly_minutes_summed_per_day",
)


def long_units(collection: Sequence[str]) -> list[list[int]]:
    """Indices into ``collection`` of the long tests, in units to send together, longest first."""
    units: list[list[int]] = []
    taken: set[int] = set()
    for prefix in LONG:
        matching = [
            index
            for index, nodeid in enumerate(collection)
            if index not in taken and nodeid.startswith(prefix)
        ]
        taken.update(matching)
        if prefix.endswith(".py::"):
            units += [matching] if matching else []
        else:
            units += [[index] for index in matching]
    return units


class LongFirstScheduling(LoadScheduling):
    """``--dist load``, but the ``LONG`` tests are dealt out round robin before the rest."""

    def schedule(self) -> None:
        """Deal the long tests out the first time, then schedule as ``--dist load`` does."""
        if self.collection is None and self._check_nodes_have_same_collection():
            collection = next(iter(self.node2collection.values()))
            units = long_units(collection)
            first = [index for unit in units for index in unit]
            rest = [index for index in range(len(collection)) if index not in set(first)]
            self.collection = collection
            self.pending[:] = first + rest
            if self.maxschedchunk is None:
                self.maxschedchunk = len(collection)
            for node, unit in zip(cycle(self.nodes), units, strict=False):
                self._send_tests(node, len(unit))
        super().schedule()
