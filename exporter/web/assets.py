"""The Metrics view's static files: read once from the package, served from memory.

Rules: only the ``.css``, ``.js`` and ``.svg`` files of ``exporter/web/view/`` are served, each
under a name that carries a hash of its content (``view.0123456789abcdef.js``). Such a URL never
changes meaning, so browsers may keep it for a year; any other name is a JSON 404. No file
system path is ever built from a request, so there is no listing and no traversal.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from importlib import resources
from typing import Final

from aiohttp import web

from exporter.errors import NotFound

PREFIX: Final = "/static/"
CONTENT_TYPES: Final = {
    "css": "text/css; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "svg": "image/svg+xml",
}
IMMUTABLE: Final = "public, max-age=31536000, immutable"
"""``Cache-Control`` of a hashed name: its content can never change."""


@dataclasses.dataclass(frozen=True, slots=True)
class Asset:
    """One file: its served name, bytes, content type and entity tag."""

    name: str
    body: bytes
    content_type: str
    etag: str


class Assets:
    """The served files, by hashed name; ``url(name)`` is where a plain name is served."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        self._served: dict[str, Asset] = {}
        self._urls: dict[str, str] = {}
        for name, body in files.items():
            stem, _, suffix = name.rpartition(".")
            digest = hashlib.sha256(body).hexdigest()[:16]
            asset = Asset(f"{stem}.{digest}.{suffix}", body, CONTENT_TYPES[suffix], f'"{digest}"')
            self._served[asset.name] = asset
            self._urls[name] = PREFIX + asset.name

    @classmethod
    def from_package(cls) -> Assets:
        """The view's files as installed with the package."""
        folder = resources.files("exporter.web") / "view"
        return cls(
            {
                entry.name: entry.read_bytes()
                for entry in folder.iterdir()
                if entry.is_file() and entry.name.rpartition(".")[2] in CONTENT_TYPES
            }
        )

    def url(self, name: str) -> str:
        """The path a plain file name (``view.js``) is served at."""
        return self._urls[name]

    def find(self, served_name: str) -> Asset:
        """The asset with this hashed name; ``NotFound`` for anything else."""
        asset = self._served.get(served_name)
        if asset is None:
            raise NotFound("No such file.")
        return asset


def respond(request: web.Request, asset: Asset) -> web.Response:
    """The asset, or ``304`` when the client already holds this version."""
    headers = {"Cache-Control": IMMUTABLE, "ETag": asset.etag}
    if asset.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=asset.body, headers={**headers, "Content-Type": asset.content_type})
