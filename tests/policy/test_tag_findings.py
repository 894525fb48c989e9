"""Findings on the consistency of tags (issue 16 item 3; docs/adr/0028): ``tag_mismatch`` and
``split_run_suspected``, through the evaluator with facts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pausewatch.policy import load_preset
from pausewatch.policy._evaluate import evaluate
from pausewatch.policy._facts import Facts
from pausewatch.policy._findings import Finding, FindingKind, Severity
from pausewatch.policy._model import Action, Tier

AT = datetime(2026, 12, 10, tzinfo=UTC)
MIRI = load_preset("miri-2025")
HP = "a" * 64


def found(kind: FindingKind, *runs: dict[str, Any]) -> list[Finding]:
    result = evaluate(MIRI, Facts.model_validate({"runs": list(runs)}), AT)
    return [f for f in result.findings if f.kind is kind]


def run(run_id: str, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": run_id,
        "operator": "lab",
        "party": "us",
        "cluster": "c1",
        "facility": "f1",
        "model": f"m-{run_id}",
        "phase": "pretraining",
        "declared": {"value": 1e21},
        "status": "running",
        "starts_at": "2026-12-01T00:00:00Z",
        "ends_at": "2026-12-20T00:00:00Z",
        "hyperparameters_digest": _digest(f"hp {run_id}"),
        "data_order_seed_digest": _digest(f"seed {run_id}"),
        "evidence": [f"log:{len(run_id)}"],
    }
    base.update(over)
    return base


def _digest(tag: str) -> str:
    return (tag.encode().hex() * 64)[:64]


def test_chips_outside_the_declared_list_are_a_warning_below_the_material_share() -> None:
    """A run whose records came from a chip its declaration does not name, one chip in twenty,
    is a warning naming the chip, the share and the log entries."""
    chips = [f"g{i:02d}" for i in range(20)]
    (f,) = found(
        FindingKind.TAG_MISMATCH,
        run(
            "r1",
            declared_chips=chips[:19],
            chips=chips,
            clusters=["c1"],
        ),
    )
    assert (f.subject, f.severity) == ("run:r1", Severity.WARNING)
    assert "1 of its 20 reporting chip(s) (5%) not among the 19 its declaration names (g19)" in (
        f.explanation
    )
    assert f.evidence == ("log:2",)
    assert dict(f.figures)["foreign_chips"] == 1


def test_a_material_share_of_foreign_chips_is_serious() -> None:
    """From a tenth of the run's reporting chips outside its declared list, the mismatch is
    serious."""
    chips = [f"g{i:02d}" for i in range(10)]
    (f,) = found(
        FindingKind.TAG_MISMATCH,
        run(
            "r1",
            declared_chips=chips[:9],
            chips=chips,
            clusters=["c1"],
        ),
    )
    assert f.severity is Severity.SERIOUS
    assert dict(f.figures)["foreign_share"] == 0.1


def test_records_from_an_undeclared_cluster_are_serious() -> None:
    """Compute tagged to a run from a cluster other than its declared one is serious and names
    that cluster."""
    (f,) = found(
        FindingKind.TAG_MISMATCH,
        run(
            "r1",
            chips=["g1", "h1"],
            clusters=["c1", "c2"],
        ),
    )
    assert f.severity is Severity.SERIOUS
    assert "cluster(s) c2 besides its declared cluster c1" in f.explanation


def test_records_from_the_declared_chips_only_raise_nothing() -> None:
    """A run whose records came only from its declared cluster and chips has no mismatch."""
    assert not found(
        FindingKind.TAG_MISMATCH,
        run(
            "r1",
            declared_chips=["g1", "g2"],
            chips=["g1", "g2"],
            clusters=["c1"],
        ),
    )


def split(**over: Any) -> list[dict[str, Any]]:
    a = run(
        "ra",
        declared={"value": 6e23},
        hyperparameters_digest=HP,
        data_order_seed_digest=_digest("a"),
    )
    b = run(
        "rb",
        cluster="c2",
        facility="f2",
        declared={"value": 6e23},
        hyperparameters_digest=HP,
        data_order_seed_digest=_digest("b"),
    )
    b.update(over)
    return [a, b]


def test_runs_with_one_set_of_hyper_parameters_split_under_the_prohibition_are_suspected() -> None:
    """Two overlapping runs of one party on two clusters, distinct models, the same declared
    hyper-parameters, each under the prohibition and above it together: a serious
    ``split_run_suspected`` on the party that asks for an inspection."""
    (f,) = found(FindingKind.SPLIT_RUN_SUSPECTED, *split())
    assert (f.subject, f.severity, f.action, f.tier) == (
        "party:us",
        Severity.SERIOUS,
        Action.INSPECTION,
        Tier.PROHIBITED,
    )
    assert "runs ra, rb" in f.explanation
    assert "clusters c1 (facility f1), c2 (facility f2)" in f.explanation
    assert "same hyper-parameters" in f.explanation
    assert dict(f.figures)["flop"] == 1.2e24
    assert dict(f.figures)["threshold"] == 1e24
    assert dict(f.figures)["basis"] == "recipe"


def test_runs_of_two_operators_of_one_party_sharing_a_data_order_are_suspected() -> None:
    """The same data-order seed links runs of two operators of one party as well."""
    (f,) = found(
        FindingKind.SPLIT_RUN_SUSPECTED,
        *split(
            operator="lab2",
            hyperparameters_digest=_digest("z"),
            data_order_seed_digest=_digest("a"),
        ),
    )
    assert f.subject == "party:us"
    assert "same data order" in f.explanation
    assert dict(f.figures)["basis"] == "recipe"


def test_runs_that_do_not_overlap_share_nothing_or_differ_in_party_are_not_linked() -> None:
    """No suspicion when the windows do not overlap, when the parties differ, or when one
    cluster runs both; and no recipe link when nothing declared coincides (such runs are
    weighed by the structuring link instead, docs/adr/0034)."""
    later = {"starts_at": "2026-12-20T00:00:00Z", "ends_at": "2026-12-30T00:00:00Z"}
    for over in (later, {"party": "uk"}, {"cluster": "c1"}):
        assert not found(FindingKind.SPLIT_RUN_SUSPECTED, *split(**over)), over
    unshared = found(FindingKind.SPLIT_RUN_SUSPECTED, *split(hyperparameters_digest=_digest("z")))
    assert [dict(f.figures)["basis"] for f in unshared] == ["structuring"]


def test_a_group_already_above_the_tier_alone_is_not_suspected() -> None:
    """A tier one run crosses alone is that run's finding, not a split's."""
    assert not found(FindingKind.SPLIT_RUN_SUSPECTED, *split(declared={"value": 2e24}))


def pieces(count: int, size: float, **over: Any) -> list[dict[str, Any]]:
    """``count`` runs of one party, each of ``size`` FLOP planned, each on its own cluster and
    facility, alternately of two operators, each declaring its own recipe, all started
    together (``over`` changes the last)."""
    out = [
        run(
            f"p{n}",
            operator="lab" if n % 2 == 0 else "lab2",
            cluster=f"c{n}",
            facility=f"f{n}",
            declared={"value": size},
        )
        for n in range(count)
    ]
    out[-1].update(over)
    return out


def test_pieces_with_their_own_recipes_just_under_the_prohibition_are_structuring() -> None:
    """Three runs of one party on three clusters, each declaring its own recipe, each at 45%
    of the prohibition, started together and alike in size, 1.35e24 together: a serious
    ``split_run_suspected`` on the party, basis structuring, asking for an inspection."""
    (f,) = found(FindingKind.SPLIT_RUN_SUSPECTED, *pieces(3, 4.5e23))
    assert (f.subject, f.severity, f.action, f.tier) == (
        "party:us",
        Severity.SERIOUS,
        Action.INSPECTION,
        Tier.PROHIBITED,
    )
    figures = dict(f.figures)
    assert figures["basis"] == "structuring"
    assert figures["runs"] == 3
    assert figures["flop"] == 1.35e24
    assert figures["threshold"] == 1e24
    assert figures["start_spread_s"] == 0
    assert "runs p0, p1, p2" in f.explanation
    assert "declare distinct recipes" in f.explanation
    assert "started together" in f.explanation


def test_structuring_pieces_that_differ_in_size_are_a_warning() -> None:
    """Pieces in the band that started twelve hours apart and differ threefold in size,
    together over the prohibition, are linked, but only as a warning."""
    (f,) = found(
        FindingKind.SPLIT_RUN_SUSPECTED,
        *pieces(2, 9e23, declared={"value": 3e23}, starts_at="2026-12-01T12:00:00Z"),
    )
    assert f.severity is Severity.WARNING
    assert dict(f.figures)["basis"] == "structuring"
    assert dict(f.figures)["start_spread_s"] == 12 * 3600
    assert dict(f.figures)["size_ratio"] == pytest.approx(3)
    assert "started within 12 hour(s) of one another" in f.explanation
    assert "possible" in f.explanation


def test_structuring_needs_overlap_the_band_distinct_clusters_and_the_tier_crossed() -> None:
    """No structuring when the windows do not overlap, when they overlap but started more
    than a day apart, when one piece is far below the band (so the rest stay under the
    prohibition), when one cluster runs them, when they train one model (the lineage pass
    weighs that), or when together they stay under the tier; the same two runs unchanged are
    structuring."""
    assert found(FindingKind.SPLIT_RUN_SUSPECTED, *pieces(2, 6e23))
    later = {"starts_at": "2026-12-20T00:00:00Z", "ends_at": "2026-12-30T00:00:00Z"}
    for over in (
        later,
        {"starts_at": "2026-12-02T00:00:01Z"},
        {"declared": {"value": 1e22}},
        {"cluster": "c0", "facility": "f0"},
        {"model": "m-p0"},
        {"party": "uk", "operator": "other"},
    ):
        assert not found(FindingKind.SPLIT_RUN_SUSPECTED, *pieces(2, 6e23, **over)), over
    assert not found(FindingKind.SPLIT_RUN_SUSPECTED, *pieces(3, 3e23))


def test_honest_concurrent_runs_under_the_declaration_tier_are_not_structuring() -> None:
    """Forty concurrent runs of one party, each planned at 0.8e22, just under the declaration
    tier, started together on forty clusters (an honest fleet of the scenario corpus): the
    milder tiers are not weighed for structuring, and no split is suspected; the same fleet
    scaled to 0.3 of the prohibition per run is."""
    assert not found(FindingKind.SPLIT_RUN_SUSPECTED, *pieces(40, 0.8e22))
    assert found(FindingKind.SPLIT_RUN_SUSPECTED, *pieces(40, 0.3e24))


def test_a_group_the_recipe_link_reported_is_not_reported_again_as_structuring() -> None:
    """Runs that share a recipe and sit in the band draw one finding, basis recipe."""
    (f,) = found(FindingKind.SPLIT_RUN_SUSPECTED, *split())
    assert dict(f.figures)["basis"] == "recipe"


_PIECE = st.tuples(
    st.floats(0.1, 1.2),  # compute, as a share of the prohibition
    st.integers(0, 240),  # start, hours after the first (AT is 216 hours after it)
    st.integers(1, 20),  # duration, days
    st.integers(0, 3),  # cluster
    st.integers(0, 2),  # model
    st.booleans(),  # the declaration states an end
)


def _reference_groups(runs: list[dict[str, Any]]) -> set[frozenset[str]]:
    """The structuring groups by brute force over every pair: the definition, not the sweep."""
    band = [r for r in runs if 0.25e24 <= r["declared"]["value"] < 1e24]
    span = {
        r["id"]: (
            datetime.fromisoformat(r["starts_at"]),
            datetime.fromisoformat(r["ends_at"]) if r["ends_at"] is not None else AT,
        )
        for r in band
    }
    parent = {r["id"]: r["id"] for r in band}

    def root(i: str) -> str:
        while parent[i] != i:
            i = parent[i]
        return i

    for a in band:
        for b in band:
            (a0, a1), (b0, b1) = span[a["id"]], span[b["id"]]
            if (
                a["cluster"] != b["cluster"]
                and a["model"] != b["model"]
                and a0 < b1
                and b0 < a1
                and abs(a0 - b0) <= timedelta(days=1)
            ):
                parent[root(a["id"])] = root(b["id"])
    groups: dict[str, set[str]] = {}
    for r in band:
        groups.setdefault(root(r["id"]), set()).add(r["id"])
    value = {r["id"]: r["declared"]["value"] for r in band}
    return {frozenset(g) for g in groups.values() if len(g) > 1 and sum(value[i] for i in g) > 1e24}


@settings(max_examples=200, deadline=None)
@given(st.lists(_PIECE, min_size=2, max_size=8))
def test_the_structuring_sweep_finds_the_groups_the_pairwise_definition_gives(
    drawn: list[tuple[float, int, int, int, int, bool]],
) -> None:
    """Over any runs of one party with distinct recipes, the structuring findings name exactly
    the groups that comparing every pair by the definition gives, whatever the runs' order,
    runs not yet started and runs that declare no end (their window ends at the evaluation
    time) included; each is over the prohibition together and under it run by run."""
    first = datetime(2026, 12, 1, tzinfo=UTC)
    runs = []
    for n, (share, hour, days, cluster, model, ended) in enumerate(drawn):
        starts = first + timedelta(hours=hour)
        runs.append(
            run(
                f"r{n}",
                cluster=f"c{cluster}",
                facility=f"f{cluster}",
                model=f"m{model}",
                declared={"value": share * 1e24},
                starts_at=starts.isoformat(),
                ends_at=(starts + timedelta(days=days)).isoformat() if ended else None,
            )
        )
    expected = _reference_groups(runs)
    for order in (runs, runs[::-1]):
        findings = found(FindingKind.SPLIT_RUN_SUSPECTED, *order)
        assert all(dict(f.figures)["basis"] == "structuring" for f in findings)
        named = set()
        for f in findings:
            match = re.match(r"runs ([\w, ]+?) of party", f.explanation)
            assert match is not None
            named.add(frozenset(match.group(1).split(", ")))
            figures = dict(f.figures)
            assert figures["flop"] > 1e24 > figures["largest_run_flop"]
        assert named == expected


@pytest.mark.parametrize("open_first", [True, False])
def test_a_run_with_an_empty_window_is_linked_by_structuring_to_none(open_first: bool) -> None:
    """A run that starts after the evaluation time and declares no end has an empty window
    (start to the evaluation time): it overlaps no other run, so no structuring group holds it,
    whether it starts before or after the run beside it."""
    early, late = "2026-12-11T00:00:00+00:00", "2026-12-11T01:00:00+00:00"
    pending = run(
        "r-open",
        cluster="c1",
        declared={"value": 0.6e24},
        starts_at=early if open_first else late,
        ends_at=None,
        status="planned",
    )
    other = run(
        "r-closed",
        cluster="c2",
        facility="f2",
        declared={"value": 0.6e24},
        starts_at=late if open_first else early,
        ends_at="2026-12-20T00:00:00+00:00",
        status="planned",
    )
    assert found(FindingKind.SPLIT_RUN_SUSPECTED, pending, other) == []
