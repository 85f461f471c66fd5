"""``POST /api/v1/activity``: the ingest route (docs/api.md)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from exporter.errors import (
    BadRequest,
    Forbidden,
    PayloadTooLarge,
    UnsupportedMediaType,
    Validation,
)
from exporter.events import MAX_EVENTS, Event, Limits, parse_events
from exporter.gc_relax import gc_relaxed
from exporter.store.ingest import IngestResult
from exporter.web.auth import principal
from exporter.web.bodies import MAX_BODY_BYTES, decode_json, media_type, read_text
from exporter.web.keys import INGEST_COUNTERS, STORE

JSON = "application/json"
NDJSON = "application/x-ndjson"
_BAD_INPUT = (BadRequest, PayloadTooLarge, UnsupportedMediaType)


async def post_activity(request: web.Request) -> web.Response:
    """Store a batch of events; all or nothing."""
    if not (await principal(request)).writes:
        raise Forbidden("Writing activity needs the site-admin or activity-writer role.")
    counters = request.app[INGEST_COUNTERS]
    store = request.app[STORE]
    try:
        with gc_relaxed():
            kind = media_type(request, (JSON, NDJSON))
            text = await read_text(request, MAX_BODY_BYTES)
            # Decoding and validating 10,000 events is CPU-bound: a worker thread does it.
            events = await asyncio.to_thread(
                _parse, text, ndjson=kind == NDJSON, limits=store.ingest_limits()
            )
            # An empty batch stores nothing: it need not open a transaction.
            result = (
                await store.ingest(events)
                if events
                else IngestResult(accepted=0, minutes=0, new_minutes=0)
            )
    except _BAD_INPUT:
        counters.batches_rejected += 1
        raise
    counters.events_accepted += result.accepted
    return web.json_response(
        {"accepted": result.accepted, "minutes": result.minutes, "new_minutes": result.new_minutes}
    )


def _parse(text: str, *, ndjson: bool, limits: Limits) -> list[Event]:
    return parse_events(_events(text, ndjson=ndjson), limits)


def _events(text: str, *, ndjson: bool) -> list[Any]:
    if ndjson:
        lines = [(number, line) for number, line in enumerate(text.split("\n"), 1) if line.strip()]
        if len(lines) > MAX_EVENTS:
            raise BadRequest(f"Too many events: {len(lines)} in one request, at most {MAX_EVENTS}.")
        return [decode_json(line, what=f"Line {number}") for number, line in lines]
    body = decode_json(text)
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise BadRequest('The body must be a JSON object {"events": [...]}.')
    unknown = sorted(str(key)[:64] for key in body if key != "events")
    if unknown:  # unknown fields are refused (README), at the top level as in each event
        raise BadRequest(
            f"Unknown field {unknown[0]!r} in the body; it holds only events.",
            validations=[Validation(key, "is not a known field") for key in unknown],
        )
    events: list[Any] = body["events"]
    return events
