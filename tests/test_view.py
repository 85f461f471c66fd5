"""The Metrics view over HTTP: the page and its files."""

from __future__ import annotations

import tomllib
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient
from yarl import URL

from exporter.config import Config, normalize_database_url
from exporter.web import create_app
from exporter.web.assets import IMMUTABLE
from exporter.web.errors import SECURITY_HEADERS
from exporter.web.view import CONTENT_SECURITY_POLICY

Client = TestClient[Any, Any]
VIEW = resources.files("exporter.web") / "view"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, tmp_path: Path) -> Client:
    """The real application over HTTP, on SQLite only: the view never touches the store."""
    config = Config(database_url=normalize_database_url(f"sqlite:///{tmp_path / 'store.db'}"))
    return await aiohttp_client(create_app(config))


class _Page(HTMLParser):
    """What the page loads and anything inline that the CSP would block."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []
        self.links: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.inline += [f"{tag}[{name}]" for name in values if name == "style" or name[:2] == "on"]
        if tag == "style":
            self.inline.append("style element")
        if tag == "script":
            self._in_script = True
            self.loads.append(values.get("src") or "inline script")
        if tag == "link":
            self.loads.append(values["href"] or "")
        if tag == "a":
            self.links.append(values["href"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("script text")


async def _page(client: Client) -> _Page:
    response = await client.get("/")
    parsed = _Page()
    parsed.feed(await response.text())
    return parsed


async def test_the_page_carries_a_strict_policy_and_nothing_inline(client: Client) -> None:
    """GET / is HTML with the CSP and the security headers; no inline script, style or handler."""
    response = await client.get("/")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert CONTENT_SECURITY_POLICY.startswith("default-src 'self';")
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    page = await _page(client)
    assert page.inline == []
    assert all(load.startswith("/static/") for load in page.loads)
    stems = sorted(f"{load.split('.')[0]}.{load.split('.')[-1]}" for load in page.loads)
    assert stems == ["/static/icon.svg", "/static/view.css", "/static/view.js"]
    assert "/metrics" in page.links
    assert any(link.endswith("#readme") for link in page.links)


async def test_files_are_served_by_hashed_name_with_type_and_long_caching(client: Client) -> None:
    """Each file the page loads: its bytes, its type, cached for a year, 304 when unchanged."""
    types = {"css": "text/css", "js": "text/javascript", "svg": "image/svg+xml"}
    for path in (await _page(client)).loads:
        stem, digest, suffix = path.removeprefix("/static/").split(".")
        assert len(digest) == 16
        response = await client.get(path)
        assert response.status == 200, path
        assert response.content_type == types[suffix]
        assert await response.read() == (VIEW / f"{stem}.{suffix}").read_bytes()
        assert response.headers["Cache-Control"] == IMMUTABLE
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["ETag"] == f'"{digest}"'
        again = await client.get(path, headers={"If-None-Match": f'"{digest}"'})
        assert again.status == 304
        assert await again.read() == b""
        assert again.headers["Cache-Control"] == IMMUTABLE


@pytest.mark.parametrize(
    "path",
    [
        "/static/view.js",
        "/static/index.html",
        "/static/",
        "/static",
        "/static/view.0000000000000000.js",
        "/static/..%2F__init__.py",
        "/static/%2e%2e%2fassets.py",
        "/static/..%2F..%2F__init__.py",
        "/static/%2e%2e/%2e%2e/__init__.py",
        "/view/view.js",
    ],
)
async def test_nothing_else_is_served_and_no_folder_is_listed(client: Client, path: str) -> None:
    """Unhashed names, other files, folders and traversal attempts are JSON 404s."""
    response = await client.get(URL(path, encoded=True))
    assert response.status == 404, path
    assert response.content_type == "application/json"
    assert "message" in await response.json()


def test_a_wheel_ships_every_file_of_the_view() -> None:
    """pyproject's package-data globs take in every file of exporter/web/view/."""
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = settings["tool"]["setuptools"]["package-data"]["exporter"]
    package = ROOT / "exporter"
    files = [
        PurePosixPath(path.relative_to(package).as_posix())
        for path in (package / "web" / "view").rglob("*")
        if path.is_file()
    ]
    assert len(files) >= 4
    assert [file for file in files if not any(file.match(glob) for glob in globs)] == []
