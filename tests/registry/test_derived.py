"""What is derived from the views is kept until a view it reads changes, however that view is
changed (docs/adr/0056-derived-figures.md)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pausewatch.registry import Registry, View


def test_a_view_counts_every_change_and_each_key_added_or_removed() -> None:
    view = View()
    seen = [(view.revision, view.keys_revision)]

    def changed() -> tuple[bool, bool]:
        """Whether the rows, and the keys, changed since the last call."""
        now = (view.revision, view.keys_revision)
        before = seen[-1]
        seen.append(now)
        return now[0] != before[0], now[1] != before[1]

    view[("a",)] = {"n": 1}
    assert changed() == (True, True)
    view[("a",)] = {"n": 2}  # the same key: a row changed, the keys did not
    assert changed() == (True, False)
    view.setdefault(("a",), {"n": 3})  # present: nothing changes
    assert changed() == (False, False)
    for change in (
        lambda: view.setdefault(("b",), {"n": 3}),
        lambda: view.update({("c",): {"n": 4}}),
        lambda: view.__ior__({("d",): {"n": 5}}),
        lambda: view.pop(("a",)),
        lambda: view.__delitem__(("b",)),
        lambda: view.popitem(),
        lambda: view.clear(),
    ):
        change()
        assert changed() == (True, True)
    assert view.pop(("zz",), None) is None  # absent: nothing changes
    view.clear()  # empty: nothing changes
    assert changed() == (False, False)
    assert not view
    # No two views, nor two states of one, show the same count.
    assert (
        len({r for r, _ in seen} | {View().revision, View().revision})
        == len({r for r, _ in seen}) + 2
    )


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


def test_a_view_pickles_and_copies_by_its_rows_and_a_copy_computes_its_figures_again() -> None:
    """A view copied (copy, deepcopy) or pickled keeps its rows and draws counts of its own; a
    registry copied or pickled leaves the figures it keeps behind, even those that cannot be
    copied, and computes them again (docs/adr/0056)."""
    import copy
    import pickle
    from datetime import UTC, datetime

    from pausewatch.state import facts_from_registry
    from registry.world import World  # type: ignore[import-not-found]

    registry = Registry(frozenset())
    _, read = _counting(registry)
    assert read() == (0, 0)
    registry.views["chips"][("g1",)] = {"status": "installed"}
    view = registry.views["chips"]
    pickled = pickle.loads(pickle.dumps(view))  # noqa: S301 - its own bytes, just made
    for twin in (pickled, copy.copy(view), copy.deepcopy(view)):
        assert isinstance(twin, View)
        assert twin == view
        assert twin.revision != view.revision
    w = World()
    w.basic()
    w.chip("g1", "nv", buyer="lab")
    w.ok("chip.custody/v1", {"chip_id": "g1", "action": "install", "cluster_id": "c1"}, "lab")
    at = datetime(2027, 1, 1, tzinfo=UTC)
    facts_from_registry(w.registry, at, None)  # keeps read-only mappings it cannot pickle
    for clone in (copy.deepcopy(w.registry), pickle.loads(pickle.dumps(w.registry))):  # noqa: S301
        clone.views["chips"][("g1",)] = {**clone.views["chips"][("g1",)], "status": "retired"}
        (c1,) = facts_from_registry(clone, at, None).clusters
        assert c1.h100e == 0.0
    (c1,) = facts_from_registry(w.registry, at, None).clusters
    assert c1.h100e > 0.0


def test_a_view_set_in_place_of_another_is_read_as_changed() -> None:
    """A registry that kept a figure while its views were empty reads a view set in place
    of one, even a counted one just made from rows, as changed (the review's first case)."""
    from pausewatch.detect import chip_accounts
    from pausewatch.detect._chips import _chip_accounts
    from registry.world import World  # type: ignore[import-not-found]

    empty = Registry(frozenset())
    assert chip_accounts(empty).certified_only.count == 0
    w = World()
    w.basic()
    for n in (1, 2):
        w.chip(f"g{n}", "nv", buyer="lab")
    other = Registry(frozenset(), views={n: dict(v) for n, v in w.registry.views.items()})
    empty.views = other.views
    assert chip_accounts(empty) == _chip_accounts(empty)
    assert chip_accounts(empty).certified_only.count == 2


def test_a_reader_inside_a_change_does_not_keep_the_figure_from_before_it() -> None:
    """A view counts a change after making it: a figure computed while a row is being set
    (here from within the key's hash, which the dict calls while setting it) is not kept
    under the count of the change."""
    registry = Registry(frozenset())

    def compute(r: Registry) -> int:
        return len(r.views["chips"])

    def read() -> int:
        return registry.derived("n", compute, rows_of=("chips",))

    class Key:
        def __init__(self) -> None:
            self.hashed = 0

        def __hash__(self) -> int:
            self.hashed += 1
            if self.hashed == 2:  # 1: is the key new; 2: setting it
                read()
            return 1

        def __eq__(self, other: object) -> bool:
            return self is other

    assert read() == 0
    registry.views["chips"][(Key(),)] = {}
    assert read() == compute(registry) == 1


def test_a_commit_counts_each_view_it_changes_once_and_only_what_changed() -> None:
    """The fold's commit sets rows through the dict and counts each view once after them: a
    row added changes the keys, a row replaced only the rows, a removal of an absent row
    nothing; a figure kept before the commit is computed again exactly when its views moved."""
    from pausewatch.registry._fold import Change, Prepared

    registry = Registry(frozenset())
    calls, read = _counting(registry)
    chips, chains = registry.views["chips"], registry.views["tel_chains"]

    def commit(*changes: Change) -> tuple[int, int, int, int]:
        before = (chips.revision, chips.keys_revision, chains.revision, chains.keys_revision)
        registry.commit(Prepared(registry.applied, True, None, changes))
        after = (chips.revision, chips.keys_revision, chains.revision, chains.keys_revision)
        return tuple(int(a != b) for a, b in zip(before, after, strict=True))  # type: ignore[return-value]

    assert read() == (0, 0)
    assert commit(Change("chips", ("g1",), {"s": 1}), Change("chips", ("g2",), {"s": 1})) == (
        1, 1, 0, 0,
    )  # fmt: skip
    assert read() == (2, 0)
    assert commit(Change("tel_chains", ("g1",), {"seq": 0})) == (0, 0, 1, 1)
    assert commit(Change("tel_chains", ("g1",), {"seq": 1})) == (0, 0, 1, 0)
    assert read() == (2, 1)
    assert len(calls) == 3  # the replaced chain head moved no key: the figure was kept
    assert commit(Change("chips", ("zz",), None)) == (0, 0, 0, 0)
    assert commit(Change("chips", ("g2",), None)) == (1, 1, 0, 0)
    assert read() == (1, 1)
    assert chips == {("g1",): {"s": 1}}
