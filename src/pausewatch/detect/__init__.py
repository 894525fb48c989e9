"""Detecting defection: the standard mathematics of safeguards accounting, applied to compute.

A pause is only as credible as the chance that a violation is found before a prohibited run
could finish. ``pausewatch.detect`` computes that chance from the log, in the manner of nuclear
material accounting (../shared/DESIGN.md, "Detection and deterrence: the standard mathematics";
issue 16). Its parts, each pure (no database, clock or network; time is a parameter):

- **Inspections: sampling plans** (:mod:`._sampling`): how many chips to verify so that a
  falsification of at least ``M`` of ``N`` items is found with probability ``1 - beta``, under
  the exact hypergeometric law, beside the IAEA's approximation ``N (1 - beta^(1/M))``
  (``pausewatch detect plan``).
- **Which items are inspected** (:mod:`._draw`): a deterministic, unbiased draw from a seed that
  the prover cannot know in advance, the root of a log checkpoint whose tree already holds the
  plan's commitment.
- **Sequential tests** (:mod:`._arl`): the average run length of Page's one-sided CUSUM on
  standard normal residuals, exact to the published tables (integral equation, with Brook and
  Evans's Markov chain as a cross-check), and the decision interval for a target false-alarm
  rate per period (``pausewatch detect arl``).
- **Signed sources** (:mod:`._statements`, folded by :mod:`._fold`): facility meters with
  hash-chained readings (``meter.certify/v1``, ``meter.install/v1``, ``meter.reading/v1``), the
  supply chain (``chip.ship/v1``, ``chip.export/v1``, ``chip.transfer/v1``'s receiving party),
  inspectors and inspections (``inspector.register/v1``, ``inspection.plan/v1``,
  ``inspection.report/v1``) and declared non-training work (``workload.declare/v1``).
- **Chips unaccounted for** (:mod:`._chips`): per operator and party, shipped less
  transferred, installed, retired, exported and seen reporting; exports to non-parties; what
  inspections found (docs/adr/0026-chip-accounts.md).
- **Workload classification** (:mod:`._classify`): training, inference or idle from a chip's
  own telemetry signals, with recall measured on held-out and disguised training
  (docs/adr/0027-workload-classification.md); as a detector (:mod:`._training`), over a
  cluster's windows that claim no training (docs/adr/0032-demo-acts-and-suspected-training.md).
- **Balances** (:mod:`._balance`, :mod:`._sitmuf`, :mod:`._cusum`, :mod:`._alarm`): compute,
  energy and chips unaccounted for with random and systematic errors and their covariance;
  SITMUF; the one-shot, cumulative and Page's CUSUM tests; alarms that carry the false-alarm
  rate they were set for and their evidence.
- **Daily balances over the log** (:mod:`._daily`): per facility and UTC day, energy and
  compute unaccounted for from the meters and the counters, standardised and tested at a
  stated false-alarm rate per facility-year (docs/adr/0029-daily-balances.md).
- **Phase against pattern** (:mod:`._phase`): whether the sampled chips of a run declared a
  hyper-parameter search move their network traffic together, as one synchronous job does
  (docs/adr/0036).
- **Counters against sensors** (:mod:`._plausibility`): per cluster and UTC day, the FLOP the
  busy windows counted per tensor-active second of dense peak, against the floor honest work
  keeps (docs/adr/0033-counters-against-sensors.md).

Decisions and the accuracy of each method: docs/adr/0023-sampling-draws-and-run-lengths.md
(sampling, draws, run lengths), docs/adr/0024-balances-sitmuf-and-cusum.md (balances) and
docs/adr/0025-independent-sources.md (the signed sources); the detectors' measured performance
is published on the log as ``detect.evaluation/v1`` (:mod:`._published`,
docs/adr/0031-detection-page.md).
"""

from pausewatch.detect._alarm import (
    Alarm,
    AlarmTest,
    FalseAlarmRate,
    balance_alarms,
    cumulative_alarms,
    cusum_alarms,
    one_shot_alarms,
)
from pausewatch.detect._arl import (
    RunLength,
    cusum_arl,
    cusum_arl_markov,
    cusum_run_length,
    decision_interval,
    two_sided_arl,
)
from pausewatch.detect._balance import (
    UNITS,
    Amount,
    Balance,
    BalanceError,
    BalanceKind,
    Efficiency,
    Level,
    Measurement,
    Period,
    Quantity,
    as_quantity,
    chips_unaccounted,
    compute_unaccounted,
    counter_reading,
    covariance_of,
    energy_unaccounted,
    fleet_flop_per_joule,
    flop_from_energy,
    roll_up,
    sum_of,
)
from pausewatch.detect._chips import (
    ChipAccount,
    ChipAccounts,
    ChipCount,
    Export,
    InspectionResult,
    chip_accounts,
)
from pausewatch.detect._classify import (
    CLASSIFIED_WORKLOADS,
    MIN_WINDOWS,
    WORKLOAD_FEATURES,
    WorkloadClassifier,
    WorkloadReport,
    disguised_traces,
    evaluate_workload_classification,
    feature_matrix,
    fit_on_simulation,
    records_of,
    simulated_traces,
    workload_features,
)
from pausewatch.detect._cusum import CusumPath, page_cusum
from pausewatch.detect._daily import (
    ALPHA_PER_TEST,
    FALSE_ALARMS_PER_FACILITY_YEAR,
    BalanceAlarm,
    DarkDraw,
    DayPoint,
    FacilityBalances,
    dark_draw,
    day_period,
    facility_balances,
    series_tested,
)
from pausewatch.detect._draw import (
    DRAW_DOMAIN,
    checkpoint_seed,
    draw,
    draw_from_checkpoint,
    draw_indices,
)
from pausewatch.detect._phase import (
    CHECKED_PHASES,
    MIN_CHIPS,
    SYNC_CORRELATION,
    SYNC_SHARE,
    RunPattern,
    run_pattern,
)
from pausewatch.detect._plausibility import (
    ALPHA_PER_CLUSTER_YEAR,
    CounterAlarm,
    CounterDay,
    counter_alarms,
    counter_days,
    counter_ratio,
    fit_floor,
    plausibility_limit,
)
from pausewatch.detect._published import (
    DetectionEvaluation,
    EvaluatedKind,
    evaluation_body,
    report_digest,
)
from pausewatch.detect._rollup import (
    RollupAlarm,
    RollupBalances,
    Rollups,
    rolled_up,
    rollup_balances,
)
from pausewatch.detect._sampling import (
    SamplingPlan,
    approximate_sample_size,
    detection_probability,
    plan,
    sample_size,
)
from pausewatch.detect._sitmuf import (
    BalanceTest,
    Matrix,
    Sitmuf,
    cholesky,
    covariance,
    cumulative,
    detectable_loss,
    forward_solve,
    one_shot,
    sitmuf,
    standardised,
    z_quantile,
)
from pausewatch.detect._statements import (
    DETECT_KINDS,
    Activity,
    ChipExport,
    ChipSeen,
    ChipShip,
    InspectionPlan,
    InspectionReport,
    InspectorRegister,
    MeterCertify,
    MeterInstall,
    MeterReading,
    OnSiteReading,
    SealState,
    SeedRule,
    WorkloadDeclare,
    WorkloadKind,
    next_reading,
    reading_digest,
)
from pausewatch.detect._training import (
    ClusterVerdict,
    DeclaredWorkload,
    FittedClassifier,
    classify_cluster,
    classify_signals,
    fitted_classifier,
    prime_classifier,
)
from pausewatch.errors import DetectionError

__all__ = [
    "ALPHA_PER_CLUSTER_YEAR",
    "ALPHA_PER_TEST",
    "CHECKED_PHASES",
    "CLASSIFIED_WORKLOADS",
    "DETECT_KINDS",
    "DRAW_DOMAIN",
    "FALSE_ALARMS_PER_FACILITY_YEAR",
    "MIN_CHIPS",
    "MIN_WINDOWS",
    "SYNC_CORRELATION",
    "SYNC_SHARE",
    "UNITS",
    "WORKLOAD_FEATURES",
    "Activity",
    "Alarm",
    "AlarmTest",
    "Amount",
    "Balance",
    "BalanceAlarm",
    "BalanceError",
    "BalanceKind",
    "BalanceTest",
    "ChipAccount",
    "ChipAccounts",
    "ChipCount",
    "ChipExport",
    "ChipSeen",
    "ChipShip",
    "ClusterVerdict",
    "CounterAlarm",
    "CounterDay",
    "CusumPath",
    "DarkDraw",
    "DayPoint",
    "DeclaredWorkload",
    "DetectionError",
    "DetectionEvaluation",
    "Efficiency",
    "EvaluatedKind",
    "Export",
    "FacilityBalances",
    "FalseAlarmRate",
    "FittedClassifier",
    "InspectionPlan",
    "InspectionReport",
    "InspectionResult",
    "InspectorRegister",
    "Level",
    "Matrix",
    "Measurement",
    "MeterCertify",
    "MeterInstall",
    "MeterReading",
    "OnSiteReading",
    "Period",
    "Quantity",
    "RollupAlarm",
    "RollupBalances",
    "Rollups",
    "RunLength",
    "RunPattern",
    "SamplingPlan",
    "SealState",
    "SeedRule",
    "Sitmuf",
    "WorkloadClassifier",
    "WorkloadDeclare",
    "WorkloadKind",
    "WorkloadReport",
    "approximate_sample_size",
    "as_quantity",
    "balance_alarms",
    "checkpoint_seed",
    "chip_accounts",
    "chips_unaccounted",
    "cholesky",
    "classify_cluster",
    "classify_signals",
    "compute_unaccounted",
    "counter_alarms",
    "counter_days",
    "counter_ratio",
    "counter_reading",
    "covariance",
    "covariance_of",
    "cumulative",
    "cumulative_alarms",
    "cusum_alarms",
    "cusum_arl",
    "cusum_arl_markov",
    "cusum_run_length",
    "dark_draw",
    "day_period",
    "decision_interval",
    "detectable_loss",
    "detection_probability",
    "disguised_traces",
    "draw",
    "draw_from_checkpoint",
    "draw_indices",
    "energy_unaccounted",
    "evaluate_workload_classification",
    "evaluation_body",
    "facility_balances",
    "feature_matrix",
    "fit_floor",
    "fit_on_simulation",
    "fitted_classifier",
    "fleet_flop_per_joule",
    "flop_from_energy",
    "forward_solve",
    "next_reading",
    "one_shot",
    "one_shot_alarms",
    "page_cusum",
    "plan",
    "plausibility_limit",
    "prime_classifier",
    "reading_digest",
    "records_of",
    "report_digest",
    "roll_up",
    "rolled_up",
    "rollup_balances",
    "run_pattern",
    "sample_size",
    "series_tested",
    "simulated_traces",
    "sitmuf",
    "standardised",
    "sum_of",
    "two_sided_arl",
    "workload_features",
    "z_quantile",
]
