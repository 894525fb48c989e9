"""The registry fold: log entries in, registry views out, one entry at a time.

:class:`Registry` is pure: it reads no clock, file or database. :meth:`Registry.apply` takes a log
entry's index, integration time and verified statement, checks what must already be on the log
(who may sign it, that what it names exists, that it does not contradict the registry), and
returns an :class:`Outcome`: accepted with the view rows it changes, or rejected with a reason a
person can read. A rejected entry stays on the log (the log is append-only) and changes nothing;
it is listed in the ``rejected`` view. Because the same entries in the same order give the same
outcomes, every view can be rebuilt from the log alone (``pausewatch state rebuild``).

Rows are plain mappings of JSON values (strings, numbers, booleans, null), one per primary key,
keyed by view name; times are RFC 3339 UTC strings with microseconds (the log's time format).
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pausewatch.compute import load_catalogue
from pausewatch.ledger import format_time
from pausewatch.policy import Policy, Tier
from pausewatch.policy._model import POST_TRAINING_PHASES, Basis
from pausewatch.policy._statements import ADOPT_KIND, Adoption, PolicyAdopt, effective_policy
from pausewatch.registry._kinds import (
    ChipCertify,
    ChipCustody,
    ChipMakerRegister,
    ChipTransfer,
    ClusterRegister,
    CustodyAction,
    FacilityRegister,
    KeyRevoke,
    KeyRotate,
    OperatorRegister,
    PartyRegister,
    Position,
    RunChange,
    RunDeclaration,
    RunEnd,
    RunOutcome,
    RunStart,
    SubjectKind,
)
from pausewatch.statements import Body, Statement
from pausewatch.telemetry import (
    SIGNALS_TEXT,
    ChipTotals,
    ClusterTotals,
    DayTotals,
    RunTotals,
    Signal,
    merge_signals,
)
from pausewatch.telemetry._statements import BATCH_KIND, SUBMISSION_KIND, TelemetryBatch

Row = dict[str, Any]
"""One view row: column name to JSON value."""


_REVISIONS = itertools.count(1)
"""Where every :class:`View`'s counts come from: one sequence for the process, so that no two
views, nor two states of one view, ever show the same count (a view set in place of another,
a copy changed apart from its original: each reads as changed to a figure kept from the
other). ``next`` on it is atomic under the interpreter lock."""


class View(dict[tuple[Any, ...], Row]):
    """One view's rows by primary key, counting its changes: :attr:`revision` is renewed with
    every row set or removed, :attr:`keys_revision` only when a key is added or removed, each
    from one sequence for the process (:data:`_REVISIONS`), after the change is made. What is
    derived from views is kept by these counts (:meth:`Registry.derived`), so every way a view
    is changed counts: the fold's commits, a load from the database, a test's own rows, a view
    set in place of another."""

    __slots__ = ("keys_revision", "revision")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.revision = self.keys_revision = next(_REVISIONS)

    def _changed(self, keys: bool) -> None:
        self.revision = next(_REVISIONS)
        if keys:
            self.keys_revision = self.revision

    def __setitem__(self, key: tuple[Any, ...], row: Row) -> None:
        added = key not in self
        super().__setitem__(key, row)
        self._changed(added)

    def __delitem__(self, key: tuple[Any, ...]) -> None:
        super().__delitem__(key)
        self._changed(True)

    def pop(self, key: tuple[Any, ...], *default: Any) -> Any:
        """Remove ``key``'s row and return it (or ``default``), counting the change."""
        if key not in self:
            return super().pop(key, *default)
        row = super().pop(key)
        self._changed(True)
        return row

    def popitem(self) -> tuple[tuple[Any, ...], Row]:
        """Remove the last row set, counting the change."""
        item = super().popitem()
        self._changed(True)
        return item

    def setdefault(self, key: tuple[Any, ...], default: Row) -> Row:
        """The row under ``key``, set to ``default`` first if absent (a counted change)."""
        if key not in self:
            self[key] = default
        return super().__getitem__(key)

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Set each row given, counting each change."""
        for key, row in dict(*args, **kwargs).items():
            self[key] = row

    def clear(self) -> None:
        """Remove every row, counting the change."""
        had = bool(self)
        super().clear()
        if had:
            self._changed(True)

    def __ior__(self, other: Any) -> View:  # type: ignore[override,misc]
        self.update(other)
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled and copied by its rows: the copy draws counts of its own.
        return (View, (dict(self),))


_T = TypeVar("_T")


def _revision(rows: dict[tuple[Any, ...], Row]) -> int:
    # A plain dict set in place of a view cannot say whether it changed: each reading of its
    # revision is new, so nothing derived from it is kept.
    return rows.revision if isinstance(rows, View) else -next(_REVISIONS)


def _keys_revision(rows: dict[tuple[Any, ...], Row]) -> int:
    return rows.keys_revision if isinstance(rows, View) else -next(_REVISIONS)


VIEWS: dict[str, tuple[str, ...]] = {
    "parties": ("party_id",),
    "operators": ("operator_id",),
    "facilities": ("facility_id",),
    "clusters": ("cluster_id",),
    "chip_makers": ("maker_id",),
    "chips": ("chip_id",),
    "keys": ("key",),
    "runs": ("run_id",),
    "positions": ("subject_kind", "subject_id"),
    "adoptions": ("idx",),
    "rejected": ("idx",),
    "unreadable": ("idx",),
    "tel_batches": ("idx",),
    "tel_submissions": ("operator_id", "batch_digest"),
    "tel_chains": ("chip_id",),
    "tel_chips": ("chip_id",),
    "tel_runs": ("run_id",),
    "tel_run_batches": ("run_id", "idx"),
    "tel_run_chips": ("run_id", "chip_id"),
    "tel_run_clusters": ("run_id", "cluster_id"),
    "tel_clusters": ("cluster_id",),
    "tel_cluster_chips": ("cluster_id", "chip_id"),
    "cluster_days": ("cluster_id", "day"),
    "tel_signals": ("cluster_id",),
    "tel_gaps": ("idx", "chip_id", "from_seq"),
    "tel_rejections": ("idx", "position"),
    "seats": ("body", "party_id", "starts_at"),
    "proposals": ("proposal_id",),
    "ballots": ("proposal_id", "idx"),
    "order_acks": ("proposal_id",),
    "witnesses": ("name",),
    "witness_cosignatures": ("witness", "idx"),
    "evaluators": ("evaluator_id",),
    "eval_suites": ("domain",),
    "eval_results": ("result_id",),
    "meters": ("meter_id",),
    "meter_readings": ("meter_id", "seq"),
    "meter_gaps": ("meter_id", "from_seq"),
    "chip_movements": ("chip_id", "idx"),
    "shipments": ("shipment_id",),
    "exports": ("export_id",),
    "inspectors": ("inspector_id",),
    "inspection_plans": ("plan_id",),
    "inspection_reports": ("plan_id",),
    "workloads": ("workload_id",),
    "detection_evaluations": ("evaluation_id",),
    "transcripts": ("run_id",),
    "transcript_checkpoints": ("run_id", "step"),
    "transcript_replays": ("audit_id", "segment"),
    "transcript_audits": ("audit_id",),
    "transcript_verdicts": ("audit_id",),
}
"""Every view the fold maintains, with its primary key columns."""


@dataclass(frozen=True)
class Change:
    """A view row set (``row``) or removed (``row is None``) under ``key``."""

    view: str
    key: tuple[Any, ...]
    row: Row | None


@dataclass(frozen=True)
class Outcome:
    """What one entry did: accepted with its changes, or rejected with the reason."""

    index: int
    accepted: bool
    reason: str | None = None
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True)
class Prepared:
    """An entry's fold computed and not yet made (:meth:`Registry.prepare`)."""

    index: int
    accepted: bool
    reason: str | None = None
    changes: tuple[Change, ...] = ()
    adoptions: tuple[Adoption, ...] = ()


class RejectedError(Exception):
    """Raised inside the fold when an entry cannot take effect; becomes a rejected outcome.
    ``forbidden``: the signer may not make this statement (rather than the registry lacking
    what the statement needs). ``unreadable``: the fold cannot read it at all (see
    :meth:`Registry.isolate`)."""

    def __init__(self, reason: str, *, forbidden: bool = False, unreadable: bool = False) -> None:
        super().__init__(reason)
        self.forbidden = forbidden
        self.unreadable = unreadable


Handler = Callable[["_Context", Body], None]
"""Folds one statement of its kind: reads the registry through the context, sets view rows
through it, or raises :class:`RejectedError`."""
LiftState = Callable[["Registry", datetime, Policy], Mapping[Any, float]]
"""The state figures (by fact) that lift conditions test, at a time under a policy."""


@dataclass
class Registry:
    """The registry's state, folded from log entries in order.

    ``secretariat`` holds the keys that may sign secretariat statements (the service's
    secretariat key, as ``GET /v1/log`` names it under ``roles``).
    """

    secretariat: frozenset[str]
    views: dict[str, dict[tuple[Any, ...], Row]] = field(
        default_factory=lambda: {name: View() for name in VIEWS}
    )
    adoptions: list[Adoption] = field(default_factory=list)
    applied: int = 0
    """How many log entries have been folded (the next index to apply)."""
    roots: Callable[[int], bytes] | None = None
    """The root of the log's tree at a size (up to the entry being folded): what a recorded
    witness cosignature is checked against. The log itself, or the tree an auditor recomputed
    from the entries; without it, cosignatures cannot be recorded (they are rejected)."""
    handlers: Mapping[str, Handler] = field(default_factory=lambda: HANDLERS)
    """How each kind is folded. By default the registry's own kinds only; the fold of the whole
    log (every domain's handlers) is composed above the domains, in
    :func:`pausewatch.state.new_registry`."""
    lift_state: LiftState | None = None
    """The state figures lift conditions test, at a time under a policy: what a lift decision
    is checked against. Computed above the domains (the state's facts) and handed down."""
    _derived: dict[str, tuple[tuple[int, ...], Any]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        for name, rows in list(self.views.items()):
            if not isinstance(rows, View):
                self.views[name] = View(rows)

    def __getstate__(self) -> dict[str, Any]:
        # Copied or pickled without the figures it keeps: its views are copied with counts of
        # their own (View.__reduce__), so a copy computes its figures again.
        state = dict(self.__dict__)
        state["_derived"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def derived(
        self,
        name: str,
        compute: Callable[[Registry], _T],
        *,
        rows_of: tuple[str, ...] = (),
        keys_of: tuple[str, ...] = (),
    ) -> _T:
        """``compute(self)``, kept under ``name`` until a view it reads changes: any row of a
        view in ``rows_of``, or the keys of one in ``keys_of`` (for a figure that asks only
        which rows exist). ``compute`` must read nothing else of the registry, and what it
        returns must be immutable (it is handed to every caller). Readers call it holding the
        state's lock, as for any read of the views (docs/adr/0056-derived-figures.md)."""
        stamp = tuple(_revision(self.views[v]) for v in rows_of) + tuple(
            _keys_revision(self.views[v]) for v in keys_of
        )
        kept = self._derived.get(name)
        if kept is not None and kept[0] == stamp:
            return kept[1]  # type: ignore[no-any-return]
        value = compute(self)
        self._derived[name] = (stamp, value)
        return value

    def sorted_keys(self, view: str) -> tuple[tuple[Any, ...], ...]:
        """The keys of ``view`` in order, kept until one is added or removed (a row changed
        under its key keeps its place): a view as large as a fleet's chips is not sorted again
        for each reader (docs/adr/0064). Call it holding the state's lock."""
        return self.derived(
            f"sorted_keys:{view}", lambda r: tuple(sorted(r.views[view])), keys_of=(view,)
        )

    # -- reading -----------------------------------------------------------------------------

    def get(self, view: str, *key: Any) -> Row | None:
        """The row of ``view`` under ``key``, or none."""
        return self.views[view].get(tuple(key))

    def key_holder(self, key: str) -> tuple[str, str] | None:
        """The (subject kind, id) a live (unrevoked) key belongs to, or none."""
        row = self.views["keys"].get((key,))
        if row is None or row["revoked_idx"] is not None:
            return None
        return row["subject_kind"], row["subject_id"]

    def policy_at(self, at: datetime) -> Policy | None:
        """The policy adopted and in force at ``at``, if any."""
        adoption = effective_policy(self.adoptions, at)
        return None if adoption is None else adoption.body.policy

    def policy_digest_at(self, at: datetime) -> str | None:
        """The digest of the policy in force at ``at`` as its adoption names it (checked
        against the policy whenever an adoption is read), if any: what an evaluation records,
        without encoding the policy again on every read (its integral floats take the RFC 8785
        encoder's slow path, about half an evaluation's time; docs/adr/0054)."""
        adoption = effective_policy(self.adoptions, at)
        return None if adoption is None else adoption.body.digest

    # -- folding -----------------------------------------------------------------------------

    def apply(self, index: int, integrated_at: datetime, statement: Statement) -> Outcome:
        """Fold one entry. Entries must come in log order, each exactly once."""
        return self.commit(self.prepare(index, integrated_at, statement))

    def prepare(self, index: int, integrated_at: datetime, statement: Statement) -> Prepared:
        """What folding entry ``index`` would change, computed from the views as they stand
        without changing them (:meth:`commit` makes the changes). Readers may read the views
        meanwhile where the kind's handler reads nothing else they share: the state folds a
        telemetry batch so, taking the readers' lock only to commit (docs/adr/0054); a handler
        that computes the policy's facts (a lift's decision) shares their caches, and is
        prepared under the lock."""
        if index != self.applied:
            raise ValueError(f"expected log entry {self.applied}, got {index}")
        handler = self.handlers.get(statement.kind)
        if handler is None:
            return Prepared(index, True)  # a kind the registry does not fold (a notice, ...)
        ctx = _Context(self, index, integrated_at, statement)
        try:
            handler(ctx, statement.body)
        except RejectedError as exc:
            reason = str(exc)
            row = {
                "idx": index,
                "kind": statement.kind,
                "signer": statement.signer,
                "reason": reason,
                "integrated_at": format_time(integrated_at),
            }
            return Prepared(index, False, reason, (Change("rejected", (index,), row),))
        except FoldInterruptedError:
            raise
        except Exception as exc:
            # The fold is pure: a handler that fails on an entry fails on it every time, so
            # folding it again would stop the fold there for good. It is isolated instead.
            return self.prepare_isolation(
                index, integrated_at, statement.kind, statement.signer, _failure(exc)
            )
        return Prepared(index, True, None, tuple(ctx.changes), tuple(ctx.adoptions))

    def commit(self, prepared: Prepared) -> Outcome:
        """Make the changes :meth:`prepare` computed, on the views it computed them from."""
        if prepared.index != self.applied:
            raise ValueError(f"expected log entry {self.applied}, got {prepared.index}")
        # Rows are set through the dict itself and each view changed is counted once, after
        # its rows: a telemetry batch sets some thousand rows under the readers' lock, and
        # counting each through View.__setitem__ cost ten times the setting.
        keys_changed: dict[str, bool] = {}
        for change in prepared.changes:
            rows = self.views[change.view]
            if change.row is None:
                if change.key in rows:
                    dict.__delitem__(rows, change.key)
                    keys_changed[change.view] = True
            else:
                added = change.key not in rows
                dict.__setitem__(rows, change.key, change.row)
                keys_changed[change.view] = keys_changed.get(change.view, False) or added
        for view, keys in keys_changed.items():
            rows = self.views[view]
            if isinstance(rows, View):
                rows._changed(keys)
        self.adoptions.extend(prepared.adoptions)
        self.applied = prepared.index + 1
        return Outcome(prepared.index, prepared.accepted, prepared.reason, prepared.changes)

    def isolate(
        self, index: int, integrated_at: datetime, kind: str, signer: str | None, reason: str
    ) -> Outcome:
        """Set aside entry ``index``, which the fold cannot read (its statement no longer
        parses under this version's models, or its handler fails): it changes nothing, is
        listed in the ``unreadable`` view with its reason, and the fold goes on. The policy
        reports each such entry to the secretariat as a finding (``entry_unreadable``)."""
        return self.commit(self.prepare_isolation(index, integrated_at, kind, signer, reason))

    def prepare_isolation(
        self, index: int, integrated_at: datetime, kind: str, signer: str | None, reason: str
    ) -> Prepared:
        """What :meth:`isolate` would change, as :meth:`prepare` computes it."""
        if index != self.applied:
            raise ValueError(f"expected log entry {self.applied}, got {index}")
        row = {
            "idx": index,
            "kind": kind[:128],
            "signer": signer if signer is None else signer[:60],
            "reason": reason[:2_000],
            "integrated_at": format_time(integrated_at),
        }
        return Prepared(index, False, reason, (Change("unreadable", (index,), row),))

    def folds(self, kind: str) -> bool:
        """Whether statements of ``kind`` are checked and folded here."""
        return kind in self.handlers

    def check(self, statement: Statement, at: datetime) -> RejectedError | None:
        """Why ``statement`` would be rejected if it were the next entry at ``at`` (none: it
        would be accepted). Nothing changes; the service asks before it appends."""
        handler = self.handlers.get(statement.kind)
        if handler is None:
            return None
        ctx = _Context(self, self.applied, at, statement, checking=True)
        try:
            handler(ctx, statement.body)
        except RejectedError as exc:
            return exc
        except FoldInterruptedError:
            raise
        except Exception as exc:
            return RejectedError(_failure(exc), unreadable=True)
        return None


class FoldInterruptedError(Exception):
    """Raised by a handler whose reading of something outside the views failed (the log's
    tree, read from the database): the entry is not at fault and must be folded again, so this
    is never isolated, and the fold stops here until the next catch-up."""


def _failure(exc: BaseException) -> str:
    """Why the fold could not read an entry, for the ``unreadable`` view."""
    return f"the fold cannot read it: {type(exc).__name__}: {exc}"[:2_000]


class _Context:
    """One entry being folded: reads see the registry plus this entry's own earlier changes."""

    def __init__(
        self,
        registry: Registry,
        index: int,
        at: datetime,
        statement: Statement,
        *,
        checking: bool = False,
    ) -> None:
        self.registry = registry
        self.keeps = not checking
        """Whether the handlers may keep what they wrote for the next entry (the kept totals,
        the signals' texts): not when the entry is only checked (:meth:`Registry.check`), whose
        rows are never made, and would push out those of the rows the fold did make."""
        self.index = index
        self.at = at
        self.when = format_time(at)
        self.statement = statement
        self.signer = statement.signer
        self.changes: list[Change] = []
        self.adoptions: list[Adoption] = []
        """Adoptions this entry makes, kept once it is accepted."""
        self._pending: dict[tuple[str, tuple[Any, ...]], Row | None] = {}

    def get(self, view: str, *key: Any) -> Row | None:
        k = (view, tuple(key))
        if k in self._pending:
            return self._pending[k]
        return self.registry.views[view].get(tuple(key))

    def set(self, view: str, row: Row) -> None:
        key = tuple(row[c] for c in VIEWS[view])
        self._pending[(view, key)] = row
        self.changes.append(Change(view, key, row))

    def update(self, view: str, row: Row, **values: Any) -> None:
        self.set(view, {**row, **values})

    def log_root(self, size: int, *, lag: int, what: str) -> str:
        """The root (hex) of the log's tree at ``size``, as a seed or beacon drawn from the log
        (an inspection's sample, a transcript audit's segments): refused when the tree is more
        than ``lag`` entries behind this one or this fold has no view of the log's tree, and
        folded again later when the tree cannot be read (``what`` names the statement's
        purpose in the messages)."""
        if self.index - size > lag:
            raise RejectedError(f"{what}: the tree of size {size} is more than {lag:,} entries old")
        roots = self.registry.roots
        if roots is None:
            raise RejectedError(f"{what}: this fold has no view of the log's tree to compute it")
        try:
            return roots(size).hex()
        except Exception as exc:  # the log's tree could not be read: fold this entry again later
            raise FoldInterruptedError(f"the log's root at size {size}: {exc}") from exc

    # -- signer checks -----------------------------------------------------------------------

    def holder(self) -> tuple[str, str] | None:
        row = self.get("keys", self.signer)
        if row is None or row["revoked_idx"] is not None:
            return None
        return row["subject_kind"], row["subject_id"]

    def require_secretariat(self) -> None:
        if self.signer not in self.registry.secretariat:
            raise RejectedError(
                f"{self.statement.kind} must be signed by the secretariat's key", forbidden=True
            )

    def require(self, kind: SubjectKind, subject_id: str) -> None:
        """The signer must hold a live key of ``kind`` ``subject_id``."""
        holder = self.holder()
        if holder != (kind.value, subject_id):
            raise RejectedError(
                f"{self.statement.kind} must be signed by a live key of {kind.value} "
                f"{subject_id!r}; the signer is {_describe(holder, self.signer)}",
                forbidden=True,
            )

    def signing_operator(self) -> str:
        holder = self.holder()
        if holder is None or holder[0] != SubjectKind.OPERATOR.value:
            raise RejectedError(
                f"{self.statement.kind} must be signed by a registered operator's live key; "
                f"the signer is {_describe(holder, self.signer)}",
                forbidden=True,
            )
        return holder[1]

    def new_key(self, key: str, kind: SubjectKind, subject_id: str) -> None:
        """Bind ``key`` to a subject; a key serves one subject, once."""
        existing = self.get("keys", key)
        if existing is not None:
            raise RejectedError(
                f"key {key} is already bound to {existing['subject_kind']} "
                f"{existing['subject_id']!r}"
            )
        self.set(
            "keys",
            {
                "key": key,
                "subject_kind": kind.value,
                "subject_id": subject_id,
                "added_idx": self.index,
                "revoked_idx": None,
                "revoked_reason": None,
            },
        )

    def revoke_key(self, key: str, reason: str) -> None:
        row = self.get("keys", key)
        if row is not None and row["revoked_idx"] is None:
            self.update("keys", row, revoked_idx=self.index, revoked_reason=reason)

    def must_be_new(self, view: str, what: str, key: str) -> None:
        if self.get(view, key) is not None:
            raise RejectedError(f"{what} {key!r} is already registered")

    def must_exist(self, view: str, what: str, key: str) -> Row:
        row = self.get(view, key)
        if row is None:
            raise RejectedError(f"{what} {key!r} is not registered")
        return row


def _describe(holder: tuple[str, str] | None, signer: str) -> str:
    return f"{holder[0]} {holder[1]!r}" if holder else f"{signer} (not a live registered key)"


# -- handlers ------------------------------------------------------------------------------------


def _party(ctx: _Context, body: Body) -> None:
    assert isinstance(body, PartyRegister)
    ctx.require_secretariat()
    ctx.must_be_new("parties", "party", body.party_id)
    ctx.new_key(body.key, SubjectKind.PARTY, body.party_id)
    ctx.set(
        "parties",
        {
            "party_id": body.party_id,
            "name": body.name,
            "key": body.key,
            "registered_idx": ctx.index,
            "registered_at": ctx.when,
        },
    )


def _operator(ctx: _Context, body: Body) -> None:
    assert isinstance(body, OperatorRegister)
    ctx.must_exist("parties", "party", body.party_id)
    ctx.require(SubjectKind.PARTY, body.party_id)
    ctx.must_be_new("operators", "operator", body.operator_id)
    ctx.new_key(body.key, SubjectKind.OPERATOR, body.operator_id)
    ctx.set(
        "operators",
        {
            "operator_id": body.operator_id,
            "party_id": body.party_id,
            "name": body.name,
            "key": body.key,
            "annual_revenue_usd": body.annual_revenue_usd,
            "registered_idx": ctx.index,
            "registered_at": ctx.when,
        },
    )


def _facility(ctx: _Context, body: Body) -> None:
    assert isinstance(body, FacilityRegister)
    ctx.must_exist("operators", "operator", body.operator_id)
    ctx.require(SubjectKind.OPERATOR, body.operator_id)
    ctx.must_be_new("facilities", "facility", body.facility_id)
    loc = body.location
    ctx.set(
        "facilities",
        {
            "facility_id": body.facility_id,
            "operator_id": body.operator_id,
            "name": body.name,
            "country": loc.country,
            "region": loc.region,
            "latitude": loc.latitude,
            "longitude": loc.longitude,
            "power_capacity_mw": body.power_capacity_mw,
            "registered_idx": ctx.index,
            "registered_at": ctx.when,
        },
    )


def _cluster(ctx: _Context, body: Body) -> None:
    assert isinstance(body, ClusterRegister)
    facility = ctx.must_exist("facilities", "facility", body.facility_id)
    ctx.require(SubjectKind.OPERATOR, facility["operator_id"])
    ctx.must_be_new("clusters", "cluster", body.cluster_id)
    ctx.set(
        "clusters",
        {
            "cluster_id": body.cluster_id,
            "facility_id": body.facility_id,
            "operator_id": facility["operator_id"],
            "name": body.name,
            "network_gbps": body.network_gbps,
            "commissioned_at": _time(body.commissioned_at),
            "registered_idx": ctx.index,
            "registered_at": ctx.when,
        },
    )


def _maker(ctx: _Context, body: Body) -> None:
    assert isinstance(body, ChipMakerRegister)
    ctx.require_secretariat()
    ctx.must_be_new("chip_makers", "chip maker", body.maker_id)
    ctx.new_key(body.key, SubjectKind.CHIP_MAKER, body.maker_id)
    ctx.set(
        "chip_makers",
        {
            "maker_id": body.maker_id,
            "name": body.name,
            "key": body.key,
            "registered_idx": ctx.index,
            "registered_at": ctx.when,
        },
    )


def _certify(ctx: _Context, body: Body) -> None:
    assert isinstance(body, ChipCertify)
    # Checked here, not when the statement is parsed: an entry must stay readable under any
    # later catalogue, which may rename or drop a model.
    if body.model not in load_catalogue():
        known = ", ".join(load_catalogue().names)
        raise RejectedError(f"chip model {body.model!r} is not in the hardware catalogue: {known}")
    ctx.must_exist("chip_makers", "chip maker", body.maker_id)
    ctx.require(SubjectKind.CHIP_MAKER, body.maker_id)
    ctx.must_be_new("chips", "chip", body.chip_id)
    if body.operator_id is not None:
        ctx.must_exist("operators", "operator", body.operator_id)
    ctx.new_key(body.key, SubjectKind.CHIP, body.chip_id)
    ctx.set(
        "chips",
        {
            "chip_id": body.chip_id,
            "maker_id": body.maker_id,
            "model": body.model,
            "serial": body.serial,
            "key": body.key,
            "firmware_digest": body.firmware_digest,
            "status": "certified",
            # A certified chip's operator is the one that may install it: its buyer (none for a
            # certification that names none, which any operator may install first).
            "operator_id": body.operator_id,
            "cluster_id": None,
            "certified_idx": ctx.index,
            "updated_idx": ctx.index,
            "updated_at": ctx.when,
        },
    )


def _custody(ctx: _Context, body: Body) -> None:
    assert isinstance(body, ChipCustody)
    operator = ctx.signing_operator()
    chip = ctx.must_exist("chips", "chip", body.chip_id)
    status, holder = chip["status"], chip["operator_id"]
    if status == "retired":
        raise RejectedError(f"chip {body.chip_id!r} is retired")
    if body.action is CustodyAction.INSTALL:
        assert body.cluster_id is not None
        cluster = ctx.must_exist("clusters", "cluster", body.cluster_id)
        if cluster["operator_id"] != operator:
            raise RejectedError(
                f"cluster {body.cluster_id!r} belongs to {cluster['operator_id']!r}"
            )
        if status in ("certified", "in_transit") and holder is not None and holder != operator:
            raise RejectedError(
                f"chip {body.chip_id!r} is sold to operator {holder!r} (entry "
                f"{chip['updated_idx']}): only {holder!r} may install it, unless it passes it "
                f"to {operator!r} with chip.transfer/v1",
                forbidden=True,
            )
        free = status == "certified" or (status == "in_transit" and holder == operator)
        moving = status == "installed" and holder == operator
        if not (free or moving):
            raise RejectedError(
                f"chip {body.chip_id!r} is {status} with {holder!r}; it must be transferred to "
                f"{operator!r} first"
            )
        ctx.update(
            "chips",
            chip,
            status="installed",
            operator_id=operator,
            cluster_id=body.cluster_id,
            updated_idx=ctx.index,
            updated_at=ctx.when,
        )
        return
    if status != "installed" or holder != operator:
        raise RejectedError(
            f"chip {body.chip_id!r} is not installed in a cluster of {operator!r} "
            f"(it is {status}{f' with {holder!r}' if holder else ''})"
        )
    if body.action is CustodyAction.TRANSFER:
        assert body.to_operator is not None
        ctx.must_exist("operators", "operator", body.to_operator)
        if body.to_operator == operator:
            raise RejectedError(
                "a transfer must go to another operator (install moves between clusters)"
            )
        seller = ctx.get("operators", operator)
        buyer = ctx.get("operators", body.to_operator)
        record_movement(
            ctx,
            chip,
            "transfer",
            from_operator=operator,
            from_party=None if seller is None else seller["party_id"],
            to_operator=body.to_operator,
            to_party=None if buyer is None else buyer["party_id"],
            at=_time(body.at),
        )
        ctx.update(
            "chips",
            chip,
            status="in_transit",
            operator_id=body.to_operator,
            cluster_id=None,
            updated_idx=ctx.index,
            updated_at=ctx.when,
        )
        return
    ctx.update(
        "chips",
        chip,
        status="retired",
        cluster_id=None,
        updated_idx=ctx.index,
        updated_at=ctx.when,
    )
    ctx.revoke_key(chip["key"], "chip retired")
    owner = ctx.get("operators", operator)
    party = None if owner is None else owner["party_id"]
    record_movement(
        ctx, chip, "retire", from_operator=operator, from_party=party, at=_time(body.at)
    )


def _transfer(ctx: _Context, body: Body) -> None:
    assert isinstance(body, ChipTransfer)
    chip = ctx.must_exist("chips", "chip", body.chip_id)
    status, holder = chip["status"], chip["operator_id"]
    if status == "retired":
        raise RejectedError(f"chip {body.chip_id!r} is retired")
    if holder is None:
        # Certified to no one (a certification from before buyers were named): its maker sells.
        if ctx.holder() != (SubjectKind.CHIP_MAKER.value, chip["maker_id"]):
            raise RejectedError(
                f"chip {body.chip_id!r} is sold to no one yet: only its maker "
                f"{chip['maker_id']!r} may sell it; the signer is "
                f"{_describe(ctx.holder(), ctx.signer)}",
                forbidden=True,
            )
    elif ctx.holder() != (SubjectKind.OPERATOR.value, holder):
        raise RejectedError(
            f"the right to install chip {body.chip_id!r} is operator {holder!r}'s: only "
            f"{holder!r} may pass it on; the signer is {_describe(ctx.holder(), ctx.signer)}",
            forbidden=True,
        )
    buyer = ctx.must_exist("operators", "operator", body.to_operator)
    if body.to_operator == holder:
        raise RejectedError(f"chip {body.chip_id!r} is already {holder!r}'s")
    if body.receiving_party is not None and body.receiving_party != buyer["party_id"]:
        raise RejectedError(
            f"operator {body.to_operator!r} is registered under party {buyer['party_id']!r}, "
            f"not {body.receiving_party!r}"
        )
    seller = None if holder is None else ctx.get("operators", holder)
    record_movement(
        ctx,
        chip,
        "transfer",
        from_operator=holder,
        from_party=None if seller is None else seller["party_id"],
        to_operator=body.to_operator,
        to_party=buyer["party_id"],
        at=_time(body.at),
    )
    ctx.update(
        "chips",
        chip,
        # An installed chip leaves its cluster; one never installed stays certified, now to
        # its buyer.
        status="certified" if status == "certified" else "in_transit",
        operator_id=body.to_operator,
        cluster_id=None,
        updated_idx=ctx.index,
        updated_at=ctx.when,
    )


def record_movement(
    ctx: _Context,
    chip: Row,
    kind: str,
    *,
    from_operator: str | None = None,
    from_party: str | None = None,
    to_operator: str | None = None,
    to_party: str | None = None,
    destination_country: str | None = None,
    destination_entity: str | None = None,
    ref: str | None = None,
    at: str | None = None,
) -> None:
    """One step in a chip's supply chain (``chip_movements``): a shipment from its maker, a
    sale, an export to a non-party or a retirement; what the chip balance counts
    (docs/adr/0025). ``cross_border``: the step changes the party that answers for the chip."""
    ctx.set(
        "chip_movements",
        {
            "chip_id": chip["chip_id"],
            "idx": ctx.index,
            "kind": kind,
            "ref": ref,
            "maker_id": chip["maker_id"],
            "from_operator": from_operator,
            "from_party": from_party,
            "to_operator": to_operator,
            "to_party": to_party,
            "cross_border": from_party is not None
            and to_party is not None
            and from_party != to_party,
            "destination_country": destination_country,
            "destination_entity": destination_entity,
            "at": at,
            "integrated_at": ctx.when,
        },
    )


_SUBJECT_VIEWS = {
    SubjectKind.PARTY: ("parties", "party"),
    SubjectKind.OPERATOR: ("operators", "operator"),
    SubjectKind.CHIP_MAKER: ("chip_makers", "chip maker"),
    SubjectKind.CHIP: ("chips", "chip"),
    SubjectKind.EVALUATOR: ("evaluators", "evaluator"),
    SubjectKind.INSPECTOR: ("inspectors", "inspector"),
    SubjectKind.METER: ("meters", "meter"),
}


def _rotate(ctx: _Context, body: Body) -> None:
    assert isinstance(body, KeyRotate)
    if body.subject_kind is SubjectKind.DELEGATE:
        raise RejectedError("a party adds and revokes delegate keys with delegate.register/v1")
    if body.subject_kind is SubjectKind.CHIP:
        raise RejectedError("a chip's key cannot be rotated: its maker certifies a new chip key")
    if body.subject_kind is SubjectKind.METER:
        raise RejectedError("a meter's key cannot be rotated: the meter is certified anew")
    view, what = _SUBJECT_VIEWS[body.subject_kind]
    subject = ctx.must_exist(view, what, body.subject_id)
    ctx.require(body.subject_kind, body.subject_id)
    ctx.revoke_key(ctx.signer, f"rotated to {body.new_key}")
    ctx.new_key(body.new_key, body.subject_kind, body.subject_id)
    ctx.update(view, subject, key=body.new_key)


def _voucher(ctx: _Context, kind: SubjectKind, subject: Row) -> bool:
    """Whether the signer vouched for the subject (registered it)."""
    if kind in (SubjectKind.PARTY, SubjectKind.CHIP_MAKER, SubjectKind.INSPECTOR):
        return ctx.signer in ctx.registry.secretariat
    if kind is SubjectKind.METER:
        if subject["inspector_id"] is None:
            return ctx.signer in ctx.registry.secretariat
        return ctx.holder() == (SubjectKind.INSPECTOR.value, subject["inspector_id"])
    if kind is SubjectKind.OPERATOR:
        return ctx.holder() == (SubjectKind.PARTY.value, subject["party_id"])
    if kind is SubjectKind.EVALUATOR:
        if subject["party_id"] is None:
            return ctx.signer in ctx.registry.secretariat
        return ctx.holder() == (SubjectKind.PARTY.value, subject["party_id"])
    return ctx.holder() == (SubjectKind.CHIP_MAKER.value, subject["maker_id"])


def _revoke(ctx: _Context, body: Body) -> None:
    assert isinstance(body, KeyRevoke)
    if body.subject_kind is SubjectKind.DELEGATE:
        raise RejectedError("a party adds and revokes delegate keys with delegate.register/v1")
    view, what = _SUBJECT_VIEWS[body.subject_kind]
    subject = ctx.must_exist(view, what, body.subject_id)
    own = ctx.holder() == (body.subject_kind.value, body.subject_id)
    if not own and not _voucher(ctx, body.subject_kind, subject):
        raise RejectedError(
            f"the key of {what} {body.subject_id!r} may be revoked by itself or by whoever "
            f"registered it; the signer is {_describe(ctx.holder(), ctx.signer)}",
            forbidden=True,
        )
    if body.replacement is not None and body.subject_kind is SubjectKind.CHIP:
        raise RejectedError("a chip's key cannot be replaced: its maker certifies a new chip")
    if body.replacement is not None and body.subject_kind is SubjectKind.METER:
        raise RejectedError("a meter's key cannot be replaced: the meter is certified anew")
    if body.replacement is not None and own:
        raise RejectedError("a replacement key is issued by the voucher; use key.rotate/v1 instead")
    ctx.revoke_key(subject["key"], body.reason)
    if body.replacement is not None:
        ctx.new_key(body.replacement, body.subject_kind, body.subject_id)
        ctx.update(view, subject, key=body.replacement)
    elif body.subject_kind is SubjectKind.CHIP:
        ctx.update(view, subject, updated_idx=ctx.index, updated_at=ctx.when)


def _approval(policy: Policy | None, body: RunDeclaration, at: datetime) -> tuple[str, str | None]:
    """``pending`` with the deemed-approval time when the adopted policy puts the run's
    planned compute in an approval tier (per run, the declaration alone); ``none`` otherwise."""
    if policy is None or policy.approvals is None:
        return "none", None
    tiers = (
        policy.compute.post_training
        if body.phase in POST_TRAINING_PHASES
        else policy.compute.pretraining
    )
    reached = [
        tier
        for tier, t in tiers.items()
        if Basis.RUN in t.basis and body.planned_flop > t.flop and tier is not Tier.PROHIBITED
    ]
    if not any(tier in policy.approvals.tiers for tier in reached):
        return "none", None
    days = policy.approvals.deemed_after_days
    return "pending", None if days is None else format_time(at + timedelta(days=days))


def _declare(ctx: _Context, body: Body) -> None:
    assert isinstance(body, RunDeclaration)
    ctx.must_exist("operators", "operator", body.operator_id)
    ctx.require(SubjectKind.OPERATOR, body.operator_id)
    cluster = ctx.must_exist("clusters", "cluster", body.cluster_id)
    if cluster["operator_id"] != body.operator_id:
        raise RejectedError(f"cluster {body.cluster_id!r} belongs to {cluster['operator_id']!r}")
    ctx.must_be_new("runs", "run", body.run_id)
    for chip_id in body.chip_ids or ():
        chip = ctx.get("chips", chip_id)
        if chip is None or chip["status"] != "installed" or chip["cluster_id"] != body.cluster_id:
            raise RejectedError(
                f"chip {chip_id!r} is not installed in cluster {body.cluster_id!r}"
                + ("" if chip is None else f" (it is {chip['status']} in {chip['cluster_id']!r})")
            )
    # A model has one base (its lineage is a tree): the policy counts a model's compute with
    # its base's, and two bases for one model would make that sum mean two things.
    for _, other in sorted(ctx.registry.views["runs"].items()):
        if other["model"] == body.model and other["base_model"] != body.base_model:
            raise RejectedError(
                f"model {body.model!r} was declared with base model {other['base_model']!r} "
                f"(run {other['run_id']!r}); a run of it cannot name {body.base_model!r}"
            )
    bases = {row["model"]: row["base_model"] for row in ctx.registry.views["runs"].values()}
    parent, seen = body.base_model, {body.model}
    while parent is not None:
        if parent in seen:
            raise RejectedError(
                f"base model {body.base_model!r} descends from {body.model!r}: a lineage "
                "cannot be a cycle"
            )
        seen.add(parent)
        parent = bases.get(parent)
    approval, deemed_at = _approval(ctx.registry.policy_at(ctx.at), body, ctx.at)
    ctx.set(
        "runs",
        {
            "run_id": body.run_id,
            "operator_id": body.operator_id,
            "cluster_id": body.cluster_id,
            "facility_id": cluster["facility_id"],
            "model": body.model,
            "base_model": body.base_model,
            "phase": body.phase.value,
            "planned_flop": body.planned_flop,
            "planned_flop_low": body.planned_flop_low,
            "planned_flop_high": body.planned_flop_high,
            "estimate_method": body.estimate_method.value,
            "chips": body.chips,
            "chip_model": body.chip_model,
            "starts_at": _time(body.starts_at),
            "ends_at": _time(body.ends_at),
            "hyperparameters_digest": body.hyperparameters_digest,
            "data_order_seed_digest": body.data_order_seed_digest,
            "checkpoint_interval_steps": body.checkpoint_interval_steps,
            "primary_data": body.primary_data,
            "compute_cost_usd": body.compute_cost_usd,
            "declared_idx": ctx.index,
            "declared_at": ctx.when,
            "status": "declared",
            "started_at": None,
            "ended_at": None,
            "final_flop": None,
            "approval": approval,
            "deemed_approved_at": deemed_at,
            "changes": 0,
            "updated_idx": ctx.index,
            "chip_ids": None if body.chip_ids is None else json.dumps(list(body.chip_ids)),
        },
    )


def _own_run(ctx: _Context, run_id: str) -> Row:
    run = ctx.must_exist("runs", "run", run_id)
    operator = ctx.signing_operator()
    if run["operator_id"] != operator:
        raise RejectedError(
            f"run {run_id!r} was declared by {run['operator_id']!r}, not {operator!r}",
            forbidden=True,
        )
    return run


def _start(ctx: _Context, body: Body) -> None:
    assert isinstance(body, RunStart)
    run = _own_run(ctx, body.run_id)
    if run["status"] != "declared":
        raise RejectedError(f"run {body.run_id!r} is already {run['status']}")
    ctx.update("runs", run, status="running", started_at=_time(body.at), updated_idx=ctx.index)


def _end(ctx: _Context, body: Body) -> None:
    assert isinstance(body, RunEnd)
    run = _own_run(ctx, body.run_id)
    status = run["status"]
    if status not in ("declared", "running"):
        raise RejectedError(f"run {body.run_id!r} has already ended ({status})")
    if (status == "declared") != (body.outcome is RunOutcome.ABANDONED):
        raise RejectedError(
            f"run {body.run_id!r} is {status}: "
            + (
                "a run that never started can only be abandoned"
                if status == "declared"
                else "a started run ends finished or halted"
            )
        )
    if run["started_at"] is not None and _time(body.at) < run["started_at"]:
        raise RejectedError(
            f"run {body.run_id!r} cannot end before it started ({run['started_at']})"
        )
    ctx.update(
        "runs",
        run,
        status=body.outcome.value,
        ended_at=_time(body.at),
        final_flop=body.final_flop,
        updated_idx=ctx.index,
    )


def _change(ctx: _Context, body: Body) -> None:
    assert isinstance(body, RunChange)
    run = _own_run(ctx, body.run_id)
    if run["status"] not in ("declared", "running"):
        raise RejectedError(f"run {body.run_id!r} has ended ({run['status']}); it cannot change")
    values: Row = {}
    for name in ("planned_flop", "planned_flop_low", "planned_flop_high", "chips"):
        value = getattr(body, name)
        if value is not None:
            values[name] = value
    if body.ends_at is not None:
        values["ends_at"] = _time(body.ends_at)
    merged = {**run, **values}
    low, mid, high = merged["planned_flop_low"], merged["planned_flop"], merged["planned_flop_high"]
    if (low is not None and low > mid) or (high is not None and high < mid):
        raise RejectedError("the changed plan's interval does not contain planned_flop")
    if merged["ends_at"] <= merged["starts_at"]:
        raise RejectedError("ends_at must be after starts_at")
    ctx.update("runs", run, **values, changes=run["changes"] + 1, updated_idx=ctx.index)


def _position(ctx: _Context, body: Body) -> None:
    assert isinstance(body, Position)
    holder = ctx.holder()
    if holder is None or holder[0] not in (SubjectKind.PARTY.value, SubjectKind.OPERATOR.value):
        raise RejectedError(
            "position/v1 must be signed by a party's or an operator's live key; the signer is "
            + _describe(holder, ctx.signer),
            forbidden=True,
        )
    kind, subject_id = holder
    current = ctx.get("positions", kind, subject_id)
    as_of = _time(body.as_of)
    if current is not None and current["as_of"] > as_of:
        raise RejectedError(
            f"{kind} {subject_id!r} already stated a position as of {current['as_of']}, later "
            f"than {as_of}"
        )
    ctx.set(
        "positions",
        {
            "subject_kind": kind,
            "subject_id": subject_id,
            "stance": body.stance.value,
            "source": body.source,
            "as_of": as_of,
            "note": body.note,
            "idx": ctx.index,
        },
    )


def _adopt(ctx: _Context, body: Body) -> None:
    assert isinstance(body, PolicyAdopt)
    ctx.require_secretariat()
    # The first policy is the secretariat's to adopt (there are no bodies to vote before
    # it). After that, under a policy with governance, each adoption needs a passed proposal
    # for exactly this document; each proposal adopts once (the first adoption used none).
    current = ctx.registry.adoptions[-1].body.policy if ctx.registry.adoptions else None
    governance = current.governance if current is not None else None
    if governance is not None:
        views = ctx.registry.views
        passed = sum(
            1
            for row in views["proposals"].values()
            if row["passed"]
            and row["kind"] in ("adopt_policy", "amend_policy")
            and row["policy_digest"] == body.digest
        )
        first = min(row["idx"] for row in views["adoptions"].values())
        adopted = sum(
            1
            for row in views["adoptions"].values()
            if row["digest"] == body.digest and row["idx"] != first
        )
        if passed <= adopted:
            raise RejectedError(
                f"adopting policy {body.digest[:12]}... needs a passed adopt_policy or "
                "amend_policy proposal for this digest (each adopts once)",
                forbidden=True,
            )
    # The fold keeps adoptions to know which policy a declaration falls under; the view keeps
    # each whole document, so that the fold can resume from the views alone.
    ctx.adoptions.append(Adoption(ctx.index, ctx.at, ctx.signer, body))
    ctx.set(
        "adoptions",
        {
            "idx": ctx.index,
            "policy_id": body.policy.id,
            "version": body.policy.version,
            "digest": body.digest,
            "effective_at": format_time(body.effective_at),
            "integrated_at": ctx.when,
            "signer": ctx.signer,
            "supersedes": body.supersedes,
            "body": json.dumps(body.model_dump(mode="json"), sort_keys=True),
        },
    )


# -- telemetry -----------------------------------------------------------------------------------

_JSON_FIELDS = frozenset({"flop", "unattributed_flop", "undeclared_flop"})
"""Totals fields kept as JSON text in their view (maps of FLOP per precision)."""


def _totals_row(key: str, value: str, doc: Mapping[str, Any], idx: int) -> Row:
    row: Row = {key: value, "updated_idx": idx}
    for name, field_value in doc.items():
        row[name] = (
            json.dumps(field_value, sort_keys=True, separators=(",", ":"))
            if name in _JSON_FIELDS
            else field_value
        )
    return row


def _totals_doc(row: Row, key: str) -> dict[str, Any]:
    return {
        name: json.loads(value) if name in _JSON_FIELDS else value
        for name, value in row.items()
        if name not in (key, "updated_idx")
    }


def _submission_alone(ctx: _Context, body: Body) -> None:
    raise RejectedError(
        f"{SUBMISSION_KIND} is uploaded with its records (POST /v1/telemetry/batches), not on "
        "its own"
    )


def _telemetry_batch(ctx: _Context, body: Body) -> None:
    assert isinstance(body, TelemetryBatch)
    ctx.require_secretariat()
    submission = body.submission_body()
    if submission.operator_id != body.operator_id:
        raise RejectedError(
            f"the submission is {submission.operator_id!r}'s, the batch names {body.operator_id!r}"
        )
    holder = ctx.get("keys", body.submission_signer())
    if (
        holder is None
        or holder["revoked_idx"] is not None
        or (holder["subject_kind"], holder["subject_id"]) != ("operator", body.operator_id)
    ):
        raise RejectedError(
            f"the submission must be signed by a live key of operator {body.operator_id!r}",
            forbidden=True,
        )
    # A batch is the operator's: the same bytes from another operator are another batch.
    seen = ctx.get("tel_submissions", body.operator_id, submission.batch_digest)
    if seen is not None:
        raise RejectedError(
            f"batch {submission.batch_digest} of operator {body.operator_id!r} was already "
            f"integrated at entry {seen['idx']}"
        )
    chains = body.chain_states()
    for chip, state in sorted(chains.items()):
        current = ctx.get("tel_chains", chip)
        if current is not None and state.seq <= current["seq"]:
            raise RejectedError(
                f"chip {chip!r}: the batch's chain head (seq {state.seq}) is not past the one "
                f"on the log (seq {current['seq']})"
            )
    agg = body.aggregate_totals()
    gap_windows = sum(g.to_seq - g.from_seq + 1 for g in body.gaps)
    ctx.set(
        "tel_batches",
        {
            "idx": ctx.index,
            "operator_id": body.operator_id,
            "batch_digest": submission.batch_digest,
            "records": submission.records,
            "accepted": body.accepted,
            "duplicates": body.duplicates,
            "rejected": max(body.rejected_total, len(body.rejected)),
            "rejected_by_rule": (
                json.dumps(body.rejected_by_rule, sort_keys=True, separators=(",", ":"))
                if body.rejected_by_rule
                else None
            ),
            "gap_windows": gap_windows,
            "records_root": body.records_root,
            "verified_at": format_time(body.verified_at),
            "integrated_at": ctx.when,
        },
    )
    ctx.set(
        "tel_submissions",
        {
            "operator_id": body.operator_id,
            "batch_digest": submission.batch_digest,
            "idx": ctx.index,
        },
    )
    for chip, state in sorted(chains.items()):
        ctx.set("tel_chains", {"chip_id": chip, **state.to_json(), "updated_idx": ctx.index})
    _merge_totals(ctx, "tel_chips", "chip_id", agg.chips, ChipTotals)
    _merge_totals(ctx, "tel_runs", "run_id", agg.runs, RunTotals)
    for run_id, totals in sorted(agg.runs.items()):
        # Each batch's share of a run, so that its measured compute has a history.
        doc = totals.to_json()
        ctx.set(
            "tel_run_batches",
            {
                "run_id": run_id,
                "idx": ctx.index,
                "flop": json.dumps(doc["flop"], sort_keys=True, separators=(",", ":")),
                "chip_windows": doc["chip_windows"],
                "first_window_start": doc["first_window_start"],
                "last_window_end": doc["last_window_end"],
            },
        )
    _merge_totals(ctx, "tel_clusters", "cluster_id", agg.clusters, ClusterTotals)
    for cluster_id, cluster_totals in sorted(agg.clusters.items()):
        _merge_days(ctx, cluster_id, cluster_totals.days)
        _merge_signals(ctx, cluster_id, cluster_totals.signals)
    for gap in body.gaps:
        ctx.set(
            "tel_gaps",
            {
                "idx": ctx.index,
                "chip_id": gap.chip_id,
                "from_seq": gap.from_seq,
                "to_seq": gap.to_seq,
                "missing": gap.to_seq - gap.from_seq + 1,
            },
        )
    for position, rej in enumerate(body.rejected):
        ctx.set(
            "tel_rejections",
            {
                "idx": ctx.index,
                "position": position,
                "line": rej.index,
                "chip_id": rej.chip_id,
                "seq": rej.seq,
                "rule": rej.rule,
                "reason": rej.reason,
            },
        )


def _merge_totals(ctx: _Context, view: str, key: str, totals: Mapping[str, Any], cls: Any) -> None:
    sets = _SET_FIELDS.get(view, ())
    for name in sorted(totals):
        new = batch = totals[name]
        row = ctx.get(view, name)
        if row is not None:
            old = _kept_totals(view, name, row)
            if old is None:
                # The row holds no sets (their members have views of their own): read as none.
                old = cls.from_json(_totals_doc(row, key) | {a: () for a, *_ in sets})
            new = old.merge(new)
        fields = _totals_row(
            key, name, new.to_json(sets=False) if sets else new.to_json(), ctx.index
        )
        # The ids a run or a cluster has seen grow with the fleet, not with the batch: each is
        # a row of its own view, written when it first reports, and the totals' row keeps
        # their count (issue 19 §5, docs/adr/0064). Its text no longer grows with the run.
        for attr, members, member_key, count in sets:
            joined = sorted(m for m in getattr(batch, attr) if ctx.get(members, name, m) is None)
            for member in joined:
                ctx.set(members, {key: name, member_key: member})
            fields[count] = (0 if row is None else int(row[count])) + len(joined)
        merged = {key: name, "updated_idx": ctx.index}
        merged |= sorted((k, v) for k, v in fields.items() if k not in merged)
        if view == "tel_chips":
            merged.setdefault("last_busy_end", None)  # every row has the column (ADR 0020)
        elif view == "tel_clusters":
            # A cluster's days have their own view (cluster_days) and its signals theirs
            # (tel_signals, docs/adr/0032): its row keeps the totals, which read back as such.
            new = replace(new, days={}, signals={})
        if sets:
            new = replace(new, **{attr: frozenset() for attr, *_ in sets})
        if ctx.keeps:
            _keep_totals(view, name, merged, new)
        ctx.set(view, merged)


_SET_FIELDS: Mapping[str, tuple[tuple[str, str, str, str], ...]] = {
    "tel_runs": (
        ("chips", "tel_run_chips", "chip_id", "chip_count"),
        ("clusters", "tel_run_clusters", "cluster_id", "cluster_count"),
    ),
    "tel_clusters": (("chips", "tel_cluster_chips", "chip_id", "chip_count"),),
}
"""The totals' sets of ids, by view: (the totals' field, the view of its members, the members'
key, the row's count of them). A row's totals read back with these sets empty."""


class _KeptTotals:
    """Per view and key, a ``tel_chips``, ``tel_runs`` or ``tel_clusters`` row the fold wrote
    (its items) and the totals it was written from. A batch rewrites the rows of its two hundred
    chips, and reading each back (its JSON, its times) was a tenth of the fold under ingest
    (docs/adr/0054). Kept by value: a row whose items are not these (read from the database,
    folded by another registry) is read from its items. Each view has its own bound
    (:data:`_TOTALS_KEPT`), oldest written first out, so that a fleet's chips, more than the
    chips' bound, never push out the runs' and the clusters'."""

    def __init__(self) -> None:
        self._views: dict[str, dict[str, tuple[tuple[tuple[str, Any], ...], Any]]] = {}

    def get(self, view: str, name: str) -> tuple[tuple[tuple[str, Any], ...], Any] | None:
        return self._views.get(view, {}).get(name)

    def put(self, view: str, name: str, kept: tuple[tuple[tuple[str, Any], ...], Any]) -> None:
        rows = self._views.setdefault(view, {})
        while len(rows) >= _TOTALS_KEPT[view]:
            rows.pop(next(iter(rows)))
        rows[name] = kept

    def drop(self, view: str, name: str) -> None:
        self._views.get(view, {}).pop(name, None)

    def clear(self) -> None:
        self._views.clear()

    def __len__(self) -> int:
        return sum(len(rows) for rows in self._views.values())


_TOTALS = _KeptTotals()
_TOTALS_KEPT: Mapping[str, int] = {"tel_chips": 8192, "tel_runs": 2048, "tel_clusters": 2048}
"""Rows kept per view at most."""
_TOTALS_TIMES = ("first_window_start", "last_window_end", "last_busy_end")
"""The totals' times (a chip's, a run's; a cluster's totals have none)."""
_TOTALS_LOCK = threading.Lock()


def _kept_totals(view: str, name: str, row: Row) -> Any:
    """The totals ``row`` reads as, if the fold wrote a row of exactly these items."""
    with _TOTALS_LOCK:
        kept = _TOTALS.get(view, name)
    # The items' texts are compared by identity first: a row's kept text is the very string.
    if kept is not None and kept[0] == tuple(row.items()):
        return kept[1]
    return None


def _keep_totals(view: str, name: str, row: Row, totals: Any) -> None:
    # cls.from_json(_totals_doc(row)) == totals: the row is totals.to_json() in text
    # (tests/registry/test_fold_caches.py).
    items = tuple(row.items())
    # A time without an offset (an aggregate may give one) is written as UTC and reads back
    # aware: totals holding one are not what their row reads as, and would merge where the row
    # read back cannot (the fold's outcome would hang on what this process kept).
    naive = any(
        isinstance(when := getattr(totals, name_, None), datetime) and when.tzinfo is None
        for name_ in _TOTALS_TIMES
    )
    with _TOTALS_LOCK:  # registries fold on several threads (the service's, an audit's)
        _TOTALS.drop(view, name)
        if not naive:
            _TOTALS.put(view, name, (items, totals))


def _merge_signals(
    ctx: _Context, cluster_id: str, signals: Mapping[str, tuple[Signal, ...]]
) -> None:
    """Add one batch's window signals of one cluster into ``tel_signals``, bounded as an
    aggregate keeps them (docs/adr/0032): the row is the merge of every batch's."""
    if not signals:
        return
    row = ctx.get("tel_signals", cluster_id)
    if row is not None:
        signals = merge_signals(SIGNALS_TEXT.read(row["signals"]), signals)
    ctx.set(
        "tel_signals",
        {
            "cluster_id": cluster_id,
            "signals": SIGNALS_TEXT.write(signals, keep=ctx.keeps),
            "updated_idx": ctx.index,
        },
    )


def _merge_days(ctx: _Context, cluster_id: str, days: Mapping[str, DayTotals]) -> None:
    """Add one batch's days of one cluster into ``cluster_days`` (ADR 0029)."""
    for day in sorted(days):
        new = days[day]
        row = ctx.get("cluster_days", cluster_id, day)
        if row is not None:
            new = DayTotals.from_json(
                {
                    "chip_windows": row["chip_windows"],
                    "energy_j": row["energy_j"],
                    "flop": json.loads(row["flop"]),
                    "unattributed_flop": json.loads(row["unattributed_flop"]),
                    "busy_energy_j": row["busy_energy_j"],
                    "busy_flop": json.loads(row.get("busy_flop") or "{}"),
                    "busy_tensor_ms": json.loads(row.get("busy_tensor_ms") or "{}"),
                }
            ).merge(new)
        doc = new.to_json()
        ctx.set(
            "cluster_days",
            {
                "cluster_id": cluster_id,
                "day": day,
                "energy_j": doc["energy_j"],
                "flop": json.dumps(doc["flop"], sort_keys=True, separators=(",", ":")),
                "unattributed_flop": json.dumps(
                    doc["unattributed_flop"], sort_keys=True, separators=(",", ":")
                ),
                "chip_windows": doc["chip_windows"],
                "busy_energy_j": doc["busy_energy_j"],
                "busy_flop": json.dumps(
                    doc.get("busy_flop", {}), sort_keys=True, separators=(",", ":")
                ),
                "busy_tensor_ms": json.dumps(
                    doc.get("busy_tensor_ms", {}), sort_keys=True, separators=(",", ":")
                ),
                "updated_idx": ctx.index,
            },
        )


HANDLERS: Mapping[str, Handler] = {
    "party.register/v1": _party,
    "operator.register/v1": _operator,
    "facility.register/v1": _facility,
    "cluster.register/v1": _cluster,
    "chip_maker.register/v1": _maker,
    "chip.certify/v1": _certify,
    "chip.custody/v1": _custody,
    "chip.transfer/v1": _transfer,
    "key.rotate/v1": _rotate,
    "key.revoke/v1": _revoke,
    "run.declaration/v1": _declare,
    "run.start/v1": _start,
    "run.end/v1": _end,
    "run.change/v1": _change,
    "position/v1": _position,
    ADOPT_KIND: _adopt,
    SUBMISSION_KIND: _submission_alone,
    BATCH_KIND: _telemetry_batch,
}


def _time(t: datetime | None) -> str | None:
    return None if t is None else format_time(t)


def adoption_from_row(row: Row) -> Adoption:
    """The :class:`Adoption` an ``adoptions`` view row holds (to resume a fold from views)."""
    body = PolicyAdopt.model_validate_json(row["body"], strict=False)
    integrated = datetime.fromisoformat(row["integrated_at"])
    return Adoption(row["idx"], integrated, row["signer"], body)


__all__ = [
    "HANDLERS",
    "VIEWS",
    "Change",
    "FoldInterruptedError",
    "Handler",
    "LiftState",
    "Outcome",
    "Registry",
    "RejectedError",
    "Row",
    "View",
    "adoption_from_row",
    "record_movement",
]
