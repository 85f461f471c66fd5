"""Hostile bodies on every body-taking route: one JSON error path, nothing stored."""

from __future__ import annotations

import asyncio
import json
import logging
import zlib
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from exporter.web import bodies
from exporter.web.errors import SECURITY_HEADERS
from exporter.web.keys import STORE
from tests.support import event, whole_state

Client = TestClient[Any, Any]
Headers = dict[str, str]

ROUTES = {
    "ingest": (
        "POST",
        "/api/v1/activity",
        json.dumps({"events": [event(user_id=f"u{n}") for n in range(10)]}).encode(),
    ),
    "organization": ("PUT", "/api/v1/organizations/o9", b'{"name": "nine"}'),
    "user": ("PUT", "/api/v1/users/u9", b'{"username": "nine"}'),
}


@pytest.fixture
def client(service_client: Client) -> Client:
    """Every test here talks to the service as ``serve`` runs it."""
    return service_client


def _gzip(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


def _deflate(data: bytes, *, raw: bool = False) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


def _truncated_gzip(data: bytes) -> bytes:
    """A gzip stream cut at a flush point: the first half decodes cleanly, the stream never ends."""
    packer = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    return packer.compress(data[: len(data) // 2]) + packer.flush(zlib.Z_SYNC_FLUSH)


async def _send(
    client: Client, headers: Headers, route: str, body: bytes, encoding: str
) -> tuple[int, Any, Any]:
    method, path, _ = ROUTES[route]
    response = await client.request(
        method,
        path,
        data=body,
        headers={**headers, "Content-Type": "application/json", "Content-Encoding": encoding},
    )
    assert response.content_type == "application/json", await response.text()
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    return response.status, await response.json(), response.headers


@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize(
    "case",
    [
        ("gzip", lambda body: b"\x1f\x8b\x08\x00garbage" + body, 400),
        ("deflate", lambda body: b"x\x9cnot deflate at all" + body, 400),
        ("gzip", _truncated_gzip, 400),
        ("gzip", lambda body: _gzip(body) + b"trailing", 400),
        ("br", lambda body: body, 415),
        ("zstd", lambda body: body, 415),
        ("gzip, gzip", lambda body: _gzip(_gzip(body)), 415),
    ],
    ids=["corrupt-gzip", "corrupt-deflate", "truncated-gzip", "gzip-trailer", "br", "zstd", "2x"],
)
async def test_bad_encodings_are_json_4xx_and_store_nothing(
    client: Client,
    admin_headers: Headers,
    route: str,
    case: tuple[str, Any, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Corrupt, truncated, trailing-garbage or unsupported encodings: 400/415, no 500, no trace."""
    encoding, garble, status = case
    before = await whole_state(client.app[STORE])
    caplog.set_level(logging.INFO)
    got, body, _ = await _send(client, admin_headers, route, garble(ROUTES[route][2]), encoding)
    assert got == status, body
    assert set(body) <= {"message", "detail", "validations"}
    assert await whole_state(client.app[STORE]) == before
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert not [record for record in caplog.records if record.exc_info]


@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize(
    ("encoding", "pack"),
    [
        ("gzip", _gzip),
        ("deflate", _deflate),
        ("deflate", lambda body: _deflate(body, raw=True)),
        ("GZIP", _gzip),
    ],
    ids=["gzip", "deflate", "raw-deflate", "upper-case"],
)
async def test_good_encodings_are_decoded(
    client: Client, admin_headers: Headers, route: str, encoding: str, pack: Any
) -> None:
    """A well-formed gzip or deflate body is taken as if it were sent plain."""
    status, body, _ = await _send(client, admin_headers, route, pack(ROUTES[route][2]), encoding)
    assert status in (200, 201), body
    if route == "ingest":
        assert body["accepted"] == 10


async def test_a_compressed_bomb_stops_at_the_limit(client: Client, admin_headers: Headers) -> None:
    """A small gzip body that inflates past 16 MiB is 413, without inflating it all."""
    bomb = _gzip(b'{"events": [' + b" " * (17 * 1024 * 1024) + b"]}")
    assert len(bomb) < 64 * 1024
    status, body, _ = await _send(client, admin_headers, "ingest", bomb, "gzip")
    assert status == 413, body


@pytest.mark.parametrize("route", sorted(ROUTES))
async def test_a_client_gone_mid_body_is_logged_at_info(
    client: Client, admin_headers: Headers, route: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that drops the connection mid-body is an info line, not a 500 with a trace."""
    caplog.set_level(logging.INFO)
    before = await whole_state(client.app[STORE])
    method, path, body = ROUTES[route]
    token = admin_headers["Session-Token"]
    _, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(
        f"{method} {path} HTTP/1.1\r\nHost: x\r\nSession-Token: {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body) + 1000}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    await asyncio.sleep(0.3)  # the handler is now waiting for the rest of the body
    writer.close()
    await writer.wait_closed()
    for _ in range(50):
        if any("went away" in record.getMessage() for record in caplog.records):
            break
        await asyncio.sleep(0.05)
    gone = [record for record in caplog.records if "went away" in record.getMessage()]
    assert [record.levelno for record in gone] == [logging.INFO]
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert not [record for record in caplog.records if record.exc_info]
    assert await whole_state(client.app[STORE]) == before


async def test_a_slow_body_is_cut_off(
    client: Client, admin_headers: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body trickling in past the read deadline is a JSON 408 and stores nothing."""
    monkeypatch.setattr(bodies, "BODY_READ_SECONDS", 0.5)
    before = await whole_state(client.app[STORE])
    _, path, body = ROUTES["ingest"]
    token = admin_headers["Session-Token"]
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: x\r\nSession-Token: {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body[:10]
    )
    await writer.drain()
    answer = await asyncio.wait_for(reader.readuntil(b"}"), 10)  # no wait for aiohttp's linger
    writer.close()
    head, _, text = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer
    assert b"Connection: close" in head
    assert json.loads(text)["message"].startswith("The body did not arrive")
    assert await whole_state(client.app[STORE]) == before
