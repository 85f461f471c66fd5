"""Configuration from ``USAGE_METRICS_*`` variables and flags (docs/operations.md)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Final

from exporter.model import check_id

ENV_PREFIX: Final = "USAGE_METRICS_"
DEFAULT_DATABASE_URL: Final = "sqlite:///usage-metrics.db"
LOG_LEVELS: Final = ("debug", "info", "warning", "error")
DEFAULT_CODER_IDE_APPS: Final = (
    "code-server",
    "vscode-web",
    "jupyter",
    "jupyterlab",
    "jupyter-notebook",
    "rstudio",
    "rstudio-server",
)
CODER_DESKTOP_IDE_CATEGORIES: Final = ("tunnel", "ide")
MAX_CODER_SYNC_INTERVAL: Final = 6 * 3600.0
"""Coder purges agent stats about a day after rolling them up; a pass must come well before."""
_APP_SLUG = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")

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
    store_timeout: float = 60.0
    dormancy: float = 90 * 86400.0
    retention: float = 400 * 86400.0
    default_organization: str = "default"
    max_organizations: int = 1000
    report_concurrency: int = 4
    report_queue: int = 16
    metrics_token: str | None = None
    log_level: str = "info"
    coder_database_url: str | None = None
    coder_sync_interval: float = 60.0
    coder_lookback: float = 3600.0
    coder_ide_apps: tuple[str, ...] = DEFAULT_CODER_IDE_APPS
    coder_desktop_ide: str = "tunnel"

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
            if value is None or (value == "" and name not in _EMPTY_MEANS_UNSET):
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


def _count(name: str, minimum: int) -> _Parser:
    def parse(text: str) -> dict[str, object]:
        if not text.strip().isdigit() or int(text) < minimum:
            raise ValueError(f"{text!r} is not a whole number of at least {minimum}")
        return {name: int(text)}

    return parse


def _log_level(text: str) -> dict[str, object]:
    if text.lower() not in LOG_LEVELS:
        raise ValueError(f"{text!r} is not one of {', '.join(LOG_LEVELS)}")
    return {"log_level": text.lower()}


def _metrics_token(text: str) -> dict[str, object]:
    return {"metrics_token": text or None}


def _coder_database_url(text: str) -> dict[str, object]:
    if not text:
        return {"coder_database_url": None}
    if not text.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        raise ValueError("must be a postgresql:// URL of Coder's database")
    return {"coder_database_url": normalize_database_url(text)}


def _sync_interval(text: str) -> dict[str, object]:
    seconds = _positive_duration("coder_sync_interval", 1)(text)["coder_sync_interval"]
    if float(seconds) > MAX_CODER_SYNC_INTERVAL:  # type: ignore[arg-type]
        raise ValueError(
            f"{text!r} is longer than {format_duration(MAX_CODER_SYNC_INTERVAL)}: Coder purges "
            "agent stats about a day after rolling them up"
        )
    return {"coder_sync_interval": seconds}


def _ide_apps(text: str) -> dict[str, object]:
    slugs = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    bad = [slug for slug in slugs if not _APP_SLUG.fullmatch(slug)]
    if not slugs or bad:
        raise ValueError(
            f"{(bad or [text])[0]!r} is not a comma-separated list of app slugs "
            "(like code-server,jupyter)"
        )
    return {"coder_ide_apps": slugs}


def _desktop_ide(text: str) -> dict[str, object]:
    if text.lower() not in CODER_DESKTOP_IDE_CATEGORIES:
        raise ValueError(f"{text!r} is not one of {', '.join(CODER_DESKTOP_IDE_CATEGORIES)}")
    return {"coder_desktop_ide": text.lower()}


_EMPTY_MEANS_UNSET: Final = frozenset({"metrics_token", "coder_database_url"})


_PARSERS: Final[dict[str, _Parser]] = {
    "database_url": lambda text: {"database_url": normalize_database_url(text)},
    "listen": _listen,
    "refresh_interval": _positive_duration("refresh_interval", 1),
    "store_timeout": _positive_duration("store_timeout", 1),
    "dormancy": _positive_duration("dormancy", 86400),
    "retention": _positive_duration("retention", 86400),
    "default_organization": lambda text: {"default_organization": check_id(text)},
    "max_organizations": _max_organizations,
    "report_concurrency": _count("report_concurrency", 1),
    "report_queue": _count("report_queue", 0),
    "metrics_token": _metrics_token,
    "log_level": _log_level,
    "coder_database_url": _coder_database_url,
    "coder_sync_interval": _sync_interval,
    "coder_lookback": _positive_duration("coder_lookback", 60),
    "coder_ide_apps": _ide_apps,
    "coder_desktop_ide": _desktop_ide,
}
