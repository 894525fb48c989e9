"""The policy evaluator, one module per rule family (see :mod:`pausewatch.policy._evaluate`).

``_base``          working state, recording (findings, obligations, clocks), shared records
``_tiers``         thresholds crossed and approached
``_duties``        declaration, approval and notification clocks
``_runs``          the run pass
``_halts``         halts proposed before a projected crossing
``_lineages``      the lineage pass
``_clusters``      clusters
``_capabilities``  capability evaluations
``_incidents``     halt orders, unreadable entries, incidents
``_chips``         chip balances, exports, inspections
``_tags``          tags against declarations, runs split to stay under a tier
``_balances``      daily balances of energy and compute (alarms as findings)
``_counters``      counters against the chips' own activity sensors (ADR 0033)
``_workloads``     windows that claim no training and look like training (ADR 0032)
``_phases``        runs whose windows' pattern contradicts their declared phase (ADR 0036)
``_conditions``    the pause's lift conditions
"""
