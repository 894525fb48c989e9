"""The registry's views as SQL tables (SQLAlchemy Core); Alembic migration 0002 creates them.

Each table mirrors one view of :mod:`pausewatch.registry` column for column, so that anyone can
query the registry with SQL. Times are RFC 3339 UTC strings (they sort as they compare). The
tables live with the store, under the domains, so that the store's migrations import nothing
above it; :mod:`pausewatch.state` checks that every view has its table.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

_ID = 128
_KEY = 60
_TIME = 32


def _id(name: str, **kw: object) -> Column[str]:
    return Column(name, String(_ID), **kw)  # type: ignore[arg-type]


def _time(name: str) -> Column[str]:
    return Column(name, String(_TIME), nullable=True)


def _idx(name: str, nullable: bool = False) -> Column[int]:
    return Column(name, BigInteger, nullable=nullable)


parties = Table(
    "reg_parties",
    metadata,
    _id("party_id", primary_key=True),
    Column("name", String(200), nullable=False),
    Column("key", String(_KEY), nullable=False),
    _idx("registered_idx"),
    _time("registered_at"),
)
operators = Table(
    "reg_operators",
    metadata,
    _id("operator_id", primary_key=True),
    _id("party_id", nullable=False),
    Column("name", String(200), nullable=False),
    Column("key", String(_KEY), nullable=False),
    Column("annual_revenue_usd", Float, nullable=True),
    _idx("registered_idx"),
    _time("registered_at"),
)
facilities = Table(
    "reg_facilities",
    metadata,
    _id("facility_id", primary_key=True),
    _id("operator_id", nullable=False),
    Column("name", String(200), nullable=False),
    Column("country", String(2), nullable=False),
    Column("region", String(200), nullable=True),
    Column("latitude", Float, nullable=True),
    Column("longitude", Float, nullable=True),
    Column("power_capacity_mw", Float, nullable=False),
    _idx("registered_idx"),
    _time("registered_at"),
)
clusters = Table(
    "reg_clusters",
    metadata,
    _id("cluster_id", primary_key=True),
    _id("facility_id", nullable=False),
    _id("operator_id", nullable=False),
    Column("name", String(200), nullable=False),
    Column("network_gbps", Float, nullable=False),
    _time("commissioned_at"),
    _idx("registered_idx"),
    _time("registered_at"),
)
chip_makers = Table(
    "reg_chip_makers",
    metadata,
    _id("maker_id", primary_key=True),
    Column("name", String(200), nullable=False),
    Column("key", String(_KEY), nullable=False),
    _idx("registered_idx"),
    _time("registered_at"),
)
chips = Table(
    "reg_chips",
    metadata,
    _id("chip_id", primary_key=True),
    _id("maker_id", nullable=False),
    Column("model", String(200), nullable=False),
    Column("serial", String(128), nullable=False),
    Column("key", String(_KEY), nullable=False),
    Column("firmware_digest", String(64), nullable=True),
    Column("status", String(16), nullable=False),
    _id("operator_id", nullable=True),
    _id("cluster_id", nullable=True),
    _idx("certified_idx"),
    _idx("updated_idx"),
    _time("updated_at"),
    Index("ix_reg_chips_cluster", "cluster_id"),
)
keys = Table(
    "reg_keys",
    metadata,
    Column("key", String(_KEY), primary_key=True),
    Column("subject_kind", String(16), nullable=False),
    _id("subject_id", nullable=False),
    _idx("added_idx"),
    _idx("revoked_idx", nullable=True),
    Column("revoked_reason", Text, nullable=True),
)
runs = Table(
    "reg_runs",
    metadata,
    _id("run_id", primary_key=True),
    _id("operator_id", nullable=False),
    _id("cluster_id", nullable=False),
    _id("facility_id", nullable=False),
    _id("model", nullable=False),
    _id("base_model", nullable=True),
    Column("phase", String(32), nullable=False),
    Column("planned_flop", Float, nullable=False),
    Column("planned_flop_low", Float, nullable=True),
    Column("planned_flop_high", Float, nullable=True),
    Column("estimate_method", String(32), nullable=False),
    Column("chips", BigInteger, nullable=False),
    Column("chip_model", String(200), nullable=True),
    _time("starts_at"),
    _time("ends_at"),
    Column("hyperparameters_digest", String(64), nullable=False),
    Column("data_order_seed_digest", String(64), nullable=False),
    Column("checkpoint_interval_steps", BigInteger, nullable=False),
    Column("primary_data", String(64), nullable=True),
    Column("compute_cost_usd", Float, nullable=True),
    _idx("declared_idx"),
    _time("declared_at"),
    Column("status", String(16), nullable=False),
    _time("started_at"),
    _time("ended_at"),
    Column("final_flop", Float, nullable=True),
    Column("approval", String(16), nullable=False),
    _time("deemed_approved_at"),
    Column("changes", BigInteger, nullable=False),
    _idx("updated_idx"),
    Column("chip_ids", Text, nullable=True),
    Index("ix_reg_runs_cluster", "cluster_id"),
    Index("ix_reg_runs_model", "model"),
)
positions = Table(
    "reg_positions",
    metadata,
    Column("subject_kind", String(16), primary_key=True),
    _id("subject_id", primary_key=True),
    Column("stance", String(16), nullable=False),
    Column("source", Text, nullable=False),
    _time("as_of"),
    Column("note", Text, nullable=True),
    _idx("idx"),
)
adoptions = Table(
    "reg_adoptions",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("policy_id", String(200), nullable=False),
    Column("version", String(64), nullable=False),
    Column("digest", String(64), nullable=False),
    _time("effective_at"),
    _time("integrated_at"),
    Column("signer", String(_KEY), nullable=False),
    Column("supersedes", String(64), nullable=True),
    Column("body", Text, nullable=False),
)
rejected = Table(
    "reg_rejected",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(128), nullable=False),
    Column("signer", String(_KEY), nullable=False),
    Column("reason", Text, nullable=False),
    _time("integrated_at"),
)
unreadable = Table(
    "reg_unreadable",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(128), nullable=False),
    Column("signer", String(_KEY), nullable=True),
    Column("reason", Text, nullable=False),
    _time("integrated_at"),
)
"""Log entries the fold could not read: isolated, with the reason (ADR 0017)."""
tel_batches = Table(
    "tel_batches",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    _id("operator_id", nullable=False),
    Column("batch_digest", String(64), nullable=False),
    Column("records", BigInteger, nullable=False),
    Column("accepted", BigInteger, nullable=False),
    Column("duplicates", BigInteger, nullable=False),
    Column("rejected", BigInteger, nullable=False),
    Column("rejected_by_rule", Text, nullable=True),
    Column("gap_windows", BigInteger, nullable=False),
    Column("records_root", String(64), nullable=False),
    _time("verified_at"),
    _time("integrated_at"),
)
"""One row per integrated telemetry batch."""
tel_submissions = Table(
    "tel_submissions",
    metadata,
    _id("operator_id", primary_key=True),
    Column("batch_digest", String(64), primary_key=True),
    _idx("idx"),
)
"""Which entry integrated each operator's uploaded batch (a batch is counted once; the same
bytes from another operator are another batch)."""
tel_chains = Table(
    "tel_chains",
    metadata,
    _id("chip_id", primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    _time("window_end"),
    Column("energy_j", BigInteger, nullable=False),
    _idx("updated_idx"),
)
"""Each chip's chain head: its last accepted record."""
tel_chips = Table(
    "tel_chips",
    metadata,
    _id("chip_id", primary_key=True),
    Column("records", BigInteger, nullable=False),
    _time("first_window_start"),
    _time("last_window_end"),
    Column("flop", Text, nullable=False),
    Column("energy_j", BigInteger, nullable=False),
    Column("tensor_active_ms", BigInteger, nullable=False),
    _idx("updated_idx"),
    _time("last_busy_end"),
)
"""Each chip's totals (``flop``: JSON, precision to a decimal string of operations;
``last_busy_end``: its latest busy window's end, whatever run it named)."""
tel_runs = Table(
    "tel_runs",
    metadata,
    _id("run_id", primary_key=True),
    Column("flop", Text, nullable=False),
    Column("chip_windows", BigInteger, nullable=False),
    Column("chip_count", BigInteger, nullable=False),
    Column("cluster_count", BigInteger, nullable=False),
    _time("first_window_start"),
    _time("last_window_end"),
    _idx("updated_idx"),
)
"""Measured compute per declared run (``flop``: JSON, FLOP per precision); how many chips and
clusters reported for it (which ones: ``tel_run_chips``, ``tel_run_clusters``)."""
tel_run_chips = Table(
    "tel_run_chips",
    metadata,
    _id("run_id", primary_key=True),
    _id("chip_id", primary_key=True),
)
"""Each chip that reported a window for a run: one row, written when the chip first does (a
run's chips as a list in its ``tel_runs`` row were written whole with every batch; issue 19
§5, docs/adr/0064)."""
tel_run_clusters = Table(
    "tel_run_clusters",
    metadata,
    _id("run_id", primary_key=True),
    _id("cluster_id", primary_key=True),
)
"""Each cluster whose chips reported a window for a run (as ``tel_run_chips``)."""
tel_run_batches = Table(
    "tel_run_batches",
    metadata,
    _id("run_id", primary_key=True),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("flop", Text, nullable=False),
    Column("chip_windows", BigInteger, nullable=False),
    _time("first_window_start"),
    _time("last_window_end"),
)
"""Each telemetry batch's part of a run (FLOP per precision as decimal strings, JSON): the
history of the run's measured compute, entry by entry."""
tel_clusters = Table(
    "tel_clusters",
    metadata,
    _id("cluster_id", primary_key=True),
    Column("chip_windows", BigInteger, nullable=False),
    Column("chip_count", BigInteger, nullable=False),
    Column("flop", Text, nullable=False),
    Column("energy_j", BigInteger, nullable=False),
    Column("unattributed_flop", Text, nullable=False),
    Column("undeclared_flop", Text, nullable=False),
    Column("undeclared_windows", BigInteger, nullable=False),
    _idx("updated_idx"),
)
"""Per cluster: all compute, energy, and compute tagged to no run (undeclared above the
threshold); how many of its chips reported (which ones: ``tel_cluster_chips``)."""
tel_cluster_chips = Table(
    "tel_cluster_chips",
    metadata,
    _id("cluster_id", primary_key=True),
    _id("chip_id", primary_key=True),
)
"""Each chip that reported a window in a cluster (as ``tel_run_chips``)."""
cluster_days = Table(
    "det_cluster_days",
    metadata,
    _id("cluster_id", primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("energy_j", BigInteger, nullable=False),
    Column("flop", Text, nullable=False),
    Column("unattributed_flop", Text, nullable=False),
    Column("chip_windows", BigInteger, nullable=False),
    _idx("updated_idx"),
    Column("busy_energy_j", BigInteger, nullable=False, server_default="0"),
    Column("busy_flop", Text, nullable=False, server_default="{}"),
    Column("busy_tensor_ms", Text, nullable=False, server_default="{}"),
)
"""Per cluster and UTC day (of each window's end): the chips' reported energy (all of it, and
that of busy windows), their compute per precision and the compute tagged to no run (the inputs
of the daily balances, ADR 0029); per chip model, the compute and tensor-active time of the busy
windows (JSON objects keyed by the catalogue's model name: the counters' plausibility, ADR
0033)."""
tel_signals = Table(
    "tel_signals",
    metadata,
    _id("cluster_id", primary_key=True),
    Column("signals", Text, nullable=False),
    _idx("updated_idx"),
)
"""Per cluster: the signals of its sampled chips' latest windows, as the merge of every batch's
aggregate keeps them (what the workload classifier reads, docs/adr/0032)."""
tel_gaps = Table(
    "tel_gaps",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    _id("chip_id", primary_key=True),
    Column("from_seq", BigInteger, primary_key=True, autoincrement=False),
    Column("to_seq", BigInteger, nullable=False),
    Column("missing", BigInteger, nullable=False),
)
"""Windows a chip's chain skipped, as the batch that showed it recorded them."""
tel_rejections = Table(
    "tel_rejections",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("line", BigInteger, nullable=False),
    _id("chip_id", nullable=True),
    Column("seq", BigInteger, nullable=True),
    Column("rule", String(32), nullable=False),
    Column("reason", Text, nullable=False),
)
"""Records a batch refused, with the rule and the reason."""
seats = Table(
    "gov_seats",
    metadata,
    Column("body", String(64), primary_key=True),
    _id("party_id", primary_key=True),
    Column("starts_at", String(_TIME), primary_key=True),
    _time("ends_at"),
    _idx("idx"),
)
"""Elected seats of bodies, with their terms."""
proposals = Table(
    "gov_proposals",
    metadata,
    _id("proposal_id", primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("proposer", String(_ID), nullable=False),
    Column("subject", String(200), nullable=True),
    Column("days", Float, nullable=True),
    _time("deadline"),
    Column("policy_digest", String(64), nullable=True),
    Column("text", Text, nullable=False),
    Column("body", String(64), nullable=False),
    Column("rule", String(32), nullable=False),
    Column("quorum", Float, nullable=False),
    Column("veto_holders", Text, nullable=False),
    _time("opens_at"),
    _time("closes_at"),
    _idx("proposed_idx"),
    Column("status", String(16), nullable=False),
    Column("passed", Boolean, nullable=True),
    Column("outcome", Text, nullable=True),
    _idx("decided_idx", nullable=True),
    _time("decided_at"),
)
"""Proposals, their windows and, once decided, the fold's outcome (JSON) with its reasons."""
ballots = Table(
    "gov_ballots",
    metadata,
    _id("proposal_id", primary_key=True),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    _id("party_id", nullable=False),
    Column("key", String(_KEY), nullable=False),
    Column("choice", String(8), nullable=False),
    _time("integrated_at"),
)
"""Every ballot on the log; which of them count is decided at the close."""
order_acks = Table(
    "gov_order_acks",
    metadata,
    _id("proposal_id", primary_key=True),
    _id("operator_id", nullable=False),
    _idx("idx"),
    _time("at"),
)
"""Halt orders acknowledged by their subject's operator."""
witnesses = Table(
    "gov_witnesses",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("key", String(400), nullable=False),
    _idx("added_idx"),
    _time("added_at"),
    _idx("removed_idx", nullable=True),
    _time("removed_at"),
)
"""The log's witnesses the secretariat registered (``key``: the C2SP verifier key)."""
witness_cosignatures = Table(
    "gov_witness_cosignatures",
    metadata,
    Column("witness", String(200), primary_key=True),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("root", String(64), nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    _time("integrated_at"),
)
"""Witness cosignatures recorded on the log, each checked against the log's tree at its size."""
evaluators = Table(
    "ev_evaluators",
    metadata,
    _id("evaluator_id", primary_key=True),
    _id("party_id", nullable=True),
    Column("name", String(200), nullable=False),
    Column("key", String(_KEY), nullable=False),
    _idx("registered_idx"),
    _time("registered_at"),
)
"""Evaluators (safety institutes) whose signed results count; ``party_id`` null: registered
by the secretariat."""
eval_suites = Table(
    "ev_suites",
    metadata,
    Column("domain", String(64), primary_key=True),
    Column("probes", Text, nullable=False),
    Column("note", Text, nullable=True),
    _idx("adopted_idx"),
    _time("adopted_at"),
)
"""The suite adopted per capability domain (``probes``: JSON list of id and version, and the
elicitation pin where the adoption gives one)."""
eval_results = Table(
    "ev_results",
    metadata,
    _id("result_id", primary_key=True),
    _id("evaluator_id", nullable=False),
    _id("model", nullable=False),
    Column("inspect_model", String(200), nullable=False),
    Column("domain", String(64), nullable=False),
    Column("probe_id", String(200), nullable=False),
    Column("task", String(200), nullable=False),
    Column("task_version", BigInteger, nullable=False),
    Column("in_suite", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("error", Text, nullable=True),
    Column("samples", BigInteger, nullable=False),
    Column("completed_samples", BigInteger, nullable=False),
    Column("epochs", BigInteger, nullable=False),
    Column("metrics", Text, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("elicitation", Text, nullable=False),
    Column("log_digest", String(64), nullable=False),
    Column("log_name", String(500), nullable=True),
    _time("started_at"),
    _time("completed_at"),
    _idx("idx"),
    _time("integrated_at"),
    Column("superseded_by", String(_ID), nullable=True),
    Column("weights_digest", String(64), nullable=True),
    Index("ix_ev_results_model_domain", "model", "domain"),
)
"""Signed evaluation results (``metrics`` and ``elicitation`` as JSON). A failed or incomplete
result is ``superseded_by`` a later successful one of the same evaluator, model and probe;
``weights_digest``: the weights evaluated, where the result names them."""

# -- detection's independent sources (docs/adr/0025) ---------------------------------------------

meters = Table(
    "det_meters",
    metadata,
    _id("meter_id", primary_key=True),
    _id("inspector_id", nullable=True),
    Column("model", String(200), nullable=False),
    Column("serial", String(128), nullable=False),
    Column("key", String(_KEY), nullable=False),
    Column("random_sigma", Float, nullable=False),
    Column("systematic_sigma", Float, nullable=False),
    Column("status", String(16), nullable=False),
    _id("operator_id", nullable=True),
    _id("facility_id", nullable=True),
    _id("cluster_id", nullable=True),
    _time("installed_at"),
    Column("overhead_w", Float, nullable=True),
    Column("overhead_ratio", Float, nullable=True),
    Column("overhead_sigma", Float, nullable=True),
    Column("head_seq", BigInteger, nullable=True),
    Column("head_digest", String(64), nullable=True),
    Column("head_energy_j", Float, nullable=True),
    _time("head_window_end"),
    Column("readings", BigInteger, nullable=False),
    Column("gaps", BigInteger, nullable=False),
    _idx("certified_idx"),
    _idx("updated_idx"),
    _time("updated_at"),
)
"""Certified facility meters (``inspector_id`` null: certified by the secretariat), where each
is installed, its stated accuracy (relative sigma, random and systematic) and the head of its
chain of readings."""
meter_readings = Table(
    "det_meter_readings",
    metadata,
    _id("meter_id", primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("digest", String(64), nullable=False),
    Column("prev", String(64), nullable=True),
    _id("facility_id", nullable=True),
    _id("cluster_id", nullable=True),
    _time("window_start"),
    _time("window_end"),
    Column("energy_j", Float, nullable=False),
    Column("delta_j", Float, nullable=True),
    Column("after_gap", Boolean, nullable=False),
    _idx("idx"),
    _time("integrated_at"),
    Index("ix_det_meter_readings_facility", "facility_id", "window_end"),
)
"""Every accepted meter reading (cumulative ``energy_j``; ``delta_j`` since the reading before
on the log), where the meter was when it was taken."""
meter_gaps = Table(
    "det_meter_gaps",
    metadata,
    _id("meter_id", primary_key=True),
    Column("from_seq", BigInteger, primary_key=True, autoincrement=False),
    Column("to_seq", BigInteger, nullable=False),
    _idx("idx"),
    _time("integrated_at"),
)
"""Readings of a meter that never reached the log (``from_seq`` to ``to_seq``)."""
chip_movements = Table(
    "det_chip_movements",
    metadata,
    _id("chip_id", primary_key=True),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(16), nullable=False),
    _id("ref", nullable=True),
    _id("maker_id", nullable=False),
    _id("from_operator", nullable=True),
    _id("from_party", nullable=True),
    _id("to_operator", nullable=True),
    _id("to_party", nullable=True),
    Column("cross_border", Boolean, nullable=False),
    Column("destination_country", String(2), nullable=True),
    Column("destination_entity", String(200), nullable=True),
    _time("at"),
    _time("integrated_at"),
)
"""Each chip's supply chain, step by step: ``ship`` (maker to buyer), ``transfer`` (a sale),
``export`` (to a non-party), ``retire``."""
shipments = Table(
    "det_shipments",
    metadata,
    _id("shipment_id", primary_key=True),
    _id("maker_id", nullable=False),
    _id("to_operator", nullable=False),
    _id("receiving_party", nullable=False),
    Column("chips", BigInteger, nullable=False),
    Column("chip_ids", Text, nullable=False),
    Column("from_country", String(2), nullable=True),
    Column("to_country", String(2), nullable=True),
    _time("shipped_at"),
    _idx("idx"),
    _time("integrated_at"),
)
"""Shipments of chips from their maker (``chip_ids``: JSON list)."""
exports = Table(
    "det_exports",
    metadata,
    _id("export_id", primary_key=True),
    Column("signer", String(_KEY), nullable=False),
    Column("chips", BigInteger, nullable=False),
    Column("chip_ids", Text, nullable=False),
    Column("destination_country", String(2), nullable=False),
    Column("destination_entity", String(200), nullable=False),
    Column("licence", String(200), nullable=True),
    _time("at"),
    _idx("idx"),
    _time("integrated_at"),
)
"""Chips exported to non-parties (``chip_ids``: JSON list)."""
inspectors = Table(
    "det_inspectors",
    metadata,
    _id("inspector_id", primary_key=True),
    Column("name", String(200), nullable=False),
    Column("body", String(200), nullable=False),
    Column("key", String(_KEY), nullable=False),
    _idx("registered_idx"),
    _time("registered_at"),
)
"""Inspectors and the inspectorate (``body``) each serves."""
inspection_plans = Table(
    "det_inspection_plans",
    metadata,
    _id("plan_id", primary_key=True),
    _id("inspector_id", nullable=False),
    _id("facility_id", nullable=False),
    _id("cluster_id", nullable=True),
    _id("operator_id", nullable=False),
    Column("chips_drawn", BigInteger, nullable=False),
    Column("population", BigInteger, nullable=False),
    Column("seed_rule", String(32), nullable=False),
    Column("commitment", String(64), nullable=False),
    Column("read_meters", Boolean, nullable=False),
    _time("scheduled_at"),
    Column("note", Text, nullable=True),
    _idx("idx"),
    _time("integrated_at"),
    _idx("seed_size"),
    _idx("reported_idx", nullable=True),
)
"""Inspection plans: what is drawn, from how many chips installed when the plan was logged."""
inspection_reports = Table(
    "det_inspection_reports",
    metadata,
    _id("plan_id", primary_key=True),
    _id("inspector_id", nullable=False),
    _id("facility_id", nullable=False),
    _time("inspected_at"),
    _idx("seed_size"),
    Column("seed_root", String(64), nullable=False),
    Column("sample", Text, nullable=False),
    Column("chips_present", BigInteger, nullable=False),
    Column("chips_missing", BigInteger, nullable=False),
    Column("present", Text, nullable=False),
    Column("missing", Text, nullable=False),
    Column("seals", Text, nullable=False),
    Column("seals_broken", BigInteger, nullable=False),
    Column("meter_readings", Text, nullable=False),
    Column("discrepancies", Text, nullable=False),
    Column("activity", String(16), nullable=False),
    Column("note", Text, nullable=True),
    _idx("idx"),
    _time("integrated_at"),
)
"""Inspection reports, one per plan (lists as JSON; ``discrepancies``: what the inspectors
found that the registry does not say)."""
workloads = Table(
    "det_workloads",
    metadata,
    _id("workload_id", primary_key=True),
    _id("operator_id", nullable=False),
    _id("cluster_id", nullable=False),
    _id("facility_id", nullable=False),
    Column("kind", String(16), nullable=False),
    _time("starts_at"),
    _time("ends_at"),
    Column("chips", BigInteger, nullable=False),
    Column("power_w_max", Float, nullable=True),
    Column("flop_max", Float, nullable=True),
    Column("description", Text, nullable=True),
    _idx("idx"),
    _time("integrated_at"),
)
"""Declared non-training work (inference, serving, other) per cluster."""
detection_evaluations = Table(
    "det_evaluations",
    metadata,
    _id("evaluation_id", primary_key=True),
    Column("detection_before_completion", Float, nullable=False),
    Column("false_alarms_per_facility_year", Float, nullable=False),
    Column("kinds", Text, nullable=False),
    Column("fit_seeds", String(2000), nullable=True),
    Column("evaluation_seeds", String(2000), nullable=True),
    Column("corpus_digest", String(64), nullable=True),
    Column("report", Text, nullable=False),
    _idx("idx"),
    _time("integrated_at"),
)
"""Published evaluations of the detectors (``detect.evaluation/v1``, docs/adr/0031): the
overall figures, the per-kind table and the rest of the report (JSON); the latest by ``idx`` is
the one the dashboard shows."""

transcripts = Table(
    "tr_transcripts",
    metadata,
    _id("run_id", primary_key=True),
    _id("operator_id", nullable=False),
    Column("recipe", String(64), nullable=False),
    Column("hyperparameters_digest", String(64), nullable=False),
    Column("seed_commitment", String(64), nullable=False),
    Column("dataset_root", String(64), nullable=False),
    Column("dataset_records", BigInteger, nullable=False),
    Column("every", BigInteger, nullable=False),
    Column("steps", BigInteger, nullable=False),
    Column("framework", String(64), nullable=True),
    _idx("committed_idx"),
    _time("committed_at"),
    Column("checkpoints", BigInteger, nullable=False),
    Column("last_step", BigInteger, nullable=True),
    _time("last_checkpoint_at"),
    Column("final_digest", String(64), nullable=True),
    _idx("final_idx", nullable=True),
    _time("final_at"),
)
"""Training transcripts committed on the log (``transcript.commit/v1``), one per run, with
where their checkpoint commitments stand (docs/adr/0038)."""
transcript_checkpoints = Table(
    "tr_checkpoints",
    metadata,
    _id("run_id", primary_key=True),
    Column("step", BigInteger, primary_key=True),
    Column("digest", String(64), nullable=False),
    _idx("idx"),
    _time("integrated_at"),
)
"""Each committed checkpoint's digest (``transcript.checkpoint/v1``)."""
transcript_replays = Table(
    "tr_replays",
    metadata,
    _id("audit_id", primary_key=True),
    Column("segment", BigInteger, primary_key=True),
    _id("run_id", nullable=False),
    _id("inspector_id", nullable=False),
    Column("start_step", BigInteger, nullable=False),
    Column("end_step", BigInteger, nullable=False),
    Column("distance", Float, nullable=False),
    Column("tolerance", Float, nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("train_loss_drop", Float, nullable=False),
    Column("heldout_loss_drop", Float, nullable=False),
    Column("steps_replayed", BigInteger, nullable=False),
    _idx("idx"),
    _time("integrated_at"),
)
"""Segments replayed by audits (``transcript.replay/v1``), one per audit and segment."""
transcript_audits = Table(
    "tr_audits",
    metadata,
    _id("audit_id", primary_key=True),
    _id("run_id", nullable=False),
    _id("inspector_id", nullable=False),
    _idx("first_idx"),
)
"""Whose each audit id is: the run and inspector of its first replay (docs/adr/0038)."""
transcript_verdicts = Table(
    "tr_verdicts",
    metadata,
    _id("audit_id", primary_key=True),
    _id("run_id", nullable=False),
    _id("inspector_id", nullable=False),
    Column("budget", Float, nullable=False),
    _idx("beacon_size"),
    Column("beacon", String(64), nullable=False),
    Column("segments", Text, nullable=False),
    Column("verdict", String(8), nullable=False),
    Column("inclusion_statistic", Float, nullable=False),
    Column("inclusion_p_value", Float, nullable=False),
    Column("inclusion_passed", Boolean, nullable=False),
    Column("compute_fraction", Float, nullable=False),
    Column("reasons", Text, nullable=False),
    Column("manifest_digest", String(64), nullable=False),
    _idx("idx"),
    _time("integrated_at"),
)
"""Audits' verdicts on transcripts (``transcript.verdict/v1``; ``segments`` and ``reasons``:
JSON lists)."""

telemetry_records = Table(
    "telemetry_records",
    metadata,
    _id("operator_id", primary_key=True),
    Column("batch_digest", String(64), primary_key=True),
    Column("position", BigInteger, primary_key=True),
    Column("hash", String(64), nullable=False),
    _id("chip_id", nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("line", LargeBinary, nullable=False),
)
"""Accepted records by upload: the evidence behind each batch's root, for authorised auditors.
The upload is an operator's (``operator_id``) bytes (``batch_digest``, their SHA-256): the key
``tel_submissions`` maps to the batch's log entry, since two operators' identical bytes are two
batches, each accepting its own chips' records. With ``position`` (among the upload's accepted
records, the order the root commits to) it keys the rows, so each upload owns its rows: a line
two uploads share is stored once for each, and dropping one upload's rows leaves the other's
(migration 0015, docs/adr/0051). ``hash`` is the line's SHA-256. Not a view: the log holds only
their root."""

state_meta = Table(
    "state_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
"""The fold's position: ``applied`` (entries folded) and ``secretariat`` (the keys it trusts)."""

VIEW_TABLES: dict[str, Table] = {
    "parties": parties,
    "operators": operators,
    "facilities": facilities,
    "clusters": clusters,
    "chip_makers": chip_makers,
    "chips": chips,
    "keys": keys,
    "runs": runs,
    "positions": positions,
    "adoptions": adoptions,
    "rejected": rejected,
    "unreadable": unreadable,
    "tel_batches": tel_batches,
    "tel_submissions": tel_submissions,
    "tel_chains": tel_chains,
    "tel_chips": tel_chips,
    "tel_runs": tel_runs,
    "tel_run_batches": tel_run_batches,
    "tel_run_chips": tel_run_chips,
    "tel_run_clusters": tel_run_clusters,
    "tel_clusters": tel_clusters,
    "tel_cluster_chips": tel_cluster_chips,
    "cluster_days": cluster_days,
    "tel_signals": tel_signals,
    "tel_gaps": tel_gaps,
    "tel_rejections": tel_rejections,
    "seats": seats,
    "proposals": proposals,
    "ballots": ballots,
    "order_acks": order_acks,
    "witnesses": witnesses,
    "witness_cosignatures": witness_cosignatures,
    "evaluators": evaluators,
    "eval_suites": eval_suites,
    "eval_results": eval_results,
    "meters": meters,
    "meter_readings": meter_readings,
    "meter_gaps": meter_gaps,
    "chip_movements": chip_movements,
    "shipments": shipments,
    "exports": exports,
    "inspectors": inspectors,
    "inspection_plans": inspection_plans,
    "inspection_reports": inspection_reports,
    "workloads": workloads,
    "detection_evaluations": detection_evaluations,
    "transcripts": transcripts,
    "transcript_checkpoints": transcript_checkpoints,
    "transcript_replays": transcript_replays,
    "transcript_audits": transcript_audits,
    "transcript_verdicts": transcript_verdicts,
}
"""Each view's table."""
