"""The hardware catalogue: packaged figures, lookup, and validation of broken catalogues."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from pausewatch.compute import (
    H100E_FLOPS,
    Chip,
    Precision,
    load_catalogue,
)
from pausewatch.errors import ComputeError, UnknownChipError

REQUIRED = [
    "A100 SXM",
    "H100 SXM",
    "H800 SXM",
    "H200",
    "B200",
    "GB200",
    "MI300X",
    "MI325X",
    "TPU v4",
    "TPU v5e",
    "TPU v5p",
    "Ascend 910B",
    "Ascend 910C",
]

# DESIGN.md, "Hardware figures": (chip, precision, peak dense FLOP/s).
DESIGN_FIGURES = [
    ("A100 SXM", Precision.BF16, 3.12e14),
    ("H100 SXM", Precision.BF16, 9.894e14),
    ("H100 SXM", Precision.FP8, 1.979e15),
    ("H200", Precision.BF16, 9.895e14),
    ("B200", Precision.BF16, 2.25e15),
    ("B200", Precision.FP8, 4.5e15),
    ("GB200", Precision.BF16, 2.5e15),
    ("GB200", Precision.FP8, 5.0e15),
    ("MI300X", Precision.BF16, 1.307e15),
    ("TPU v5p", Precision.BF16, 4.59e14),
    ("Ascend 910B", Precision.FP16, 3.76e14),
]


def test_packaged_catalogue_covers_required_chips() -> None:
    """The packaged catalogue loads and holds every chip the DESIGN asks for, in that order."""
    assert load_catalogue().names == tuple(REQUIRED)


@pytest.mark.parametrize(("name", "precision", "flops"), DESIGN_FIGURES)
def test_design_figures_exact(name: str, precision: Precision, flops: float) -> None:
    """Every figure DESIGN.md gives is in the catalogue exactly."""
    assert load_catalogue().get(name).peak(precision) == flops


def test_load_catalogue_is_cached() -> None:
    """The packaged catalogue is read once and shared."""
    assert load_catalogue() is load_catalogue()


def test_h100e_is_bf16_peak_over_h100_bf16() -> None:
    """An H100 SXM is exactly one H100e, and a B200 is its BF16 peak over 9.894e14."""
    cat = load_catalogue()
    assert H100E_FLOPS == 9.894e14
    assert cat.get("H100 SXM").h100e == 1.0
    assert cat.get("B200").h100e == pytest.approx(2.25e15 / 9.894e14)


def test_h100e_falls_back_to_fp16() -> None:
    """A chip with no BF16 peak (Ascend 910B) is counted in H100e by its FP16 peak."""
    chip = load_catalogue().get("Ascend 910B")
    assert Precision.BF16 not in chip.peak_flops
    assert chip.h100e == pytest.approx(3.76e14 / 9.894e14)


def test_ascend_910b_notes_record_disagreement() -> None:
    """The 910B's notes record that sources disagree between 2.2e14 and 3.76e14."""
    notes = " ".join(load_catalogue().get("Ascend 910B").notes)
    assert "2.2e14" in notes
    assert "3.76e14" in notes


def test_every_chip_cites_defined_sources() -> None:
    """Each packaged chip cites at least one source, and every cited source is defined."""
    cat = load_catalogue()
    for chip in cat:
        assert chip.sources
        assert all(s in cat.sources for s in chip.sources)


def test_missing_tdp_carries_a_note() -> None:
    """A chip without a published TDP says so in its notes."""
    for chip in load_catalogue():
        if chip.tdp_w is None:
            assert any("TDP" in n for n in chip.notes), chip.name


@pytest.mark.parametrize("name", ["H100", "h100", "h100-sxm", "H100 SXM", "  h100 sxm  "])
def test_lookup_by_alias_any_case(name: str) -> None:
    """Names and aliases are looked up case-insensitively, ignoring outer spaces."""
    assert load_catalogue().get(name).name == "H100 SXM"


def test_contains_uses_the_same_lookup() -> None:
    """``in`` answers by name or alias, any case."""
    cat = load_catalogue()
    assert "tpu-V5P" in cat
    assert "H1000" not in cat


def test_unknown_chip_error_names_known_chips() -> None:
    """An unknown chip is an UnknownChipError naming the chip and every known chip."""
    with pytest.raises(UnknownChipError) as info:
        load_catalogue().get("H1000")
    message = str(info.value)
    assert "unknown chip 'H1000'" in message
    assert "known: A100 SXM, H100 SXM" in message
    assert "Ascend 910C" in message


def test_missing_precision_names_available_ones() -> None:
    """Asking a chip for a format it lacks names the formats it has."""
    with pytest.raises(ComputeError, match=r"A100 SXM has no fp8 peak; it has: fp64, fp32"):
        load_catalogue().get("A100").peak(Precision.FP8)


def test_peaks_are_positive_and_best_peak_is_the_maximum() -> None:
    """Every packaged peak is > 0, and best_peak is the largest of a chip's peaks."""
    for chip in load_catalogue():
        assert all(v > 0 for v in chip.peak_flops.values())
        assert chip.best_peak == max(chip.peak_flops.values())


def test_flop_per_joule_is_peak_over_tdp() -> None:
    """FLOP per joule at peak is the peak divided by the TDP; no TDP is an error."""
    cat = load_catalogue()
    assert cat.get("H100").flop_per_joule("bf16") == pytest.approx(9.894e14 / 700)
    with pytest.raises(ComputeError, match="TDP"):
        cat.get("TPU v5p").flop_per_joule("bf16")


def test_to_json_is_serialisable_and_complete() -> None:
    """The catalogue's JSON form holds every chip with its H100e and every source."""
    data = json.loads(json.dumps(load_catalogue().to_json()))
    assert [c["name"] for c in data["chips"]] == REQUIRED
    h100 = data["chips"][1]
    assert h100["peak_flops"]["bf16"] == 9.894e14
    assert h100["h100e"] == 1.0
    assert set(h100["sources"]) <= set(data["sources"])
    assert data["sources"]["epoch-ml-hardware"]["publisher"] == "Epoch AI"


def test_chip_constructor_refuses_negative_peak() -> None:
    """A Chip built directly with a negative peak is refused."""
    with pytest.raises(ComputeError, match="peak bf16 must be a figure > 0"):
        Chip("X", (), "V", 2024, 100.0, {Precision.BF16: -1.0}, ("s",))


def test_chip_constructor_needs_bf16_or_fp16() -> None:
    """A Chip with neither a BF16 nor an FP16 peak is refused (H100e would be undefined)."""
    with pytest.raises(ComputeError, match="expected a bf16 or fp16 peak"):
        Chip("X", (), "V", 2024, 100.0, {Precision.INT8: 1e14}, ("s",))


# ---------------------------------------------------------------------------------------------
# Broken catalogues


def _valid() -> dict[str, Any]:
    return {
        "sources": {
            "ds": {
                "title": "Datasheet",
                "publisher": "Vendor",
                "url": "https://example.org/ds",
                "date": "2024",
            }
        },
        "chips": [
            {
                "name": "Chip A",
                "aliases": ["A"],
                "vendor": "Vendor",
                "release_year": 2024,
                "tdp_w": 500.0,
                "peak_flops": {"bf16": 1.0e15},
                "sources": ["ds"],
            },
            {
                "name": "Chip B",
                "vendor": "Vendor",
                "release_year": 2024,
                "tdp_w": None,
                "peak_flops": {"fp16": 2.0e14},
                "sources": ["ds"],
                "notes": ["TDP not published."],
            },
        ],
    }


def test_minimal_valid_catalogue_loads() -> None:
    """A well-formed catalogue given as a mapping loads."""
    cat = load_catalogue(_valid())
    assert cat.names == ("Chip A", "Chip B")
    assert cat.get("a").name == "Chip A"


def _broken(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(_valid())
    target: Any = data
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is _DELETE:
        del target[last]
    elif last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value
    return data


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("chips.0.sources", ["nowhere"], r"source 'nowhere' is not defined"),
        ("chips.0.peak_flops", {"bf16": -1.0e15}, r"peak_flops.bf16: expected a figure > 0"),
        ("chips.0.peak_flops", {"bf16": 0.0}, r"peak_flops.bf16: expected a figure > 0"),
        ("chips.0.peak_flops", {"bf16": "1e15"}, r"expected a number, got '1e15'"),
        ("chips.0.peak_flops", {"bf17": 1.0e15}, r"unknown precision 'bf17'"),
        ("chips.0.peak_flops", {"int8": 1.0e15}, r"expected a bf16 or fp16 peak"),
        ("chips.0.tdp_w", -5.0, r"expected tdp_w to be a number > 0 or null"),
        ("chips.0.tdp_w", None, r"tdp_w is null; expected a note"),
        ("chips.0.aliases", ["chip b"], r"'Chip B' is already used by Chip A"),
        ("chips.1.name", "CHIP A", r"'CHIP A' is already used by Chip A"),
        ("chips.0.sources", [], r"expected at least one source"),
        ("chips.0.colour", "red", r"unknown field\(s\) colour"),
        ("chips.0.vendor", _DELETE, r"missing field\(s\) vendor"),
        ("chips.0.release_year", "2024", r"expected release_year"),
        ("sources.ds.url", "http://example.org", r"expected an https:// url"),
        ("sources.ds.title", _DELETE, r"expected a non-empty title"),
        ("chips", [], r"chips: expected a non-empty list"),
        ("extra", 1, r"unknown top-level field\(s\) extra"),
    ],
)
def test_invalid_catalogue_refused(path: str, value: Any, expected: str) -> None:
    """A catalogue with a bad figure, reference, name or field is refused, naming the problem."""
    with pytest.raises(ComputeError, match=expected):
        load_catalogue(_broken(path, value))


def test_every_problem_is_reported_at_once() -> None:
    """Validation lists all problems in one error, not just the first."""
    data = _broken("chips.0.sources", ["nowhere"])
    data["chips"][1]["peak_flops"] = {"fp16": -2.0}
    with pytest.raises(ComputeError) as info:
        load_catalogue(data)
    assert "'nowhere' is not defined" in str(info.value)
    assert "peak_flops.fp16" in str(info.value)


def test_yaml_text_is_validated_like_a_mapping() -> None:
    """YAML text is parsed and validated; a YAML 1.1 exponent without sign is a string, refused."""
    text = """
sources:
  ds: {title: T, publisher: P, url: "https://example.org", date: 2024-01-02}
chips:
  - {name: C, vendor: V, release_year: 2024, tdp_w: 100.0, peak_flops: {bf16: 1.0e+15},
     sources: [ds]}
"""
    cat = load_catalogue(text)
    assert cat.get("c").peak("bf16") == 1.0e15
    assert cat.sources["ds"].date == "2024-01-02"
    with pytest.raises(ComputeError, match=r"write floats as 9.894e\+14"):
        load_catalogue(text.replace("1.0e+15", "1.0e15"))


def test_text_that_is_not_yaml_is_refused() -> None:
    """Unparseable text is a ComputeError, not a YAML exception."""
    with pytest.raises(ComputeError, match="not YAML"):
        load_catalogue("chips: [unclosed")


def test_non_mapping_document_is_refused() -> None:
    """A YAML document that is not a mapping is refused."""
    with pytest.raises(ComputeError, match="expected a mapping"):
        load_catalogue("- just\n- a list\n")
