"""The dashboard in a real browser (Debian's Chromium through Playwright) against a real
uvicorn server: what each page shows, charts included, equals what the JSON API answers.

Needs ``/usr/bin/chromium`` (``scripts/install-system-deps.sh`` installs it as root): without
it these tests skip locally and fail under ``CI=true``.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn

from pausewatch.api import create_app
from web.world import HOSTILE_NAME, HOSTILE_SOURCE, World

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ALL_RENDERED = (
    "() => [...document.querySelectorAll('[data-figure]')]"
    ".every(d => d.dataset.rendered === 'true')"
)
FIGURE = "id => { const d = document.getElementById(id); return {data: d.data, layout: d.layout}; }"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(app: Any, name: str) -> Iterator[str]:
    """``app`` served by uvicorn on a free loopback port, in a thread, until the block ends."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "the test server did not start"
        assert time.monotonic() < deadline, "the test server did not start in 20 s"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


@pytest.fixture(scope="module")
def base_url(world: World) -> Iterator[str]:
    """A uvicorn server over the seeded world, on a free loopback port, in a thread."""
    with served(create_app(world.service, manage=False), "web-test-server") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: run scripts/install-system-deps.sh as root"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def context(browser: Browser) -> Iterator[BrowserContext]:
    """One browser profile for the module (plotly.js is fetched once and cached)."""
    ctx = browser.new_context()
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A tab; any script error or console error on it fails the test (a CSP violation too)."""
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield tab
        assert errors == [], errors
    finally:
        tab.close()


def api(base_url: str, path: str, **params: Any) -> Any:
    r = httpx.get(base_url + path, params=params, timeout=10)
    r.raise_for_status()
    return r.text if path == "/checkpoint" else r.json()


def visit(page: Page, base_url: str, path: str, *, charts: bool = False) -> None:
    """Open ``path`` without its periodic reload (which would race the test)."""
    sep = "&" if "?" in path else "?"
    response = page.goto(f"{base_url}{path}{sep}refresh=0")
    assert response is not None
    assert response.status == 200
    if charts:
        page.wait_for_function(ALL_RENDERED, timeout=15_000)


def field(page: Page, name: str) -> str:
    return page.locator(f"[data-field='{name}']").inner_text().strip()


def floats(values: list[Any]) -> list[float]:
    """Numbers from the page as floats (Playwright hands integral JS numbers over as ints)."""
    return [float(v) for v in values]


def plot_time(text: str) -> str:
    """An API time as the charts give it to plotly (UTC, no offset)."""
    return datetime.fromisoformat(text).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def policy_doc(base_url: str) -> dict[str, Any]:
    """The policy in force, as adopted on the log (``GET /v1/views/adoptions``)."""
    digest = api(base_url, "/v1/findings")["policy"]["digest"]
    rows = [r for r in api(base_url, "/v1/views/adoptions")["rows"] if r["digest"] == digest]
    doc: dict[str, Any] = json.loads(rows[-1]["body"])["policy"]
    return doc


def test_the_overview_shows_what_the_api_says(page: Page, base_url: str) -> None:
    """Pause status, policy and findings per severity equal the API's; the countdown runs."""
    visit(page, base_url, "/ui/")
    pause = api(base_url, "/v1/pause")
    findings = api(base_url, "/v1/findings")
    assert field(page, "pause-status").lower() == pause["status"]
    assert field(page, "policy-digest") == findings["policy"]["digest"]
    for severity in ("critical", "serious", "warning", "notice", "info"):
        assert field(page, f"count-{severity}") == str(findings["summary"][severity])
    countdown = page.locator("[data-field='pause-left']")
    first = countdown.inner_text()
    assert re.fullmatch(r"\d+ d \d\d:\d\d:\d\d", first)
    page.wait_for_function(
        "t => document.querySelector(\"[data-field='pause-left']\").textContent !== t",
        arg=first,
        timeout=30_000,  # a one-second timer, in a headless browser on a loaded machine
    )


def test_hostile_strings_stay_text_in_the_browser(page: Page, base_url: str) -> None:
    """A party named like a script, a javascript: source and a hostile proposal text run
    nothing and show literally."""
    visit(page, base_url, "/ui/")
    assert page.evaluate("() => window.__pwned") is None
    names = page.locator("[data-field='party-name']").all_inner_texts()
    assert HOSTILE_NAME in names
    assert page.locator(f"a[href='{HOSTILE_SOURCE}']").count() == 0
    visit(page, base_url, "/ui/governance/renew-1")
    assert page.evaluate("() => window.__pwned") is None
    assert page.locator("main img").count() == 0


def test_the_run_chart_plots_the_apis_figures(page: Page, base_url: str, world: World) -> None:
    """The run chart's measured point, plan, tiers and projection are the API's values."""
    visit(page, base_url, f"/ui/runs/{world.run_id}", charts=True)
    report = api(base_url, f"/v1/runs/{world.run_id}")
    totals = api(base_url, "/v1/views/tel_runs")["rows"][0]
    figure = page.evaluate(FIGURE, "chart-run")
    traces: dict[str, list[dict[str, Any]]] = {}
    for trace in figure["data"]:
        traces.setdefault(trace["meta"]["role"], []).append(trace)
    (measured,) = traces["measured"]
    history = report["measured"]["history"]
    assert floats(measured["y"]) == [h["cumulative_flop"] for h in history]
    assert floats(measured["y"])[-1] == pytest.approx(report["measured"]["counted_flop"])
    assert measured["x"] == [plot_time(h["window_end"]) for h in history]
    assert measured["x"][-1] == plot_time(totals["last_window_end"])
    (plan,) = traces["plan"]
    assert floats(plan["y"]) == [report["run"]["planned_flop"]] * 2
    assert plan["x"] == [plot_time(report["run"]["starts_at"]), plot_time(report["run"]["ends_at"])]
    tiers = policy_doc(base_url)["compute"]["pretraining"]
    assert sorted(float(t["y"][0]) for t in traces["tier"]) == sorted(
        {t["flop"] for t in tiers.values()}
    )
    (projection,) = traces["projection"]
    expected = report["projection"]
    assert projection["x"][-1] == plot_time(expected["expected"])
    assert float(projection["y"][-1]) == expected["threshold_flop"]
    assert float(projection["y"][0]) == report["measured"]["counted_flop"]
    assert page.locator("#chart-run .main-svg").count() > 0  # plotly drew it


def test_the_evaluation_charts_plot_the_apis_results(page: Page, base_url: str) -> None:
    """Each domain's chart has every successful result's value with its interval, and the
    policy's alert and critical levels less the buffer."""
    visit(page, base_url, "/ui/evaluations", charts=True)
    results = api(base_url, "/v1/views/eval_results")["rows"]
    triggers = {t["domain"]: t for t in policy_doc(base_url)["capabilities"]}
    charts = page.locator("section.domain [data-figure]")
    assert charts.count() == len(triggers)
    plotted = 0
    for i in range(charts.count()):
        chart_id = charts.nth(i).get_attribute("id")
        domain = charts.nth(i).locator("xpath=ancestor::section[1]").get_attribute("data-domain")
        assert chart_id is not None
        assert domain is not None
        figure = page.evaluate(FIGURE, chart_id)
        trigger = triggers[domain]
        mine = [
            (r["result_id"], m)
            for r in sorted(results, key=lambda r: r["idx"])
            if r["domain"] == domain and r["status"] == "success"
            for m in json.loads(r["metrics"])
            if m["name"] == trigger["metric"]
        ]
        (points,) = figure["data"]
        assert points["x"] == [rid for rid, _ in mine]
        assert floats(points["y"]) == [m["value"] for _, m in mine]
        highs = [m["ci_high"] - m["value"] for _, m in mine]
        lows = [m["value"] - m["ci_low"] for _, m in mine]
        assert points["error_y"]["array"] == pytest.approx(highs)
        assert points["error_y"]["arrayminus"] == pytest.approx(lows)
        buffer = trigger.get("buffer", 0.0)
        levels = {s["name"]: s["y0"] for s in figure["layout"]["shapes"]}
        assert levels["alert"] == pytest.approx(trigger["alert_level"] - buffer)
        assert levels["critical"] == pytest.approx(trigger["critical_level"] - buffer)
        plotted += len(mine)
    assert plotted == 2  # r1 and r2; r3 failed and has no value


def test_facilities_match_the_registry_and_the_state(page: Page, base_url: str) -> None:
    """Installed chips, dark chips and coverage equal the views' and the state's figures; the
    chart's bars add up to each cluster's H100e."""
    visit(page, base_url, "/ui/facilities", charts=True)
    chips = api(base_url, "/v1/views/chips", limit=1000)["rows"]
    state = {c["fact"]: c["actual"] for c in api(base_url, "/v1/pause")["lift_conditions"]}
    installed = [c for c in chips if c["status"] == "installed"]
    assert field(page, "chips-installed") == str(len(installed))
    assert field(page, "dark-chips") == str(int(state["dark_chips"]))
    figure = page.evaluate(FIGURE, "chart-coverage")
    bars = {t["meta"]["role"]: t for t in figure["data"]}
    assert bars["dark"]["x"] == [
        c["cluster_id"] for c in api(base_url, "/v1/views/clusters")["rows"]
    ]
    assert sum(bars["dark"]["y"]) == state["dark_chips"]  # H100s: one H100e each
    for cluster, reporting, dark in zip(
        bars["reporting"]["x"], bars["reporting"]["y"], bars["dark"]["y"], strict=True
    ):
        row = page.locator(f"tr[data-cluster='{cluster}']")
        h100e = float(row.locator("[data-field='h100e']").get_attribute("data-value") or "nan")
        assert reporting + dark == pytest.approx(h100e)
        count = sum(1 for c in installed if c["cluster_id"] == cluster)
        assert row.locator("[data-field='installed']").inner_text() == str(count)


def test_governance_pages_match_the_api(page: Page, base_url: str, world: World) -> None:
    """The proposals' statuses, and one proposal's tally and reason, equal the API's."""
    visit(page, base_url, "/ui/governance")
    rows = api(base_url, "/v1/proposals")["rows"]
    shown = page.locator("table[data-field='proposals'] [data-field='status']").all_inner_texts()
    assert shown == [r["status"] for r in rows]
    page.locator(f"a[href='/ui/governance/{world.pause_id}']").click()
    page.wait_for_url(f"**/ui/governance/{world.pause_id}")
    report = api(base_url, f"/v1/proposals/{world.pause_id}")
    for name in ("members", "yes", "no", "abstain"):
        assert field(page, name) == str(report["outcome"]["tally"][name])
    assert field(page, "reason") == report["outcome"]["reason"]
    assert page.locator("[data-field='ballot']").count() == len(report["ballots"])
    visit(page, base_url, f"/ui/governance/{world.lift_id}")
    conditions = api(base_url, f"/v1/proposals/{world.lift_id}")["outcome"]["conditions"]
    rows = page.locator("[data-field='condition']")
    assert rows.count() == len(conditions) == 2
    for i, condition in enumerate(conditions):
        row = rows.nth(i)
        assert row.locator("[data-field='actual']").inner_text() == str(condition["actual"])
        held = row.locator("[data-held]").get_attribute("data-held")
        assert held == str(condition["held"]).lower()


def test_the_log_pages_match_the_api(page: Page, base_url: str) -> None:
    """The checkpoint's size and root are the signed checkpoint's; an entry's proof hashes are
    ``/v1/proofs/inclusion``'s and the page marks them verified."""
    visit(page, base_url, "/ui/log")
    note = api(base_url, "/checkpoint").split("\n")
    assert field(page, "checkpoint-size") == note[1]
    info = api(base_url, "/v1/log")
    assert field(page, "checkpoint-root") == info["root_hash"]
    assert page.locator("[data-field='cosignature']").count() == 1
    page.locator("table[data-field='entries'] a[href='/ui/log/5']").click()
    page.wait_for_url("**/ui/log/5")
    proof = api(base_url, "/v1/proofs/inclusion", index=5, size=int(note[1]))
    assert page.locator("[data-field='proof-hash']").all_inner_texts() == proof["proof"]
    assert field(page, "proof-verified") == "✔ verified"
    assert field(page, "signature-verified") == "✔ verified"


def test_the_navigation_bar_reaches_every_page(page: Page, base_url: str) -> None:
    """From the overview, each link of the navigation bar opens its page."""
    visit(page, base_url, "/ui/")
    for label, heading in (
        ("Runs", "Declared runs"),
        ("Facilities & chips", "Facilities and chips"),
        ("Governance", "Governance"),
        ("Evaluations", "Capability evaluations"),
        ("Log", "The transparency log"),
        ("Overview", "Overview"),
    ):
        page.get_by_role("navigation", name="Main").get_by_role("link", name=label).click()
        # The click may return before the navigation commits: wait for the new page's heading.
        page.get_by_role("heading", level=1, name=heading, exact=True).wait_for(timeout=30_000)
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == heading
        assert page.locator("a[aria-current='page']").inner_text() == label


def test_pages_reload_themselves(page: Page, base_url: str) -> None:
    """By default a page asks the browser to reload it every few seconds."""
    response = page.goto(f"{base_url}/ui/")
    assert response is not None
    assert response.status == 200
    refresh = page.locator("meta[http-equiv='refresh']").get_attribute("content")
    assert refresh == "10"


def test_tables_work_without_javascript(browser: Browser, base_url: str, world: World) -> None:
    """With JavaScript off every table is there; charts are not drawn."""
    ctx = browser.new_context(java_script_enabled=False)
    try:
        tab = ctx.new_page()
        tab.goto(f"{base_url}/ui/?refresh=0")
        assert field(tab, "pause-status").lower() == api(base_url, "/v1/pause")["status"]
        tab.goto(f"{base_url}/ui/runs/{world.run_id}?refresh=0")
        counted = api(base_url, f"/v1/runs/{world.run_id}")["measured"]["counted_flop"]
        measured = tab.locator("dd [data-field='measured']").get_attribute("data-value")
        assert float(measured or "nan") == counted
        assert tab.locator("[data-field='tier']").count() > 0
        assert tab.locator(".main-svg").count() == 0
    finally:
        ctx.close()


def test_no_page_overflows_a_1400_pixel_window(
    browser: Browser, base_url: str, world: World
) -> None:
    """In a 1400x900 window no dashboard page is wider than the window (long ids wrap, wide
    tables scroll inside themselves, charts fit)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        tab = ctx.new_page()
        for path in (
            "/ui/",
            "/ui/runs",
            f"/ui/runs/{world.run_id}",
            "/ui/facilities",
            "/ui/governance",
            "/ui/governance/renew-1",
            "/ui/evaluations",
            "/ui/log",
            "/ui/log/5",
        ):
            visit(tab, base_url, path, charts=True)
            widths = tab.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
            assert widths[0] <= widths[1], f"{path}: {widths[0]} px wide in {widths[1]} px"
    finally:
        ctx.close()
