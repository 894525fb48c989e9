"""Canonical bytes survive a round trip: RFC 8785 writes a double such as 3.9e20 as an integer
literal, and reading it back must give the same double (not a Python int beyond I-JSON)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pausewatch.statements import canonical, parse_json


@pytest.mark.parametrize("value", [3.906760805568945e20, 2.0**53 + 2, 9.999999999999999e20, -5e19])
def test_large_integral_doubles_round_trip(value: float) -> None:
    text = canonical({"flop": value})
    assert b"e" not in text  # written positionally, as ES6 does below 1e21
    again = parse_json(text)
    assert again == {"flop": value}
    assert canonical(again) == text


def test_small_integers_stay_integers() -> None:
    assert parse_json(b'{"n": 9007199254740991, "m": 12}') == {"n": 9007199254740991, "m": 12}
    assert isinstance(parse_json(b"12"), int)


@given(st.floats(allow_nan=False, allow_infinity=False) | st.just(2.0**53))
def test_every_double_round_trips(value: float) -> None:
    assert canonical(parse_json(canonical(value))) == canonical(value)
