"""The Metrics view in a real Chromium against the real service on a seeded store.

One browser serves the whole module; its time zone is Asia/Kolkata (+05:30), so that the
range the page sends is visibly the browser's and not UTC. Every comparison is with the
activity report API asked the same question with the same token.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from exporter.config import Config, normalize_database_url
from exporter.demo.run import Plan, seed_store
from exporter.store import Store
from tests.browser import Browser, browser_for_module
from tests.processes import serve
from tests.support import make_token

ZONE = "Asia/Kolkata"
REPORT = "/api/private/metrics/activity"
INTERVALS = {"day": "1 day", "week": "1 week", "month": "1 month"}
BERLIN = "org-berlin"  # an organization of the demo population


class Service:
    """The running service, its store's URL and a token per kind of reader."""

    def __init__(self, base: str, database_url: str, tokens: dict[str, str]) -> None:
        self.base = base
        self.database_url = database_url
        self.tokens = tokens

    def get(self, path: str, token: str) -> Any:
        """GET a JSON answer with a token."""
        request = urllib.request.Request(self.base + path, headers={"Session-Token": token})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)

    def put(self, path: str, token: str, body: dict[str, Any]) -> None:
        """PUT a JSON body with a token."""
        request = urllib.request.Request(
            self.base + path,
            data=json.dumps(body).encode(),
            method="PUT",
            headers={"Session-Token": token, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status in (200, 201)


async def _seed(database_url: str) -> dict[str, str]:
    """Demo activity (50 days), then tokens: site admin, Berlin's admin, a plain member."""
    _, _, admin = await seed_store(Config(database_url=database_url), Plan(40, 50, 5))
    store = Store.open(Config(database_url=database_url))
    try:
        organizations = {BERLIN: ["organization-admin"]}
        return {
            "admin": admin,
            "berlin": await make_token(store, "berlin-lead", organizations=organizations),
            "demoted": await make_token(store, "berlin-lead-2", organizations=organizations),
            "member": await make_token(store, "just-a-member", roles=["site-member"]),
        }
    finally:
        await store.close()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """``usage-metrics serve`` on a seeded SQLite store."""
    path = tmp_path_factory.mktemp("view") / "store.db"
    database_url = normalize_database_url(f"sqlite:///{path}")
    tokens = asyncio.run(_seed(database_url))
    with serve(database_url, "--log-level", "warning") as (base, _process):
        yield Service(base, database_url, tokens)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """One headless Chromium in the Asia/Kolkata time zone for the whole module."""
    yield from browser_for_module(ZONE, tmp_path_factory.mktemp("downloads"))


# --- driving the page -----------------------------------------------------------------------


def _sign_in(browser: Browser, base: str, token: str) -> None:
    """Open the view afresh and submit the token with the keyboard (Enter)."""
    browser.driver.get(base + "/healthz")  # same origin, no script that could store a token
    browser.run("sessionStorage.clear()")
    browser.driver.get(base + "/")
    field = browser.wait(lambda d: d.find_element(By.ID, "token"))
    browser.wait(lambda _: field.is_displayed())
    field.send_keys(token, Keys.ENTER)


def _last_30_days(org: str = "") -> dict[str, str]:
    """The page's default question: the last 30 local days, today included, by day."""
    today = _today()
    return _query(today - dt.timedelta(days=29), today, org=org)


def _signed_in(browser: Browser, base: str, token: str, org: str = "") -> dict[str, Any]:
    """Sign in with ``token`` and wait for the default report; what the page shows."""
    _sign_in(browser, base, token)
    return _ready(browser, _last_30_days(org))


def _ready(browser: Browser, expected: dict[str, str]) -> dict[str, Any]:
    """Wait until the page shows the report for exactly ``expected``; what it shows."""

    def shown(_: object) -> dict[str, Any] | None:
        page = browser.run(_READ_PAGE)
        if page["state"] != "ready":
            return None
        if dict(urllib.parse.parse_qsl(page["query"])) != expected:
            return None
        return dict(page)

    result: dict[str, Any] = browser.wait(shown)
    return result


_READ_PAGE = """
const rows = (selector) => [...document.querySelectorAll(selector)];
return {
  state: document.body.dataset.state,
  query: document.body.dataset.query || "",
  bars: rows("#chart rect.bar").map((r) => [r.dataset.time, Number(r.dataset.users),
                                           Number(r.getAttribute("height"))]),
  chartTable: rows("#chart-table tbody tr").map((r) => [r.dataset.time, Number(r.dataset.users),
                                                      r.cells[2].textContent]),
  users: rows("#users-table tbody tr[data-user-id]").map((r) => [r.dataset.userId,
           Number(r.dataset.minutes), ...[...r.cells].map((c) => c.textContent)]),
  totalUsers: Number(document.getElementById("total-users").dataset.value),
  totalMinutes: Number(document.getElementById("total-hours").dataset.minutes),
  organizations: rows("#org option").map((o) => [o.value, o.textContent]),
  message: document.getElementById("message").hidden ? ""
           : document.getElementById("message-text").textContent,
};
"""


def _today() -> dt.date:
    return dt.datetime.now(ZoneInfo(ZONE)).date()


def _query(
    first: dt.date, last: dt.date, *, category: str = "any", interval: str = "day", org: str = ""
) -> dict[str, str]:
    """The report parameters the page must send: local midnights at +05:30, ``last`` included."""
    query = {
        "start": f"{first.isoformat()}T00:00:00+05:30",
        "end": f"{(last + dt.timedelta(days=1)).isoformat()}T00:00:00+05:30",
        "category": category,
        "interval": INTERVALS[interval],
    }
    if org:
        query["org"] = org
    return query


def _active_time(minutes: int) -> str:
    hours = minutes // 60
    return f"{hours}h {minutes % 60}m" if hours else f"{minutes}m"


def _assert_page_equals_report(page: dict[str, Any], report: dict[str, Any], period: int) -> None:
    """Bars, the chart's table, totals and the users table all say what the report says."""
    expected_bars = [(b["time"], len(b["user_activity"])) for b in report["activity"]]
    assert [(time_, users) for time_, users, _ in page["bars"]] == expected_bars
    assert [(time_, users) for time_, users, _ in page["chartTable"]] == expected_bars
    heights = {users: height for _, users, height in page["bars"] if users}
    tallest = max(heights, default=0)
    for users, height in heights.items():  # drawn to scale
        assert height == pytest.approx(heights[tallest] * users / tallest, rel=1e-6)
    for bucket, (_, _, hours) in zip(report["activity"], page["chartTable"], strict=True):
        minutes = sum(entry["count"] for entry in bucket["user_activity"])
        assert float(hours.replace(",", "")) == pytest.approx(minutes / 60, abs=0.051)
    users = sorted(
        report["users"].values(), key=lambda u: (-u["total_count"], u["username"], u["id"])
    )
    assert page["totalUsers"] == len(users)
    assert page["totalMinutes"] == sum(u["total_count"] for u in users)
    shown = [(row[0], row[1], row[2], row[3], row[4]) for row in page["users"]]
    assert shown == [
        (u["id"], u["total_count"], u["name"] or "—", u["username"], _active_time(u["total_count"]))
        for u in users
    ]
    for row, user in zip(page["users"], users, strict=True):
        share = float(row[5].rstrip("%"))
        assert share == pytest.approx(100 * user["total_count"] / period, abs=0.051)


def _check(browser: Browser, service: Service, token: str, expected: dict[str, str]) -> None:
    """The page shows ``expected``'s report, asked for exactly once more, as the API answers."""
    page = _ready(browser, expected)
    url = f"{service.base}{REPORT}?{page['query']}"
    assert url in [request["url"] for request in browser.requests()]
    report = service.get(f"{REPORT}?{urllib.parse.urlencode(expected)}", token)
    start = dt.datetime.fromisoformat(expected["start"])
    period = int((dt.datetime.fromisoformat(expected["end"]) - start).total_seconds()) // 60
    assert report["users"], "the seeded store has activity in every range the test asks for"
    _assert_page_equals_report(page, report, period)


def _set_range(browser: Browser, first: dt.date, last: dt.date) -> None:
    """Type both dates as a person would pick them (value set, change event sent)."""
    browser.run(
        "for (const [id, value] of [['from', arguments[0]], ['to', arguments[1]]]) {"
        "  const input = document.getElementById(id);"
        "  input.value = value; input.dispatchEvent(new Event('change', {bubbles: true}));"
        "}",
        first.isoformat(),
        last.isoformat(),
    )


# --- the tests ------------------------------------------------------------------------------


def test_view_equals_the_report_api_and_follows_every_filter(
    browser: Browser, service: Service
) -> None:
    """Default 30 local days by day, then each filter in turn: chart and table match the API."""
    token = service.tokens["admin"]
    _sign_in(browser, service.base, token)
    today = _today()
    first = today - dt.timedelta(days=29)
    _check(browser, service, token, _query(first, today))
    organizations = _ready(browser, _query(first, today))["organizations"]
    assert organizations[0] == ["", "Any"]
    assert [value for value, _ in organizations[1:]] == [
        org["id"] for org in service.get("/api/v1/organizations", token)["organizations"]
    ]

    Select(browser.driver.find_element(By.ID, "org")).select_by_value(BERLIN)
    _check(browser, service, token, _query(first, today, org=BERLIN))

    action = browser.driver.find_element(By.ID, "category")  # by keyboard: Any -> IDE
    action.send_keys(Keys.ARROW_DOWN)
    _check(browser, service, token, _query(first, today, org=BERLIN, category="ide"))

    Select(action).select_by_value("tunnel")
    _check(browser, service, token, _query(first, today, org=BERLIN, category="tunnel"))

    first, last = today - dt.timedelta(days=44), today - dt.timedelta(days=15)
    _set_range(browser, first, last)
    _check(browser, service, token, _query(first, last, org=BERLIN, category="tunnel"))

    interval = Select(browser.driver.find_element(By.ID, "interval"))
    for name in ("week", "month"):
        interval.select_by_value(name)
        expected = _query(first, last, org=BERLIN, category="tunnel", interval=name)
        _check(browser, service, token, expected)

    Select(browser.driver.find_element(By.ID, "org")).select_by_value("")
    Select(action).select_by_value("any")
    interval.select_by_value("day")
    _check(browser, service, token, _query(first, last))
    assert browser.csp_violations() == []


def test_the_token_stays_out_of_urls_cookies_and_other_origins(
    browser: Browser, service: Service
) -> None:
    """Every request goes to the service; the token rides only in Session-Token headers."""
    token = service.tokens["admin"]
    _signed_in(browser, service.base, token)
    sent = [  # leave out what Chrome's own new-tab page loaded before the test navigated
        r for r in browser.requests() if not (r["document"] or "").startswith("chrome://")
    ]
    api_calls = [r for r in sent if r["url"].startswith(service.base + "/api/")]
    assert len(api_calls) >= 3
    assert all(r["headers"].get("Session-Token") == token for r in api_calls)
    for request in sent:
        assert token not in request["url"]
        if request["url"].startswith("data:"):  # Chrome's own date-picker icon: no network
            continue
        assert request["url"].startswith((service.base + "/", f"blob:{service.base}/")), request
        assert "Cookie" not in request["headers"]
    assert token not in browser.driver.current_url
    assert browser.driver.get_cookies() == []
    assert browser.run("return localStorage.length") == 0
    assert browser.run("return Object.keys(sessionStorage)") == ["usage-metrics.token"]


def test_csv_download_holds_the_users_table(browser: Browser, service: Service) -> None:
    """Download CSV saves the table's users in its order, with minutes and the active time."""
    page = _signed_in(browser, service.base, service.tokens["admin"])
    today = _today()
    before = set(browser.downloads.iterdir())
    browser.driver.find_element(By.ID, "csv").click()

    def saved(_: object) -> Path | None:
        """The new CSV once Chrome has finished writing it (no partial download left)."""
        new = set(browser.downloads.iterdir()) - before
        if any(p.suffix == ".crdownload" for p in new):
            return None
        done = [p for p in new if p.suffix == ".csv" and p.stat().st_size > 0]
        return done[0] if done else None

    path: Path = browser.wait(saved)
    with path.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert path.name == f"usage-any-any-{today - dt.timedelta(days=29)}-to-{today}.csv"
    assert [(r["user_id"], int(r["active_minutes"]), r["active_time"]) for r in rows] == [
        (row[0], row[1], row[4]) for row in page["users"]
    ]


def test_forget_token_removes_it(browser: Browser, service: Service) -> None:
    """Forget token empties session storage and brings the token form back."""
    _signed_in(browser, service.base, service.tokens["admin"])
    browser.driver.find_element(By.ID, "forget").click()
    browser.wait(lambda d: d.find_element(By.ID, "token").is_displayed())
    assert browser.run("return sessionStorage.length") == 0
    assert not browser.driver.find_element(By.ID, "view").is_displayed()
    browser.driver.refresh()
    browser.wait(lambda d: d.find_element(By.ID, "token").is_displayed())


def test_an_organization_admin_sees_only_their_organization(
    browser: Browser, service: Service
) -> None:
    """No "Any", only Berlin, and the report asked with org= Berlin equals the API's."""
    token = service.tokens["berlin"]
    _sign_in(browser, service.base, token)
    expected = _last_30_days(org=BERLIN)
    _check(browser, service, token, expected)
    assert _ready(browser, expected)["organizations"] == [[BERLIN, "Berlin Labs"]]


def test_losing_the_role_shows_the_refusal(browser: Browser, service: Service) -> None:
    """An organization admin demoted while the page is open sees the 403 message on change."""
    token = service.tokens["demoted"]
    _signed_in(browser, service.base, token, org=BERLIN)
    service.put(
        "/api/v1/users/berlin-lead-2",
        service.tokens["admin"],
        {"username": "berlin-lead-2", "organizations": {BERLIN: ["organization-member"]}},
    )
    Select(browser.driver.find_element(By.ID, "category")).select_by_value("login")
    browser.wait(lambda _: browser.run("return document.body.dataset.state") == "error")
    message = browser.driver.find_element(By.ID, "message")
    assert message.is_displayed()
    assert message.text.startswith("This token may not read that: Reading the activity report")


def test_a_bad_token_is_refused_with_a_message(browser: Browser, service: Service) -> None:
    """An unknown token: the 401 message, the form again, nothing kept in session storage."""
    _sign_in(browser, service.base, "um_0000000000000000_not-a-real-secret")
    browser.wait(lambda _: browser.run("return document.body.dataset.state") == "error")
    assert browser.driver.find_element(By.ID, "message").text.startswith(
        "The service refused the token: The token is unknown."
    )
    assert browser.driver.find_element(By.ID, "token-form").is_displayed()
    assert not browser.driver.find_element(By.ID, "view").is_displayed()
    assert browser.run("return sessionStorage.length") == 0


def test_a_token_that_reads_nothing_is_told_so(browser: Browser, service: Service) -> None:
    """A site member's token: the page says which roles read the report."""
    _sign_in(browser, service.base, service.tokens["member"])
    browser.wait(lambda _: browser.run("return document.body.dataset.state") == "error")
    text = browser.driver.find_element(By.ID, "message").text
    assert text.startswith("just-a-member may not read the activity report: that needs")
    assert browser.run("return sessionStorage.length") == 0


def test_an_unreachable_service_is_reported(browser: Browser, service: Service) -> None:
    """The service stops while the page is open: the next change says it cannot be reached."""
    with serve(service.database_url, "--log-level", "warning") as (base, process):
        _signed_in(browser, base, service.tokens["admin"])
        process.terminate()
        process.wait(timeout=30)
    Select(browser.driver.find_element(By.ID, "interval")).select_by_value("week")
    browser.wait(lambda _: browser.run("return document.body.dataset.state") == "error")
    assert browser.driver.find_element(By.ID, "message-text").text == (
        f"The service at {base} cannot be reached. Check that it is running, then try again."
    )
    assert browser.driver.find_element(By.ID, "retry").is_displayed()


def test_accessible_at_desktop_and_phone_widths(browser: Browser, service: Service) -> None:
    """axe-core: no serious or critical violation signed out, and signed in at 1280 and 375 px."""
    browser.driver.get(service.base + "/healthz")
    browser.run("sessionStorage.clear()")
    browser.driver.get(service.base + "/")
    browser.wait(lambda d: d.find_element(By.ID, "token").is_displayed())
    problems = _serious(browser.axe())
    _signed_in(browser, service.base, service.tokens["admin"])
    browser.run("document.querySelector('details').open = true")
    for width in (1280, 375):
        browser.set_width(width)
        problems += _serious(browser.axe())
    browser.set_width(1280)
    assert problems == []
    assert browser.csp_violations() == []


def _serious(violations: Any) -> list[str]:
    assert isinstance(violations, list), violations  # axe itself failed otherwise
    return [
        f"{v['id']} ({v['impact']}): {[node['target'] for node in v['nodes']][:3]}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


def test_screenshots_at_1280_and_375_pixels(browser: Browser, service: Service) -> None:
    """Full-page screenshots saved under test-artifacts/; at 375 px nothing scrolls sideways."""
    _signed_in(browser, service.base, service.tokens["admin"])
    for width in (1280, 375):
        path = browser.screenshot(f"metrics-view-{width}.png", width=width)
        assert path.read_bytes().startswith(b"\x89PNG")
        overflow = browser.run("return document.documentElement.scrollWidth")
        assert overflow <= width, f"the page is {overflow} px wide at {width} px"
        table = browser.run(
            "const region = document.querySelector('#users-table').parentElement;"
            "return [region.scrollWidth, region.clientWidth]"
        )
        assert table[0] <= table[1], f"the users table scrolls sideways at {width} px: {table}"
