"""The pause as a pure function of decisions and a moment: time-limited by construction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from pausewatch.governance import PauseDecision, PauseStatus, Step, pause_state

T0 = datetime(2027, 1, 1, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


START = PauseDecision(Step.START, day(0), 180, "p1")


def test_no_decision_no_pause() -> None:
    state = pause_state([], day(10))
    assert state.status is PauseStatus.NONE
    assert not state.status.in_force


def test_a_pause_expires_without_a_renewal() -> None:
    assert pause_state([START], day(179)).status is PauseStatus.ACTIVE
    assert pause_state([START], day(179)).remaining(day(179)) == timedelta(days=1)
    expired = pause_state([START], day(180))
    assert expired.status is PauseStatus.EXPIRED
    assert expired.expires_at == day(180)
    assert expired.remaining(day(180)) is None


def test_a_renewal_in_force_extends_from_the_expiry() -> None:
    renew = PauseDecision(Step.RENEW, day(170), 180, "p2")
    state = pause_state([START, renew], day(200))
    assert state.status is PauseStatus.RENEWED
    assert state.expires_at == day(360)
    assert state.renewals == 1
    assert pause_state([START, renew], day(360)).status is PauseStatus.EXPIRED


def test_a_renewal_after_expiry_revives_nothing() -> None:
    late = PauseDecision(Step.RENEW, day(181), 180, "p2")
    state = pause_state([START, late], day(200))
    assert state.status is PauseStatus.EXPIRED
    assert "no effect, no pause is in force" in state.history[-1]


def test_a_lift_ends_it_but_not_before_the_minimum() -> None:
    early = PauseDecision(Step.LIFT, day(10), None, "p3")
    later = PauseDecision(Step.LIFT, day(40), None, "p4")
    state = pause_state([START, early], day(20), minimum_days=30)
    assert state.status is PauseStatus.ACTIVE
    assert "may not be lifted before 30 days" in state.history[-1]
    lifted = pause_state([START, early, later], day(50), minimum_days=30)
    assert lifted.status is PauseStatus.LIFTED
    assert lifted.lifted_at == day(40)


def test_a_new_start_after_a_lift_begins_a_new_pause() -> None:
    lift = PauseDecision(Step.LIFT, day(40), None, "p3")
    again = PauseDecision(Step.START, day(100), 90, "p5")
    state = pause_state([START, lift, again], day(120))
    assert state.status is PauseStatus.ACTIVE
    assert state.started_at == day(100)
    assert state.expires_at == day(190)


def test_decisions_after_the_moment_are_ignored() -> None:
    assert pause_state([START], day(-1)).status is PauseStatus.NONE


steps = st.lists(
    st.builds(
        PauseDecision,
        st.sampled_from(list(Step)),
        st.integers(0, 1000).map(day),
        st.sampled_from([30.0, 90.0, 180.0]),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(steps, st.integers(0, 1200))
def test_in_force_only_before_its_expiry(decisions: list[PauseDecision], at: int) -> None:
    """Whatever the decisions, a pause in force has started and not yet expired: no sequence
    of decisions makes a pause without end."""
    state = pause_state(decisions, day(at))
    if state.status.in_force:
        assert state.started_at is not None
        assert state.expires_at is not None
        assert state.started_at <= day(at) < state.expires_at
    # Without renewals an expiry is its start plus its days; each renewal adds at most 180.
    if state.expires_at is not None and state.started_at is not None:
        span = (state.expires_at - state.started_at).days
        assert span <= 180 * (1 + state.renewals)
