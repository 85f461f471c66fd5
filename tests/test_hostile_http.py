"""Requests aiohttp refuses before a handler runs, and tokens in odd headers."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from exporter.config import Config
from exporter.web import create_app, server
from exporter.web.errors import SECURITY_HEADERS, SERVER_HEADER
from exporter.web.keys import STORE
from tests.conftest import ServiceTestServer
from tests.support import make_token

Client = TestClient[Any, Any]
SECRET = "um_0123456789abcdef_S3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3t"


@pytest.fixture
def client(service_client: Client) -> Client:
    """Every test here talks to the service as ``serve`` runs it."""
    return service_client


async def _raw(client: Client, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes; the status, headers (lower-cased names) and body of the answer."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return _parse(answer)


def _parse(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    """The status, headers (lower-cased names) and body of a raw HTTP/1.1 answer."""
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        size, _, rest = body.partition(b"\r\n")
        body = rest[: int(size, 16)]
    return int(status_line.split()[1]), headers, body


def _assert_json_error(status: int, headers: dict[str, str], body: bytes, expected: int) -> Any:
    assert status == expected, body
    assert headers["content-type"].startswith("application/json")
    for name, value in SECURITY_HEADERS.items():
        assert headers[name.lower()] == value
    assert headers["server"] == SERVER_HEADER
    decoded = json.loads(body)
    assert set(decoded) <= {"message", "detail", "validations"}
    return decoded


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 20_000 + b"\r\n\r\n",
        b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
        b"G(T /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % n for n in range(200)),
        b"POST /api/v1/activity HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n",
    ],
    ids=["long-header", "long-line", "no-colon", "bad-method", "too-many-headers", "smuggling"],
)
async def test_requests_aiohttp_refuses_get_a_json_400(
    client: Client, request_bytes: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """Over-long or malformed request lines and headers: JSON 400, security headers, no trace."""
    caplog.set_level(logging.DEBUG)
    if request_bytes.endswith(b"1\r\n"):
        request_bytes += b"\r\n"
    status, headers, body = await _raw(client, request_bytes)
    _assert_json_error(status, headers, body, 400)
    assert not [record for record in caplog.records if record.exc_info]
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize("bad", ["\r", "\x7f", "\x00", "\x01", "\x80", "é"])
@pytest.mark.parametrize("header", ["Session-Token", "Coder-Session-Token", "Authorization"])
async def test_a_token_never_reaches_a_log_or_a_body(
    client: Client, header: str, bad: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A token header with a control or non-ASCII character: JSON 400/401 that echoes nothing."""
    caplog.set_level(logging.DEBUG)
    real = await make_token(client.app[STORE], "admin", roles=["site-admin"])
    for secret in (SECRET, real):
        value = f"Bearer {secret}{bad}" if header == "Authorization" else f"{secret}{bad}"
        status, headers, body = await _raw(
            client,
            b"GET /api/v1/users HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            + f"{header}: {value}\r\n\r\n".encode(),
        )
        _assert_json_error(status, headers, body, 400 if status == 400 else 401)
        secret_part = secret.split("_", 2)[2]
        assert secret_part.encode() not in body
        logged = "\n".join(record.getMessage() + repr(record.__dict__) for record in caplog.records)
        assert secret_part not in logged
        assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_no_versions_in_the_server_header(client: Client) -> None:
    """``Server`` names the product only, on answers and on errors."""
    for path in ("/healthz", "/no-such-route", "/api/v1/users"):
        response = await client.get(path)
        assert response.headers["Server"] == SERVER_HEADER, path
        assert "python" not in (await response.text()).lower()


async def _trickle(client: Client, head: bytes, started: asyncio.Event) -> bytes:
    """Send ``head`` a byte every 0.2 s until the server answers and closes; the answer."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    answer = asyncio.ensure_future(reader.read())
    try:
        for index in range(len(head)):
            writer.write(head[index : index + 1])
            await writer.drain()
            if index == 1:
                started.set()
            await asyncio.wait([answer], timeout=0.2)
            if answer.done():
                return answer.result()
        return await asyncio.wait_for(answer, 5)
    finally:
        writer.close()


async def test_slow_request_heads_are_cut_off_while_healthz_answers(
    client: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Eight clients trickling their headers: /healthz answers meanwhile; each gets a JSON 408."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(server, "HEADER_READ_SECONDS", 2.0)
    head = b"GET /api/v1/users HTTP/1.1\r\nHost: x\r\nSession-Token: " + SECRET.encode() + b"\r\n"
    starts = [asyncio.Event() for _ in range(8)]
    lorises = [asyncio.ensure_future(_trickle(client, head, started)) for started in starts]
    await asyncio.wait_for(asyncio.gather(*(started.wait() for started in starts)), 10)
    for _ in range(5):
        assert (await client.get("/healthz")).status == 200
    assert not any(loris.done() for loris in lorises), "a slow head was cut off too early"
    for answer in await asyncio.gather(*lorises):
        status, headers, body = _parse(answer)
        decoded = _assert_json_error(status, headers, body, 408)
        assert decoded["message"] == "The request's headers did not arrive within 2 s."
    logged = [r for r in caplog.records if r.getMessage() == "refused a malformed request"]
    assert [r.__dict__["status"] for r in logged] == [408] * 8
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert (await client.get("/healthz")).status == 200


async def test_an_idle_connection_is_closed(
    aiohttp_client: Any, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection that never starts a request is closed, without an answer."""
    monkeypatch.setattr(server, "IDLE_CONNECTION_SECONDS", 1.0)
    idle: Client = await aiohttp_client(ServiceTestServer(create_app(config)))
    reader, writer = await asyncio.open_connection(idle.server.host, idle.server.port)
    try:
        assert await asyncio.wait_for(reader.read(), 10) == b""
    finally:
        writer.close()
