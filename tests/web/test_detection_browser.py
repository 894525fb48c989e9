"""The Detection page and the non-party view in a real browser (Debian's Chromium through
Playwright, the fixtures of :mod:`web.test_browser`) against a real uvicorn server over the
detection world: what they show, the balance charts included, equals what the JSON API answers,
and no script error occurs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pausewatch.api import create_app
from pausewatch.web import _pages
from web.detection_world import DetectionWorld, c4_report
from web.test_browser import (  # noqa: F401 (fixtures, registered by their import)
    FIGURE,
    api,
    browser,
    context,
    field,
    floats,
    page,
    plot_time,
    served,
    visit,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow

REPORT = c4_report()
"""The balances the page is given (the shape of ``GET /v1/detect/balances``)."""


@pytest.fixture(scope="module")
def detection_url(detection_world: DetectionWorld) -> Iterator[str]:
    """A uvicorn server over the detection world, its balances those of :data:`REPORT`."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_pages, "balance_report", lambda service, at: REPORT)
        app = create_app(detection_world.service, manage=False)
        with served(app, "detection-test-server") as url:
            yield url


def test_the_balance_chart_plots_the_reports_figures(
    page: Page,  # noqa: F811 (the imported fixture)
    detection_url: str,
) -> None:
    """Plotly draws facility f1's energy balance, its standardised residual against the
    one-shot limit, its CUSUM against the decision interval and its alarms with exactly the
    report's figures."""
    visit(page, detection_url, "/ui/detection", charts=True)
    energy = REPORT["facilities"][0]["balances"]["energy"]
    figure = page.evaluate(FIGURE, "chart-balance-f1-energy")
    traces: dict[str, dict[str, Any]] = {
        ":".join(filter(None, (t["meta"]["role"], t["meta"].get("test")))): t
        for t in figure["data"]
    }
    assert traces["balance"]["x"] == [plot_time(p["start"]) for p in energy]
    assert floats(traces["balance"]["y"]) == [p["value"] for p in energy]
    assert floats(traces["standardised"]["y"]) == [p["standardised"] for p in energy]
    assert floats(traces["one_shot_limit"]["y"]) == [p["one_shot_limit"] for p in energy]
    assert floats(traces["cusum"]["y"]) == [p["cusum"] for p in energy]
    assert floats(traces["cusum_limit"]["y"]) == [p["cusum_limit"] for p in energy]
    assert floats(traces["alarm:one_shot"]["y"]) == [energy[3]["standardised"]]
    assert floats(traces["alarm:cusum"]["y"]) == [energy[4]["cusum"]]
    assert page.locator("[id='chart-balance-f1-energy'] .main-svg").count() > 0
    assert field(page, "balance-alarms") == "2"


def test_the_page_shows_the_apis_chips_inspections_and_evaluation(
    page: Page,  # noqa: F811 (the imported fixture)
    detection_url: str,
) -> None:
    """Chips unaccounted for, the inspection's missing chip and the latest evaluation's
    figures in the browser are the API's."""
    visit(page, detection_url, "/ui/detection", charts=True)
    chips = api(detection_url, "/v1/detect/chips")
    row = page.locator("tr[data-account='party:us'] [data-field='account-unaccounted']")
    assert row.inner_text().split()[0] == str(chips["parties"][0]["unaccounted"]["count"])
    (found,) = chips["inspections"]
    card = page.locator("article[data-plan='plan-1'] [data-field='plan-missing']")
    assert card.inner_text() == ", ".join(found["missing"])
    published = api(detection_url, "/v1/detect/evaluation")
    shown = page.locator("[data-field='eval-detection']").get_attribute("data-value")
    assert shown is not None
    assert float(shown) == published["detection_before_completion"]
    kinds = page.locator("table.detection-evaluation tbody tr").count()
    assert kinds == len(published["kinds"])
    assert page.evaluate("() => window.__pwned") is None


def test_the_roll_up_table_shows_the_reports_figures(
    page: Page,  # noqa: F811 (the imported fixture)
    detection_url: str,
) -> None:
    """In the browser, the roll-up table has one row per tested series of the report's
    operators and parties, with the report's latest standardised residual and alarm count."""
    visit(page, detection_url, "/ui/detection")
    rows = page.locator("table.rollups tbody tr[data-scope]")
    tested = [
        (scope, item[key], kind, days)
        for scope, key, items in (
            ("operator", "operator_id", REPORT["operators"]),
            ("party", "party_id", REPORT["parties"]),
        )
        for item in items
        for kind, days in item["balances"].items()
        if days
    ]
    assert rows.count() == len(tested) == 1
    scope, subject, kind, days = tested[0]
    row = page.locator(f"tr[data-scope='{scope}'][data-subject='{subject}'][data-balance='{kind}']")
    shown = row.locator("[data-field='rollup-standardised']").get_attribute("data-value")
    assert shown is not None
    assert float(shown) == days[-1]["standardised"]
    alarms = row.locator("[data-field='rollup-alarms']").inner_text()
    assert alarms.split()[0] == str(sum(1 for p in days if p["alarm"]))


def test_the_non_party_view_shows_the_export(
    page: Page,  # noqa: F811 (the imported fixture)
    detection_url: str,
) -> None:
    """The non-party view lists the export with its entity and licence as the API has them."""
    visit(page, detection_url, "/ui/detection/non-parties")
    (export,) = api(detection_url, "/v1/detect/chips")["exports"]
    card = page.locator(f"article[data-export='{export['export_id']}']")
    assert card.locator("[data-field='np-entity']").inner_text() == export["destination_entity"]
    assert card.locator("[data-field='np-licence']").inner_text() == export["licence"]
