"""What PromQL expressions and rule groups read: metric names and the rules alerts depend on."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import promql_parser


def selector_names(expr: str | promql_parser.Expr) -> set[str]:
    """Metric names of every vector selector in ``expr`` (``{__name__="x"}`` counts as ``x``)."""
    names: set[str] = set()
    parsed = promql_parser.parse(expr) if isinstance(expr, str) else expr

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            name = node.name or next(
                (
                    m.value
                    for m in node.matchers.matchers
                    if m.name == "__name__" and m.op == promql_parser.MatchOp.Equal
                ),
                None,
            )
            assert name is not None, f"selector without a metric name in: {expr}"
            names.add(name)

    promql_parser.walk(parsed, visit)
    return names


def read_by_alerts(rules: Iterable[dict[str, Any]]) -> set[str]:
    """Names the alerting rules read, directly or through the recording rules they read."""
    rules = list(rules)
    recorded = {rule["record"]: rule["expr"] for rule in rules if "record" in rule}
    read = set().union(*(selector_names(rule["expr"]) for rule in rules if "alert" in rule))
    pending = read & recorded.keys()
    while pending:
        new = selector_names(recorded[pending.pop()]) - read
        read |= new
        pending |= new & recorded.keys()
    return read


def alerting_groups(groups: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The groups cut to their alerts and the recording rules those read; empty groups left out.

    promtool's cost is its evaluation steps times the rules, and a recording rule no alert reads
    cannot change which alerts fire: alert runs evaluate only these.
    """
    groups = list(groups)
    read = read_by_alerts(rule for group in groups for rule in group["rules"])
    cut = [
        group | {"rules": [r for r in group["rules"] if "alert" in r or r["record"] in read]}
        for group in groups
    ]
    return [group for group in cut if group["rules"]]
