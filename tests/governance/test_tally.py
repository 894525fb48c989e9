"""Votes to outcomes: properties over random ballots, and the rules' edges by hand."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pausewatch.governance import Ballot, Choice, counted_votes, quorum_needed, tally
from pausewatch.policy._model import VoteRule

T0 = datetime(2027, 1, 1, tzinfo=UTC)
OPENS, CLOSES = T0, T0 + timedelta(days=14)
PARTIES = [f"p{i}" for i in range(9)]
MEMBERS = frozenset(PARTIES[:7])  # p7 and p8 are registered parties outside the body
KEYS = {p: {f"key-{p}": (T0 - timedelta(days=30), None)} for p in PARTIES}


def ballot(i: int, party: str, choice: Choice, hours: float, key: str | None = None) -> Ballot:
    return Ballot(i, OPENS + timedelta(hours=hours), party, key or f"key-{party}", choice)


ballots = st.lists(
    st.builds(
        lambda i, p, c, h: ballot(i, p, c, h),
        st.integers(0, 10_000),
        st.sampled_from(PARTIES),
        st.sampled_from(list(Choice)),
        st.floats(-48, 14 * 24 + 48, allow_nan=False),
    ),
    max_size=30,
    unique_by=lambda b: b.index,
)


def decide(bs: list[Ballot], rule: VoteRule = VoteRule.SIMPLE_MAJORITY, veto: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    votes, _ = counted_votes(bs, members=MEMBERS, keys=KEYS, opens_at=OPENS, closes_at=CLOSES)
    return tally(votes, members=MEMBERS, rule=rule, quorum=0.5, veto_holders=veto)


@settings(max_examples=200, deadline=None)
@given(ballots, st.randoms(use_true_random=False), st.sampled_from(list(VoteRule)))
def test_outcome_does_not_depend_on_arrival_order(
    bs: list[Ballot], rnd: random.Random, rule: VoteRule
) -> None:
    shuffled = list(bs)
    rnd.shuffle(shuffled)
    assert decide(bs, rule) == decide(shuffled, rule)


@settings(max_examples=200, deadline=None)
@given(ballots)
def test_a_ballot_twice_counts_once(bs: list[Ballot]) -> None:
    again = [Ballot(b.index + 20_000, b.integrated_at, b.party, b.key, b.choice) for b in bs]
    assert decide(bs) == decide(bs + again)


@settings(max_examples=200, deadline=None)
@given(ballots)
def test_votes_after_the_close_or_by_invalid_keys_never_count(bs: list[Ballot]) -> None:
    late = [ballot(50_000 + i, p, Choice.YES, 14 * 24 + 1 + i) for i, p in enumerate(PARTIES)]
    forged = [ballot(60_000 + i, p, Choice.YES, 1, key="stranger") for i, p in enumerate(PARTIES)]
    assert decide(bs) == decide(bs + late + forged)


@settings(max_examples=200, deadline=None)
@given(ballots)
def test_non_members_never_make_a_quorum_or_a_majority(bs: list[Ballot]) -> None:
    outsiders = [ballot(70_000 + i, p, Choice.YES, 2 + i) for i, p in enumerate(("p7", "p8"))]
    assert decide(bs) == decide(bs + outsiders)
    votes, rejected = counted_votes(
        outsiders, members=MEMBERS, keys=KEYS, opens_at=OPENS, closes_at=CLOSES
    )
    assert votes == {}
    assert {r.reason for r in rejected} == {"not a member of the body"}


def test_the_last_vote_before_the_close_counts() -> None:
    bs = [
        ballot(1, "p0", Choice.NO, 1),
        ballot(2, "p0", Choice.YES, 2),  # a change of mind
        ballot(3, "p0", Choice.NO, 14 * 24),  # exactly at the close: too late
    ]
    votes, rejected = counted_votes(
        bs, members=MEMBERS, keys=KEYS, opens_at=OPENS, closes_at=CLOSES
    )
    assert votes["p0"].choice is Choice.YES
    assert [r.reason for r in rejected] == ["cast after the vote closed"]


def test_a_revoked_keys_later_votes_do_not_count() -> None:
    revoked_at = OPENS + timedelta(hours=5)
    keys = {**KEYS, "p0": {"key-p0": (T0 - timedelta(days=30), revoked_at)}}
    before = ballot(1, "p0", Choice.YES, 1)
    after = ballot(2, "p0", Choice.NO, 6)
    votes, rejected = counted_votes(
        [before, after], members=MEMBERS, keys=keys, opens_at=OPENS, closes_at=CLOSES
    )
    assert votes["p0"] is before
    assert [r.index for r in rejected] == [2]


@pytest.mark.parametrize(
    ("members", "quorum", "need"),
    [(15, 0.5, 8), (16, 0.5, 8), (7, 0.5, 4), (3, 2 / 3, 2), (1, 1.0, 1)],
)
def test_quorum_is_met_at_or_above_the_fraction(members: int, quorum: float, need: int) -> None:
    assert quorum_needed(members, quorum) == need


def yes_no(yes: int, no: int, abstain: int = 0) -> list[Ballot]:
    choices = [Choice.YES] * yes + [Choice.NO] * no + [Choice.ABSTAIN] * abstain
    return [ballot(i, PARTIES[i], c, 1) for i, c in enumerate(choices)]


@pytest.mark.parametrize(
    ("rule", "yes", "no", "abstain", "passed"),
    [
        (VoteRule.SIMPLE_MAJORITY, 3, 2, 0, True),
        (VoteRule.SIMPLE_MAJORITY, 2, 2, 0, False),  # a tie fails
        (VoteRule.SIMPLE_MAJORITY, 2, 1, 3, True),  # abstentions make the quorum, not the count
        (VoteRule.SIMPLE_MAJORITY, 2, 1, 0, False),  # 3 of 7 voted: no quorum (4 needed)
        (VoteRule.TWO_THIRDS, 4, 2, 0, True),  # exactly two thirds
        (VoteRule.TWO_THIRDS, 4, 3, 0, False),
        (VoteRule.UNANIMITY, 5, 0, 2, True),
        (VoteRule.UNANIMITY, 6, 1, 0, False),
        (VoteRule.UNANIMITY, 0, 0, 5, False),  # nobody for it
    ],
)
def test_rules(rule: VoteRule, yes: int, no: int, abstain: int, passed: bool) -> None:
    result = decide(yes_no(yes, no, abstain), rule)
    assert result.passed is passed
    assert (result.yes, result.no, result.abstain) == (yes, no, abstain)
    assert result.reason.startswith("passed" if passed else ("no quorum", "failed"))


def test_a_veto_blocks_whatever_the_count() -> None:
    bs = yes_no(6, 1)  # p6 votes no
    assert decide(bs).passed
    vetoed = decide(bs, veto=("p6",))
    assert not vetoed.passed
    assert vetoed.vetoed_by == ("p6",)
    assert vetoed.reason.startswith("vetoed by p6")
    # A veto holder who votes yes or stays away blocks nothing.
    assert decide(yes_no(6, 1), veto=("p0", "p8")).passed
