"""Detection scenarios: the format, its checked-in JSON Schema, and the seeded corpus
(docs/scenarios.md, docs/adr/0030)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from pausewatch.simulate.scenario import (
    PROHIBITED_FLOP,
    SCHEMA_PATH,
    STRATEGIES,
    DefectionKind,
    ScenarioError,
    chip_peak,
    generate_corpus,
    generate_scenario,
    load_scenario,
    parse_scenario,
    scenario_json,
    scenario_schema,
)

PAUSEWATCH = [sys.executable, "-m", "pausewatch.cli"]
SEED = 5_000_000


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PAUSEWATCH, *args], capture_output=True, text=True, check=False)


def test_the_checked_in_schema_is_the_models_export() -> None:
    """scenario.schema.json is exactly what the models export (regenerate it when they change)."""
    assert json.loads(SCHEMA_PATH.read_text()) == scenario_schema()


def test_every_generated_scenario_validates_against_the_checked_in_schema() -> None:
    """A generated corpus validates against the JSON Schema with a standard validator too."""
    schema = json.loads(SCHEMA_PATH.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    for scenario in generate_corpus(SEED, 24):
        errors = list(validator.iter_errors(json.loads(scenario_json(scenario))))
        assert errors == [], scenario.scenario_id


def test_generation_is_deterministic_per_seed() -> None:
    """The same seed and count give the same files byte for byte; another seed other ones."""
    first = [scenario_json(s) for s in generate_corpus(SEED, 12)]
    again = [scenario_json(s) for s in generate_corpus(SEED, 12)]
    other = [scenario_json(s) for s in generate_corpus(SEED + 100, 12)]
    assert first == again
    assert first != other


def test_a_corpus_covers_every_kind_and_honest_scenarios() -> None:
    """Twelve scenarios already hold every defection kind and honest ones; a larger corpus
    holds every strategy of every kind."""
    kinds = {s.defection.kind if s.defection else None for s in generate_corpus(SEED, 12)}
    assert kinds == {None, *DefectionKind}
    strategies = {
        (s.defection.kind, s.defection.strategy)
        for s in generate_corpus(SEED, 400)
        if s.defection is not None
    }
    assert strategies == {(k, s) for k, ss in STRATEGIES.items() for s in ss}


def test_a_corpus_plays_each_kinds_strategies_in_turn() -> None:
    """Every kind's strategies come in turn, so that a corpus with as many of a kind as it has
    strategies holds each of them (a draw left the benchmark's corpus of 80 with no
    ``scaled_sensors`` among six under-reported runs), and a seed's size and start are those its
    own draw gives (bar a bursty scenario's start)."""
    corpus = generate_corpus(SEED, 4 * 2 * len(DefectionKind) // 3)
    defecting = [s for s in corpus if s.defection is not None]
    assert len(defecting) == 2 * len(DefectionKind)
    rounds: dict[DefectionKind, int] = {}
    for s in defecting:
        assert s.defection is not None
        kind = s.defection.kind
        r = rounds[kind] = rounds.get(kind, -1) + 1
        assert s.defection.strategy == STRATEGIES[kind][r % len(STRATEGIES[kind])]
    benchmark = generate_corpus(3_000_000, 80)
    assert "scaled_sensors" in {s.defection.strategy for s in benchmark if s.defection}
    for s in defecting:
        assert s.defection is not None
        drawn = generate_scenario(s.seed, s.defection.kind)
        assert drawn.defection is not None
        assert drawn.defection.size_flop == s.defection.size_flop
        if s.defection.kind is not DefectionKind.INFERENCE_SHAPED:
            # A bursty scenario draws its burst share once more, before its start.
            assert drawn.defection.start == s.defection.start


def test_a_strategy_the_kind_does_not_have_is_refused() -> None:
    """Naming a strategy of another kind, or one for an honest scenario, is a ScenarioError."""
    with pytest.raises(ScenarioError, match="not one of"):
        generate_scenario(SEED, DefectionKind.SPLIT_RUN, "smuggled")
    with pytest.raises(ScenarioError, match="honest"):
        generate_scenario(SEED, None, "scaled")


def test_sizes_span_from_well_under_to_well_over_the_prohibited_threshold() -> None:
    """Defection sizes run from under a tenth of 1e24 FLOP to over ten times it."""
    sizes = [s.defection.size_flop for s in generate_corpus(SEED, 200) if s.defection]
    assert min(sizes) < PROHIBITED_FLOP / 10
    assert max(sizes) > PROHIBITED_FLOP * 10


def test_a_defections_duration_follows_from_its_size_chips_model_and_utilisation() -> None:
    """duration_s = size / (chips x dense peak x utilisation) for every generated defection."""
    for scenario in generate_corpus(SEED, 36):
        d = scenario.defection
        if d is None:
            continue
        clusters = scenario.clusters()
        rate = sum(clusters[c][1].chips * chip_peak(clusters[c][1].chip_model) for c in d.clusters)
        assert d.duration_s == pytest.approx(d.size_flop / (rate * d.utilisation), rel=1e-9)


def test_a_scenario_whose_duration_disagrees_with_its_size_is_refused_in_one_line() -> None:
    """A stated duration off by half is refused, naming the field and the expected value."""
    doc = json.loads(scenario_json(generate_scenario(SEED, DefectionKind.GOING_DARK)))
    doc["defection"]["duration_s"] /= 2
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(doc)
    message = str(caught.value)
    assert "\n" not in message
    assert "duration_s" in message
    assert "disagrees" in message


def test_an_unknown_strategy_is_refused_in_one_line() -> None:
    """A strategy not of its kind's list is refused, naming the ones allowed."""
    doc = json.loads(scenario_json(generate_scenario(SEED, DefectionKind.DIVERSION)))
    doc["defection"]["strategy"] = "telepathy"
    with pytest.raises(ScenarioError, match=r"telepathy.*declared_export"):
        parse_scenario(doc)


def test_a_file_round_trips(tmp_path: Path) -> None:
    """A scenario written and read back is the same scenario."""
    scenario = generate_scenario(SEED, DefectionKind.SPLIT_RUN)
    path = tmp_path / "s.json"
    path.write_text(scenario_json(scenario))
    assert load_scenario(path) == scenario


def test_the_cli_refuses_a_bad_scenario_with_one_line_and_exit_1(tmp_path: Path) -> None:
    """``simulate check`` on a file with an unknown chip model prints one error line, exit 1."""
    doc = json.loads(scenario_json(generate_scenario(SEED, None)))
    doc["facilities"][0]["clusters"][0]["chip_model"] = "Abacus 1"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    result = _cli("simulate", "check", str(path))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Abacus 1" in lines[0]


def test_the_cli_writes_a_corpus(tmp_path: Path) -> None:
    """``simulate scenarios --seed --count --out`` writes one valid file per seed."""
    out = tmp_path / "corpus"
    result = _cli("simulate", "scenarios", "--seed", str(SEED), "--count", "5", "--out", str(out))
    assert result.returncode == 0, result.stderr
    files = sorted(out.glob("*.json"))
    assert len(files) == 5
    assert sorted(load_scenario(p).seed for p in files) == list(range(SEED, SEED + 5))
    assert _cli("simulate", "check", *map(str, files)).returncode == 0


def test_each_piece_of_a_split_run_stays_under_the_prohibition() -> None:
    """A split defection's pieces each plan under 1e24 FLOP, however large the whole run (a
    piece above it would be found as prohibited, not as a split)."""
    splits = [
        s.defection
        for s in generate_corpus(SEED, 1000)
        if s.defection is not None and s.defection.kind is DefectionKind.SPLIT_RUN
    ]
    assert max(d.size_flop for d in splits) > 8 * PROHIBITED_FLOP
    for d in splits:
        assert d.size_flop / len(d.clusters) < PROHIBITED_FLOP
