"""Detection scenarios: a documented format, its JSON Schema, and a seeded corpus generator.

A scenario (docs/scenarios.md, docs/adr/0030-detection-measured.md) names the parties, the
facilities (registered or kept off the registry) with their meters and the meters' error model,
the clusters (catalogue chip model, chip count, whether the chips are registered and whether
the supply chain shipped them on the record), each cluster's honest workload (training under a
declaration, inference, idle) and at most one defection: its kind (:class:`DefectionKind`), its
strategy, its start, its size in FLOP and the utilisation it runs at. The duration of a
defecting run is not chosen: it follows from its size, its chips, their model's dense peak and
the utilisation (DESIGN, "Timeliness"), and a file whose stated duration disagrees is refused.

:func:`generate_corpus` draws a corpus from a seed: one scenario per seed ``seed .. seed +
count - 1``, one in four honest, the rest cycling through every defection kind, at sizes
log-uniform from a hundredth of the prohibited threshold to twenty times it. :func:`load_scenario`
reads one file and refuses a bad one with one line. The JSON Schema
(``scenario.schema.json`` beside this module) is exported from the models
(:func:`scenario_schema`) and checked in; a test keeps the two equal.

Pure: no clock, no network; files are read and written only by :func:`load_scenario` and
:func:`write_corpus`.
"""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pausewatch.compute import Precision, load_catalogue
from pausewatch.errors import Error

SCHEMA_PATH = Path(__file__).with_name("scenario.schema.json")
"""The checked-in JSON Schema of a scenario file."""

FORMAT: Literal["pausewatch.scenario/v1"] = "pausewatch.scenario/v1"
"""The ``format`` every scenario file names."""

PROHIBITED_FLOP = 1e24
"""The adopted policy's (miri-2025) prohibited pre-training threshold, in FLOP."""

DEFAULT_START = datetime(2027, 1, 1, tzinfo=UTC)
"""Midnight UTC at which a generated scenario's first day starts."""


class ScenarioError(Error):
    """A scenario file is not a valid scenario (one line says why)."""


class DefectionKind(StrEnum):
    """How a party or operator defects (issue 16, item 6)."""

    UNDECLARED_TRAINING = "undeclared_training"
    """Training on registered chips, tagged to no declared run."""
    UNREGISTERED_CHIPS = "unregistered_chips"
    """Training on chips never registered, in a registered (metered) facility."""
    HIDDEN_FACILITY = "hidden_facility"
    """Training in a facility kept off the registry: only shipments (and meters) show it."""
    UNDERREPORTED_COUNTERS = "underreported_counters"
    """A declared run whose chips' FLOP counters report a fraction of the work."""
    MISTAGGED = "mistagged"
    """Training tagged to another declared run (a small decoy run on the same cluster)."""
    SPLIT_RUN = "split_run"
    """One run split across clusters, facilities and operators, each piece under every tier."""
    INFERENCE_SHAPED = "inference_shaped"
    """Training shaped like inference: throttled, shaped or bursty."""
    DIVERSION = "diversion"
    """Chips diverted to a non-party, to train there."""
    GOING_DARK = "going_dark"
    """Registered chips train while their telemetry is withheld."""


STRATEGIES: dict[DefectionKind, tuple[str, ...]] = {
    DefectionKind.UNDECLARED_TRAINING: ("untagged",),
    DefectionKind.UNREGISTERED_CHIPS: ("shipped", "smuggled"),
    DefectionKind.HIDDEN_FACILITY: ("shipped", "smuggled"),
    DefectionKind.UNDERREPORTED_COUNTERS: ("scaled", "scaled_sensors"),
    DefectionKind.MISTAGGED: ("decoy_run",),
    DefectionKind.SPLIT_RUN: ("same_recipe", "distinct_recipe"),
    DefectionKind.INFERENCE_SHAPED: ("throttled", "shaped", "bursty"),
    DefectionKind.DIVERSION: ("declared_export", "silent"),
    DefectionKind.GOING_DARK: ("withheld",),
}
"""The strategies of each kind. ``shipped``/``smuggled``: the maker's shipment of the chips is on
the record, or they came by a channel the log never sees; ``same_recipe``/``distinct_recipe``:
the pieces of a split declare the same hyper-parameters and data order, or each its own;
``scaled``/``scaled_sensors``: the chips' FLOP counters alone report ``counter_ratio`` of the
work, or their tensor activity and power (hence energy) too, consistently, so that only the
facility meter can show it (docs/adr/0033);
``throttled``/``shaped``/``bursty``: :mod:`.adversarial`'s disguises, and bursts of plain
training between them; ``declared_export``/``silent``: the diversion is filed as an export, or
the chips simply stop reporting."""

Ident = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Meter(_Model):
    """A facility meter and its error model (contract C1 of issue 16's round)."""

    meter_id: Ident
    random_sigma: Annotated[float, Field(ge=0.0, le=0.5)]
    """Relative standard deviation of one reading's random error (fresh each reading)."""
    systematic_sigma: Annotated[float, Field(ge=0.0, le=0.5)]
    """Relative standard deviation of its calibration bias (the same in every reading)."""
    overhead_w: Annotated[float, Field(ge=0.0)] = 0.0
    """The stated constant draw the meter sees beside the chips, in watts."""
    overhead_ratio: Annotated[float, Field(ge=0.0, le=10.0)] = 0.0
    """The stated extra energy per joule of chip energy."""
    overhead_sigma: Annotated[float, Field(ge=0.0, le=1.0)] = 0.05
    """Relative systematic uncertainty of the stated overhead."""
    bias: Annotated[float, Field(ge=-0.5, le=0.5)] = 0.0
    """The meter's true calibration bias (relative), drawn once: the truth the statement does
    not carry."""


class Workload(StrEnum):
    """What an honest cluster does."""

    TRAINING = "training"
    """A declared training run, below every tier, tagged in the telemetry."""
    INFERENCE = "inference"
    """Serving, declared with ``workload.declare/v1``."""
    IDLE = "idle"


class Cluster(_Model):
    """A cluster: its chips and, when honest, its workload."""

    cluster_id: Ident
    chip_model: str
    """A hardware catalogue model name (``B200``, ``H100 SXM``...)."""
    chips: Annotated[int, Field(ge=1, le=4096)]
    registered: bool = True
    """Whether the cluster and its chips are on the registry (installed, reporting)."""
    shipped: bool = True
    """Whether the maker's shipment of its chips is on the record (certified, shipped)."""
    workload: Workload = Workload.IDLE
    utilisation: Fraction = 0.4
    """Fraction of the chips' dense peak an honest training workload achieves."""
    run_id: Ident | None = None
    """The declared run of an honest training workload."""
    planned_flop: Annotated[float, Field(gt=0.0)] | None = None
    """Its declaration's plan, in FLOP."""
    run_days: Annotated[int, Field(ge=1)] | None = None
    """How many days from the scenario's start an honest training run lasts (then idle); none:
    all along."""
    outage_rate: Fraction = 0.0
    """Probability per chip and day of a short outage (under the policy's silence limit)."""


class Facility(_Model):
    """A facility of one operator under one party."""

    facility_id: Ident
    operator_id: Ident
    party_id: Ident
    registered: bool = True
    """False: kept off the registry (no facility, cluster, meter or chip statement)."""
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] = "US"
    meter: Meter | None = None
    clusters: Annotated[list[Cluster], Field(min_length=1)]


class Defection(_Model):
    """One defection: what, how, from when, how big."""

    defection_id: Ident
    kind: DefectionKind
    strategy: str
    """One of :data:`STRATEGIES` for the kind."""
    start: datetime
    """When the defecting run starts (UTC, midnight)."""
    size_flop: Annotated[float, Field(gt=0.0)]
    """The compute the defecting run needs, in FLOP."""
    clusters: Annotated[list[Ident], Field(min_length=1)]
    """The clusters it runs on (several for a split run; the diverted chips' cluster)."""
    utilisation: Annotated[float, Field(gt=0.0, le=1.0)]
    """Mean fraction of the chips' dense peak it achieves (low for disguised training)."""
    duration_s: Annotated[float, Field(gt=0.0)]
    """How long the run takes: size / (chips x peak x utilisation); checked."""
    counter_ratio: Fraction = 1.0
    """``underreported_counters``: the fraction of the work the counters report."""
    decoy_run: Ident | None = None
    """``mistagged``: the declared run its windows name, declared on ``decoy_cluster`` (the
    defecting cluster: the ingest refuses a record tagged to a run of another cluster) with
    ``decoy_chips`` of its chips."""
    decoy_cluster: Ident | None = None
    decoy_chips: Annotated[int, Field(ge=1)] | None = None
    burst_share: Fraction = 0.0
    """``inference_shaped``/``bursty``: the share of hours spent training openly."""
    destination_country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    """``diversion``: the non-party the chips go to."""

    @model_validator(mode="after")
    def _strategy(self) -> Defection:
        if self.strategy not in STRATEGIES[self.kind]:
            raise ValueError(
                f"strategy {self.strategy!r} is not one of {list(STRATEGIES[self.kind])} "
                f"for kind {self.kind.value}"
            )
        if self.start.utcoffset() != timedelta(0):
            raise ValueError("start must be UTC")
        return self


class Scenario(_Model):
    """One scenario file (``format`` = ``pausewatch.scenario/v1``)."""

    format: Literal["pausewatch.scenario/v1"] = FORMAT
    scenario_id: Ident
    seed: Annotated[int, Field(ge=0)]
    """The seed it was drawn from: keys, meter noise and every figure follow from it."""
    policy: Literal["miri-2025"] = "miri-2025"
    """The adopted policy (a preset name)."""
    start: datetime
    """Midnight UTC at which day 0 starts."""
    days: Annotated[int, Field(ge=1, le=3660)]
    """How many days the scenario lasts."""
    sample_hours: Annotated[int, Field(ge=1, le=24)] = 1
    """Hours each chip reports per day (the day's last ones): one keeps the volume affordable."""
    parties: Annotated[list[Ident], Field(min_length=1)]
    non_parties: list[Annotated[str, Field(pattern=r"^[A-Z]{2}$")]] = []
    facilities: Annotated[list[Facility], Field(min_length=1)]
    defection: Defection | None = None
    """None: an honest scenario."""

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if self.start.utcoffset() != timedelta(0):
            raise ValueError("start must be UTC")
        catalogue = load_catalogue()
        clusters: dict[str, Cluster] = {}
        for facility in self.facilities:
            if facility.party_id not in self.parties:
                raise ValueError(
                    f"facility {facility.facility_id} names party {facility.party_id}, "
                    "which the scenario does not list"
                )
            for cluster in facility.clusters:
                if cluster.cluster_id in clusters:
                    raise ValueError(f"cluster {cluster.cluster_id} is named twice")
                clusters[cluster.cluster_id] = cluster
                if cluster.chip_model not in catalogue:
                    raise ValueError(
                        f"cluster {cluster.cluster_id}: chip model {cluster.chip_model!r} is "
                        "not in the hardware catalogue"
                    )
                if cluster.workload is Workload.TRAINING and (
                    cluster.run_id is None or cluster.planned_flop is None
                ):
                    raise ValueError(
                        f"cluster {cluster.cluster_id}: a training workload needs run_id and "
                        "planned_flop"
                    )
        d = self.defection
        if d is not None:
            for cluster_id in d.clusters:
                if cluster_id not in clusters:
                    raise ValueError(f"defection names unknown cluster {cluster_id}")
            expected = defection_duration_s(
                d.size_flop, [clusters[c] for c in d.clusters], d.utilisation
            )
            if not math.isclose(d.duration_s, expected, rel_tol=0.01):
                raise ValueError(
                    f"defection duration_s {d.duration_s:.6g} disagrees with size / (chips x "
                    f"peak x utilisation) = {expected:.6g}"
                )
            if d.kind is DefectionKind.MISTAGGED and (
                d.decoy_run is None or d.decoy_cluster not in clusters
            ):
                raise ValueError("a mistagged defection names decoy_run and a known decoy_cluster")
        return self

    def clusters(self) -> dict[str, tuple[Facility, Cluster]]:
        """Every cluster by id, with its facility."""
        return {c.cluster_id: (f, c) for f in self.facilities for c in f.clusters}

    @property
    def end(self) -> datetime:
        """When the scenario's last day ends."""
        return self.start + timedelta(days=self.days)


def chip_peak(model: str) -> float:
    """A chip model's dense training peak in FLOP/s: bf16, or fp16 where bf16 is not listed."""
    chip = load_catalogue().get(model)
    return chip.peak(Precision.BF16 if Precision.BF16 in chip.peak_flops else Precision.FP16)


def defection_duration_s(size_flop: float, clusters: list[Cluster], utilisation: float) -> float:
    """How long a run of ``size_flop`` takes on ``clusters`` at ``utilisation`` of their dense
    peak (DESIGN, "Timeliness"), in seconds."""
    rate = sum(c.chips * chip_peak(c.chip_model) for c in clusters) * utilisation
    return size_flop / rate


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file, exported from the models."""
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://pausewatch.org/schemas/scenario.schema.json"
    return schema


def _first_error(exc: ValidationError) -> str:
    e = exc.errors()[0]
    where = ".".join(str(p) for p in e["loc"]) or "scenario"
    return f"{where}: {e['msg']}"


def parse_scenario(doc: Any, *, source: str = "scenario") -> Scenario:
    """A scenario from its JSON value; raises :class:`ScenarioError` with one line naming the
    first field at fault."""
    try:
        return Scenario.model_validate(doc)
    except ValidationError as exc:
        raise ScenarioError(f"{source}: {_first_error(exc)}") from None


def load_scenario(path: Path) -> Scenario:
    """Read and validate one scenario file (one line on any fault)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: not JSON: {exc}") from None
    return parse_scenario(doc, source=str(path))


def load_corpus(directory: Path) -> list[Scenario]:
    """Every ``*.json`` scenario in ``directory``, in name order; refuses an empty one."""
    if not directory.is_dir():
        raise ScenarioError(f"{directory}: not a directory")
    files = sorted(p for p in directory.glob("*.json") if p.is_file())
    if not files:
        raise ScenarioError(f"{directory}: holds no scenario (*.json)")
    return [load_scenario(p) for p in files]


# -- generation --------------------------------------------------------------------------------

KIND_ORDER: tuple[DefectionKind, ...] = tuple(DefectionKind)
HONEST_EVERY = 4
"""One scenario in this many is honest (the others defect)."""
HONEST_DAYS = 182
"""An honest scenario lasts half a year: with 36-48 facilities that is 18-24 facility-years,
and the fixed cost of a day (a batch per operator, the policy's evaluation) is shared."""
MAX_SIMULATED_DAYS = 60
"""A defecting scenario ends at most this many days after its defection starts (the
evaluation counts a run still undetected then, and lasting longer, as not detected)."""
MAX_DEFECTING_CHIPS = 512
"""The most B200s a generated defection uses (hundreds: a prohibited run then takes weeks to
months, and one record per chip and day stays affordable)."""
APPROVAL_DAYS = 31
"""A defection that files a declaration needing approval (1e22 FLOP and above under miri-2025)
starts this long after it: a careful defector waits for deemed approval."""


def _honest_cluster(rng: random.Random, cluster_id: str, run_id: str) -> Cluster:
    workload = rng.choice(list(Workload))
    chips = rng.choice((1, 2, 2, 4))
    utilisation = round(rng.uniform(0.32, 0.5), 3)
    run_days = planned = None
    if workload is Workload.TRAINING:
        # A run that stays under the 1e22 FLOP declaration tier, planned with a margin over
        # what it will do.
        per_day = chips * chip_peak("H100 SXM") * utilisation * 86400
        run_days = max(1, min(rng.randint(10, 40), int(0.85e22 / (1.1 * per_day))))
        planned = float(f"{1.1 * per_day * run_days:.3g}")
    return Cluster(
        cluster_id=cluster_id,
        chip_model="H100 SXM",
        chips=chips,
        workload=workload,
        utilisation=utilisation,
        run_id=run_id if workload is Workload.TRAINING else None,
        planned_flop=planned,
        run_days=run_days,
        outage_rate=0.02,
    )


def _meter(rng: random.Random, meter_id: str) -> Meter:
    systematic = round(rng.uniform(0.005, 0.02), 4)
    return Meter(
        meter_id=meter_id,
        random_sigma=round(rng.uniform(0.002, 0.01), 4),
        systematic_sigma=systematic,
        overhead_w=round(rng.uniform(500.0, 3000.0), 1),
        overhead_ratio=round(rng.uniform(0.05, 0.3), 3),
        overhead_sigma=0.05,
        bias=round(rng.gauss(0.0, systematic), 5),
    )


def _honest_facilities(
    rng: random.Random, count: int, party: str, *, operators: int = 1
) -> list[Facility]:
    """``count`` small honest facilities, shared among ``operators`` operators (an operator
    uploads one batch a day for all its facilities: the volume stays affordable)."""
    out = []
    for n in range(1, count + 1):
        out.append(
            Facility(
                facility_id=f"fac-{n}",
                operator_id=f"op-{(n - 1) % operators + 1}",
                party_id=party,
                meter=_meter(rng, f"meter-{n}"),
                clusters=[_honest_cluster(rng, f"cl-{n}", f"run-{n}")],
            )
        )
    return out


def _defecting_chips(size: float, utilisation: float, rng: random.Random) -> int:
    """Chips for a run of ``size``: as many as finish it in 10-90 days, 8 to
    :data:`MAX_DEFECTING_CHIPS` B200s."""
    days = rng.uniform(10.0, 90.0)
    chips = size / (chip_peak("B200") * utilisation * days * 86400)
    return max(8, min(MAX_DEFECTING_CHIPS, round(chips)))


def generate_scenario(
    seed: int, kind: DefectionKind | None, strategy: str | None = None
) -> Scenario:
    """One scenario drawn from ``seed``: honest (``kind`` None) or with one defection of
    ``kind``, its strategy (unless ``strategy`` names one of the kind's), size and start drawn
    too. A strategy given still consumes its draw, so the facilities, size and utilisation
    drawn before it are the seed's whichever strategy it plays; so are the draws after it,
    except in an inference-shaped scenario where ``bursty`` is played but was not drawn, or
    drawn but not played: its burst share is one more draw, which moves the start and every
    figure drawn after it."""
    if strategy is not None and (kind is None or strategy not in STRATEGIES[kind]):
        known = list(STRATEGIES[kind]) if kind is not None else []
        raise ScenarioError(
            f"strategy {strategy!r} is not one of {known} "
            f"(the strategies of {kind.value if kind is not None else 'an honest scenario'})"
        )
    rng = random.Random(f"pausewatch/scenario/{seed}")
    start = DEFAULT_START
    if kind is None:
        facilities = _honest_facilities(rng, rng.randint(36, 48), "party-1", operators=2)
        return Scenario(
            scenario_id=f"s{seed}-honest",
            seed=seed,
            start=start,
            days=HONEST_DAYS,
            parties=["party-1"],
            facilities=facilities,
        )
    drawn = rng.choice(STRATEGIES[kind])
    strategy = drawn if strategy is None else strategy
    facilities = _honest_facilities(rng, rng.randint(1, 2), "party-1")
    size = 10 ** rng.uniform(math.log10(PROHIBITED_FLOP) - 2, math.log10(PROHIBITED_FLOP) + 1.3)
    utilisation = round(rng.uniform(0.3, 0.5), 3)
    if kind is DefectionKind.INFERENCE_SHAPED:
        utilisation = {"throttled": 0.1, "shaped": 0.04}.get(strategy, 0.0)
        burst_share = round(rng.uniform(0.1, 0.4), 3) if strategy == "bursty" else 0.0
        if strategy == "bursty":
            # Bursts train openly at 0.4 of peak; the hours between are throttled (0.1).
            utilisation = round(burst_share * 0.4 + (1 - burst_share) * 0.1, 4)
    else:
        burst_share = 0.0
    chips = _defecting_chips(size, utilisation, rng)
    pieces = 1
    if kind is DefectionKind.SPLIT_RUN:
        # Every piece under the prohibition (80% of it at most), hence up to 25 pieces.
        pieces = max(2, math.ceil(size / (0.8 * PROHIBITED_FLOP)))
        chips = max(8, chips // pieces)
    first_day = rng.randint(3, 10)
    declared = kind in (DefectionKind.SPLIT_RUN, DefectionKind.UNDERREPORTED_COUNTERS)
    if declared:
        first_day += APPROVAL_DAYS
    begins = start + timedelta(days=first_day)
    party = "party-2"
    defector_clusters: list[Cluster] = []
    defector_facilities: list[Facility] = []
    registered = kind not in (DefectionKind.UNREGISTERED_CHIPS, DefectionKind.HIDDEN_FACILITY)
    shipped = strategy != "smuggled"
    for p in range(pieces):
        cid = "cl-x" if pieces == 1 else f"cl-x{p}"
        cluster = Cluster(
            cluster_id=cid, chip_model="B200", chips=chips, registered=registered, shipped=shipped
        )
        defector_clusters.append(cluster)
        operator = "op-x" if p % 2 == 0 else "op-y"
        defector_facilities.append(
            Facility(
                facility_id="fac-x" if pieces == 1 else f"fac-x{p}",
                operator_id=operator,
                party_id=party,
                registered=kind is not DefectionKind.HIDDEN_FACILITY,
                meter=(
                    None
                    if kind is DefectionKind.HIDDEN_FACILITY
                    else _meter(rng, "meter-x" if pieces == 1 else f"meter-x{p}")
                ),
                clusters=[cluster],
            )
        )
    if kind is DefectionKind.UNREGISTERED_CHIPS:
        # The facility is registered and metered, with a small honest cluster beside the
        # hidden one.
        f = defector_facilities[0]
        beside = Cluster(
            cluster_id="cl-x-front",
            chip_model="H100 SXM",
            chips=4,
            workload=Workload.INFERENCE,
            outage_rate=0.02,
        )
        defector_facilities[0] = f.model_copy(update={"clusters": [beside, *f.clusters]}, deep=True)
    if kind is DefectionKind.HIDDEN_FACILITY:
        # The operator is registered, with a registered facility elsewhere; the hidden one
        # holds the training cluster.
        defector_facilities.append(
            Facility(
                facility_id="fac-x-front",
                operator_id="op-x",
                party_id=party,
                meter=_meter(rng, "meter-x-front"),
                clusters=[
                    Cluster(
                        cluster_id="cl-x-front",
                        chip_model="H100 SXM",
                        chips=4,
                        workload=Workload.IDLE,
                        outage_rate=0.02,
                    )
                ],
            )
        )
    decoy_run = decoy_cluster = None
    if kind is DefectionKind.MISTAGGED:
        # A small run declared on the defecting cluster itself, naming a few of its chips: the
        # ingest refuses a record tagged to a run declared on another cluster.
        decoy_run, decoy_cluster = "run-decoy", defector_clusters[0].cluster_id
    duration = defection_duration_s(size, defector_clusters, utilisation)
    defection = Defection(
        defection_id=f"d{seed}",
        kind=kind,
        strategy=strategy,
        start=begins,
        size_flop=float(f"{size:.4g}"),
        clusters=[c.cluster_id for c in defector_clusters],
        utilisation=utilisation,
        duration_s=0.0 + defection_duration_s(float(f"{size:.4g}"), defector_clusters, utilisation),
        counter_ratio=(
            round(rng.uniform(0.05, 0.5), 3)
            if kind is DefectionKind.UNDERREPORTED_COUNTERS
            else 1.0
        ),
        decoy_run=decoy_run,
        decoy_cluster=decoy_cluster,
        decoy_chips=max(1, chips // 8) if decoy_run else None,
        burst_share=burst_share,
        destination_country="ZZ" if kind is DefectionKind.DIVERSION else None,
    )
    days = first_day + min(math.ceil(duration / 86400), MAX_SIMULATED_DAYS) + 1
    return Scenario(
        scenario_id=f"s{seed}-{kind.value}",
        seed=seed,
        start=start,
        days=days,
        parties=["party-1", party],
        non_parties=["ZZ"] if kind is DefectionKind.DIVERSION else [],
        facilities=[*facilities, *defector_facilities],
        defection=defection,
    )


def corpus_kind(index: int) -> DefectionKind | None:
    """What the ``index``-th scenario of a corpus holds: every :data:`HONEST_EVERY`-th is honest,
    the others cycle through every kind."""
    if index % HONEST_EVERY == HONEST_EVERY - 1:
        return None
    defecting = index - index // HONEST_EVERY
    return KIND_ORDER[defecting % len(KIND_ORDER)]


def corpus_strategy(index: int) -> str | None:
    """The strategy of the ``index``-th scenario of a corpus: the *r*-th defection of a kind
    plays the kind's strategies in turn (the *r*-th modulo their number), so that a corpus
    covers every strategy of a kind as soon as it holds that many of the kind, instead of
    leaving it to the seeds' draws (None for an honest scenario)."""
    kind = corpus_kind(index)
    if kind is None:
        return None
    defecting = index - index // HONEST_EVERY
    strategies = STRATEGIES[kind]
    return strategies[(defecting // len(KIND_ORDER)) % len(strategies)]


def generate_corpus(seed: int, count: int) -> list[Scenario]:
    """``count`` scenarios from seeds ``seed .. seed + count - 1`` (see :func:`corpus_kind` and
    :func:`corpus_strategy`)."""
    if count < 1:
        raise ScenarioError(f"count must be at least 1, got {count}")
    if seed < 0:
        raise ScenarioError(f"seed must be at least 0, got {seed}")
    return [generate_scenario(seed + i, corpus_kind(i), corpus_strategy(i)) for i in range(count)]


def scenario_json(scenario: Scenario) -> str:
    """The scenario as the file holds it (sorted keys, two-space indent, newline)."""
    doc = scenario.model_dump(mode="json", exclude_defaults=False)
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def write_corpus(scenarios: list[Scenario], directory: Path) -> list[Path]:
    """Write each scenario to ``directory/<scenario_id>.json``; returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for s in scenarios:
        path = directory / f"{s.scenario_id}.json"
        path.write_text(scenario_json(s), encoding="utf-8")
        paths.append(path)
    return paths


__all__ = [
    "DEFAULT_START",
    "FORMAT",
    "HONEST_DAYS",
    "HONEST_EVERY",
    "KIND_ORDER",
    "MAX_SIMULATED_DAYS",
    "PROHIBITED_FLOP",
    "SCHEMA_PATH",
    "STRATEGIES",
    "Cluster",
    "Defection",
    "DefectionKind",
    "Facility",
    "Meter",
    "Scenario",
    "ScenarioError",
    "Workload",
    "chip_peak",
    "corpus_kind",
    "corpus_strategy",
    "defection_duration_s",
    "generate_corpus",
    "generate_scenario",
    "load_corpus",
    "load_scenario",
    "parse_scenario",
    "scenario_json",
    "scenario_schema",
    "write_corpus",
]
