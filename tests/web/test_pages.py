"""The dashboard's pages through FastAPI's test client: each is HTML showing what the JSON API
answers, a missing thing is a 404 page, and every string from the log is escaped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pausewatch.api import create_app
from pausewatch.compute import COUNTER_TOLERANCE
from pausewatch.service import LogService
from pausewatch.settings import Settings
from web.world import (
    HOSTILE_NAME,
    HOSTILE_SOURCE,
    HOSTILE_TEXT,
    World,
    fields,
    text,
)

PAGES = [
    "/ui/",
    "/ui/runs",
    "/ui/facilities",
    "/ui/governance",
    "/ui/evaluations",
    "/ui/log",
]


@pytest.fixture(scope="module")
def client(world: World) -> TestClient:
    # manage=False: the world's service is started and closed by its own fixture.
    return TestClient(create_app(world.service, manage=False))


def page(client: TestClient, path: str, status: int = 200) -> str:
    r = client.get(path)
    assert r.status_code == status, r.text[:500]
    assert r.headers["content-type"].startswith("text/html")
    return str(r.text)


def api(client: TestClient, path: str, **params: Any) -> Any:
    r = client.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("path", PAGES)
def test_every_page_is_html_with_the_navigation(client: TestClient, path: str) -> None:
    """Each page answers 200 HTML with the navigation bar, a reload tag and a strict CSP."""
    r = client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in r.headers["content-security-policy"]
    for href in ("/ui/", "/ui/runs", "/ui/facilities", "/ui/governance", "/ui/log"):
        assert f'href="{href}"' in r.text
    assert '<meta http-equiv="refresh" content="10">' in r.text
    assert 'aria-current="page"' in r.text


def test_refresh_can_be_stopped_or_slowed(client: TestClient) -> None:
    """``?refresh=0`` drops the reload tag; a tiny interval is raised to the minimum."""
    assert "http-equiv" not in page(client, "/ui/?refresh=0")
    assert 'content="5"' in page(client, "/ui/?refresh=1")
    assert 'content="60"' in page(client, "/ui/log?refresh=60")


def test_root_redirects_to_the_dashboard(client: TestClient) -> None:
    """``/`` and ``/ui`` lead to ``/ui/``."""
    for path in ("/", "/ui"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 307
        assert r.headers["location"] == "/ui/"


def test_pages_are_not_in_the_openapi_schema(client: TestClient) -> None:
    """The schema documents the JSON API only."""
    paths = api(client, "/openapi.json")["paths"]
    assert "/v1/pause" in paths
    assert not [p for p in paths if p == "/" or p.startswith("/ui")]


def test_overview_shows_the_pause_as_the_api(client: TestClient) -> None:
    """Status, dates and renewals are those of ``GET /v1/pause``; a countdown is in place."""
    html = page(client, "/ui/")
    pause = api(client, "/v1/pause")
    found = fields(html)
    assert text(html, "pause-status") == pause["status"] == "active"
    started = found["pause-started"][0]["text"]
    assert started == pause["started_at"].replace("T", " ")[:19] + "Z"
    assert f'datetime="{pause["expires_at"]}"' in html
    assert text(html, "pause-renewals") == str(pause["renewals"])
    left = found["pause-left"][0]["attrs"]["data-seconds-left"]
    assert float(left) == pytest.approx(pause["seconds_left"], abs=5)
    assert len(found["lift-condition"]) == len(pause["lift_conditions"]) == 2


def test_overview_shows_the_policy_and_the_findings_as_the_api(client: TestClient) -> None:
    """Policy id, version and digest, and the count per severity, are ``GET /v1/findings``'s."""
    html = page(client, "/ui/")
    findings = api(client, "/v1/findings", limit=1000)
    assert text(html, "policy-id") == findings["policy"]["id"] == "web-test"
    assert text(html, "policy-version") == findings["policy"]["version"]
    assert text(html, "policy-digest") == findings["policy"]["digest"]
    for severity in ("critical", "serious", "warning", "notice", "info"):
        assert text(html, f"count-{severity}") == str(findings["summary"][severity])
    assert text(html, "total-findings") == str(findings["total_findings"])
    shown = fields(html)["finding"]
    assert len(shown) == min(10, findings["total_findings"])
    assert shown[0]["text"].startswith("critical")


def test_overview_shows_each_partys_last_vote(client: TestClient) -> None:
    """Each party's row names its latest ballot on the log, or says it has not voted."""
    html = page(client, "/ui/")
    ballots = api(client, "/v1/views/ballots", limit=1000)["rows"]
    rows = {r["attrs"]["data-party"]: r for r in fields(html)["party"]}
    assert set(rows) == {p["party_id"] for p in api(client, "/v1/views/parties")["rows"]}
    for party, row in rows.items():
        mine = [b for b in ballots if b["party_id"] == party]
        if not mine:
            assert "no vote yet" in row["text"]
            continue
        last = max(mine, key=lambda b: b["idx"])
        assert f"{last['choice']} on {last['proposal_id']}" in row["text"]
        assert f"#{last['idx']}" in row["text"]


def test_overview_groups_positions_with_their_sources(client: TestClient) -> None:
    """Who backs the moratorium and who does not, each with its source."""
    html = page(client, "/ui/")
    positions = api(client, "/v1/views/positions")["rows"]
    for stance in ("backs", "opposes", "undeclared"):
        count = sum(1 for p in positions if p["stance"] == stance)
        assert text(html, f"positions-{stance}-count") == str(count)
    assert 'href="https://example.org/us-statement"' in html
    assert "United Kingdom" in html


def test_hostile_strings_are_escaped(client: TestClient) -> None:
    """A party name, a position source and a proposal text from the log are shown as text,
    never as markup or a link."""
    overview = page(client, "/ui/")
    assert HOSTILE_NAME not in overview
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in overview
    assert HOSTILE_NAME in [r["text"] for r in fields(overview)["party-name"]]
    assert f'href="{HOSTILE_SOURCE}"' not in overview
    assert HOSTILE_SOURCE in [r["text"] for r in fields(overview)["position-source"]]
    proposal = page(client, "/ui/governance/renew-1")
    assert "<img" not in proposal
    assert text(proposal, "text") == " ".join(HOSTILE_TEXT.split())


def test_runs_list_the_measured_compute_of_the_api(client: TestClient, world: World) -> None:
    """Planned and measured compute per run are those of ``GET /v1/runs/{id}``."""
    html = page(client, "/ui/runs")
    report = api(client, f"/v1/runs/{world.run_id}")
    found = fields(html)
    assert float(found["planned"][0]["attrs"]["data-value"]) == report["run"]["planned_flop"]
    measured = float(found["measured"][0]["attrs"]["data-value"])
    assert measured == report["measured"]["counted_flop"] > 0


def test_a_run_page_shows_report_tiers_and_chart(client: TestClient, world: World) -> None:
    """A run's page shows its report's figures, the policy's tiers and a chart whose measured
    point and projection are the report's."""
    html = page(client, f"/ui/runs/{world.run_id}")
    report = api(client, f"/v1/runs/{world.run_id}")
    found = fields(html)
    assert text(html, "run-id") == world.run_id
    assert float(found["measured"][0]["attrs"]["data-value"]) == report["measured"]["counted_flop"]
    assert text(html, "chip-windows") == str(report["measured"]["chip_windows"])
    tiers = {t["attrs"]["data-tier"]: float(t["attrs"]["data-value"]) for t in found["tier"]}
    assert tiers["prohibited"] == 1e24
    assert tiers["monitor"] == 1e22
    figure = _figure(html, "run")
    roles = {t["meta"]["role"]: t for t in figure["data"]}
    assert roles["measured"]["y"] == [report["measured"]["counted_flop"]]
    projection = report["projection"]
    assert projection is not None
    assert roles["projection"]["y"][-1] == projection["threshold_flop"]
    assert roles["projection"]["meta"]["expected"] == projection["expected"]


def test_a_run_page_shows_the_interval_of_counter_figures(client: TestClient, world: World) -> None:
    """A run's page shows its counted compute's interval (the counters' ±2%, never ±0%) and its
    projection's pace interval, as the report gives them."""
    html = page(client, f"/ui/runs/{world.run_id}")
    report = api(client, f"/v1/runs/{world.run_id}")
    found = fields(html)
    [interval] = found["measured-interval"]
    assert float(interval["attrs"]["data-low"]) == report["measured"]["counted_flop_low"]
    assert float(interval["attrs"]["data-high"]) == report["measured"]["counted_flop_high"]
    assert "±2%" in interval["text"]
    [pace] = found["projection-pace"]
    assert float(pace["attrs"]["data-low"]) == report["projection"]["rate_low"]
    assert float(pace["attrs"]["data-high"]) == report["projection"]["rate_high"]
    assert report["projection"]["rate_low"] < report["projection"]["rate_high"]
    assert "(telemetry, ±0%)" not in html


def test_undeclared_compute_shows_its_counter_interval(client: TestClient) -> None:
    """A cluster's undeclared compute, counted by its chips, is shown with the counters' ±2%."""
    found = fields(page(client, "/ui/facilities"))
    [shown] = [r for r in found["undeclared"][1:] if float(r["attrs"]["data-value"]) > 0]
    [interval] = found["undeclared-interval"]
    value = float(shown["attrs"]["data-value"])
    assert float(interval["attrs"]["data-low"]) == pytest.approx(value * (1 - COUNTER_TOLERANCE))
    assert float(interval["attrs"]["data-high"]) == pytest.approx(value * (1 + COUNTER_TOLERANCE))


def test_facilities_show_the_accounting_of_the_state(client: TestClient) -> None:
    """Chips installed per cluster are the chips view's; dark chips and coverage are the
    figures the lift conditions test."""
    html = page(client, "/ui/facilities")
    chips = api(client, "/v1/views/chips", limit=1000)["rows"]
    pause = api(client, "/v1/pause")
    state = {c["fact"]: c["actual"] for c in pause["lift_conditions"]}
    found = fields(html)
    assert text(html, "chips-installed") == str(sum(c["status"] == "installed" for c in chips))
    assert float(found["dark-chips"][0]["attrs"]["data-value"]) == state["dark_chips"]
    coverage = float(found["monitoring-coverage"][0]["attrs"]["data-value"])
    assert coverage == state["monitoring_coverage"]
    per_cluster = {c["cluster_id"]: 0 for c in chips}
    for c in chips:
        per_cluster[c["cluster_id"]] += c["status"] == "installed"
    shown = [int(r["text"]) for r in found["installed"]]
    assert sorted(shown) == sorted(per_cluster.values())
    undeclared = [float(r["attrs"]["data-value"]) for r in found["undeclared"][1:]]
    assert max(undeclared) > 0  # cluster c2 trained under no declared run


def test_governance_lists_proposals_with_their_outcomes(client: TestClient) -> None:
    """Every proposal of ``GET /v1/proposals`` with its status and outcome."""
    html = page(client, "/ui/governance")
    rows = api(client, "/v1/proposals")["rows"]
    assert text(html, "pause-status") == api(client, "/v1/pause")["status"]
    statuses = [r["text"] for r in fields(html)["status"]]
    assert statuses == [r["status"] for r in rows]
    outcomes = [r["text"] for r in fields(html)["outcome"]]
    for row, shown in zip(rows, outcomes, strict=True):
        word = {None: "pending", True: "passed", False: "failed"}[row["passed"]]
        assert shown.startswith(word)


def test_a_proposal_shows_its_tally_and_reason(client: TestClient, world: World) -> None:
    """Ballots, tally and reason are ``GET /v1/proposals/{id}``'s."""
    html = page(client, f"/ui/governance/{world.pause_id}")
    report = api(client, f"/v1/proposals/{world.pause_id}")
    tally = report["outcome"]["tally"]
    for name in ("members", "yes", "no", "abstain"):
        assert text(html, name) == str(tally[name])
    assert text(html, "reason") == report["outcome"]["reason"]
    assert len(fields(html)["ballot"]) == len(report["ballots"]) == 3
    assert text(html, "passed") == "passes"


def test_a_halt_order_shows_what_the_telemetry_says_of_it(client: TestClient, world: World) -> None:
    """A decided halt order carries its status from the telemetry, as the API's ``order``."""
    report = api(client, f"/v1/proposals/{world.halt_id}")
    order = report["order"]
    assert order is not None
    assert order["status"] in {"pending", "confirmed", "violated", "unacknowledged", "silent"}
    html = page(client, f"/ui/governance/{world.halt_id}")
    assert text(html, "order-status").startswith(order["status"])
    assert api(client, f"/v1/proposals/{world.pause_id}")["order"] is None


def test_a_lift_shows_which_conditions_held_with_figures(client: TestClient, world: World) -> None:
    """A failed lift names each condition, the state's figure at the close and whether it
    held, as ``GET /v1/proposals/{id}``'s outcome does."""
    html = page(client, f"/ui/governance/{world.lift_id}")
    outcome = api(client, f"/v1/proposals/{world.lift_id}")["outcome"]
    assert outcome["passed"] is False
    assert text(html, "passed") == "does not pass"
    assert "lift conditions did not hold" in text(html, "reason")
    rows = fields(html)["condition"]
    assert len(rows) == len(outcome["conditions"]) == 2
    actual = [r["text"] for r in fields(html)["actual"]]
    assert actual == [str(c["actual"]) for c in outcome["conditions"]]
    assert html.count('data-held="false"') == sum(not c["held"] for c in outcome["conditions"])


def test_evaluations_show_results_against_the_levels(client: TestClient) -> None:
    """Each result's values, and the alert and critical lines less the buffer."""
    html = page(client, "/ui/evaluations")
    results = api(client, "/v1/views/eval_results")["rows"]
    assert text(html, "total-results") == str(len(results))
    found = fields(html)
    alerts = [float(a["attrs"]["data-value"]) for a in found["alert-line"]]
    criticals = [float(a["attrs"]["data-value"]) for a in found["critical-line"]]
    assert alerts[0] == pytest.approx(0.45)  # miri-2025: 0.5 less the 0.05 buffer
    assert criticals[0] == pytest.approx(0.75)
    figure = _figure(html, "eval-1-1")
    values = [
        m["value"]
        for r in sorted(results, key=lambda r: r["idx"])
        if r["domain"] == "ai_rnd_automation"
        for m in json.loads(r["metrics"])
    ]
    assert figure["data"][0]["y"] == values
    assert [s["y0"] for s in figure["layout"]["shapes"]] == pytest.approx([0.45, 0.75])
    assert "sandbox died" in html
    assert "pausewatch/repair_training_run v1" in html  # the adopted suite


def test_evaluations_mark_advisory_results_with_the_reason(client: TestClient) -> None:
    """A result outside any adopted suite is marked advisory with the policy's reason; the
    adopted suite's results on the declared model count (docs/adr/0021)."""
    html = page(client, "/ui/evaluations")
    marks = [c["attrs"]["data-counts"] for c in fields(html)["counts"]]
    # r1 and r2: the adopted ai_rnd_automation probe; r3: self_improvement has no suite.
    assert sorted(marks) == ["false", "true", "true"]
    assert "no suite is adopted for self_improvement" in html


def test_the_log_page_shows_the_checkpoint_and_its_cosignature(
    client: TestClient, world: World
) -> None:
    """The latest checkpoint verifies, with the witness's cosignature; entries are listed."""
    html = page(client, "/ui/log")
    info = api(client, "/v1/log")
    assert text(html, "checkpoint-size") == str(info["size"])
    assert text(html, "checkpoint-root") == info["root_hash"]
    assert "verified" in text(html, "checkpoint-verified")
    cosigs = fields(html)["cosignature"]
    assert [c["attrs"]["data-witness"] for c in cosigs] == [world.witness.name]
    assert text(html, "witnessed").startswith("yes")
    assert text(html, "log-total") == str(info["size"])
    assert f'href="/ui/log/{info["size"] - 1}"' in html


def test_an_entry_shows_its_proof_verified(client: TestClient) -> None:
    """The proof hashes are ``GET /v1/proofs/inclusion``'s, and the page marks it verified."""
    html = page(client, "/ui/log/3")
    size = int(text(html, "proof-size"))
    proof = api(client, "/v1/proofs/inclusion", index=3, size=size)
    shown = [h["text"] for h in fields(html)["proof-hash"]]
    assert shown == proof["proof"]
    assert text(html, "proof-root") == proof["root_hash"]
    assert text(html, "proof-verified") == "✔ verified"
    assert text(html, "signature-verified") == "✔ verified"
    assert text(html, "leaf-hash") == api(client, "/v1/entries/3")["leaf_hash"]


@pytest.mark.parametrize(
    "path",
    [
        "/ui/runs/no-such-run",
        "/ui/governance/no-such-proposal",
        "/ui/log/999999",
        "/ui/log/not-a-number",
        "/ui/no-such-page",
        "/ui/static/no-such.css",
    ],
)
def test_missing_things_are_a_404_page(client: TestClient, path: str) -> None:
    """What does not exist is a 404 HTML page that says why."""
    html = page(client, path, status=404)
    assert text(html, "error")
    assert 'href="/ui/"' in html


def test_plotly_is_served_from_the_package_with_long_caching(client: TestClient) -> None:
    """plotly.js comes from the installed ``plotly`` package, gzipped, cached for a year."""
    from plotly.offline import get_plotlyjs

    r = client.get("/ui/static/plotly.min.js", headers={"accept-encoding": "gzip"})
    assert r.status_code == 200
    assert "max-age=31536000" in r.headers["cache-control"]
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.content == get_plotlyjs().encode()  # httpx undid the gzip
    assert r.headers["content-encoding"] == "gzip"
    plain = client.get("/ui/static/plotly.min.js", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    again = client.get("/ui/static/plotly.min.js", headers={"if-none-match": r.headers["etag"]})
    assert again.status_code == 304
    css = client.get("/ui/static/style.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")


def test_pages_over_an_empty_log(tmp_path: Path) -> None:
    """With no policy and no entry, every page still answers and says what is missing."""
    service = LogService(Settings(data_dir=tmp_path, batch_latency_ms=1, clerk_interval_s=0))
    with TestClient(create_app(service)) as empty:  # starts and closes the service
        for path in PAGES:
            page(empty, path)
        overview = page(empty, "/ui/")
        assert text(overview, "pause-status") == "none"
        assert "No policy is in force" in overview
        assert "no checkpoint" in text(page(empty, "/ui/log"), "checkpoint-problem")
        page(empty, "/ui/log/0", status=404)


def _figure(html: str, chart_id: str) -> dict[str, Any]:
    """The plotly figure embedded for chart ``chart_id``."""
    marker = f'<script type="application/json" id="figure-{chart_id}">'
    start = html.index(marker) + len(marker)
    figure: dict[str, Any] = json.loads(html[start : html.index("</script>", start)])
    return figure


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/ui/runs?offset=%C2%B2", 200),  # '²' is a digit to str.isdigit, not to int()
        ("/ui/log?start=%C2%B2", 200),
        ("/ui/log/%C2%B2", 404),
        ("/ui/governance?offset=" + "9" * 5000, 200),
    ],
)
def test_odd_numbers_in_queries_are_not_server_errors(
    client: TestClient, path: str, status: int
) -> None:
    assert client.get(path).status_code == status


def test_a_template_is_loaded_once_and_not_checked_against_its_file_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The templates ship in the package: a page rendered again reads no file and asks the file
    system nothing (the check cost a tenth of a page's time under ingest; docs/adr/0056)."""
    import os.path

    from pausewatch.web.routes import _environment

    env = _environment()
    env.get_template("base.html")
    asked: list[str] = []
    for name in ("isfile", "getmtime", "exists"):
        real = getattr(os.path, name)
        monkeypatch.setattr(
            os.path, name, lambda p, _real=real, _name=name: asked.append(_name) or _real(p)
        )
    env.get_template("base.html")
    assert asked == []
