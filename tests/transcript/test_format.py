"""The transcript directory format pausewatch-transcript/v1 (pausewatch.transcript._format)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pausewatch.statements import canonical
from pausewatch.transcript import (
    FORMAT,
    CheckpointRef,
    DatasetRef,
    Manifest,
    TranscriptError,
    checkpoint_path,
    file_digest,
    hyperparameters_digest,
    read_manifest,
    seed_commitment,
    write_manifest,
)

HEX = "ab" * 32


def _manifest(**changes: object) -> Manifest:
    base: dict[str, object] = {
        "run_id": "run-1",
        "recipe": "mlp",
        "hyperparameters": {"lr": 0.1, "batch_size": 32},
        "hyperparameters_digest": hyperparameters_digest({"lr": 0.1, "batch_size": 32}),
        "dataset": DatasetRef("sklearn-digits/v1", 10, HEX),
        "seed_commitment": seed_commitment(b"seed"),
        "every": 5,
        "steps": 10,
        "threads": 1,
        "deterministic": True,
        "versions": {"python": "3.11", "torch": "2.13.0", "safetensors": "0.8", "pausewatch": "x"},
        "checkpoints": (CheckpointRef(0, HEX), CheckpointRef(5, HEX), CheckpointRef(10, HEX)),
        "seed": b"seed".hex(),
    }
    base.update(changes)
    return Manifest(**base)  # type: ignore[arg-type]


def test_checkpoint_path_has_eight_digits() -> None:
    """A checkpoint's path is checkpoints/step-<8-digit step>.safetensors."""
    assert checkpoint_path(0) == "checkpoints/step-00000000.safetensors"
    assert checkpoint_path(1234) == "checkpoints/step-00001234.safetensors"
    with pytest.raises(TranscriptError):
        checkpoint_path(100_000_000)


def test_file_digest_is_sha256_of_the_bytes(tmp_path: Path) -> None:
    """file_digest is the lowercase hex SHA-256 of the file's bytes."""
    path = tmp_path / "f"
    path.write_bytes(b"pausewatch" * 1000)
    assert file_digest(path) == hashlib.sha256(b"pausewatch" * 1000).hexdigest()


def test_hyperparameters_digest_hashes_rfc8785_bytes() -> None:
    """The hyper-parameters' digest is SHA-256 of their RFC 8785 bytes (key order irrelevant)."""
    a = {"lr": 0.1, "batch_size": 32}
    b = {"batch_size": 32, "lr": 0.1}
    assert hyperparameters_digest(a) == hyperparameters_digest(b)
    assert hyperparameters_digest(a) == hashlib.sha256(canonical(a)).hexdigest()


def test_a_manifest_round_trips_through_its_file(tmp_path: Path) -> None:
    """write_manifest then read_manifest gives back the same manifest."""
    manifest = _manifest()
    write_manifest(tmp_path, manifest)
    assert read_manifest(tmp_path) == manifest
    assert json.loads((tmp_path / "manifest.json").read_text())["format"] == FORMAT


def test_revealing_the_seed_keeps_the_manifest_digest() -> None:
    """The manifest digest leaves the seed out, so revealing it later changes nothing."""
    assert _manifest(seed=None).digest() == _manifest().digest()
    assert _manifest(steps=11).digest() != _manifest().digest()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("format", "pausewatch-transcript/v0"),
        ("hyperparameters_digest", "AB" * 32),
        ("every", 0),
        ("steps", "10"),
        ("deterministic", "yes"),
        ("seed", "xyz"),
        ("checkpoints", [{"step": 5, "digest": HEX}, {"step": 5, "digest": HEX}]),
    ],
)
def test_a_malformed_manifest_is_refused(key: str, value: object) -> None:
    """A manifest with a wrong format, a bad digest or a bad field is a TranscriptError."""
    raw = _manifest().to_json()
    raw[key] = value
    with pytest.raises(TranscriptError):
        Manifest.from_json(raw)


def test_a_missing_manifest_is_one_transcript_error(tmp_path: Path) -> None:
    """Reading a directory without manifest.json raises TranscriptError."""
    with pytest.raises(TranscriptError, match="cannot read"):
        read_manifest(tmp_path / "nowhere")


@given(
    run_id=st.none() | st.text(max_size=20),
    every=st.integers(1, 1000),
    steps=st.integers(1, 10_000),
    threads=st.integers(1, 64),
    extra=st.dictionaries(st.sampled_from(["note", "lab"]), st.text(max_size=8), max_size=2),
)
def test_manifest_json_round_trips(
    run_id: str | None, every: int, steps: int, threads: int, extra: dict[str, str]
) -> None:
    """from_json(to_json(m)) == m for any well-formed manifest, unknown keys kept."""
    manifest = _manifest(run_id=run_id, every=every, steps=steps, threads=threads, extra=extra)
    assert Manifest.from_json(json.loads(json.dumps(manifest.to_json()))) == manifest


def test_a_trained_manifest_validates_against_the_schema(honest_mlp: Path) -> None:
    """The shipped JSON Schema accepts a trained manifest and refuses a malformed one."""
    jsonschema = pytest.importorskip("jsonschema")
    from importlib import resources

    text = resources.files("pausewatch.transcript").joinpath("transcript.schema.json").read_text()
    schema = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    value = json.loads((honest_mlp / "manifest.json").read_text())
    jsonschema.validate(value, schema)
    value["checkpoints"][0]["digest"] = "XYZ"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(value, schema)
