"""The argument parser: one clear line and exit status 2 for bad arguments."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from exporter.config import DEFAULT_DATABASE_URL


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are a single line."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        raise SystemExit(2)


def store_flags() -> Parser:
    """Flags every command that touches the store accepts (they override the variables)."""
    flags = Parser(add_help=False)
    group = flags.add_argument_group("store and logging (override USAGE_METRICS_* variables)")
    group.add_argument(
        "--database-url",
        metavar="URL",
        help="SQLAlchemy URL of the store "
        f"(USAGE_METRICS_DATABASE_URL, default {DEFAULT_DATABASE_URL})",
    )
    group.add_argument(
        "--default-organization",
        metavar="ID",
        help="organization of events without one "
        "(USAGE_METRICS_DEFAULT_ORGANIZATION, default: default)",
    )
    group.add_argument(
        "--max-organizations",
        metavar="N",
        help="upper bound on organizations (USAGE_METRICS_MAX_ORGANIZATIONS, default 1000)",
    )
    group.add_argument(
        "--retention",
        metavar="DURATION",
        help="how long active minutes are kept (USAGE_METRICS_RETENTION, default 400d)",
    )
    group.add_argument(
        "--dormancy",
        metavar="DURATION",
        help="inactivity after which a user is dormant (USAGE_METRICS_DORMANCY, default 90d)",
    )
    group.add_argument(
        "--log-level",
        metavar="LEVEL",
        help="debug, info, warning or error (USAGE_METRICS_LOG_LEVEL, default info)",
    )
    return flags


def service_flags() -> Parser:
    """Flags only a running service needs."""
    flags = Parser(add_help=False)
    group = flags.add_argument_group("service (override USAGE_METRICS_* variables)")
    group.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="address to serve on (USAGE_METRICS_LISTEN, default 127.0.0.1:9717)",
    )
    group.add_argument(
        "--refresh-interval",
        metavar="DURATION",
        help="how often gauges are recomputed (USAGE_METRICS_REFRESH_INTERVAL, default 30s)",
    )
    group.add_argument(
        "--metrics-token",
        metavar="TOKEN",
        help="bearer token required on /metrics (USAGE_METRICS_METRICS_TOKEN, default unset)",
    )
    return flags


def coder_flags() -> Parser:
    """Flags of the Coder source (``serve`` and ``sync coder``)."""
    flags = Parser(add_help=False)
    group = flags.add_argument_group("Coder source (override USAGE_METRICS_CODER_* variables)")
    group.add_argument(
        "--coder-database-url",
        metavar="URL",
        help="postgresql:// URL of Coder's database, read-only (USAGE_METRICS_CODER_DATABASE_URL; "
        "unset: no sync)",
    )
    group.add_argument(
        "--coder-sync-interval",
        metavar="DURATION",
        help="time between sync passes (USAGE_METRICS_CODER_SYNC_INTERVAL, default 1m)",
    )
    group.add_argument(
        "--coder-lookback",
        metavar="DURATION",
        help="how far before its position a pass reads again "
        "(USAGE_METRICS_CODER_LOOKBACK, default 1h)",
    )
    group.add_argument(
        "--coder-ide-apps",
        metavar="SLUGS",
        help="comma-separated app slugs counted as IDE (USAGE_METRICS_CODER_IDE_APPS, default "
        "code-server,vscode-web,jupyter,jupyterlab,jupyter-notebook,rstudio,rstudio-server)",
    )
    group.add_argument(
        "--coder-desktop-ide",
        metavar="CATEGORY",
        help="action of VS Code Remote and JetBrains Gateway sessions: tunnel or ide "
        "(USAGE_METRICS_CODER_DESKTOP_IDE, default tunnel)",
    )
    return flags


CONFIG_FLAGS = (
    "database_url",
    "default_organization",
    "max_organizations",
    "retention",
    "dormancy",
    "log_level",
    "listen",
    "refresh_interval",
    "metrics_token",
    "coder_database_url",
    "coder_sync_interval",
    "coder_lookback",
    "coder_ide_apps",
    "coder_desktop_ide",
)
