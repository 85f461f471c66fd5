"""The one settings object the whole bundle is generated from.

Operators override fields with a JSON, TOML or YAML file of the same names
(``python -m bundle --settings mine.toml``); anything left out keeps its default, and the
committed bundle is the output of the defaults. Durations are Prometheus durations (``30m``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_DURATION = re.compile(r"(\d+)(ms|[smhdwy])")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def seconds(duration: str) -> int:
    """Whole seconds of a Prometheus duration such as ``1h30m``; ``ValueError`` when malformed."""
    parts = _DURATION.findall(duration)
    if not parts or "".join(number + unit for number, unit in parts) != duration:
        raise ValueError(f"not a Prometheus duration: {duration!r}")
    return int(sum(int(number) * _UNIT_SECONDS[unit] for number, unit in parts))


_UNIT_WORDS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week"}


def spoken(duration: str) -> str:
    """``15m`` as ``15 minutes``, ``1h`` as ``1 hour``; compound durations stay as they are."""
    match = re.fullmatch(r"(\d+)([smhdw])", duration)
    if match is None:
        return duration
    number, unit = match.groups()
    return f"{number} {_UNIT_WORDS[unit]}{'' if number == '1' else 's'}"


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Selectors, links, thresholds and ``for:`` durations of every rule, alert and dashboard."""

    # Label matchers that select the service's targets. Under the Prometheus Operator the job is
    # the Service's name, e.g. 'job="usage-metrics", namespace="monitoring"'.
    job_selector: str = 'job="usage-metrics"'
    # Label that tells clusters apart when one Prometheus (Thanos, Mimir) sees several; "" if none.
    cluster_label: str = ""
    # Where an alert's runbook section lives; {anchor} is the alert name in lower case. The default
    # is the runbook's path in this repository: point it at the copy your team can open.
    runbook_url: str = "prometheus/RUNBOOK.md#{anchor}"
    # A replica whose last successful refresh is older than this is left out before
    # `max without (instance, pod)` (default refresh: every 30 s).
    replica_stale_after: str = "3m"
    # Public holidays (ISO dates, UTC days) on which the usage alerts stay quiet.
    holidays: tuple[str, ...] = ()
    # Previous weeks whose same-time values make the usage baseline (their median).
    baseline_weeks: int = 3

    drop_ratio: float = 0.5
    drop_min_users: int = 10
    drop_for: str = "30m"

    collapse_ratio: float = 0.2
    collapse_min_users: int = 10
    collapse_hold_ratio: float = 0.7
    collapse_for: str = "30m"

    no_activity_min_users: int = 5
    no_activity_for: str = "30m"

    down_for: str = "5m"
    store_for: str = "5m"
    data_stale_after: str = "10m"
    data_stale_for: str = "5m"

    source_warning_after: str = "15m"
    source_critical_after: str = "6h"
    source_failing_window: str = "15m"
    source_for: str = "5m"

    def __post_init__(self) -> None:
        """Reject values that would generate broken rules."""
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name.endswith(("_for", "_after", "_window")):
                seconds(value)
        if not 0 < self.drop_ratio < 1 or not 0 < self.collapse_ratio < 1:
            raise ValueError("drop_ratio and collapse_ratio must lie between 0 and 1")
        if not 0 < self.collapse_hold_ratio <= 1:
            raise ValueError("collapse_hold_ratio must lie in (0, 1]")
        if self.baseline_weeks < 1:
            raise ValueError("baseline_weeks must be at least 1")
        if "{anchor}" not in self.runbook_url:
            raise ValueError("runbook_url must contain {anchor}")
        for day in self.holidays:
            dt.date.fromisoformat(day)

    def selector(self, metric: str, *matchers: str) -> str:
        """``metric{<job selector>, matchers...}``: a raw series of the service's targets."""
        return f"{metric}{{{', '.join([self.job_selector, *matchers])}}}"

    @property
    def target_labels(self) -> str:
        """Labels naming one replica (for ``and on (...)``)."""
        return ", ".join([*self.cluster, "job", "instance"])

    @property
    def cluster(self) -> list[str]:
        """The cluster label as a list of zero or one label names."""
        return [self.cluster_label] if self.cluster_label else []

    def runbook(self, alert: str) -> str:
        """The runbook URL of ``alert``."""
        return self.runbook_url.format(anchor=alert.lower())

    @classmethod
    def load(cls, path: Path) -> Settings:
        """Defaults overridden by the fields in a ``.json``, ``.toml`` or ``.yaml`` file."""
        text = path.read_text(encoding="utf-8")
        data: Any
        if path.suffix == ".json":
            data = json.loads(text)
        elif path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix in {".yaml", ".yml"}:
            import yaml  # noqa: PLC0415 - only YAML settings need PyYAML

            data = yaml.safe_load(text)
        else:
            raise ValueError(f"{path}: settings must be .json, .toml, .yaml or .yml")
        return cls.from_mapping(data or {})

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> Settings:
        """Defaults overridden by ``data``; unknown names are an error, not silently ignored."""
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(unknown)}")
        if "holidays" in data:
            data = {**data, "holidays": tuple(data["holidays"])}
        return cls(**data)
