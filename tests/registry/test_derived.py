"""What is derived from the views is kept until a view it reads changes, however that view is
changed (docs/adr/0056-derived-figures.md)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pausewatch.registry import Registry, View


def test_a_view_counts_every_change_and_each_key_added_or_removed() -> None:
    view = View()
    view[("a",)] = {"n": 1}
    assert (view.revision, view.keys_revision) == (1, 1)
    view[("a",)] = {"n": 2}  # the same key: a row changed, the keys did not
    assert (view.revision, view.keys_revision) == (2, 1)
    view.setdefault(("a",), {"n": 3})  # present: nothing changes
    assert (view.revision, view.keys_revision) == (2, 1)
    view.setdefault(("b",), {"n": 3})
    view.update({("c",): {"n": 4}})
    view |= {("d",): {"n": 5}}
    assert (view.revision, view.keys_revision) == (5, 4)
    assert view.pop(("zz",), None) is None  # absent: nothing changes
    assert (view.revision, view.keys_revision) == (5, 4)
    view.pop(("a",))
    del view[("b",)]
    view.popitem()
    assert (view.revision, view.keys_revision) == (8, 7)
    view.clear()
    assert (view.revision, view.keys_revision) == (9, 8)
    assert not view


def test_a_registry_counts_the_views_it_is_given() -> None:
    registry = Registry(frozenset(), views={"chips": {("g1",): {"x": 1}}})
    assert isinstance(registry.views["chips"], View)
    assert registry.views["chips"] == {("g1",): {"x": 1}}
    assert all(isinstance(v, View) for v in Registry(frozenset()).views.values())


def _counting(registry: Registry) -> tuple[list[int], Any]:
    calls: list[int] = []

    def compute(r: Registry) -> tuple[int, int]:
        calls.append(1)
        return len(r.views["chips"]), len(r.views["tel_chains"])

    def read() -> Any:
        return registry.derived("n", compute, rows_of=("chips",), keys_of=("tel_chains",))

    return calls, read


def test_a_derived_figure_is_computed_again_only_when_a_view_it_reads_changes() -> None:
    registry = Registry(frozenset())
    calls, read = _counting(registry)
    assert read() == (0, 0)
    assert read() == (0, 0)
    assert len(calls) == 1
    registry.views["operators"][("lab",)] = {"party_id": "us"}  # not read: kept
    assert read() == (0, 0)
    assert len(calls) == 1
    registry.views["chips"][("g1",)] = {"status": "installed"}
    assert read() == (1, 0)
    assert len(calls) == 2
    registry.views["tel_chains"][("g1",)] = {"seq": 0}  # a key added
    assert read() == (1, 1)
    assert len(calls) == 3
    registry.views["tel_chains"][("g1",)] = {"seq": 1}  # only a row: its keys are read
    assert read() == (1, 1)
    assert len(calls) == 3


def test_a_view_set_in_place_of_a_counted_one_is_never_trusted() -> None:
    registry = Registry(frozenset())
    calls, read = _counting(registry)
    read()
    registry.views["chips"] = {("g1",): {}}  # a plain dict: no counts
    assert read() == (1, 0)
    registry.views["chips"][("g2",)] = {}
    assert read() == (2, 0)
    assert len(calls) == 3


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["chips", "tel_chains", "operators"]),
            st.sampled_from(["set", "pop", "clear", "setdefault", "update"]),
            st.sampled_from(["g1", "g2", "g3"]),
            st.integers(0, 3),
        ),
        max_size=40,
    )
)
def test_a_kept_figure_always_equals_computing_it_afresh(ops: list[Any]) -> None:
    registry = Registry(frozenset())

    def compute(r: Registry) -> tuple[Any, ...]:
        return (
            tuple(sorted((k, tuple(sorted(v.items()))) for k, v in r.views["chips"].items())),
            tuple(sorted(r.views["tel_chains"])),
        )

    for view, op, chip, n in ops:
        rows = registry.views[view]
        if op == "set":
            rows[(chip,)] = {"n": n}
        elif op == "pop":
            rows.pop((chip,), None)
        elif op == "clear":
            rows.clear()
        elif op == "setdefault":
            rows.setdefault((chip,), {"n": n})
        else:
            rows.update({(chip,): {"n": n}})
        kept = registry.derived("f", compute, rows_of=("chips",), keys_of=("tel_chains",))
        assert kept == compute(registry)


def test_the_facts_count_a_chip_installed_between_two_reads() -> None:
    """The clusters' capacity the facts read is kept between reads (docs/adr/0056): a chip
    installed after one read is counted by the next, as by a registry folded afresh."""
    from datetime import UTC, datetime

    from pausewatch.state import facts_from_registry
    from registry.world import World  # type: ignore[import-not-found]

    w = World()
    w.basic()
    for n in (1, 2):
        w.chip(f"g{n}", "nv", buyer="lab")
    at = datetime(2027, 1, 1, tzinfo=UTC)

    def cluster(registry: Registry) -> Any:
        (c1,) = facts_from_registry(registry, at, None).clusters
        return c1.h100e, c1.peak_flops_per_s

    w.ok("chip.custody/v1", {"chip_id": "g1", "action": "install", "cluster_id": "c1"}, "lab")
    one = cluster(w.registry)
    assert one[0] > 0
    w.ok("chip.custody/v1", {"chip_id": "g2", "action": "install", "cluster_id": "c1"}, "lab")
    two = cluster(w.registry)
    assert two == (2 * one[0], 2 * one[1])
    w.ok("chip.custody/v1", {"chip_id": "g2", "action": "retire"}, "lab")
    assert cluster(w.registry) == one


def test_a_view_pickles_and_copies_with_its_counts() -> None:
    """A view copied (copy, deepcopy) or pickled keeps its rows and its counts, so that a
    registry copied with the figures it keeps reads them right (with the counts reset, a copy
    of a view changed since a figure was kept could read as unchanged)."""
    import copy
    import pickle

    registry = Registry(frozenset())
    _, read = _counting(registry)
    assert read() == (0, 0)
    registry.views["chips"][("g1",)] = {"status": "installed"}
    view = registry.views["chips"]
    pickled = pickle.loads(pickle.dumps(view))  # noqa: S301 - its own bytes, just made
    for twin in (pickled, copy.copy(view), copy.deepcopy(view)):
        assert isinstance(twin, View)
        assert twin == view
        assert (twin.revision, twin.keys_revision) == (view.revision, view.keys_revision)
    clone = copy.deepcopy(registry)
    assert clone.derived(
        "n",
        lambda r: (len(r.views["chips"]), len(r.views["tel_chains"])),
        rows_of=("chips",),
        keys_of=("tel_chains",),
    ) == (1, 0)
