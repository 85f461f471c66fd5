"""Typed Prometheus rule groups and their YAML text.

The YAML is written here rather than dumped by a library so that the files read like hand-written
ones: comments above each rule, PromQL as literal blocks, long annotations folded.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH = 96
_NBSP = "\N{NO-BREAK SPACE}"
_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ .,()%/-]*$")


@dataclass(frozen=True, kw_only=True)
class Recording:
    """A recording rule: ``record`` is level:metric:operations."""

    record: str
    expr: str
    comment: str = ""


@dataclass(frozen=True, kw_only=True)
class Alert:
    """One alerting rule; an alert with two severities is two of these with the same name."""

    alert: str
    expr: str
    for_: str
    severity: str
    summary: str
    description: str
    runbook_url: str
    comment: str = ""


@dataclass(frozen=True, kw_only=True)
class Group:
    """A rule group; ``interval`` empty means the global evaluation interval."""

    name: str
    rules: Sequence[Recording | Alert]
    interval: str = ""
    comment: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def _scalar(text: str) -> str:
    """A one-line YAML scalar: plain when unambiguous, else double-quoted (JSON escapes)."""
    return text if _PLAIN.match(text) and not text.endswith(" ") else json.dumps(text)


def _comment(text: str, indent: str) -> list[str]:
    """``text`` as ``#`` lines wrapped to the page width."""
    lines: list[str] = []
    for paragraph in text.strip().split("\n"):
        wrapped = textwrap.wrap(paragraph, WIDTH - len(indent) - 2, break_on_hyphens=False)
        lines += [f"{indent}# {line}" for line in wrapped] or [f"{indent}#"]
    return lines


def _literal(key: str, text: str, indent: str) -> list[str]:
    """``key: |`` and the text's lines (PromQL keeps its line breaks)."""
    body = text.strip("\n").split("\n")
    if len(body) == 1 and _PLAIN.match(body[0]):
        return [f"{indent}{key}: {body[0]}"]
    return [f"{indent}{key}: |", *(f"{indent}  {line}".rstrip() for line in body)]


def _folded(key: str, text: str, indent: str) -> list[str]:
    """``key: >-`` and the text wrapped (YAML joins the lines back with single spaces)."""
    width = WIDTH - len(indent) - 2
    if len(indent) + len(key) + len(text) + 2 <= WIDTH and _PLAIN.match(text):
        return [f"{indent}{key}: {text}"]
    # Template actions ({{ ... }}) stay on one line: protect their spaces while wrapping.
    kept = re.sub(r"\{\{.*?\}\}", lambda m: m.group().replace(" ", _NBSP), text)
    wrapped = textwrap.wrap(kept, width, break_long_words=False, break_on_hyphens=False)
    lines = [line.replace(_NBSP, " ") for line in wrapped]
    return [f"{indent}{key}: >-", *(f"{indent}  {line}" for line in lines)]


def _rule_lines(rule: Recording | Alert) -> list[str]:
    indent = "        "
    lines = _comment(rule.comment, indent) if rule.comment else []
    if isinstance(rule, Recording):
        lines.append(f"{indent[:-2]}- record: {rule.record}")
        lines += _literal("expr", rule.expr, indent)
        return lines
    lines.append(f"{indent[:-2]}- alert: {rule.alert}")
    lines += _literal("expr", rule.expr, indent)
    lines.append(f"{indent}for: {rule.for_}")
    lines += [f"{indent}labels:", f"{indent}  severity: {rule.severity}", f"{indent}annotations:"]
    lines += _folded("summary", rule.summary, indent + "  ")
    lines += _folded("description", rule.description, indent + "  ")
    lines.append(f"{indent}  runbook_url: {_scalar(rule.runbook_url)}")
    return lines


def render(groups: Sequence[Group], header: str) -> str:
    """A whole rule file: ``header`` as a comment, then every group."""
    lines = [*_comment(header, ""), "groups:"]
    for group in groups:
        lines += _comment(group.comment, "  ") if group.comment else []
        lines.append(f"  - name: {group.name}")
        if group.interval:
            lines.append(f"    interval: {group.interval}")
        lines.append("    rules:")
        for index, rule in enumerate(group.rules):
            if index:
                lines.append("")
            lines += _rule_lines(rule)
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
