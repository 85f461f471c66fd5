"""``GET /api/private/metrics/activity``: the activity report route (docs/api.md)."""

from __future__ import annotations

from aiohttp import web

from exporter.auth import Principal
from exporter.errors import BadRequest, Forbidden, Validation
from exporter.gc_relax import gc_relaxed
from exporter.report import PARAMETERS, collect_report, parse_parameters, resolve_organization
from exporter.web.auth import principal
from exporter.web.keys import REPORT_GATE, STORE


async def get_activity_report(request: web.Request) -> web.Response:
    """Active minutes per bucket and user, for site readers and organization admins/managers.

    Runs inside the report gate (``USAGE_METRICS_REPORT_CONCURRENCY``/``_QUEUE``): a full queue
    answers 503 with ``Retry-After``; bad parameters and tokens are refused before queueing.
    """
    who = await principal(request)
    if not who.reads_everything and not who.readable_organizations:
        raise Forbidden(
            "Reading the activity report needs a site reader role "
            "or an organization admin or manager role."
        )
    parsed = parse_parameters(_single_values(request))
    async with request.app[REPORT_GATE].admit():
        with gc_relaxed():
            async with request.app[STORE].read() as connection:
                organization_id = await resolve_organization(connection, parsed.org)
                _authorize(who, organization_id)
                collected = await collect_report(
                    connection, parsed, organization_id=organization_id
                )
            body = collected.to_json()  # the connection is back in the pool by now
    return web.Response(body=body, content_type="application/json")


def _single_values(request: web.Request) -> dict[str, str]:
    """The known parameters, each given at most once; unknown parameters are ignored."""
    repeated = [name for name in PARAMETERS if len(request.query.getall(name, [])) > 1]
    if repeated:
        raise BadRequest(
            f"Parameter {repeated[0]!r} is given more than once.",
            validations=[Validation(name, "is given more than once") for name in repeated],
        )
    return {name: request.query[name] for name in PARAMETERS if name in request.query}


def _authorize(who: Principal, organization_id: str | None) -> None:
    if organization_id is None:
        if not who.reads_everything:
            raise Forbidden(
                "Only site admins, managers and auditors read every organization; "
                "pass org= naming an organization you administer or manage."
            )
    elif not who.reads_organization(organization_id):
        raise Forbidden(f"You may not read the activity of organization {organization_id!r}.")
