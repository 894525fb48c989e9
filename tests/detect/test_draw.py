"""The inspection draw: deterministic, unbiased, seeded by a checkpoint after the plan."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from pausewatch.detect import (
    DRAW_DOMAIN,
    checkpoint_seed,
    draw,
    draw_from_checkpoint,
    draw_indices,
)
from pausewatch.errors import DetectionError
from pausewatch.ledger import (
    Checkpoint,
    NoteError,
    Signer,
    add_signature_lines,
    root,
    sign_checkpoint,
)

ORIGIN = "log.pausewatch.example/v1"
SEED = hashlib.sha256(b"a checkpoint root").digest()
CHIPS = [f"chip-{i:05d}" for i in range(1000)]


def _seed(i: int) -> bytes:
    return hashlib.sha256(i.to_bytes(8, "big")).digest()


def _reference_draw(size: int, k: int, seed: bytes, context: str = "") -> list[int]:
    """The draw exactly as the module docstring specifies it, written out plainly (a full
    Fisher-Yates array, the stream rebuilt from the spec), to pin the documented algorithm."""
    ctx = context.encode()
    prefix = DRAW_DOMAIN + b"\x00" + len(ctx).to_bytes(4, "big") + ctx
    prefix += len(seed).to_bytes(4, "big") + seed
    words: list[int] = []
    counter = 0

    def u64() -> int:
        nonlocal counter
        if not words:
            block = hashlib.sha256(prefix + counter.to_bytes(8, "big")).digest()
            counter += 1
            words.extend(int.from_bytes(block[i : i + 8], "big") for i in range(0, 32, 8))
        return words.pop(0)

    def below(m: int) -> int:
        while True:
            x = u64()
            if x < 2**64 - 2**64 % m:
                return x % m

    positions = list(range(size))
    for i in range(k):
        j = i + below(size - i)
        positions[i], positions[j] = positions[j], positions[i]
    return sorted(positions[:k])


@pytest.mark.parametrize(("size", "k"), [(1, 1), (10, 3), (1000, 20), (97, 97), (5, 0)])
@pytest.mark.parametrize("context", ["", "plan 7f3a: chips"])
def test_draw_follows_the_documented_algorithm(size: int, k: int, context: str) -> None:
    """draw_indices is the algorithm of the module docstring (checked against a plain rewrite)."""
    for i in range(5):
        assert draw_indices(size, k, _seed(i), context=context) == _reference_draw(
            size, k, _seed(i), context
        )


def test_draw_is_deterministic_distinct_and_in_population_order() -> None:
    """The same seed gives the same k distinct items, in the population's order."""
    first = draw(CHIPS, 20, SEED)
    assert first == draw(CHIPS, 20, SEED)
    assert len(set(first)) == 20
    assert first == sorted(first, key=CHIPS.index)


def test_any_change_of_the_seed_changes_the_draw() -> None:
    """Flipping any one bit of the seed, or changing the context, gives another draw."""
    base = draw(CHIPS, 20, SEED)
    for bit in range(len(SEED) * 8):
        flipped = bytearray(SEED)
        flipped[bit // 8] ^= 1 << (bit % 8)
        assert draw(CHIPS, 20, bytes(flipped)) != base, bit
    assert draw(CHIPS, 20, SEED, context="facilities") != base
    assert draw(CHIPS, 20, SEED + b"\x00") != base


def test_draw_is_uniform_over_items() -> None:
    """Over 4,000 fixed seeds, each of 20 items is drawn (5 at a time) about equally often: the
    chi-square test does not reject uniformity at the 0.1% level. The seeds are fixed, so the
    test is deterministic."""
    counts = [0] * 20
    for i in range(4000):
        for j in draw_indices(20, 5, _seed(i)):
            counts[j] += 1
    _, p_value = stats.chisquare(counts)
    assert p_value > 0.001, counts


def test_draw_is_uniform_over_subsets() -> None:
    """Over 6,000 fixed seeds, each of the C(6, 2) = 15 pairs of 6 items is drawn about
    equally often (chi-square, 0.1% level): every subset is as likely, not only every item."""
    counts: dict[tuple[int, ...], int] = {}
    for i in range(6000):
        pair = tuple(draw_indices(6, 2, _seed(i)))
        counts[pair] = counts.get(pair, 0) + 1
    assert len(counts) == 15
    _, p_value = stats.chisquare(list(counts.values()))
    assert p_value > 0.001, counts


def test_rejection_removes_the_modulo_bias() -> None:
    """For a population of 3 * 2^62 a plain 64-bit modulo would land in the first third half
    of the time; with rejection it lands there a third of the time (2,000 fixed seeds, within
    four standard deviations)."""
    size = 3 * 2**62
    low = sum(draw_indices(size, 1, _seed(i))[0] < 2**62 for i in range(2000))
    sd = (2000 * (1 / 3) * (2 / 3)) ** 0.5
    assert abs(low - 2000 / 3) < 4 * sd


@pytest.mark.parametrize(
    ("size", "k", "seed", "message"),
    [(10, 11, SEED, "k <= 10"), (10, -1, SEED, "k <= 10"), (10, 2, b"", "non-empty seed")],
)
def test_bad_draws_are_refused(size: int, k: int, seed: bytes, message: str) -> None:
    """More items than the population, a negative count or an empty seed raise DetectionError."""
    with pytest.raises(DetectionError, match=message):
        draw_indices(size, k, seed)


@pytest.fixture(scope="module")
def log_key() -> Signer:
    return Signer.generate(ORIGIN)


def _checkpoint_note(log_key: Signer, size: int) -> tuple[str, bytes]:
    leaves = [f"entry {i}".encode() for i in range(size)]
    tree_root = root(leaves)
    return sign_checkpoint(Checkpoint(ORIGIN, size, tree_root), log_key), tree_root


def test_seed_is_the_root_of_a_checkpoint_that_contains_the_commitment(log_key: Signer) -> None:
    """A checkpoint whose tree holds the plan's commitment (size > index) gives its root as the
    seed, and draw_from_checkpoint draws from it."""
    note, tree_root = _checkpoint_note(log_key, 8)
    verifier = log_key.verifier()
    assert checkpoint_seed(note, verifier, commitment_index=7) == tree_root
    assert draw_from_checkpoint(
        CHIPS, 10, note, verifier, commitment_index=7, context="plan 1"
    ) == draw(CHIPS, 10, tree_root, context="plan 1")


@pytest.mark.parametrize("commitment_index", [8, 9, 100])
def test_checkpoint_before_the_commitment_is_refused(
    log_key: Signer, commitment_index: int
) -> None:
    """A checkpoint of size <= the commitment's index was public before the plan: refused."""
    note, _ = _checkpoint_note(log_key, 8)
    with pytest.raises(DetectionError, match="known before the plan"):
        checkpoint_seed(note, log_key.verifier(), commitment_index=commitment_index)


def test_checkpoint_of_another_key_is_refused(log_key: Signer) -> None:
    """A checkpoint not signed by the log's key gives no seed."""
    stranger = Signer.generate(ORIGIN)
    note, _ = _checkpoint_note(stranger, 8)
    with pytest.raises(NoteError, match="not signed by the log key"):
        checkpoint_seed(note, log_key.verifier(), commitment_index=3)


def test_witness_threshold_is_enforced(log_key: Signer) -> None:
    """With a witness threshold, a checkpoint without enough cosignatures is refused and one
    with them gives the seed."""
    witness = Signer.generate("witness.example")
    note, tree_root = _checkpoint_note(log_key, 8)
    with pytest.raises(DetectionError, match="witness"):
        checkpoint_seed(
            note,
            log_key.verifier(),
            commitment_index=3,
            witnesses=[witness.verifier()],
            witness_threshold=1,
        )
    text = note.split("\n\n")[0] + "\n"
    cosigned = add_signature_lines(note, [witness.cosignature_line(text, 1_700_000_000)])
    seed = checkpoint_seed(
        cosigned,
        log_key.verifier(),
        commitment_index=3,
        witnesses=[witness.verifier()],
        witness_threshold=1,
    )
    assert seed == tree_root


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(0, 10**12),
    k_fraction=st.floats(0.0, 1.0),
    seed=st.binary(min_size=1, max_size=64),
    context=st.text(max_size=20),
)
def test_draw_is_k_distinct_sorted_indices_in_range(
    size: int, k_fraction: float, seed: bytes, context: str
) -> None:
    """For any population size (up to 1e12), count and seed, the draw is k distinct ascending
    indices below the size, and drawing again gives the same."""
    k = min(size, round(k_fraction * min(size, 50)))
    got = draw_indices(size, k, seed, context=context)
    assert len(got) == k
    assert got == sorted(set(got))
    assert all(0 <= i < size for i in got)
    assert got == draw_indices(size, k, seed, context=context)
