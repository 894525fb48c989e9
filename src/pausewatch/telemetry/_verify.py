"""Verifying a batch of telemetry records against the registry and each chip's chain.

Pure: the registry is a :class:`RegistryView` passed in, ``now`` is a parameter, and the chain
state each chip reached in earlier batches comes in and goes out as :class:`ChainState` values
for the caller to persist. Nothing is read from a clock, a file or a database.

Every record gets one verdict. The rules run in this order and the first that fails decides:

1. ``line_too_long`` / ``malformed``: a line over :data:`MAX_LINE_BYTES` (refused unread) /
   not JSON, a missing, unknown or ill-typed field (:func:`parse_line`).
2. ``chip_unknown`` / ``chip_revoked`` / ``chip_key_invalid``: no registered chip with that id
   (or of a model the hardware catalogue lacks) / the chip's key is revoked / the registered key
   is not a canonical Ed25519 public key of large order (RFC 8032 §5.1.3), so no signature by it
   can mean anything. Each is a verdict on that chip's records only, never on the batch.
3. ``chip_not_installed``: not installed in a cluster of the submitting operator.
4. ``signature``: the Ed25519 signature (RFC 8032) does not hold for the chip's key.
5. Chain: a repeat of the last accepted record is a *duplicate* (counted once, not an error);
   any other seq at or below the last is ``replay``; the next seq must name the last accepted
   hash in ``prev`` (``chain_broken``); a seq further on is accepted with a :class:`Gap`.
6. ``window_invalid`` / ``window_future`` / ``window_overlap``.
7. ``energy_fell``: the cumulative energy counter went down.
8. ``flop_impossible`` / ``energy_impossible``: more work or energy than the chip can do. FLOP
   are bounded for the window as a whole: each precision's count is turned into the time the
   chip needs for it at that precision's peak, and the times together must fit in the window.
9. ``run_undeclared``: the record names a run not declared on the chip's cluster.

Records of one chip are checked in seq order whatever their order in the batch, so a batch
may carry them shuffled. A rejected record does not advance the chain: the next accepted record
of that chip then shows a gap, so missing windows are never papered over.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import operator
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from pausewatch.compute import COUNTER_TOLERANCE, HardwareCatalogue, load_catalogue
from pausewatch.errors import UnknownChipError
from pausewatch.fields import ed25519_key_problem as key_problem
from pausewatch.ledger import root as merkle_root
from pausewatch.telemetry._parse import _HEX64, _TIME, ParsedLine, _partial, parse_line
from pausewatch.telemetry._record import (
    DOMAIN,
    MAX_WINDOW_S,
    RecordError,
    TelemetryError,
    TelemetryRecord,
    format_time,
)

FLOP_TOLERANCE = COUNTER_TOLERANCE
"""How far (as a fraction) a FLOP counter may exceed peak x window before it is impossible: the
counters' stated accuracy of ±2% (records are cut at window boundaries, profiling samples)."""

ENERGY_HEADROOM = 1.5
"""Energy between two accepted records may reach TDP x elapsed seconds x this factor: boards
draw above TDP in short excursions and TDP figures are nominal, but not 50% above for minutes."""

MAX_LINE_BYTES = 64 * 1024
"""The longest record line read, in bytes (without its newline). A record line is about 700
bytes; anything near this is no record, and is refused as ``line_too_long`` without being
read whole into memory or parsed."""

_ZERO = timedelta(0)
_first = operator.itemgetter(0)
_index = operator.attrgetter("index")


class Rule(StrEnum):
    """Why a record was not accepted (``duplicate`` is no error: the record was already in)."""

    LINE_TOO_LONG = "line_too_long"
    MALFORMED = "malformed"
    CHIP_UNKNOWN = "chip_unknown"
    CHIP_REVOKED = "chip_revoked"
    CHIP_KEY_INVALID = "chip_key_invalid"
    CHIP_NOT_INSTALLED = "chip_not_installed"
    SIGNATURE = "signature"
    DUPLICATE = "duplicate"
    REPLAY = "replay"
    CHAIN_BROKEN = "chain_broken"
    WINDOW_INVALID = "window_invalid"
    WINDOW_FUTURE = "window_future"
    WINDOW_OVERLAP = "window_overlap"
    ENERGY_FELL = "energy_fell"
    FLOP_IMPOSSIBLE = "flop_impossible"
    ENERGY_IMPOSSIBLE = "energy_impossible"
    RUN_UNDECLARED = "run_undeclared"


class ChipStatus(StrEnum):
    """Where a chip stands in the registry."""

    CERTIFIED = "certified"
    """Its maker vouched for its key; not yet installed anywhere."""
    INSTALLED = "installed"
    """In a cluster of an operator; only then may its telemetry be submitted."""
    IN_TRANSIT = "in_transit"
    """Released by one operator, not yet installed by the next."""
    RETIRED = "retired"
    """Taken out of service for good."""


@dataclass(frozen=True, slots=True)
class ChipInfo:
    """What the verifier needs to know about one registered chip."""

    chip_id: str
    """The chip's registry id."""
    public_key: bytes
    """The chip's raw 32-byte Ed25519 public key."""
    model: str
    """The chip model, as the hardware catalogue names it (or an alias)."""
    cluster_id: str | None = None
    """The cluster it is installed in, if any."""
    operator_id: str | None = None
    """The operator whose cluster holds it, if any."""
    status: ChipStatus = ChipStatus.CERTIFIED
    """Its custody status."""
    revoked: bool = False
    """Whether its key has been revoked (its signatures then count for nothing)."""


class RegistryView(Protocol):
    """The part of the registry the verifier reads (a snapshot, a database view or a fake)."""

    def chip(self, chip_id: str) -> ChipInfo | None:
        """The registered chip with this id, or ``None``."""
        ...

    def run_declared_on(self, run_id: str, cluster_id: str) -> bool:
        """Whether run ``run_id`` is declared to use cluster ``cluster_id``."""
        ...


@dataclass(frozen=True)
class StaticRegistry:
    """An in-memory :class:`RegistryView`: for tests, simulations and audits of a snapshot."""

    chips: Mapping[str, ChipInfo] = field(default_factory=dict)
    """Registered chips by id."""
    runs: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Declared runs: run id to the clusters it is declared on."""

    @classmethod
    def of(
        cls, chips: Iterable[ChipInfo], runs: Mapping[str, Iterable[str]] | None = None
    ) -> StaticRegistry:
        """A registry of ``chips`` and ``runs`` (run id to cluster ids)."""
        return cls(
            chips=MappingProxyType({c.chip_id: c for c in chips}),
            runs=MappingProxyType({r: frozenset(c) for r, c in (runs or {}).items()}),
        )

    def chip(self, chip_id: str) -> ChipInfo | None:
        """The registered chip with this id, or ``None``."""
        return self.chips.get(chip_id)

    def run_declared_on(self, run_id: str, cluster_id: str) -> bool:
        """Whether run ``run_id`` is declared on ``cluster_id``."""
        return cluster_id in self.runs.get(run_id, ())


@dataclass(frozen=True, slots=True)
class ChainState:
    """Where a chip's chain stood after its last accepted record; persisted between batches."""

    seq: int
    """Seq of the last accepted record."""
    hash: str
    """Hash of the last accepted record (what the next record's ``prev`` must name)."""
    window_end: datetime
    """End of the last accepted window (UTC); the next window may not start before it."""
    energy_j: int
    """Cumulative energy of the last accepted record; it may never go down."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping, for storage."""
        return {
            "seq": self.seq,
            "hash": self.hash,
            "window_end": format_time(self.window_end),
            "energy_j": self.energy_j,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ChainState:
        """Restore a state written by :meth:`to_json`; a malformed one is a TelemetryError.

        Nothing is repaired: a damaged state must stop the chip's chain, not restart it.
        """
        try:
            seq, hash_, end, energy = (
                data["seq"],
                data["hash"],
                data["window_end"],
                data["energy_j"],
            )
            if type(seq) is not int or seq < 0 or type(energy) is not int or energy < 0:
                raise ValueError("seq and energy_j must be integers >= 0")
            if type(hash_) is not str or _HEX64.fullmatch(hash_) is None:
                raise ValueError("hash must be 64 lowercase hex digits")
            if type(end) is not str or _TIME.fullmatch(end) is None:
                raise ValueError("window_end must be an RFC 3339 UTC time ending in Z")
            window_end = datetime.fromisoformat(end)
        except (KeyError, TypeError, ValueError) as exc:
            raise TelemetryError(f"invalid chain state {dict(data)!r}: {exc}") from exc
        return cls(seq=seq, hash=hash_, window_end=window_end, energy_j=energy)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that was not accepted, and why."""

    index: int
    """Its position in the batch (0-based)."""
    chip_id: str | None
    """Its chip, where the line could be read that far."""
    seq: int | None
    """Its seq, where the line could be read that far."""
    rule: Rule
    """The first rule it failed."""
    reason: str
    """What was expected and what was found, for a person."""

    def __str__(self) -> str:
        where = f"record {self.index}"
        if self.chip_id is not None:
            where += f" (chip {self.chip_id}" + (
                f" seq {self.seq})" if self.seq is not None else ")"
            )
        return f"{where}: {self.reason}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "index": self.index,
            "chip_id": self.chip_id,
            "seq": self.seq,
            "rule": self.rule.value,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A record already accepted (earlier in this batch or in an earlier one): counted once."""

    index: int
    """Its position in the batch."""
    chip_id: str
    """Its chip."""
    seq: int
    """Its seq."""
    hash: str
    """Its hash (equal to the accepted copy's)."""
    first_index: int | None
    """Position of the accepted copy in this batch, ``None`` when accepted in an earlier one."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "index": self.index,
            "chip_id": self.chip_id,
            "seq": self.seq,
            "hash": self.hash,
            "first_index": self.first_index,
        }


@dataclass(frozen=True, slots=True)
class Gap:
    """Windows missing from a chip's chain: seqs ``from_seq`` to ``to_seq``, both included."""

    index: int
    """Position in the batch of the accepted record that came after the gap."""
    chip_id: str
    """The chip."""
    from_seq: int
    """First missing seq."""
    to_seq: int
    """Last missing seq."""

    @property
    def missing(self) -> int:
        """How many windows are missing."""
        return self.to_seq - self.from_seq + 1

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "index": self.index,
            "chip_id": self.chip_id,
            "from_seq": self.from_seq,
            "to_seq": self.to_seq,
            "missing": self.missing,
        }


@dataclass(frozen=True, slots=True)
class AcceptedRecord:
    """A record that passed every rule, with what aggregation needs from its context."""

    index: int
    """Its position in the batch."""
    hash: str
    """Its hash: lowercase hex SHA-256 of :attr:`line`."""
    line: bytes
    """Its canonical line bytes: what is stored and what the batch tree commits to."""
    record: TelemetryRecord
    """The parsed record."""
    cluster_id: str
    """The cluster the chip was installed in when the batch was verified."""
    energy_delta_j: int | None
    """Energy since the chip's previous accepted record (``None`` for its first record ever)."""
    model: str
    """The chip's model, as the hardware catalogue names it (its canonical name, not an alias):
    the aggregate keeps busy windows per model (docs/adr/0033)."""


@dataclass(frozen=True)
class BatchResult:
    """The verdict on one batch: what was accepted, rejected, repeated or missing."""

    accepted: tuple[AcceptedRecord, ...]
    """Accepted records, in batch order."""
    rejected: tuple[Rejected, ...]
    """Rejected records, in batch order."""
    duplicates: tuple[Duplicate, ...]
    """Records already accepted, in batch order."""
    gaps: tuple[Gap, ...]
    """Missing windows found, in batch order of the record after each gap."""
    chains: Mapping[str, ChainState]
    """New chain states of the chips this batch advanced (persist them: ``store.update(...)``)."""
    root: bytes
    """RFC 9162 Merkle root over the accepted records' line bytes, in batch order."""

    @property
    def root_hex(self) -> str:
        """:attr:`root` in lowercase hex."""
        return self.root.hex()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (the accepted records themselves are stored apart)."""
        return {
            "root": self.root_hex,
            "accepted": len(self.accepted),
            "rejected": [r.to_json() for r in self.rejected],
            "duplicates": [d.to_json() for d in self.duplicates],
            "gaps": [g.to_json() for g in self.gaps],
        }


# ---------------------------------------------------------------------------------------------
# The verifier


@functools.lru_cache(maxsize=1 << 16)
def _public_key(raw: bytes) -> Ed25519PublicKey:
    """Keys are cached by their bytes, never by chip id, so a rotated key is never stale."""
    return Ed25519PublicKey.from_public_bytes(raw)


class _Chip(NamedTuple):
    """A registered chip as one batch uses it."""

    info: ChipInfo
    key: Ed25519PublicKey
    model: str
    cluster_id: str
    flop_per_s: Mapping[str, float]
    """Peak x (1 + tolerance) per precision the chip has."""
    max_power_w: float | None
    """TDP x headroom, when the catalogue knows the TDP."""


def _chip_context(
    chip_id: str,
    info: ChipInfo | None,
    operator_id: str,
    catalogue: HardwareCatalogue,
    tolerance: float,
) -> _Chip | tuple[Rule, str]:
    if info is None:
        return Rule.CHIP_UNKNOWN, f"no registered chip {chip_id!r}"
    if info.revoked:
        return Rule.CHIP_REVOKED, f"the key of chip {chip_id!r} is revoked"
    try:
        model = catalogue.get(info.model)
    except UnknownChipError:
        return Rule.CHIP_UNKNOWN, (
            f"chip {chip_id!r} is of model {info.model!r}, which the hardware catalogue lacks"
        )
    if (
        info.status != ChipStatus.INSTALLED
        or info.cluster_id is None
        or info.operator_id != operator_id
    ):
        where = (
            f"installed in cluster {info.cluster_id!r} of operator {info.operator_id!r}"
            if info.status == ChipStatus.INSTALLED
            else str(info.status)
        )
        return Rule.CHIP_NOT_INSTALLED, (
            f"chip {chip_id!r} is not installed in a cluster of operator {operator_id!r} "
            f"(it is {where})"
        )
    raw = bytes(info.public_key)
    problem = key_problem(raw)
    if problem is None:
        try:
            key = _public_key(raw)
        except ValueError as exc:  # pragma: no cover - key_problem admits only valid keys
            problem = str(exc)
    if problem is not None:
        return Rule.CHIP_KEY_INVALID, (
            f"the registered key of chip {chip_id!r} is not a usable Ed25519 public key: {problem}"
        )
    limits = {p.value: peak * (1 + tolerance) for p, peak in model.peak_flops.items()}
    max_power = None if model.tdp_w is None else model.tdp_w * ENERGY_HEADROOM
    return _Chip(info, key, model.name, info.cluster_id, limits, max_power)


def _require_utc(now: datetime) -> None:
    if not isinstance(now, datetime) or now.utcoffset() != _ZERO:
        raise TelemetryError(f"now must be a timezone-aware UTC datetime, got {now!r}")


def split_lines(data: bytes) -> list[bytes]:
    """The lines of a JSONL upload; a final newline ends the last line, it starts none.

    Blank lines in the middle are kept (each is then a malformed record), so a record's index
    is its line number minus one.
    """
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def verify_batch(
    lines: Iterable[bytes | str],
    *,
    operator_id: str,
    now: datetime,
    registry: RegistryView,
    chains: Mapping[str, ChainState],
    catalogue: HardwareCatalogue | None = None,
    flop_tolerance: float = FLOP_TOLERANCE,
    every_signature: bool = False,
) -> BatchResult:
    """Verify one batch of signed record lines submitted by ``operator_id``.

    ``chains`` holds each chip's :class:`ChainState` after earlier batches (absent: the chip has
    no accepted record yet, and its first may start at any seq). ``now`` bounds window ends.
    The result says, for every line, whether it was accepted, rejected (with its rule and a
    reason), or a duplicate; it lists the gaps found and the chains' new states. Raises only
    for unusable arguments (``now`` not UTC); a bad record is a verdict, never an exception.

    **Signatures through the chain.** A chip's record names the hash of its previous record
    (``prev``), and the chip's signature covers that hash. So once a record's signature is
    checked, the record it names is the chip's own too, and so on down the chain: each chip's
    records in a batch are checked from its highest seq down, and a record whose hash the
    next-higher authenticated record names needs no signature check of its own. Where the
    chain breaks (a forged or altered record), the record is checked directly, and fails as
    ``signature``. The verdicts are the same as checking every signature, except for a record
    whose own signature is invalid although the chip's next record commits to it (only the
    chip itself can produce that): it is accepted, being the chip's. ``every_signature``
    checks every record's signature anyway (about one verification a record instead of one a
    chip per batch).
    """
    _require_utc(now)
    with _gc_paused():
        return _verify(
            enumerate(lines),
            operator_id,
            now,
            registry,
            chains,
            catalogue if catalogue is not None else load_catalogue(),
            flop_tolerance,
            every_signature,
        )


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector, and resume it only if it was running.

    A batch keeps every record alive until it returns, and creates no reference cycles. With
    100,000 records alive the collector's full passes cost about 7 µs a record, a third of all
    the work outside the signature checks, and find nothing; reference counting still frees
    everything as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _too_long(index: int, size: int) -> Rejected:
    return Rejected(
        index,
        None,
        None,
        Rule.LINE_TOO_LONG,
        f"a line of {size} bytes is longer than the {MAX_LINE_BYTES}-byte limit of a record line",
    )


def _blank(index: int) -> Rejected:
    return Rejected(index, None, None, Rule.MALFORMED, "not a JSON line: the line is blank")


def _verify(
    lines: Iterable[tuple[int, bytes | str]],
    operator_id: str,
    now: datetime,
    registry: RegistryView,
    chains: Mapping[str, ChainState],
    cat: HardwareCatalogue,
    flop_tolerance: float,
    every_signature: bool,
) -> BatchResult:
    """Verify ``(index, line)`` pairs (indices increasing); see :func:`verify_batch`."""
    rejected: list[Rejected] = []
    chips: dict[str, _Chip | tuple[Rule, str]] = {}
    pending: dict[str, list[tuple[int, int, ParsedLine]]] = {}

    # Pass 1, batch order: the rules that need no chain (format, registry).
    for index, line in lines:
        if len(line) > MAX_LINE_BYTES:
            rejected.append(_too_long(index, len(line)))
            continue
        if not line or line.isspace():
            rejected.append(_blank(index))
            continue
        try:
            parsed = parse_line(line)
        except RecordError as exc:
            chip_id, seq = _partial(line)
            rejected.append(Rejected(index, chip_id, seq, Rule.MALFORMED, str(exc)))
            continue
        chip_id = parsed.record.chip_id
        chip = chips.get(chip_id)
        if chip is None:
            info = registry.chip(chip_id)
            chip = chips[chip_id] = _chip_context(chip_id, info, operator_id, cat, flop_tolerance)
        if isinstance(chip, _Chip):
            items = pending.get(chip_id)
            if items is None:
                items = pending[chip_id] = []
            items.append((parsed.record.seq, index, parsed))
        else:
            rejected.append(Rejected(index, chip_id, parsed.record.seq, chip[0], chip[1]))

    # Signatures, per chip from the highest seq down (see verify_batch): the records a checked
    # record's chain vouches for need no check of their own.
    digests: dict[int, str] = {}
    for chip_id, items in pending.items():
        chip = chips[chip_id]
        assert isinstance(chip, _Chip)
        items.sort(key=_first)  # stable: a repeat stays after its first copy
        vouched: dict[int, set[str]] = {}
        forged: set[int] = set()
        for seq, index, parsed in reversed(items):
            digest = digests[index] = hashlib.sha256(parsed.line).hexdigest()
            if every_signature or digest not in vouched.get(seq, ()):
                try:
                    chip.key.verify(parsed.signature, DOMAIN + parsed.record_bytes)
                except InvalidSignature:
                    forged.add(index)
                    rejected.append(
                        Rejected(
                            index,
                            chip_id,
                            seq,
                            Rule.SIGNATURE,
                            f"signature does not verify for the key of chip {chip_id!r}",
                        )
                    )
                    continue
            prev = parsed.record.prev
            if prev is not None:
                vouched.setdefault(seq - 1, set()).add(prev)
        if forged:
            items[:] = [item for item in items if item[1] not in forged]

    # Pass 2, per chip in seq order: the chain and the rules that depend on it.
    accepted: list[AcceptedRecord] = []
    duplicates: list[Duplicate] = []
    gaps: list[Gap] = []
    new_chains: dict[str, ChainState] = {}
    runs: dict[tuple[str, str], bool] = {}
    for chip_id, items in pending.items():
        chip = chips[chip_id]
        assert isinstance(chip, _Chip)
        state = chains.get(chip_id)
        last_seq = state.seq if state else None
        last_hash = state.hash if state else None
        last_end = state.window_end if state else None
        last_energy = state.energy_j if state else None
        last_index: int | None = None
        advanced = False
        for seq, index, parsed in items:
            record = parsed.record
            digest = digests[index]
            verdict: tuple[Rule, str] | None = None
            gap_from = -1
            if last_seq is not None:
                if seq == last_seq and digest == last_hash:
                    duplicates.append(Duplicate(index, chip_id, seq, digest, last_index))
                    continue
                if seq <= last_seq:
                    verdict = _replay(seq, last_seq, last_hash)
                elif seq == last_seq + 1:
                    if record.prev != last_hash:
                        verdict = (
                            Rule.CHAIN_BROKEN,
                            f"prev {_short(record.prev)} does not name the last accepted "
                            f"record {_short(last_hash)} (seq {last_seq})",
                        )
                else:
                    gap_from = last_seq + 1
            if verdict is None:
                verdict = _window_energy_work(record, chip, now, last_seq, last_end, last_energy)
            if verdict is None and record.run_id is not None:
                key = (record.run_id, chip.cluster_id)
                declared = runs.get(key)
                if declared is None:
                    declared = runs[key] = registry.run_declared_on(*key)
                if not declared:
                    verdict = (
                        Rule.RUN_UNDECLARED,
                        f"run {record.run_id!r} is not declared on cluster {chip.cluster_id!r}",
                    )
            if verdict is not None:
                rejected.append(Rejected(index, chip_id, seq, verdict[0], verdict[1]))
                continue
            if gap_from >= 0:
                gaps.append(Gap(index, chip_id, gap_from, seq - 1))
            delta = None if last_energy is None else record.energy_j - last_energy
            accepted.append(
                AcceptedRecord(
                    index, digest, parsed.line, record, chip.cluster_id, delta, chip.model
                )
            )
            last_seq, last_hash, last_index = seq, digest, index
            last_end, last_energy = record.window_end, record.energy_j
            advanced = True
        if advanced:
            assert last_seq is not None
            assert last_hash is not None
            assert last_end is not None
            assert last_energy is not None
            new_chains[chip_id] = ChainState(last_seq, last_hash, last_end, last_energy)

    accepted.sort(key=_index)  # the tree commits to batch order
    rejected.sort(key=_index)
    duplicates.sort(key=_index)
    gaps.sort(key=_index)
    return BatchResult(
        accepted=tuple(accepted),
        rejected=tuple(rejected),
        duplicates=tuple(duplicates),
        gaps=tuple(gaps),
        chains=MappingProxyType(new_chains),
        root=merkle_root([a.line for a in accepted]),
    )


def _short(digest: str | None) -> str:
    return "null" if digest is None else digest[:12] + "…"


def _replay(seq: int, last_seq: int, last_hash: str | None) -> tuple[Rule, str]:
    if seq == last_seq:
        return Rule.REPLAY, (
            f"seq {seq} was already accepted as another record ({_short(last_hash)}); "
            "a second, different record for the same seq"
        )
    return Rule.REPLAY, f"seq {seq} is not after the last accepted seq {last_seq}"


def _window_energy_work(
    record: TelemetryRecord,
    chip: _Chip,
    now: datetime,
    last_seq: int | None,
    last_end: datetime | None,
    last_energy: int | None,
) -> tuple[Rule, str] | None:
    """Rules 6 to 8: the window, the energy counter, the physical bounds."""
    start, end = record.window_start, record.window_end
    span = end - start
    seconds = span.total_seconds()
    if seconds <= 0:
        return Rule.WINDOW_INVALID, (
            f"window_end {format_time(end)} is not after window_start {format_time(start)}"
        )
    if seconds > MAX_WINDOW_S:
        return Rule.WINDOW_INVALID, (
            f"window of {seconds:g} s is longer than the {MAX_WINDOW_S} s maximum"
        )
    if start.microsecond or end.microsecond:
        return Rule.WINDOW_INVALID, (
            f"window times must be whole seconds, got {format_time(start)} to {format_time(end)}"
        )
    if end > now:
        return (
            Rule.WINDOW_FUTURE,
            f"window_end {format_time(end)} is after now ({format_time(now)})",
        )
    if last_end is not None and start < last_end:
        return Rule.WINDOW_OVERLAP, (
            f"window_start {format_time(start)} is before the end of the last accepted window "
            f"{format_time(last_end)} (seq {last_seq})"
        )
    if last_energy is not None and record.energy_j < last_energy:
        return Rule.ENERGY_FELL, (
            f"energy_j {record.energy_j} is below the last accepted {last_energy} "
            f"(seq {last_seq}); the counter is cumulative"
        )
    limits = chip.flop_per_s
    busy = 0.0  # seconds the window's work needs, each precision at its own peak
    for precision, count in record.flop.items():
        if not count:
            continue  # a zero counter for a format the chip lacks claims nothing
        per_s = limits.get(precision)
        if per_s is None:
            return Rule.FLOP_IMPOSSIBLE, (
                f"flop.{precision}: the {chip.model} has no {precision} peak "
                f"(it has {', '.join(limits)}), got {count}"
            )
        if count > per_s * seconds:
            return Rule.FLOP_IMPOSSIBLE, (
                f"flop.{precision}: {count:.4g} in {seconds:g} s exceeds the {chip.model}'s "
                f"{precision} peak * window * (1 + tolerance) = {per_s * seconds:.4g}"
            )
        busy += count / per_s
    # One chip does one thing at a time: its formats share the window. Each alone fitting is
    # not enough (four formats each at peak would be four times what the chip can do).
    if busy > seconds and len(record.flop) > 1:
        shares = ", ".join(
            f"{p} {c / limits[p]:.4g} s" for p, c in sorted(record.flop.items()) if c
        )
        return Rule.FLOP_IMPOSSIBLE, (
            f"the window's work needs {busy:.4g} s at the {chip.model}'s peaks * (1 + "
            f"tolerance) ({shares}), more than the {seconds:g} s window"
        )
    if last_energy is not None and last_end is not None and chip.max_power_w is not None:
        rise = record.energy_j - last_energy
        elapsed = (end - last_end).total_seconds()
        if rise > chip.max_power_w * elapsed:
            return Rule.ENERGY_IMPOSSIBLE, (
                f"energy rose {rise} J in {elapsed:g} s since the last accepted window; at most "
                f"TDP * {ENERGY_HEADROOM} * elapsed = {chip.max_power_w * elapsed:.0f} J"
            )
    return None
