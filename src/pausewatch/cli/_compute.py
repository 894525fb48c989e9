"""``pausewatch compute``: hardware catalogue and compute estimates."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import JustifyMethod
from rich.markup import escape
from rich.table import Table

from pausewatch.cli._common import JsonOpt, fail, out, print_json
from pausewatch.compute import (
    H100E_FLOPS,
    SECONDS_PER_DAY,
    Chip,
    Estimate,
    HardwareCatalogue,
    Precision,
    estimate_architecture,
    estimate_hardware,
    load_catalogue,
)
from pausewatch.errors import ComputeError

_DASH = "\N{EN DASH}"

app = typer.Typer(
    help="Compute accounting: hardware catalogue and estimates.", no_args_is_help=True
)


def _figure(x: float) -> str:
    return f"{x:.3g}"


def _summary(e: Estimate) -> str:
    """``3.79e+25 FLOP (architecture, ±15%)  interval 3.22e+25 - 4.36e+25``."""
    return f"{e.describe()}  interval {_figure(e.low)} {_DASH} {_figure(e.high)}"


def _print_estimate(e: Estimate) -> None:
    out.print(escape(_summary(e)))
    for note in e.notes:
        out.print(f"  {escape(note)}")


def parse_chips(specs: list[str], catalogue: HardwareCatalogue) -> list[tuple[Chip, int]]:
    """``NAME:COUNT`` strings as (chip, count) pairs; malformed or unknown is a ComputeError."""
    pairs: list[tuple[Chip, int]] = []
    for spec in specs:
        name, sep, count_text = spec.rpartition(":")
        if not sep or not name.strip():
            raise ComputeError(f"expected --chips NAME:COUNT (e.g. H100:16384), got {spec!r}")
        try:
            count = int(count_text.replace("_", "").replace(",", ""))
        except ValueError as exc:
            raise ComputeError(
                f"expected an integer chip count in --chips {spec!r}, got {count_text!r}"
            ) from exc
        if count <= 0:
            raise ComputeError(f"expected a chip count > 0 in --chips {spec!r}, got {count}")
        pairs.append((catalogue.get(name), count))
    return pairs


def _estimates(
    *,
    params: float | None,
    tokens: float | None,
    active_params: float | None,
    flop_per_token: float | None,
    chips: list[str],
    days: float | None,
    hours: float | None,
    utilisation: float | None,
    precision: str,
) -> tuple[Estimate | None, Estimate | None]:
    architecture_given = any(x is not None for x in (params, tokens, active_params, flop_per_token))
    hardware_given = bool(chips) or days is not None or hours is not None
    if not architecture_given and not hardware_given:
        raise ComputeError(
            "nothing to estimate: give --params (or --active-params or --flop-per-token) with "
            "--tokens, and/or --chips NAME:COUNT with --days or --hours"
        )
    architecture: Estimate | None = None
    if architecture_given:
        if tokens is None:
            raise ComputeError("an architecture estimate needs --tokens; got none")
        architecture = estimate_architecture(
            params=params, tokens=tokens, active_params=active_params, flop_per_token=flop_per_token
        )
    hardware: Estimate | None = None
    if hardware_given:
        if not chips:
            raise ComputeError("a hardware estimate needs --chips NAME:COUNT; got none")
        if days is not None and hours is None:
            seconds = days * SECONDS_PER_DAY
        elif hours is not None and days is None:
            seconds = hours * 3600.0
        else:
            raise ComputeError(
                "a hardware estimate needs exactly one of --days and --hours, got "
                + ("both" if days is not None else "neither")
            )
        hardware = estimate_hardware(
            chips=parse_chips(chips, load_catalogue()),
            seconds=seconds,
            utilisation=utilisation,
            precision=precision,
        )
    elif utilisation is not None:
        raise ComputeError("--utilisation needs a hardware estimate (--chips and --days/--hours)")
    return architecture, hardware


@app.command("estimate")
def estimate(
    params: Annotated[
        float | None, typer.Option("--params", help="Parameter count N (dense: 6·N·D).")
    ] = None,
    tokens: Annotated[
        float | None, typer.Option("--tokens", help="Training tokens D, e.g. 15.6e12.")
    ] = None,
    active_params: Annotated[
        float | None,
        typer.Option("--active-params", help="Active parameters per token (mixture of experts)."),
    ] = None,
    flop_per_token: Annotated[
        float | None,
        typer.Option("--flop-per-token", help="Forward+backward FLOP per token, if known."),
    ] = None,
    chips: Annotated[
        list[str] | None,
        typer.Option("--chips", help="NAME:COUNT, repeatable, e.g. --chips H100:16384."),
    ] = None,
    days: Annotated[float | None, typer.Option("--days", help="Training time in days.")] = None,
    hours: Annotated[float | None, typer.Option("--hours", help="Training time in hours.")] = None,
    utilisation: Annotated[
        float | None,
        typer.Option("--utilisation", help="Model FLOP utilisation (default 0.41, 0.32-0.52)."),
    ] = None,
    precision: Annotated[
        str,
        typer.Option(
            "--precision", help=f"Number format of the peak: {', '.join(p for p in Precision)}."
        ),
    ] = "bf16",
    as_json: JsonOpt = False,
) -> None:
    """Estimate training FLOP from the model (6·N·D) and/or from the hardware."""
    try:
        architecture, hardware = _estimates(
            params=params,
            tokens=tokens,
            active_params=active_params,
            flop_per_token=flop_per_token,
            chips=chips or [],
            days=days,
            hours=hours,
            utilisation=utilisation,
            precision=precision,
        )
    except ComputeError as exc:
        fail(escape(str(exc)))
    if as_json:
        print_json(
            {
                "architecture": None if architecture is None else architecture.to_json(),
                "hardware": None if hardware is None else hardware.to_json(),
            }
        )
        return
    for i, e in enumerate(x for x in (architecture, hardware) if x is not None):
        if i:
            out.print()
        _print_estimate(e)
    if architecture is not None and hardware is not None and architecture.value > 0:
        overlap = hardware.low <= architecture.high and architecture.low <= hardware.high
        out.print()
        out.print(
            f"hardware / architecture = {hardware.value / architecture.value:.2f}; "
            f"intervals {'overlap' if overlap else 'do not overlap'}"
        )


def _peak_cell(chip: Chip, precision: Precision) -> str:
    value = chip.peak_flops.get(precision)
    return "—" if value is None else f"{value:.4g}"


def _chip_row(chip: Chip) -> list[str]:
    bf16 = _peak_cell(chip, Precision.BF16)
    if bf16 == "—" and Precision.FP16 in chip.peak_flops:
        bf16 = f"{chip.peak(Precision.FP16):.4g} fp16"
    return [
        chip.name,
        chip.vendor,
        str(chip.release_year),
        "—" if chip.tdp_w is None else f"{chip.tdp_w:.0f}",
        bf16,
        _peak_cell(chip, Precision.FP8),
        f"{chip.h100e:.2f}",
    ]


def _chip_json(chip: Chip, catalogue: HardwareCatalogue) -> dict[str, Any]:
    body = chip.to_json()
    body["sources"] = [{"id": sid, **catalogue.sources[sid].to_json()} for sid in chip.sources]
    return body


def _print_chip(chip: Chip, catalogue: HardwareCatalogue) -> None:
    out.print(f"{escape(chip.name)} ({escape(chip.vendor)}, {chip.release_year})")
    if chip.aliases:
        out.print(f"  aliases: {escape(', '.join(chip.aliases))}")
    tdp = "not published" if chip.tdp_w is None else f"{chip.tdp_w:.0f} W"
    out.print(f"  TDP: {tdp}")
    out.print(f"  H100e: {chip.h100e:.3f}")
    out.print("  peak dense FLOP/s:")
    for p, v in chip.peak_flops.items():
        out.print(f"    {p.value:<5} {v:.4g}")
    out.print("  sources:")
    for sid in chip.sources:
        s = catalogue.sources[sid]
        out.print(
            f"    {escape(s.publisher)}, {escape(s.title)} ({escape(s.date)}) {escape(s.url)}"
        )
    if chip.notes:
        out.print("  notes:")
        for note in chip.notes:
            out.print(f"    {escape(note)}")


@app.command("hardware")
def hardware(
    chip: Annotated[
        str | None, typer.Argument(help="Show one chip in full (name or alias).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the hardware catalogue: peak dense FLOP/s, TDP and H100-equivalents per chip."""
    catalogue = load_catalogue()
    if chip is not None:
        try:
            found = catalogue.get(chip)
        except ComputeError as exc:
            fail(escape(str(exc)))
        if as_json:
            print_json(_chip_json(found, catalogue))
        else:
            _print_chip(found, catalogue)
        return
    if as_json:
        print_json(catalogue.to_json())
        return
    table = Table(title="Peak dense FLOP/s per chip")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("Chip", "left"),
        ("Vendor", "left"),
        ("Year", "right"),
        ("TDP W", "right"),
        ("BF16", "right"),
        ("FP8", "right"),
        ("H100e", "right"),
    )
    for header, justify in columns:
        table.add_column(header, justify=justify)
    for c in catalogue:
        table.add_row(*(escape(cell) for cell in _chip_row(c)))
    out.print(table)
    out.print(
        f"H100e = dense BF16 (else FP16) peak / {H100E_FLOPS:.4g} FLOP/s. "
        "Sources and notes: pausewatch compute hardware NAME (or --json)."
    )
