"""``report``: print the activity report JSON straight from the store, no HTTP."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from exporter.cli.common import run_with_store
from exporter.errors import BadRequest
from exporter.model import Category
from exporter.report import DEFAULT_INTERVAL, build_report, parse_parameters, resolve_organization
from exporter.store import Store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The report's parameters as flags."""
    parser.add_argument(
        "--start", required=True, metavar="TIME", help="RFC 3339 time, e.g. 2022-08-01T00:00:00Z"
    )
    parser.add_argument("--end", required=True, metavar="TIME", help="RFC 3339 time after --start")
    parser.add_argument(
        "--category",
        default="any",
        metavar="CATEGORY",
        help=f"one of {', '.join(c.token for c in Category)} (default any)",
    )
    parser.add_argument(
        "--interval",
        default=DEFAULT_INTERVAL,
        metavar="INTERVAL",
        help="bucket length '<N> <unit>', unit minute, hour, day, week, month or year "
        f"(default '{DEFAULT_INTERVAL}')",
    )
    parser.add_argument(
        "--org", metavar="ORG", help="organization id or name (default: every organization)"
    )


def report(args: argparse.Namespace) -> int:
    """Print the report; bad parameters are one line on standard error and exit status 2."""
    params = {"start": args.start, "end": args.end, "category": args.category}
    params["interval"] = args.interval
    if args.org is not None:
        params["org"] = args.org
    try:
        parsed = parse_parameters(params)
    except BadRequest as error:
        problems = "; ".join(f"--{v.field}: {v.detail}" for v in error.validations)
        print(f"usage-metrics report: error: {problems} (see --help)", file=sys.stderr)
        return 2

    async def work(store: Store) -> dict[str, Any]:
        async with store.read() as connection:
            organization_id = await resolve_organization(connection, parsed.org)
            return await build_report(connection, parsed, organization_id=organization_id)

    print(json.dumps(run_with_store(args, work, migrate=False), indent=2))
    return 0
