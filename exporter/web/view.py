"""``GET /``: the Metrics view, and ``GET /static/{name}``: the files it loads.

The page is static HTML rendered once per application; everything it shows comes from the
API, fetched by its script with the reader's token. Its Content-Security-Policy allows
scripts, styles, images and requests from this origin only: no inline script or style, no
framing, no form submission anywhere (the token form is handled by the script).
"""

from __future__ import annotations

import html
from importlib import resources
from typing import Final

from aiohttp import web

from exporter import __version__
from exporter.web.assets import Assets, respond
from exporter.web.keys import VIEW_ASSETS, VIEW_PAGE

CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
_PLACEHOLDERS: Final = ("view.css", "view.js", "icon.svg")


def render_page(assets: Assets) -> bytes:
    """The page's HTML with the hashed URLs of its files and the version filled in."""
    page = (resources.files("exporter.web") / "view" / "index.html").read_text("utf-8")
    page = page.replace("{{version}}", html.escape(__version__))
    for name in _PLACEHOLDERS:
        page = page.replace("{{" + name + "}}", assets.url(name))
    if "{{" in page:
        raise ValueError("index.html names a file the view does not ship")
    return page.encode()


def install(app: web.Application) -> None:
    """Load the view's files into the application and route ``/`` and ``/static/{name}``."""
    assets = Assets.from_package()
    app[VIEW_ASSETS] = assets
    app[VIEW_PAGE] = render_page(assets)
    app.router.add_get("/", get_page)
    app.router.add_get("/static/{name}", get_asset)


async def get_page(request: web.Request) -> web.Response:
    """The Metrics view."""
    return web.Response(
        body=request.app[VIEW_PAGE],
        content_type="text/html",
        charset="utf-8",
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY},
    )


async def get_asset(request: web.Request) -> web.Response:
    """A file of the view by its hashed name; anything else is a 404."""
    return respond(request, request.app[VIEW_ASSETS].find(request.match_info["name"]))
