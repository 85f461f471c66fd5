"""Debian's Chromium driven by Selenium: start it offline, read what it requested, audit pages.

Nothing here downloads a browser: the ``chromium`` and ``chromium-driver`` packages must be
installed (``tests/external.py`` decides between skipping and failing when they are not).
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.external import BROWSER_VARIABLE, require_tool

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
)
_RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""
"""Runs before any script of each document (DevTools, so the page's CSP does not apply)."""


class Browser:
    """One Chromium for a test module, and every network request it has sent so far."""

    def __init__(self, *, time_zone: str, downloads: Path) -> None:
        packages = "chromium chromium-driver"
        chromium = require_tool("chromium", packages, variable=BROWSER_VARIABLE)
        chromedriver = require_tool("chromedriver", packages, variable=BROWSER_VARIABLE)
        self.profile = tempfile.TemporaryDirectory(prefix="usage-metrics-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in (*FLAGS, f"--user-data-dir={self.profile.name}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        service = Service(executable_path=chromedriver, env={**os.environ, "TZ": time_zone})
        self.driver: WebDriver = webdriver.Chrome(options=options, service=service)
        self.driver.execute_cdp_cmd(
            "Page.addScriptToEvaluateOnNewDocument", {"source": _RECORD_VIOLATIONS}
        )
        self.driver.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
        )
        self.downloads = downloads
        self.sent: list[dict[str, Any]] = []

    def close(self) -> None:
        """Quit Chromium and remove its profile."""
        self.driver.quit()
        self.profile.cleanup()

    def requests(self) -> list[dict[str, Any]]:
        """Every request sent since the browser started: ``url``, ``headers``, ``document``…"""
        for entry in self.log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                params = message["params"]
                self.sent.append({**params["request"], "document": params.get("documentURL")})
        return self.sent

    def wait(self, condition: Callable[[WebDriver], Any], timeout: float = 15) -> Any:
        """The first truthy value of ``condition``; fails after ``timeout`` seconds, saying why."""
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(condition)
        except TimeoutException:
            page = self.run(
                "return [location.href, document.body.dataset.state, document.body.dataset.query,"
                " document.getElementById('message-text')?.textContent]"
            )
            console = [entry["message"] for entry in self.log("browser")][-5:]
            raise AssertionError(f"timed out; page {page}; console {console}") from None

    def log(self, kind: str) -> list[dict[str, Any]]:
        """Chromium's log entries of ``kind`` (``browser``, ``performance``) since the last call."""
        # selenium leaves get_log unannotated; it returns the driver's list of entry objects.
        entries: list[dict[str, Any]] = self.driver.get_log(kind)  # type: ignore[no-untyped-call]
        return entries

    def run(self, script: str, *args: Any) -> Any:
        """Run JavaScript in the page; its ``return`` value."""
        return self.driver.execute_script(script, *args)

    def csp_violations(self) -> list[str]:
        """What the page's Content-Security-Policy blocked since the document loaded."""
        return list(self.run("return window.__cspViolations || []"))

    def axe(self, *, include_rules: str = "wcag2a,wcag2aa,wcag21a,wcag21aa,best-practice") -> Any:
        """axe-core's violations on the current page (``impact``, ``id``, ``nodes``)."""
        self.run(AXE.read_text(encoding="utf-8"))
        tags = include_rules.split(",")
        return self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}})"
            ".then((result) => done(result.violations), (error) => done(String(error)));",
            tags,
        )

    def set_width(self, width: int, *, height: int = 800) -> None:
        """Emulate a viewport ``width`` by ``height`` CSS pixels (a phone below 600 wide)."""
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
        )

    def screenshot(self, name: str, *, width: int) -> Path:
        """A full-page PNG at ``width`` CSS pixels, saved as ``test-artifacts/<name>``."""
        self.set_width(width)
        self.set_width(width, height=int(self.run("return document.body.scrollHeight")) + 40)
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
        self.set_width(width)
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


def browser_for_module(time_zone: str, downloads: Path) -> Iterator[Browser]:
    """A generator for a module-scoped fixture: one Chromium, quit at the end."""
    browser = Browser(time_zone=time_zone, downloads=downloads)
    try:
        yield browser
    finally:
        browser.close()
