"""The Detection page and the non-party view through FastAPI's test client: each shows what
the JSON API answers (chip balances, exports, inspections, the latest published evaluation),
balances in the shape of ``GET /v1/detect/balances`` are drawn with their limits, and the
detection gauges of ``/metrics`` count inspections and exports (issue 16, item 7)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from pausewatch.api import create_app
from pausewatch.web import _pages
from web.detection_world import REPORT, DetectionWorld, c4_report, period
from web.world import HOSTILE_TEXT, fields, text


@pytest.fixture(scope="module")
def client(detection_world: DetectionWorld) -> TestClient:
    # manage=False: the world's service is started and closed by its own fixture.
    return TestClient(create_app(detection_world.service, manage=False))


def page(client: TestClient, path: str) -> str:
    r = client.get(path)
    assert r.status_code == 200, r.text[:500]
    assert r.headers["content-type"].startswith("text/html")
    return str(r.text)


def api(client: TestClient, path: str, **params: Any) -> Any:
    r = client.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def figure(html: str, chart_id: str) -> dict[str, Any]:
    found = re.search(
        rf'<script type="application/json" id="figure-{re.escape(chart_id)}">(.*?)</script>',
        html,
        re.S,
    )
    assert found is not None, chart_id
    value: dict[str, Any] = json.loads(found[1])
    return value


def table_rows(html: str) -> list[tuple[str, str]]:
    """The per-kind rows of the evaluation's table: (kind, the row's HTML)."""
    return re.findall(r'<tr data-kind="([^"]+)">(.*?)</tr>', html, re.S)


def by_role(fig: dict[str, Any], role: str) -> dict[str, Any]:
    (trace,) = [t for t in fig["data"] if t["meta"]["role"] == role]
    return trace


def test_the_detection_page_is_in_the_navigation(client: TestClient) -> None:
    """Every page links the Detection page, which marks itself as the current one."""
    assert 'href="/ui/detection"' in page(client, "/ui/")
    html = page(client, "/ui/detection")
    assert re.search(r'<a href="/ui/detection" aria-current="page"', html)


def test_chip_balances_per_party_and_operator_are_the_apis(client: TestClient) -> None:
    """Each party's and operator's row shows the figures of GET /v1/detect/chips: here chip-4,
    shipped and never placed, is unaccounted for with its shipment's entry as evidence."""
    chips = api(client, "/v1/detect/chips")
    html = page(client, "/ui/detection")
    accounts = [*chips["parties"], *chips["operators"]]
    assert {(a["scope"], a["id"]) for a in accounts} == {("party", "us"), ("operator", "lab")}
    for account in accounts:
        row = re.search(
            rf'<tr data-account="{account["scope"]}:{account["id"]}"[^>]*>(.*?)</tr>', html, re.S
        )
        assert row is not None
        shown = fields(row[1])
        for name in ("shipped", "installed", "exported", "reporting", "dark"):
            assert shown[f"account-{name}"][0]["text"] == str(account[name]["count"]), name
        assert shown["account-unaccounted"][0]["text"] == "1idschip-4"  # the count, then the ids
        assert account["unaccounted"]["chips"] == ["chip-4"]
        assert f'href="/ui/log/{account["evidence"][0]}"' in row[1]
    assert text(html, "unaccounted-total") == "1 across parties"


def test_exports_are_listed_with_destination_and_entry(
    client: TestClient, detection_world: DetectionWorld
) -> None:
    """The export to a non-party is a row with its chips, destination, entity, licence and log
    entry, and the count at a glance is the API's."""
    html = page(client, "/ui/detection")
    row = re.search(r'<tr data-export="exp-1">(.*?)</tr>', html, re.S)
    assert row is not None
    for shown in ("ZZ", "Elsewhere Compute Ltd", "LIC-0042", "chip-5"):
        assert shown in row[1]
    assert f'href="/ui/log/{detection_world.indices["exp-1"]}"' in row[1]
    assert text(html, "exported-total") == "1"


def test_an_inspection_shows_its_draw_findings_and_seed(
    client: TestClient, detection_world: DetectionWorld
) -> None:
    """plan-1's card shows the chips drawn, found present and missing, each seal, the meter
    read on site, what contradicts the registry and the root that seeded the draw (the view's),
    with the inspection_discrepancy finding; plan-2, unreported, says so."""
    html = page(client, "/ui/detection")
    (report,) = api(client, "/v1/views/inspection_reports")["rows"]
    card = re.search(r'<article class="inspection" data-plan="plan-1">(.*?)</article>', html, re.S)
    assert card is not None
    shown = {name: records[0]["text"] for name, records in fields(card[1]).items()}
    assert shown["plan-sample"] == "chip-2, chip-3"
    assert shown["plan-present"] == "chip-2, ghost-1"
    assert shown["plan-missing"] == "chip-3"
    assert shown["plan-seals"] == "rack-1 broken, rack-2 intact"
    assert shown["plan-meters"].startswith("meter-1: 7.3e+12 J at 2027-03-01 12:00:00Z")
    assert shown["plan-discrepancies"] == "ghost-1: not registered"
    assert shown["plan-drawn"] == "2 of 4 chips installed"
    assert (
        f"tree of size {report['seed_size']}, root {report['seed_root'][:16]}" in shown["plan-seed"]
    )
    assert f'title="{report["seed_root"]}"' in card[1]
    assert shown["plan-result"].startswith("✘ 1 missing, 1 seal(s) broken, 1 discrepancy(ies)")
    assert ">inspection_discrepancy</span>" in card[1]
    other = re.search(r'data-plan="plan-2">(.*?)</article>', html, re.S)
    assert other is not None
    assert "No report yet." in other[1]
    assert text(html, "inspected") == "1 of 2 planned"
    assert text(html, "with-discrepancies") == "1"


def test_the_latest_evaluation_is_the_published_one(client: TestClient) -> None:
    """The evaluation card and table show GET /v1/detect/evaluation: the overall figures, one
    row per kind with every figure the report gave, the seed ranges and corpus digest; the rest
    of the report is shown escaped."""
    published = api(client, "/v1/detect/evaluation")
    assert published["detection_before_completion"] == 0.962
    assert published["fit_seeds"] == "0-199"
    assert published["evaluation_seeds"] == "10000-10299"  # seeds.evaluated
    html = page(client, "/ui/detection")
    found = fields(html)
    assert float(found["eval-detection"][0]["attrs"]["data-value"]) == 0.962
    assert float(found["eval-false-alarms"][0]["attrs"]["data-value"]) == 0.031
    assert text(html, "eval-fit-seeds") == "0-199"
    assert text(html, "eval-seeds") == "10000-10299"
    assert text(html, "eval-corpus") == "ab" * 8
    rows = {k: {n: v[0]["text"] for n, v in fields(tr).items()} for k, tr in table_rows(html)}
    assert list(rows) == list(REPORT["kinds"])
    first = rows["undeclared_training"]
    assert first["eval-runs"] == "40"
    assert first["eval-detection_before_completion"] == "0.975 [0.87, 0.996] (39/40)"
    assert first["eval-median_days_to_detection"] == "1.5 [1, 2]"
    assert first["eval-largest_undetected_flop"] == "—"
    assert rows["diversion_to_non_party"]["eval-largest_undetected_flop"] == "1e+25"
    assert rows["diversion_to_non_party"]["eval-detection_before_completion"] == "—"
    assert text(html, "eval-meets-target") == "yes"
    assert found["eval-detection"][0]["text"] == "96.2% [0.94, 0.977]"
    (cannot,) = found["eval-cannot"]
    assert cannot["text"].startswith("throttled_trainingdetection before completion: 0.7; why: ")
    assert HOSTILE_TEXT in cannot["text"]  # shown as text, never as markup
    assert HOSTILE_TEXT not in html
    assert "&lt;img src=x" in html


def test_the_balances_are_the_apis(client: TestClient) -> None:
    """Facility f1's daily balances on the page are GET /v1/detect/balances': each balance's
    chart plots its values, standardised residuals, limits and CUSUM, its table marks the days
    that alarmed, and the energy_unaccounted finding the alarm filed is shown with it."""
    report = api(client, "/v1/detect/balances")
    html = page(client, "/ui/detection")
    (facility,) = report["facilities"]
    drawn = 0
    for kind, days in facility["balances"].items():
        if not days:
            assert f"figure-balance-f1-{kind}" not in html
            continue
        drawn += 1
        fig = figure(html, f"balance-f1-{kind}")
        assert by_role(fig, "balance")["y"] == [p["value"] for p in days]
        assert by_role(fig, "standardised")["y"] == [p["standardised"] for p in days]
        assert by_role(fig, "one_shot_limit")["y"] == [p["one_shot_limit"] for p in days]
        assert by_role(fig, "cusum")["y"] == [p["cusum"] for p in days]
        assert by_role(fig, "cusum_limit")["y"] == [p["cusum_limit"] for p in days]
        table = re.search(
            rf'<table class="balances" data-balance="{kind}">(.*?)</table>', html, re.S
        )
        assert table is not None
        alarms = [r["text"] for r in fields(table[1])["balance-alarm"]]
        assert alarms == [p["alarm"] or "—" for p in reversed(days)]
    assert drawn >= 1
    alarmed = sum(1 for days in facility["balances"].values() for p in days if p["alarm"])
    assert alarmed >= 1  # the world's meter saw energy no chip reported
    assert text(html, "balance-alarms") == str(alarmed)
    section = re.search(
        r'<article class="facility-balances" data-facility="f1">(.*?)</article>', html, re.S
    )
    assert section is not None
    assert ">energy_unaccounted</span>" in section[1]


def test_balances_are_drawn_with_their_limits_and_cusum(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A facility's energy balance from a report of the C4 shape is charted (the balance with
    its sigma, the standardised residual against the one-shot limit, the CUSUM against h, each
    alarm on the panel of its test, half a day of margin either side) and listed latest first
    with its alarms and evidence; empty balances get no chart."""
    report = c4_report()
    monkeypatch.setattr(_pages, "balance_report", lambda service, at: report)
    html = page(client, "/ui/detection")
    energy = report["facilities"][0]["balances"]["energy"]
    fig = figure(html, "balance-f1-energy")
    assert by_role(fig, "balance")["y"] == [p["value"] for p in energy]
    assert by_role(fig, "balance")["error_y"]["array"] == [p["sigma"] for p in energy]
    assert by_role(fig, "standardised")["y"] == [p["standardised"] for p in energy]
    assert by_role(fig, "one_shot_limit")["y"] == [3.4] * 5
    assert by_role(fig, "one_shot_limit")["yaxis"] == "y2"
    assert by_role(fig, "cusum")["y"] == [p["cusum"] for p in energy]
    assert by_role(fig, "cusum_limit")["y"] == [4.1] * 5
    assert by_role(fig, "cusum")["yaxis"] == "y3"
    marks = {t["meta"]["test"]: t for t in fig["data"] if t["meta"]["role"] == "alarm"}
    assert (marks["one_shot"]["y"], marks["one_shot"]["yaxis"]) == ([4.0], "y2")
    assert (marks["cusum"]["y"], marks["cusum"]["yaxis"]) == ([6.5], "y3")
    assert fig["layout"]["xaxis"]["range"] == [
        "2027-02-28 12:00:00.000000",
        "2027-03-05 12:00:00.000000",
    ]
    assert "figure-balance-f1-compute_energy" not in html
    table = re.search(r'<table class="balances" data-balance="energy">(.*?)</table>', html, re.S)
    assert table is not None
    starts = re.findall(r'<tr data-period="([^"]+)"', table[1])
    assert starts == [p["start"] for p in reversed(energy)]
    assert [r["text"] for r in fields(table[1])["balance-alarm"]] == [
        "cusum",
        "one_shot",
        "—",
        "—",
        "—",
    ]
    assert 'href="/ui/log/5"' in table[1]  # the latest day's evidence entry
    assert text(html, "balance-alarms") == "2"
    assert text(html, "balance-alarms-energy") == "(2 alarm(s) in 5 period(s))"
    assert "plotly.min.js" in html


def test_balance_sections_keep_the_latest_periods_and_count_every_alarm() -> None:
    """Over more periods than the table lists, the table keeps the latest ones, in time order
    from the newest, while the chart and the alarm count take every period."""
    many = [
        period(1 + i % 28, float(i), 0.0, "one_shot" if i in (0, 15) else None)
        for i in range(_pages.TABLE_PERIODS + 6)
    ]
    for i, p in enumerate(many):
        p["start"] = f"2027-{1 + i // 28:02d}-{1 + i % 28:02d}T00:00:00Z"
    report = c4_report()
    report["facilities"][0]["balances"] = {"compute_counters": list(reversed(many))}
    (section,) = _pages.balance_sections(report)
    (kind,) = section["kinds"]
    assert kind["kind"] == "compute_counters"
    assert kind["unit"] == "FLOP"
    assert kind["alarms"] == 2
    assert [p["value"] for p in kind["listed"]] == [float(i) for i in reversed(range(6, 20))]
    assert len(kind["chart"]["figure"]["data"][0]["x"]) == len(many)


def test_the_non_party_view_shows_exports_with_their_evidence(
    client: TestClient, detection_world: DetectionWorld
) -> None:
    """The non-party view shows the export's destination, entity, licence, chips and the
    entries behind it (the chips' shipment, then the export), the chip shipped and never
    placed with its shipment, and the unregistered chip the inspectors found."""
    html = page(client, "/ui/detection/non-parties")
    ship, export = detection_world.indices["ship-1"], detection_world.indices["exp-1"]
    card = re.search(r'<article class="export" data-export="exp-1">(.*?)</article>', html, re.S)
    assert card is not None
    shown = {name: records[0]["text"] for name, records in fields(card[1]).items()}
    assert shown["np-destination"] == "ZZ"
    assert shown["np-entity"] == "Elsewhere Compute Ltd"
    assert shown["np-licence"] == "LIC-0042"
    assert shown["np-chips"] == "chip-5"
    assert shown["np-evidence"].startswith(f"#{ship}, #{export}")
    assert ">chips_exported</span>" in card[1]
    assert ">chips_unaccounted</span>" not in card[1]  # about chip-4, not this export
    assert text(html, "np-exported") == "1"
    assert text(html, "np-destinations") == "ZZ"
    row = re.search(r'<tr data-operator="lab">(.*?)</tr>', html, re.S)
    assert row is not None
    assert fields(row[1])["np-unplaced-chips"][0]["text"] == f"chip-4 (#{ship})"
    assert ">chips_unaccounted</span>" in row[1]
    (unknown,) = fields(html)["np-unknown-row"]
    assert (
        unknown["text"] == f"ghost-1not registeredf1plan-1, #{detection_world.indices['report-1']}"
    )


def test_the_metrics_count_inspections_and_exports(client: TestClient) -> None:
    """/metrics has, per facility, the inspections reported and those that found something
    amiss, and per party the chips exported, beside the chips unaccounted for."""
    scrape = client.get("/metrics").text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scrape)
        for s in family.samples
    }
    assert samples[("pausewatch_inspections", (("facility", "f1"),))] == 1
    assert samples[("pausewatch_inspections_with_discrepancies", (("facility", "f1"),))] == 1
    assert samples[("pausewatch_chips_exported", (("party", "us"),))] == 1
    assert samples[("pausewatch_chips_unaccounted", (("party", "us"),))] == 1


def test_the_roll_ups_are_a_compact_table(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each tested series of an operator's or party's roll-up (contract C8) is one row of the
    roll-up table: scope, id, balance, facilities summed and left out, days, the latest day's
    standardised residual and the alarms; a roll-up with no tested series has no row."""
    report = c4_report()
    monkeypatch.setattr(_pages, "balance_report", lambda service, at: report)
    html = page(client, "/ui/detection")
    section = re.search(r'<section id="rollups">(.*?)</section>', html, re.S)
    assert section is not None
    rows = re.findall(
        r'<tr data-scope="([^"]+)" data-subject="([^"]+)" data-balance="([^"]+)"[^>]*>(.*?)</tr>',
        section[1],
        re.S,
    )
    assert [r[:3] for r in rows] == [("operator", "lab", "energy")]
    found = fields(rows[0][3])
    assert found["rollup-included"][0]["text"] == "2"
    assert found["rollup-excluded"][0]["text"] == "f1"
    assert found["rollup-days"][0]["text"] == "2"
    assert found["rollup-standardised"][0]["text"] == "5.20"
    assert found["rollup-alarms"][0]["text"].startswith("1 (first ")
    assert "0.03 false alarm(s) per operator- or party-year" in section[1]
