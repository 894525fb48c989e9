"""The Deterrence page in a real browser (Debian's Chromium through Playwright, the fixtures of
:mod:`web.test_browser`) against a real uvicorn server over the detection world: the chart of
margins draws the API's figures, and submitting the form recomputes the page at the assumptions
it holds, which are then the query string."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from pausewatch.api import create_app
from web.detection_world import DetectionWorld
from web.test_browser import (  # noqa: F401 (fixtures, registered by their import)
    FIGURE,
    api,
    browser,
    context,
    floats,
    page,
    served,
    visit,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def deterrence_url(detection_world: DetectionWorld) -> Iterator[str]:
    """A uvicorn server over the detection world (one published evaluation)."""
    app = create_app(detection_world.service, manage=False)
    with served(app, "deterrence-test-server") as url:
        yield url


def test_the_margin_chart_plots_the_apis_figures(
    page: Page,  # noqa: F811 (the imported fixture)
    deterrence_url: str,
) -> None:
    """Plotly draws each judged kind's margin and the lower bound's margin with exactly the
    figures GET /v1/deterrence answers."""
    visit(page, deterrence_url, "/ui/deterrence", charts=True)
    answer = api(deterrence_url, "/v1/deterrence")
    judged = [r for r in [*answer["rows"], answer["transcript"]] if r["margin"] is not None]
    figure = page.evaluate(FIGURE, "chart-deterrence-margins")
    traces = {t["meta"]["role"]: t for t in figure["data"]}
    assert traces["margin"]["x"] == [r["kind"] for r in judged]
    assert floats(traces["margin"]["y"]) == [r["margin"] for r in judged]
    assert floats(traces["margin_low"]["y"]) == [
        r["margin_low"] for r in judged if r["margin_low"] is not None
    ]
    assert page.locator("[id='chart-deterrence-margins'] .main-svg").count() > 0


def test_the_form_recomputes_at_the_assumptions_it_submits(
    page: Page,  # noqa: F811 (the imported fixture)
    deterrence_url: str,
) -> None:
    """Changing the sanction and adding a kind's figure in the form and submitting it puts
    them in the query string, and the table then shows the API's figures at them."""
    visit(page, deterrence_url, "/ui/deterrence")
    page.fill("#param-penalty", "0.2")
    page.fill("#param-detection", "extra_kind:0.6")
    with page.expect_navigation():
        page.click("button[type='submit']")
    assert "penalty=0.2" in page.url
    assert "detection=extra_kind%3A0.6" in page.url
    answer = api(deterrence_url, "/v1/deterrence", penalty=0.2, detection="extra_kind:0.6")
    for r in answer["rows"]:
        if r["detection"] is None:
            continue
        row = page.locator(f"tr[data-kind='{r['kind']}']")
        required = row.locator("[data-field='det-required']").get_attribute("data-value")
        assert required is not None
        assert float(required) == r["required_detection"]
        verdict = row.locator("[data-field='det-deterred']").get_attribute("data-value")
        assert verdict == str(r["deterred"])
    assert page.locator("tr[data-kind='extra_kind']").count() == 1
    assert page.locator("#param-penalty").input_value() == "0.2"
