"""Clusters: monitoring, reporting, undeclared compute and dark chips."""

from __future__ import annotations

from datetime import timedelta

from pausewatch.compute import COUNTER_TOLERANCE, H100E_FLOPS, counter_interval
from pausewatch.policy._evaluator._base import _BY_ID, State, _fmt_time, _plus
from pausewatch.policy._facts import ClusterFact
from pausewatch.policy._findings import FindingKind, ObligationStatus, Severity


def _meter_says(cl: ClusterFact) -> str:
    """What the facility's meter says of the silence (docs/adr/0029)."""
    if cl.going_dark is None:
        return ""
    power = (cl.dark_power_w or 0.0) / 1e3
    tdp = (cl.dark_tdp_w or 0.0) / 1e3
    if cl.going_dark:
        return (
            f"; the facility's meter kept drawing {power:.3g} kW beyond its stated overheads "
            f"and its reporting chips (the silent chips' TDP: {tdp:.3g} kW): going dark, not "
            "an outage"
        )
    return (
        f"; the facility's meter drew {power:.3g} kW beyond its stated overheads and its "
        f"reporting chips (the silent chips' TDP: {tdp:.3g} kW): an outage, not going dark"
    )


class ClusterRules(State):
    """Findings and obligations about computing clusters, in id order."""

    def clusters(self) -> None:
        rules = self.policy.clusters
        mon, rep = rules.monitoring, rules.reporting
        for cl in sorted(self.facts.clusters, key=_BY_ID):
            subject = f"cluster:{cl.id}"
            if mon is not None and not cl.monitored and cl.h100e > mon.max_unmonitored_h100e:
                self.finding(
                    FindingKind.UNMONITORED_CLUSTER,
                    Severity.SERIOUS,
                    subject,
                    f"cluster {cl.id} of {cl.operator} holds {cl.h100e:,.0f} H100-equivalents "
                    f"without monitoring; the limit is {mon.max_unmonitored_h100e:,.0f}",
                    cl.evidence,
                    # A count of catalogued chips: exact, so its interval is the figure itself.
                    figures=(
                        ("h100e", cl.h100e),
                        ("limit", mon.max_unmonitored_h100e),
                        ("low", cl.h100e),
                        ("high", cl.h100e),
                        ("straddles", False),
                    ),
                )
                self.obligation(
                    f"place cluster {cl.id} under chip-signed monitoring",
                    subject,
                    None,
                    None,
                    "clusters.monitoring",
                    mon.source,
                )
            if rep is not None:
                self.cluster_report(cl, subject, rep.min_flops_per_s, rep.min_network_gbps)
            if cl.undeclared_flop > 0:
                # Counted by the chips' counters: their tolerance is its interval.
                flop = cl.undeclared_flop
                low, high = counter_interval(flop)
                self.finding(
                    FindingKind.UNDECLARED_COMPUTE,
                    Severity.SERIOUS,
                    subject,
                    f"cluster {cl.id} of {cl.operator} ran {flop:.3g} FLOP "
                    f"(telemetry, ±{COUNTER_TOLERANCE:.0%}) of training-like work over "
                    f"{cl.undeclared_windows:,} chip-windows tagged to no declared run",
                    cl.evidence,
                    figures=(
                        ("flop", flop),
                        ("windows", cl.undeclared_windows),
                        ("low", low),
                        ("high", high),
                    ),
                )
            if cl.dark_chips and rules.telemetry is not None:
                shown = ", ".join(cl.dark_chips[:5])
                more = f" and {len(cl.dark_chips) - 5} more" if len(cl.dark_chips) > 5 else ""
                self.finding(
                    FindingKind.DARK_CHIPS,
                    Severity.WARNING,
                    subject,
                    f"{len(cl.dark_chips)} chip(s) installed in cluster {cl.id} of {cl.operator} "
                    f"sent no accepted telemetry for more than "
                    f"{rules.telemetry.max_silence_minutes:g} minutes: {shown}{more}"
                    f"{_meter_says(cl)}",
                    cl.evidence,
                    figures=(
                        ("dark_chips", len(cl.dark_chips)),
                        ("max_silence_minutes", rules.telemetry.max_silence_minutes),
                        *(
                            ()
                            if cl.going_dark is None
                            else (
                                ("going_dark", cl.going_dark),
                                ("meter_power_w", cl.dark_power_w or 0.0),
                                ("dark_tdp_w", cl.dark_tdp_w or 0.0),
                            )
                        ),
                    ),
                )

    def cluster_report(
        self, cl: ClusterFact, subject: str, min_flops: float, min_gbps: float
    ) -> None:
        rep = self.policy.clusters.reporting
        assert rep is not None
        peak = cl.peak_flops_per_s if cl.peak_flops_per_s is not None else cl.h100e * H100E_FLOPS
        # A network condition of 0 means "no network condition", not "faster than 0 Gbit/s".
        if peak <= min_flops or (min_gbps > 0 and cl.network_gbps <= min_gbps):
            return
        deadline = (
            _plus(cl.commissioned_at, timedelta(days=rep.within_days))
            if cl.commissioned_at
            else None
        )
        status = self.obligation(
            f"report cluster {cl.id} ({peak:.3g} FLOP/s, {cl.network_gbps:g} Gbit/s)",
            subject,
            deadline,
            cl.reported_at,
            "clusters.reporting",
            rep.source,
        )
        if status is ObligationStatus.OVERDUE:
            self.finding(
                FindingKind.CLUSTER_NOT_REPORTED,
                Severity.WARNING,
                subject,
                f"cluster {cl.id} ({peak:.3g} FLOP/s, {cl.network_gbps:g} Gbit/s) was due to "
                f"be reported by {_fmt_time(deadline) if deadline else 'its deadline'} and was "
                f"not",
                cl.evidence,
                # Catalogue peaks of the installed chips: exact, as the threshold reads them.
                figures=(
                    ("peak_flops_per_s", peak),
                    ("low", peak),
                    ("high", peak),
                    ("straddles", False),
                ),
            )


__all__ = ["ClusterRules"]
