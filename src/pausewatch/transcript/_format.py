"""The transcript directory format ``pausewatch-transcript/v1`` (issue 17 §2; docs/transcripts.md).

A transcript is a directory holding ``manifest.json`` and one safetensors file per checkpoint,
``checkpoints/step-<8-digit step>.safetensors``. A checkpoint's digest is the SHA-256 of the
file's bytes in lowercase hex. The manifest's own digest (:meth:`Manifest.digest`) is the
SHA-256 of the RFC 8785 bytes of the manifest object without its ``seed`` key, so that revealing
the seed when an audit asks for it does not change what the log committed to.

Pure: JSON and hashing only (no torch), so that tools that only read manifests need nothing else.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pausewatch.errors import Error
from pausewatch.statements import canonical

FORMAT = "pausewatch-transcript/v1"
"""The ``format`` value of every manifest this module reads and writes."""

MANIFEST = "manifest.json"
"""The manifest's file name inside a transcript directory."""

MAX_STEP = 99_999_999
"""The largest step a checkpoint file name (8 digits) can carry: the bound of ``steps`` and
``every``."""

MAX_CHECKPOINTS = 100_000
"""The most checkpoints a transcript may hold, so that a hostile manifest cannot ask the checks
and the draw for billions of items (a checkpoint every step of a 99,999-step run fits)."""

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX = re.compile(r"^(?:[0-9a-f]{2})+$")


class TranscriptError(Error):
    """A transcript cannot be written, read or verified as asked: a malformed manifest, a missing
    checkpoint, an unknown recipe, parameters out of range."""


def checkpoint_path(step: int) -> str:
    """The path of the checkpoint at ``step``, relative to the transcript directory."""
    if not 0 <= step <= MAX_STEP:
        raise TranscriptError(f"a checkpoint step has at most 8 digits, got {step}")
    return f"checkpoints/step-{step:08d}.safetensors"


def file_digest(path: Path | str) -> str:
    """SHA-256 of a file's bytes, lowercase hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hyperparameters_digest(hyperparameters: dict[str, Any]) -> str:
    """SHA-256 of the RFC 8785 bytes of the hyper-parameters, lowercase hex (the run
    declaration's ``hyperparameters_digest``)."""
    return hashlib.sha256(canonical(hyperparameters)).hexdigest()


def seed_commitment(seed: bytes) -> str:
    """SHA-256 of the seed's bytes, lowercase hex (the declaration's ``data_order_seed_digest``)."""
    return hashlib.sha256(seed).hexdigest()


def checkpoint_steps(steps: int, every: int) -> tuple[int, ...]:
    """The steps a transcript must hold a checkpoint at: 0, every multiple of ``every`` below
    ``steps``, and ``steps``."""
    if steps < 1 or every < 1:
        raise TranscriptError(f"steps and every must be positive, got {steps} and {every}")
    if steps > MAX_STEP:
        raise TranscriptError(f"at most {MAX_STEP} steps (8-digit file names), got {steps}")
    count = -(-steps // every) + 1
    if count > MAX_CHECKPOINTS:
        raise TranscriptError(
            f"{steps} steps every {every} make {count} checkpoints, more than {MAX_CHECKPOINTS}"
        )
    return (*range(0, steps, every), steps)


@dataclass(frozen=True, slots=True)
class DatasetRef:
    """What identifies the training records a transcript committed to."""

    name: str
    """The dataset's name, which a recipe resolves to its records (e.g. ``sklearn-digits/v1``)."""
    records: int
    """How many training records the Merkle root covers (held-out records excluded)."""
    merkle_root: str
    """RFC 9162 Merkle tree hash over the training records' bytes, in order, lowercase hex."""

    def to_json(self) -> dict[str, Any]:
        """The manifest's ``dataset`` object."""
        return {"name": self.name, "records": self.records, "merkle_root": self.merkle_root}


@dataclass(frozen=True, slots=True)
class CheckpointRef:
    """One checkpoint the manifest names."""

    step: int
    """The optimiser steps taken before these weights (0: the initial weights)."""
    digest: str
    """SHA-256 of the checkpoint file's bytes, lowercase hex."""

    def to_json(self) -> dict[str, Any]:
        """One entry of the manifest's ``checkpoints``."""
        return {"step": self.step, "digest": self.digest}


@dataclass(frozen=True, slots=True)
class Manifest:
    """A transcript's ``manifest.json`` (contract T1)."""

    run_id: str | None
    """The run declaration this transcript belongs to, or None for a stand-alone transcript."""
    recipe: str
    """The recipe that defines model, data and loss (``pausewatch transcript recipes``)."""
    hyperparameters: dict[str, Any]
    """Everything the training loop reads: learning rate, batch size, model sizes."""
    hyperparameters_digest: str
    """:func:`hyperparameters_digest` of ``hyperparameters``."""
    dataset: DatasetRef
    """The committed training records."""
    seed_commitment: str
    """:func:`seed_commitment` of the secret seed."""
    every: int
    """Optimiser steps between checkpoints (the declaration's checkpoint interval)."""
    steps: int
    """Optimiser steps of the whole run."""
    threads: int
    """The intra-op thread count the run trained with (``torch.set_num_threads``)."""
    deterministic: bool
    """Whether the run trained with ``torch.use_deterministic_algorithms(True)``."""
    versions: dict[str, str]
    """``python``, ``torch``, ``safetensors`` and ``pausewatch`` versions of the trainer."""
    checkpoints: tuple[CheckpointRef, ...]
    """Every checkpoint, steps ascending."""
    seed: str | None = None
    """The revealed seed, hex; absent until an audit asks for it."""
    format: str = FORMAT
    """Always ``pausewatch-transcript/v1``."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Keys a later minor revision may add; kept, and covered by the digest."""

    def to_json(self) -> dict[str, Any]:
        """The manifest as a JSON object."""
        value: dict[str, Any] = {
            **self.extra,
            "format": self.format,
            "run_id": self.run_id,
            "recipe": self.recipe,
            "hyperparameters": self.hyperparameters,
            "hyperparameters_digest": self.hyperparameters_digest,
            "dataset": self.dataset.to_json(),
            "seed_commitment": self.seed_commitment,
            "every": self.every,
            "steps": self.steps,
            "threads": self.threads,
            "deterministic": self.deterministic,
            "versions": dict(self.versions),
            "checkpoints": [c.to_json() for c in self.checkpoints],
        }
        if self.seed is not None:
            value["seed"] = self.seed
        return value

    def digest(self) -> str:
        """SHA-256 of the RFC 8785 bytes of the manifest without ``seed``, lowercase hex."""
        value = self.to_json()
        value.pop("seed", None)
        return hashlib.sha256(canonical(value)).hexdigest()

    def seed_bytes(self) -> bytes | None:
        """The revealed seed's bytes, or None if it is not revealed."""
        return None if self.seed is None else bytes.fromhex(self.seed)

    def digest_at(self, step: int) -> str:
        """The committed digest of the checkpoint at ``step``."""
        for ref in self.checkpoints:
            if ref.step == step:
                return ref.digest
        raise TranscriptError(f"the manifest names no checkpoint at step {step}")

    @property
    def final_digest(self) -> str | None:
        """The digest of the checkpoint at ``steps`` (the final weights), if named."""
        for ref in self.checkpoints:
            if ref.step == self.steps:
                return ref.digest
        return None

    @classmethod
    def from_json(cls, value: Any) -> Manifest:
        """Parse a manifest object, refusing anything not of this format."""
        try:
            return _parse(value)
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
            raise TranscriptError(f"malformed transcript manifest: {_line(exc)}") from exc


def _line(exc: BaseException) -> str:
    """An exception as one line (a hostile manifest may put line breaks in any value)."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text[:500]


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    return value


def _int(value: Any, name: str, minimum: int) -> int:
    if type(value) is not int or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _hex64(value: Any, name: str) -> str:
    if not isinstance(value, str) or not _HEX64.match(value):
        raise ValueError(f"{name} must be 64 lowercase hex digits, got {value!r}")
    return value


_KEYS = frozenset(
    {
        "format",
        "run_id",
        "recipe",
        "hyperparameters",
        "hyperparameters_digest",
        "dataset",
        "seed_commitment",
        "seed",
        "every",
        "steps",
        "threads",
        "deterministic",
        "versions",
        "checkpoints",
    }
)


def _parse(value: Any) -> Manifest:
    if not isinstance(value, dict):
        raise TypeError("the manifest must be a JSON object")
    if value.get("format") != FORMAT:
        raise ValueError(f"format must be {FORMAT!r}, got {value.get('format')!r}")
    run_id = value["run_id"]
    if run_id is not None:
        _str(run_id, "run_id")
    hyperparameters = value["hyperparameters"]
    if not isinstance(hyperparameters, dict):
        raise TypeError("hyperparameters must be an object")
    dataset = value["dataset"]
    if not isinstance(dataset, dict):
        raise TypeError("dataset must be an object")
    seed = value.get("seed")
    if seed is not None and (not isinstance(seed, str) or not _HEX.match(seed)):
        raise ValueError(f"seed must be lowercase hex bytes, got {seed!r}")
    deterministic = value["deterministic"]
    if not isinstance(deterministic, bool):
        raise TypeError("deterministic must be a boolean")
    versions = value["versions"]
    if not isinstance(versions, dict) or not all(isinstance(v, str) for v in versions.values()):
        raise TypeError("versions must be an object of strings")
    checkpoints = value["checkpoints"]
    if not isinstance(checkpoints, list):
        raise TypeError("checkpoints must be a list")
    if len(checkpoints) > MAX_CHECKPOINTS:
        raise ValueError(f"a transcript holds at most {MAX_CHECKPOINTS} checkpoints")
    refs = tuple(
        CheckpointRef(_int(c["step"], "checkpoint step", 0), _hex64(c["digest"], "digest"))
        for c in checkpoints
    )
    if any(a.step >= b.step for a, b in itertools.pairwise(refs)):
        raise ValueError("checkpoint steps must be strictly increasing")
    steps, every = _int(value["steps"], "steps", 1), _int(value["every"], "every", 1)
    if steps > MAX_STEP or every > MAX_STEP:
        raise ValueError(f"steps and every must be at most {MAX_STEP}, got {steps} and {every}")
    if len(refs) > MAX_CHECKPOINTS or -(-steps // every) + 1 > MAX_CHECKPOINTS:
        raise ValueError(f"a transcript holds at most {MAX_CHECKPOINTS} checkpoints")
    return Manifest(
        run_id=run_id,
        recipe=_str(value["recipe"], "recipe"),
        hyperparameters=hyperparameters,
        hyperparameters_digest=_hex64(value["hyperparameters_digest"], "hyperparameters_digest"),
        dataset=DatasetRef(
            name=_str(dataset["name"], "dataset name"),
            records=_int(dataset["records"], "dataset records", 1),
            merkle_root=_hex64(dataset["merkle_root"], "merkle_root"),
        ),
        seed_commitment=_hex64(value["seed_commitment"], "seed_commitment"),
        seed=seed,
        every=every,
        steps=steps,
        threads=_int(value["threads"], "threads", 1),
        deterministic=deterministic,
        versions=dict(versions),
        checkpoints=refs,
        extra={k: v for k, v in value.items() if k not in _KEYS},
    )


def _manifest_text(directory: Path | str) -> tuple[Path, str]:
    path = Path(directory) / MANIFEST
    try:
        return path, path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TranscriptError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise TranscriptError(f"{path} is not UTF-8: {_line(exc)}") from exc


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is out of range for a number")
    return number


def _loads(path: Path, text: str) -> Any:
    """Strict JSON: no NaN or Infinity (which RFC 8785 cannot hash), no overflowing numbers,
    and nesting too deep to parse is an error like any other malformed text."""
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:
        raise TranscriptError(f"{path} is not JSON: {_line(exc)}") from exc


def _parse_text(path: Path, text: str) -> Manifest:
    return Manifest.from_json(_loads(path, text))


def read_manifest(directory: Path | str) -> Manifest:
    """Read and parse ``manifest.json`` of a transcript directory."""
    return _parse_text(*_manifest_text(directory))


@functools.lru_cache(maxsize=16)
def _parsed(text: str) -> Manifest:
    # Keyed on the file's whole text, never on its path or mtime: a manifest rewritten on disk
    # (even within one mtime tick, at the same size) is parsed afresh.
    return Manifest.from_json(_loads(Path(MANIFEST), text))


def cached_manifest(directory: Path | str) -> Manifest:
    """:func:`read_manifest`, with the parse cached per process by the file's content.

    The file is read on every call, so a manifest changed on disk is never served stale; only
    the JSON parse and validation of identical text are shared. The result is shared between
    callers: treat it (and its ``hyperparameters``) as read-only."""
    _, text = _manifest_text(directory)
    return _parsed(text)


def write_manifest(directory: Path | str, manifest: Manifest) -> None:
    """Write ``manifest.json`` (indented, keys sorted; the digest does not depend on layout)."""
    path = Path(directory) / MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest.to_json(), indent=2, sort_keys=True) + "\n", "utf-8")
    tmp.replace(path)


__all__ = [
    "FORMAT",
    "MANIFEST",
    "MAX_CHECKPOINTS",
    "MAX_STEP",
    "CheckpointRef",
    "DatasetRef",
    "Manifest",
    "TranscriptError",
    "cached_manifest",
    "checkpoint_path",
    "checkpoint_steps",
    "file_digest",
    "hyperparameters_digest",
    "read_manifest",
    "seed_commitment",
    "write_manifest",
]
