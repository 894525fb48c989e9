"""The Deterrence page through FastAPI's test client (issue 18, section 4; docs/adr/0044): it
shows what ``GET /v1/deterrence`` answers at the assumptions its query string holds, in a table
per kind and a chart of margins, with a GET form whose fields are those assumptions; it reads
without JavaScript, invents no kind without an evaluation, and says what was wrong with a bad
parameter."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pausewatch.api import create_app
from web.detection_world import DetectionWorld
from web.world import HOSTILE_TEXT, World, fields, text

PARAMS = {"penalty": "3", "run_days": "45", "detection": "extra_kind:0.4"}


@pytest.fixture(scope="module")
def client(detection_world: DetectionWorld) -> TestClient:
    # manage=False: the world's service is started and closed by its own fixture.
    return TestClient(create_app(detection_world.service, manage=False))


@pytest.fixture(scope="module")
def bare(world: World) -> TestClient:
    """The web world: a policy, no evaluation of the detectors on the log."""
    return TestClient(create_app(world.service, manage=False))


def page(client: TestClient, path: str, status: int = 200, **params: Any) -> str:
    r = client.get(path, params=params)
    assert r.status_code == status, r.text[:500]
    assert r.headers["content-type"].startswith("text/html")
    return str(r.text)


def figure(html: str, chart_id: str) -> dict[str, Any]:
    found = re.search(
        rf'<script type="application/json" id="figure-{re.escape(chart_id)}">(.*?)</script>',
        html,
        re.S,
    )
    assert found is not None, chart_id
    value: dict[str, Any] = json.loads(found[1])
    return value


def kind_rows(html: str) -> dict[str, str]:
    """The per-kind table's rows: kind -> the row's HTML."""
    return dict(re.findall(r'<tr data-kind="([^"]+)" data-source="[^"]+">(.*?)</tr>', html, re.S))


def value(row: str, name: str) -> str:
    found = re.search(rf'data-field="{name}" data-value="([^"]*)"', row)
    assert found is not None, name
    return found[1]


def test_the_deterrence_page_is_in_the_navigation(client: TestClient) -> None:
    """Every page links the Deterrence page, which marks itself as the current one."""
    assert 'href="/ui/deterrence"' in page(client, "/ui/")
    html = page(client, "/ui/deterrence")
    assert re.search(r'<a href="/ui/deterrence" aria-current="page"', html)


def test_each_row_is_the_apis_at_the_same_assumptions(client: TestClient) -> None:
    """Each kind's detection, required detection, margin and verdict on the page are those
    GET /v1/deterrence answers at the query's assumptions, the transcript row included, and
    the evaluation's kind without a figure is listed without a verdict."""
    answer = client.get("/v1/deterrence", params=PARAMS).json()
    html = page(client, "/ui/deterrence", **PARAMS)
    rows = kind_rows(html)
    expected = [*answer["rows"], answer["transcript"]]
    assert list(rows) == [r["kind"] for r in expected]
    for r in expected:
        row = rows[r["kind"]]
        if r["detection"] is None:
            assert value(row, "det-detection") == ""
            assert value(row, "det-deterred") == "None"
            continue
        assert float(value(row, "det-detection")) == r["detection"]
        assert float(value(row, "det-required")) == r["required_detection"]
        assert float(value(row, "det-margin")) == r["margin"]
        assert value(row, "det-deterred") == str(r["deterred"])
    # The measured kind shows its interval and its verdict at the lower bound.
    measured = rows["undeclared_training"]
    assert "[0.870, 0.996]" in measured
    assert 'data-field="det-deterred-low"' in measured
    assert "the evaluation gives no detection figure" in rows["diversion_to_non_party"]
    assert "detection given as a parameter" in rows["extra_kind"]
    # The API link carries the same assumptions.
    assert "/v1/deterrence?penalty=3" in html


def test_the_form_is_a_get_whose_fields_are_the_assumptions(client: TestClient) -> None:
    """The form submits by GET to the page, one field per assumption holding the value in
    force (the query's where given, else the default), each with its default and meaning."""
    html = page(client, "/ui/deterrence", **PARAMS)
    assert '<form method="get" action="/ui/deterrence"' in html
    inputs = dict(re.findall(r'<input id="param-[^"]+" name="([^"]+)" value="([^"]*)"', html))
    assert inputs == {
        "gain": "1",
        "penalty": "3",
        "false_alarm_cost": "0.5",
        "run_days": "45",
        "false_alarms": "",
        "forged_fraction": "0.1",
        "transcript_budget": "0.05",
        "transcript_segments": "200",
        "detection": "extra_kind:0.4",
    }
    assert "over 45 days" in text(html, "det-false-alarms")
    # A value keeps its digits through the form, so a resubmission recomputes the same page.
    exact = page(client, "/ui/deterrence", penalty="654321.5", detection="k:0.123456789")
    assert 'name="penalty" value="654321.5"' in exact
    assert 'name="detection" value="k:0.123456789"' in exact
    assert "measured by the evaluation" in text(html, "det-false-alarms")


def test_the_chart_plots_the_apis_margins(client: TestClient) -> None:
    """The chart's margin bars, lower-bound markers and zero line carry meta.role, and its
    figures are the API's; kinds without a figure are left out of it."""
    answer = client.get("/v1/deterrence", params=PARAMS).json()
    fig = figure(page(client, "/ui/deterrence", **PARAMS), "deterrence-margins")
    roles = {t["meta"]["role"]: t for t in fig["data"]}
    assert set(roles) == {"margin", "margin_low", "threshold"}
    judged = [r for r in [*answer["rows"], answer["transcript"]] if r["margin"] is not None]
    assert roles["margin"]["x"] == [r["kind"] for r in judged]
    assert roles["margin"]["y"] == [r["margin"] for r in judged]
    assert roles["margin_low"]["x"] == ["undeclared_training"]
    assert roles["margin_low"]["y"] == [answer["rows"][0]["margin_low"]]
    assert roles["threshold"]["y"] == [0.0, 0.0]


def test_the_page_reads_without_javascript(client: TestClient) -> None:
    """Every figure is in the table; the chart says it needs JavaScript in a noscript, and
    the page does not reload itself unless asked (a reload would wipe a form being edited)."""
    html = page(client, "/ui/deterrence")
    assert "<noscript>" in html
    assert "http-equiv" not in html
    assert 'content="30"' in page(client, "/ui/deterrence", refresh="30")


def test_a_bad_parameter_is_said_and_the_defaults_shown(client: TestClient) -> None:
    """A parameter out of range is named on a 422 page that shows the analysis at the
    defaults."""
    html = page(client, "/ui/deterrence", status=422, penalty="-2")
    assert "penalty" in text(html, "deterrence-error")
    assert 'name="penalty" value="1"' in html
    html = page(client, "/ui/deterrence", status=422, detection="no-colon")
    assert "detection" in text(html, "deterrence-error")


def test_without_an_evaluation_no_kind_is_invented(bare: TestClient) -> None:
    """With no evaluation on the log the page says so and judges only the transcript row
    (the draw's theory) and the kinds given a figure; a kind's name is shown as text."""
    html = page(bare, "/ui/deterrence")
    assert "No evaluation of the detectors is on the log" in text(html, "det-evaluation")
    assert list(kind_rows(html)) == ["transcript_forgery"]
    assert "stated rate" in text(html, "det-false-alarms")
    given = page(bare, "/ui/deterrence", detection=f"{HOSTILE_TEXT}:0.9")
    assert next(iter(kind_rows(given))) == HOSTILE_TEXT.replace("&", "&amp;").replace(
        "<", "&lt;"
    ).replace(">", "&gt;").replace('"', "&#34;")
    assert "<img src=x" not in given
    row = [f for f in fields(given)["det-detection"]]
    assert row[0]["attrs"]["data-value"] == "0.9"


def test_a_parameter_given_twice_is_refused(client: TestClient) -> None:
    """A query that gives one assumption twice (gain=1&gain=2) is refused on a 422 page
    naming it: the page never picks one of two values silently."""
    response = client.get("/ui/deterrence?gain=1&gain=2")
    assert response.status_code == 422, response.text
    assert "gain" in response.text
    assert "given twice" in response.text


@pytest.mark.parametrize(
    ("query", "name"),
    [("gain=nan", "gain"), ("run_days=inf", "run_days"), ("detection=split_run:nan", "detection")],
)
def test_a_number_that_is_not_finite_is_said_so_on_the_page(
    client: TestClient, query: str, name: str
) -> None:
    """nan or an infinity in the form is named as not a finite number, not as out of range."""
    response = client.get(f"/ui/deterrence?{query}")
    assert response.status_code == 422, response.text
    assert name in response.text
    assert "finite" in response.text
