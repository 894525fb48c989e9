"""A telemetry batch's statement is parsed once (docs/adr/0054): what validating its body read
the operator's submission, the chain heads and the aggregate into is what the fold takes, and
the body reads, compares, encodes and pickles as it did."""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any

import pytest

import pausewatch.statements._statement as statement_module
from pausewatch.statements import parse_statement
from pausewatch.telemetry import Aggregate, ChainState
from pausewatch.telemetry._statements import BATCH_KIND, TelemetryBatch

from .test_ingest import logged_batches


@pytest.fixture(scope="module")
def batch_entry(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The envelope of a real ``telemetry.batch/v1`` statement a service logged."""
    entries, _ = logged_batches(tmp_path_factory.mktemp("batch"), windows=2, seed=5)
    envelope = json.loads(entries[-1].data)["statement"]
    assert envelope["kind"] == BATCH_KIND
    return json.dumps(envelope).encode()


def _body(data: bytes) -> TelemetryBatch:
    body = parse_statement(json.loads(data)).body
    assert isinstance(body, TelemetryBatch)
    return body


def test_the_fold_takes_what_validation_parsed(
    batch_entry: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = _body(batch_entry)
    fresh_chains = {c: ChainState.from_json(s) for c, s in body.chains.items()}
    fresh_aggregate = Aggregate.from_json(body.aggregate)
    fresh_submission = parse_statement(body.submission).body

    def refused(*_: Any, **__: Any) -> Any:
        raise AssertionError("parsed again")

    # Nothing is parsed or verified a second time...
    monkeypatch.setattr(ChainState, "from_json", refused)
    monkeypatch.setattr(Aggregate, "from_json", refused)
    monkeypatch.setattr(statement_module, "verify_raw", refused)
    # ... and what the fold takes equals a fresh reading of the body's own JSON.
    assert body.chain_states() == fresh_chains
    assert body.aggregate_totals() == fresh_aggregate
    assert body.submission_body() == fresh_submission
    # The fold may change the mapping it is given; the body's is its own.
    body.chain_states().clear()
    assert body.chain_states() == fresh_chains


def test_the_body_reads_as_the_plain_json_it_was_validated_from(batch_entry: bytes) -> None:
    body = _body(batch_entry)
    raw = json.loads(batch_entry)["body"]
    for field in ("submission", "chains", "aggregate"):
        value = getattr(body, field)
        assert value == raw[field]
        assert json.dumps(value, sort_keys=True) == json.dumps(raw[field], sort_keys=True)
    plain = TelemetryBatch.model_validate_json(json.dumps(raw))
    assert body.model_dump(mode="json") == plain.model_dump(mode="json")
    assert body == _body(batch_entry)


@pytest.mark.parametrize("how", ["pickle", "deepcopy", "model_copy"])
def test_a_copied_body_parses_again_and_agrees(batch_entry: bytes, how: str) -> None:
    body = _body(batch_entry)
    if how == "pickle":
        copied = pickle.loads(pickle.dumps(body))  # noqa: S301 (our own bytes)
    elif how == "deepcopy":
        copied = copy.deepcopy(body)
    else:
        copied = body.model_copy(deep=True)
    assert copied == body
    assert type(copied.chains) in (dict, type(body.chains))
    assert copied.chain_states() == body.chain_states()
    assert copied.aggregate_totals() == body.aggregate_totals()
    assert copied.submission_body() == body.submission_body()


def test_a_body_built_without_validation_is_parsed_when_asked(batch_entry: bytes) -> None:
    raw = json.loads(batch_entry)["body"]
    built = TelemetryBatch.model_construct(**raw)  # no validator ran: plain dicts
    body = _body(batch_entry)
    assert built.chain_states() == body.chain_states()
    assert built.aggregate_totals() == body.aggregate_totals()
    assert built.submission_body() == body.submission_body()
