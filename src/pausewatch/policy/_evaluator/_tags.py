"""Tags: compute tagged to a run from chips or clusters its declaration does not name, and one
run split into several that each stay under a tier (docs/adr/0028): linked by a shared recipe
digest, or, without one, by structuring just under the prohibition (docs/adr/0034).

Runs after the run pass, whose counted compute per run (``run_flop``) it reads.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pausewatch.policy._evaluator._base import _TIER_WORDS, State, _entries
from pausewatch.policy._facts import RunFact
from pausewatch.policy._findings import FindingKind, Severity
from pausewatch.policy._model import POST_TRAINING_PHASES, Action, Tier

MATERIAL_SHARE = 0.10
"""The share of a run's reporting chips, outside those its declaration names, from which a tag
mismatch is serious: enough to move a run across a tier (a tier is a factor of ten or less
above the next)."""

STRUCTURING_BAND = 0.25
"""The band of structuring (docs/adr/0034): a run sits just under a tier when its compute (the
higher of its plan and its count) is at least this share of the tier's threshold. A split
escapes it only in more than four pieces, each on its own cluster."""

STRUCTURED_TIERS: frozenset[Tier] = frozenset({Tier.PROHIBITED})
"""The tiers the structuring link weighs (docs/adr/0034). Only the prohibition: under the
milder tiers honest fleets are dense (many concurrent runs just under the declaration tier),
and a run meets their duty by declaring, not by being refused."""

START_SPREAD = timedelta(days=1)
"""Starts within this of one another are near-simultaneous: a mark of one run cut in pieces."""

SIZE_RATIO = 1.5
"""Runs whose largest is at most this many times their smallest are of similar size."""

_SHOWN = 5
"""How many ids an explanation names before "and N more"."""


def _listed(ids: list[str]) -> str:
    shown = ", ".join(ids[:_SHOWN])
    more = len(ids) - _SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def _duration(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours * 60:.0f} minute(s)" if hours < 1 else f"{hours:.0f} hour(s)"


def _window(run: RunFact, at: datetime) -> tuple[datetime, datetime] | None:
    if run.starts_at is None:
        return None
    return run.starts_at, run.ends_at if run.ends_at is not None else at


def _linked(runs: list[tuple[RunFact, datetime, datetime]]) -> list[list[RunFact]]:
    """The runs in groups: two are linked when they declare the same hyper-parameters or the
    same data order, their windows overlap, on different clusters, of distinct models; a group
    is all the runs linked to one another, directly or through others (union-find), in id
    order. Only runs that share a digest are compared: most share none, and the pass stays
    linear in the number of runs."""
    parent = list(range(len(runs)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    alike: dict[tuple[str, str], list[int]] = {}
    for i, (run, _, _) in enumerate(runs):
        if run.hyperparameters_digest is not None:
            alike.setdefault(("hp", run.hyperparameters_digest), []).append(i)
        if run.data_order_seed_digest is not None:
            alike.setdefault(("seed", run.data_order_seed_digest), []).append(i)
    for bucket in alike.values():
        for n, i in enumerate(bucket):
            a, a_start, a_end = runs[i]
            for j in bucket[n + 1 :]:
                b, b_start, b_end = runs[j]
                if (
                    a.cluster != b.cluster
                    and a.model != b.model
                    and a_start < b_end
                    and b_start < a_end
                ):
                    parent[root(j)] = root(i)
    groups: dict[int, list[RunFact]] = {}
    for i, (run, _, _) in enumerate(runs):
        groups.setdefault(root(i), []).append(run)
    return list(groups.values())


_Windowed = tuple[RunFact, datetime, datetime]


def _structured(
    runs: list[_Windowed], flop: dict[str, float], low: float, high: float
) -> list[list[_Windowed]]:
    """The runs whose compute is in ``[low, high)`` in groups: two are linked when their
    windows overlap, they started within :data:`START_SPREAD` of one another, on different
    clusters, of distinct models (union-find); each group in id order. A sweep by start
    compares a run only with the band's runs still open and started near it, so the pass is
    linear in the runs times the band's concurrency."""
    band = [r for r in runs if low <= flop[r[0].id] < high]
    band.sort(key=lambda r: (r[1], r[0].id))
    parent = list(range(len(band)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    open_: list[int] = []
    for i, (run, start, end) in enumerate(band):
        # Still open, and started near enough to this one to be one run cut in pieces.
        open_ = [j for j in open_ if band[j][2] > start and start - band[j][1] <= START_SPREAD]
        for j in open_:
            other, other_start, _ = band[j]
            # Overlap needs the other to start before this one ends too: implied when this
            # window is not empty, not when it is (a run yet to start that declares no end).
            if other_start < end and other.cluster != run.cluster and other.model != run.model:
                parent[root(i)] = root(j)
        if start < end:
            open_.append(i)
    groups: dict[int, list[_Windowed]] = {}
    for i, windowed in enumerate(band):
        groups.setdefault(root(i), []).append(windowed)
    return [sorted(g, key=lambda r: r[0].id) for g in groups.values()]


def _where(group: list[RunFact]) -> tuple[list[str], tuple[str, ...]]:
    """A group's clusters (each with its facility, where known), sorted, and the log entries
    its runs rest on."""
    clusters = sorted(
        {
            f"{run.cluster}" + (f" (facility {run.facility})" if run.facility else "")
            for run in group
            if run.cluster is not None
        }
    )
    return clusters, tuple(sorted({e for run in group for e in run.evidence}))


class TagRules(State):
    """Tag mismatches, run by run in id order; suspected splits, group by group."""

    def tags(self) -> None:
        """Both rules, after :meth:`runs`."""
        for run in self.ordered_runs:
            if run.chips or run.clusters:
                self.tag_mismatch(run)
        self.splits()

    def tag_mismatch(self, run: RunFact) -> None:
        """Chips outside the declaration's list, clusters other than the declared one."""
        foreign_clusters = sorted(c for c in run.clusters if c != run.cluster)
        named = run.declared_chips
        foreign_chips: list[str] = []
        if named is not None:
            listed = frozenset(named)
            foreign_chips = sorted(c for c in run.chips if c not in listed)
        if not foreign_clusters and not foreign_chips:
            return
        chips = len(run.chips)
        share = len(foreign_chips) / chips if chips else 0.0
        # A whole other cluster is never a stray chip: its share cannot be told from the run's
        # records, and it is treated as material.
        serious = bool(foreign_clusters) or share >= MATERIAL_SHARE
        flop = self.run_flop.get(run.id, 0.0)
        parts = []
        if foreign_clusters:
            parts.append(
                f"cluster(s) {_listed(foreign_clusters)} besides its declared cluster {run.cluster}"
            )
        if foreign_chips:
            parts.append(
                f"{len(foreign_chips)} of its {chips} reporting chip(s) ({share:.0%}) not among "
                f"the {len(named or ())} its declaration names ({_listed(foreign_chips)})"
            )
        self.finding(
            FindingKind.TAG_MISMATCH,
            Severity.SERIOUS if serious else Severity.WARNING,
            f"run:{run.id}",
            f"compute was tagged to run {run.id} of operator {run.operator} from "
            f"{' and from '.join(parts)}; the run counts {flop:.3g} FLOP "
            f"(log entries {_entries(run.evidence)})",
            run.evidence,
            figures=(
                ("foreign_clusters", len(foreign_clusters)),
                ("foreign_chips", len(foreign_chips)),
                ("chips", chips),
                ("foreign_share", share),
                ("flop", flop),
            ),
        )

    def splits(self) -> None:
        """Runs of one party (or one operator where no party is known) whose windows overlap,
        on different clusters, of distinct models, that declare the same hyper-parameters or
        the same data order: linked, and each linked group is weighed as one run. Then, without
        a shared digest, such runs that each sit just under the prohibition (docs/adr/0034)."""
        by_owner: dict[str, list[tuple[RunFact, datetime, datetime]]] = {}
        for run in self.ordered_runs:
            if run.id not in self.run_flop or run.cluster is None:
                continue
            window = _window(run, self.at)
            if window is None:
                continue
            owner = f"party:{run.party}" if run.party else f"operator:{run.operator}"
            by_owner.setdefault(owner, []).append((run, *window))
        for owner in sorted(by_owner):
            reported: set[str] = set()
            for group in _linked(by_owner[owner]):
                if len(group) > 1 and self.split_group(owner, group):
                    reported.update(run.id for run in group)
            self.structuring(owner, by_owner[owner], reported)

    def split_group(self, owner: str, group: list[RunFact]) -> bool:
        """A finding when the group's compute crosses a tier none of its runs crosses alone;
        whether one was filed."""
        post = [run.phase in POST_TRAINING_PHASES for run in group]
        if any(post) and not all(post):
            return False  # pre- and post-training tiers differ: no one scale to weigh them on
        tiers = self.post if post[0] else self.pre
        flops = [self.run_flop[run.id] for run in group]
        combined = sum(flops)
        alone = max(flops)
        crossed = [(tier, t) for tier, t, _ in tiers.run if combined > t.flop >= alone]
        if not crossed:
            return False
        tier, t = crossed[-1]  # mildest first: the last is the strictest
        ids = [run.id for run in group]
        clusters, evidence = _where(group)
        shared = []
        if len({run.hyperparameters_digest for run in group}) == 1:
            shared.append("hyper-parameters")
        if len({run.data_order_seed_digest for run in group}) == 1:
            shared.append("data order")
        alike = " and ".join(shared) if shared else "hyper-parameters or data order, pairwise"
        self.finding(
            FindingKind.SPLIT_RUN_SUSPECTED,
            Severity.SERIOUS,
            owner,
            f"runs {', '.join(ids)} of {owner.replace(':', ' ')} overlap in time on clusters "
            f"{', '.join(clusters)}, declare the same {alike} under distinct models, and "
            f"together count {combined:.3g} FLOP, above the {t.flop:.3g} FLOP "
            f"{_TIER_WORDS[tier]} that none of them reaches alone (at most {alone:.3g} FLOP): "
            f"one run split to stay under it is suspected, and an inspection is asked for "
            f"(log entries {_entries(evidence)})",
            evidence,
            action=Action.INSPECTION,
            tier=tier,
            figures=(
                ("runs", len(group)),
                ("flop", combined),
                ("largest_run_flop", alone),
                ("threshold", t.flop),
                ("basis", "recipe"),
            ),
        )
        return True

    def structuring(
        self,
        owner: str,
        runs: list[_Windowed],
        reported: set[str],
    ) -> None:
        """Runs of one owner that share no recipe but each sit in the band just under a
        structured tier, overlap in time on different clusters, of distinct models, and
        together cross it: one finding per group, the strictest tier first, none for a group
        the recipe link already reported."""
        for post in (False, True):
            tiers = self.post if post else self.pre
            structured = [
                (tier, t) for tier, t, _ in reversed(tiers.run) if tier in STRUCTURED_TIERS
            ]
            if not structured:
                continue  # a policy without a prohibition: nothing to structure under
            family = [r for r in runs if (r[0].phase in POST_TRAINING_PHASES) is post]
            if len(family) < 2:
                continue
            for tier, t in structured:
                low = STRUCTURING_BAND * t.flop
                for group in _structured(family, self.run_flop, low, t.flop):
                    if len(group) < 2 or all(r[0].id in reported for r in group):
                        continue
                    if sum(self.run_flop[r[0].id] for r in group) > t.flop:
                        self.structured_group(owner, group, tier, t.flop)
                        reported.update(r[0].id for r in group)

    def structured_group(
        self,
        owner: str,
        windowed: list[_Windowed],
        tier: Tier,
        threshold: float,
    ) -> None:
        """The finding on a structured group: serious when its runs all started within
        :data:`START_SPREAD` and are of similar size (the marks of one run cut in pieces), a
        warning otherwise."""
        group = [run for run, _, _ in windowed]
        starts = [start for _, start, _ in windowed]
        spread = max(starts) - min(starts)
        flops = [self.run_flop[run.id] for run in group]
        combined = sum(flops)
        alone, least = max(flops), min(flops)
        ratio = alone / least
        together = spread <= START_SPREAD
        alike = ratio <= SIZE_RATIO
        ids = [run.id for run in group]
        clusters, evidence = _where(group)
        n = len(group)
        distinct = (
            len({run.hyperparameters_digest for run in group}) == n
            and len({run.data_order_seed_digest for run in group}) == n
        )
        recipes = "declare distinct recipes" if distinct else "do not all share a recipe"
        marks = []
        if together:
            marks.append(
                "started together"
                if not spread
                else f"started within {_duration(spread)} of one another"
            )
        if alike:
            marks.append(f"are of similar size (the largest {ratio:.2f} times the smallest)")
        if together and alike:
            severity, words = Severity.SERIOUS, "one run split to stay under it is suspected"
        else:
            severity = Severity.WARNING
            words = "a run split to stay under it is possible"
        also = f"; they {' and '.join(marks)}" if marks else ""
        self.finding(
            FindingKind.SPLIT_RUN_SUSPECTED,
            severity,
            owner,
            f"runs {', '.join(ids)} of {owner.replace(':', ' ')} overlap in time on clusters "
            f"{', '.join(clusters)}, train distinct models, {recipes}, and each "
            f"sits just under the {threshold:.3g} FLOP {_TIER_WORDS[tier]} (at least "
            f"{STRUCTURING_BAND:.0%} of it, at most {alone:.3g} FLOP) while together they "
            f"count {combined:.3g} FLOP{also}: {words}, and an inspection is asked for "
            f"(log entries {_entries(evidence)})",
            evidence,
            action=Action.INSPECTION,
            tier=tier,
            figures=(
                ("runs", len(group)),
                ("flop", combined),
                ("largest_run_flop", alone),
                ("threshold", threshold),
                ("basis", "structuring"),
                ("band", STRUCTURING_BAND),
                ("start_spread_s", spread.total_seconds()),
                ("size_ratio", ratio),
            ),
        )


__all__ = [
    "MATERIAL_SHARE",
    "SIZE_RATIO",
    "START_SPREAD",
    "STRUCTURED_TIERS",
    "STRUCTURING_BAND",
    "TagRules",
]
