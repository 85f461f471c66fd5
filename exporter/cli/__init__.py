"""The ``usage-metrics`` command line: parses, calls, prints; no business logic here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from exporter import __version__
from exporter.cli import directory_cmds, import_cmd, report_cmd, serve, sync_cmd, tokens_cmd
from exporter.cli.common import CommandError
from exporter.cli.parser import Parser, coder_flags, service_flags, store_flags
from exporter.model import ACTIVE, USER_STATUSES


def build_parser() -> Parser:
    """The full command tree."""
    parser = Parser(
        prog="usage-metrics",
        description="Active users of a developer platform, by action and organization: "
        "Prometheus metrics, alerts, dashboards and the Coder activity report.",
    )
    parser.add_argument("--version", action="version", version=f"usage-metrics {__version__}")
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=Parser
    )
    _service_commands(commands)
    _directory_commands(commands)
    _data_commands(commands)
    return parser


def _service_commands(commands: argparse._SubParsersAction[Parser]) -> None:
    store = store_flags()
    service = service_flags()
    coder = coder_flags()
    run = commands.add_parser("serve", parents=[store, service, coder], help="run the service")
    run.add_argument("--no-migrate", action="store_true", help="do not migrate the store first")
    run.set_defaults(handler=serve.serve)

    show = commands.add_parser(
        "demo",
        parents=[store, service],
        help="run the service on a throw-away store full of realistic synthetic activity",
        description="Seed a temporary SQLite store (or --database-url) with organizations, "
        "users and 90 days of activity, print the Metrics view's URL with an admin token to "
        "paste into it (and the other URLs), and serve while live activity keeps arriving. "
        "Ctrl-C stops it and removes the temporary store.",
    )
    show.add_argument("--users", type=_positive, default=200, help="people (default 200)")
    show.add_argument("--days", type=_positive, default=90, help="days of history (default 90)")
    show.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    show.set_defaults(handler=_demo)

    migrate = commands.add_parser(
        "migrate", parents=[store], help="bring the store's schema up to date"
    )
    migrate.set_defaults(handler=serve.migrate_command)

    sync = commands.add_parser(
        "sync", help="pull activity and the directory from a platform's database"
    ).add_subparsers(dest="source", metavar="SOURCE", required=True, parser_class=Parser)
    coder_sync = sync.add_parser(
        "coder",
        parents=[store, coder],
        help="read a Coder deployment's database (read-only)",
        description="Read Coder's organizations, users, roles and activity into the store, "
        "from where the last pass left off. Without --once, a pass every sync interval.",
    )
    coder_sync.add_argument(
        "--once",
        action="store_true",
        help="wait for a pass running elsewhere to end, run one pass, print a summary and exit",
    )
    coder_sync.set_defaults(handler=sync_cmd.sync_coder)


def _directory_commands(commands: argparse._SubParsersAction[Parser]) -> None:
    store = store_flags()
    orgs = commands.add_parser("orgs", help="manage organizations").add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=Parser
    )
    create = orgs.add_parser("create", parents=[store], help="create or replace an organization")
    create.add_argument("name", metavar="NAME", help="unique slug, e.g. acme")
    create.add_argument("--id", help="organization id (default: the name)")
    create.add_argument("--display-name", metavar="TEXT", help="human-readable name")
    create.set_defaults(handler=directory_cmds.orgs_create)
    orgs.add_parser("list", parents=[store], help="list organizations").set_defaults(
        handler=directory_cmds.orgs_list
    )

    users = commands.add_parser("users", help="manage users").add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=Parser
    )
    create = users.add_parser("create", parents=[store], help="create or replace a user")
    create.add_argument("username", metavar="USERNAME")
    create.add_argument("--id", help="user id (default: a new UUID)")
    create.add_argument("--name", metavar="TEXT", help="display name")
    create.add_argument(
        "--role",
        action="append",
        default=[],
        metavar="SITE_ROLE",
        help="site role; repeat for several (site-admin, site-manager, site-auditor, "
        "site-member, activity-writer)",
    )
    create.add_argument(
        "--org",
        action="append",
        default=[],
        metavar="ORG[:ORG_ROLE]",
        help="membership by organization id or name, role default organization-member; repeat",
    )
    create.add_argument(
        "--status",
        choices=USER_STATUSES,
        default=ACTIVE,
        help="active (default) or suspended: a suspended user is not a seat",
    )
    create.set_defaults(handler=directory_cmds.users_create)
    users.add_parser("list", parents=[store], help="list users").set_defaults(
        handler=directory_cmds.users_list
    )
    delete = users.add_parser("delete", parents=[store], help="delete a user (history stays)")
    delete.add_argument("user", metavar="USER", help="user id or username")
    delete.set_defaults(handler=directory_cmds.users_delete)


def _data_commands(commands: argparse._SubParsersAction[Parser]) -> None:
    store = store_flags()
    tokens = commands.add_parser("tokens", help="manage API tokens").add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=Parser
    )
    create = tokens.add_parser(
        "create", parents=[store], help="create a token and print it, once, alone on stdout"
    )
    create.add_argument("--user", required=True, metavar="USER", help="user id or username")
    create.add_argument("--lifetime", metavar="DURATION", help="e.g. 90d (default: no expiry)")
    create.set_defaults(handler=tokens_cmd.tokens_create)
    tokens.add_parser("list", parents=[store], help="list tokens").set_defaults(
        handler=tokens_cmd.tokens_list
    )
    revoke = tokens.add_parser("revoke", parents=[store], help="revoke a token")
    revoke.add_argument("id", metavar="ID", help="token id (the part after um_)")
    revoke.set_defaults(handler=tokens_cmd.tokens_revoke)

    load = commands.add_parser(
        "import", parents=[store], help="load events (NDJSON) or a directory dump (JSON)"
    )
    load.add_argument("file", metavar="FILE")
    load.set_defaults(handler=import_cmd.import_file)
    report = commands.add_parser(
        "report", parents=[store], help="print the activity report JSON from the store, no HTTP"
    )
    report_cmd.add_arguments(report)
    report.set_defaults(handler=report_cmd.report)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def _demo(args: argparse.Namespace) -> int:
    from exporter.demo.run import demo  # noqa: PLC0415  (keeps other commands light)

    return demo(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; exit 0 on success, 1 when it fails, 2 for bad arguments."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except CommandError as error:
        print(f"usage-metrics: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
