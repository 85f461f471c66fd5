"""Configuration from ``USAGE_METRICS_*`` variables and command-line flags (SPEC section 6)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Final

from exporter.model import check_id

ENV_PREFIX: Final = "USAGE_METRICS_"
DEFAULT_DATABASE_URL: Final = "sqlite:///usage-metrics.db"
LOG_LEVELS: Final = ("debug", "info", "warning", "error")

_DURATION = re.compile(
    r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?"
)
_UNIT_SECONDS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
_Parser = Callable[[str], dict[str, object]]


class ConfigError(ValueError):
    """A configuration value is unusable; the message is one line naming the setting."""


def parse_duration(text: str) -> float:
    """Parse a Prometheus-style duration (``30s``, ``1h30m``, ``90d``) into seconds."""
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration like 30s, 5m, 1h30m or 90d")
    return sum(int(g) * unit for g, unit in zip(match.groups(), _UNIT_SECONDS, strict=True) if g)


def format_duration(seconds: float) -> str:
    """Write seconds back as a Prometheus duration (``90d``, ``1h30m``, ``30s``)."""
    remaining = int(seconds)
    parts = []
    for suffix, unit in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, remaining = divmod(remaining, unit)
        if count:
            parts.append(f"{count}{suffix}")
    return "".join(parts) or "0s"


def normalize_database_url(url: str) -> str:
    """Map plain ``sqlite://`` and ``postgresql://`` URLs to their async drivers."""
    for plain, driver in (
        ("sqlite://", "sqlite+aiosqlite://"),
        ("postgresql://", "postgresql+psycopg://"),
        ("postgres://", "postgresql+psycopg://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    if url.startswith(("sqlite+aiosqlite://", "postgresql+psycopg://")):
        return url
    raise ValueError("must be a sqlite:// or postgresql:// URL (drivers aiosqlite or psycopg)")


def parse_listen(text: str) -> tuple[str, int]:
    """Parse ``host:port`` (``[::1]:9717`` for IPv6) into its parts."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not an address like 127.0.0.1:9717")
    return host.strip("[]"), int(port)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    """Everything the service needs to know at start-up; immutable once built."""

    database_url: str = normalize_database_url(DEFAULT_DATABASE_URL)
    listen_host: str = "127.0.0.1"
    listen_port: int = 9717
    refresh_interval: float = 30.0
    dormancy: float = 90 * 86400.0
    retention: float = 400 * 86400.0
    default_organization: str = "default"
    max_organizations: int = 1000
    metrics_token: str | None = None
    log_level: str = "info"

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], overrides: Mapping[str, str | None] | None = None
    ) -> Config:
        """Build from ``USAGE_METRICS_*`` variables, then flag values (``None`` = not given).

        Raises ``ConfigError`` with one line naming the bad setting.
        """
        raw = {name: env.get(ENV_PREFIX + name.upper()) for name in _PARSERS}
        for name, value in (overrides or {}).items():
            if value is not None:
                raw[name] = value
        values: dict[str, object] = {}
        for name, value in raw.items():
            if value is None or (value == "" and name != "metrics_token"):
                continue
            try:
                values.update(_PARSERS[name](value))
            except ValueError as error:
                raise ConfigError(f"{ENV_PREFIX}{name.upper()}: {error}") from None
        config = cls(**values)  # type: ignore[arg-type]
        if config.retention < config.dormancy:
            raise ConfigError(
                f"{ENV_PREFIX}RETENTION ({format_duration(config.retention)}) must not be "
                f"shorter than {ENV_PREFIX}DORMANCY ({format_duration(config.dormancy)})"
            )
        return config


def _positive_duration(name: str, minimum: float) -> _Parser:
    def parse(text: str) -> dict[str, object]:
        seconds = parse_duration(text)
        if seconds < minimum:
            raise ValueError(f"{text!r} is shorter than the minimum {format_duration(minimum)}")
        return {name: seconds}

    return parse


def _listen(text: str) -> dict[str, object]:
    host, port = parse_listen(text)
    return {"listen_host": host, "listen_port": port}


def _max_organizations(text: str) -> dict[str, object]:
    if not text.strip().isdigit() or int(text) < 1:
        raise ValueError(f"{text!r} is not a positive whole number")
    return {"max_organizations": int(text)}


def _log_level(text: str) -> dict[str, object]:
    if text.lower() not in LOG_LEVELS:
        raise ValueError(f"{text!r} is not one of {', '.join(LOG_LEVELS)}")
    return {"log_level": text.lower()}


def _metrics_token(text: str) -> dict[str, object]:
    return {"metrics_token": text or None}


_PARSERS: Final[dict[str, _Parser]] = {
    "database_url": lambda text: {"database_url": normalize_database_url(text)},
    "listen": _listen,
    "refresh_interval": _positive_duration("refresh_interval", 1),
    "dormancy": _positive_duration("dormancy", 86400),
    "retention": _positive_duration("retention", 86400),
    "default_organization": lambda text: {"default_organization": check_id(text)},
    "max_organizations": _max_organizations,
    "metrics_token": _metrics_token,
    "log_level": _log_level,
}
