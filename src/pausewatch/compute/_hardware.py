"""The hardware catalogue: peak dense FLOP/s per chip and number format, each figure sourced.

The figures ship as ``hardware.yaml`` in this package (read with :mod:`importlib.resources`, never
from the working directory). Loading validates the whole document and reports every problem at
once: unknown or missing fields, figures that are not positive numbers, sources that are not
defined, names or aliases used twice. See docs/adr/0004-flop-counting-and-hardware.md for why the
peaks are dense and how one H100-equivalent is defined.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any

import yaml

from pausewatch.compute._counting import Precision, parse_precision
from pausewatch.errors import ComputeError, UnknownChipError

H100E_FLOPS = 9.894e14
"""One H100-equivalent: the H100 SXM's dense BF16 peak in FLOP/s (DESIGN, "Hardware figures")."""

_SOURCE_FIELDS = ("title", "publisher", "url", "date")
_CHIP_REQUIRED = ("name", "vendor", "release_year", "tdp_w", "peak_flops", "sources")
_CHIP_OPTIONAL = ("aliases", "notes")


@functools.lru_cache(maxsize=1024)
def _key(name: str) -> str:
    """The lookup key of a chip name or alias: case-insensitive, outer spaces ignored (kept:
    an evaluation looks up every installed chip's model)."""
    return name.strip().casefold()


@dataclass(frozen=True, slots=True)
class Source:
    """A publication that catalogue figures rest on."""

    id: str
    """Short identifier that chips cite, e.g. ``nvidia-h100-datasheet``."""
    title: str
    """Title of the document or data set."""
    publisher: str
    """Who published it (vendor, research group)."""
    url: str
    """Where to read it (https)."""
    date: str
    """When it was published or last revised (ISO 8601 date, year-month or year)."""

    def to_json(self) -> dict[str, str]:
        """A JSON-ready mapping (without the id, which keys it in the catalogue)."""
        return {
            "title": self.title,
            "publisher": self.publisher,
            "url": self.url,
            "date": self.date,
        }


@dataclass(frozen=True, slots=True)
class Chip:
    """One accelerator model with its peak dense throughput per number format.

    The constructor refuses figures that cannot be right (non-positive peaks or TDP, no BF16 or
    FP16 peak to define H100-equivalents by) with :class:`~pausewatch.errors.ComputeError`.
    """

    name: str
    """Canonical name, e.g. ``H100 SXM``."""
    aliases: tuple[str, ...]
    """Other names the chip is looked up by (case-insensitive), e.g. ``H100``."""
    vendor: str
    """Who designs the chip."""
    release_year: int
    """Year of first availability."""
    tdp_w: float | None
    """Thermal design power in watts; ``None`` where the vendor publishes none."""
    peak_flops: Mapping[Precision, float] = field(hash=False)
    """Peak dense (not structured-sparse) operations per second, per number format."""
    sources: tuple[str, ...]
    """Ids of the catalogue sources the figures come from."""
    notes: tuple[str, ...] = ()
    """Caveats: disagreeing sources, uncertain figures, what a variant differs in."""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ComputeError("chip name must not be empty")
        if self.tdp_w is not None and (not math.isfinite(self.tdp_w) or self.tdp_w <= 0):
            raise ComputeError(f"chip {self.name}: tdp_w must be a figure > 0, got {self.tdp_w!r}")
        if not self.peak_flops:
            raise ComputeError(f"chip {self.name}: expected at least one peak figure, got none")
        peaks: dict[Precision, float] = {}
        for precision, value in self.peak_flops.items():
            p = parse_precision(precision)
            if not math.isfinite(value) or value <= 0:
                raise ComputeError(
                    f"chip {self.name}: peak {p.value} must be a figure > 0, got {value!r}"
                )
            peaks[p] = float(value)
        if Precision.BF16 not in peaks and Precision.FP16 not in peaks:
            raise ComputeError(
                f"chip {self.name}: expected a bf16 or fp16 peak (H100e is defined by it), "
                f"got {', '.join(p.value for p in peaks)}"
            )
        ordered = {p: peaks[p] for p in Precision if p in peaks}
        object.__setattr__(self, "peak_flops", MappingProxyType(ordered))
        object.__setattr__(self, "aliases", tuple(self.aliases))
        object.__setattr__(self, "sources", tuple(self.sources))
        object.__setattr__(self, "notes", tuple(self.notes))

    @property
    def precisions(self) -> tuple[Precision, ...]:
        """The number formats this chip has a peak figure for, widest first."""
        return tuple(self.peak_flops)

    def peak(self, precision: Precision | str) -> float:
        """Peak dense FLOP/s in ``precision``; a format the chip lacks is a ComputeError."""
        p = parse_precision(precision)
        try:
            return self.peak_flops[p]
        except KeyError as exc:
            have = ", ".join(q.value for q in self.peak_flops)
            raise ComputeError(f"chip {self.name} has no {p.value} peak; it has: {have}") from exc

    @property
    def best_peak(self) -> float:
        """The highest peak over all formats: no counter can exceed it per chip-second."""
        return max(self.peak_flops.values())

    @property
    def h100e(self) -> float:
        """H100-equivalents per chip: dense BF16 peak (FP16 when no BF16) / :data:`H100E_FLOPS`."""
        peak = self.peak_flops.get(Precision.BF16, self.peak_flops.get(Precision.FP16))
        if peak is None:  # the constructor guarantees one of them; kept for type narrowing
            raise ComputeError(f"chip {self.name}: expected a bf16 or fp16 peak, got none")
        return peak / H100E_FLOPS

    def flop_per_joule(self, precision: Precision | str) -> float:
        """Operations per joule at peak and TDP: ``peak(precision) / tdp_w``."""
        if self.tdp_w is None:
            raise ComputeError(f"chip {self.name}: expected a published TDP, got none")
        return self.peak(precision) / self.tdp_w

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping, H100-equivalents included."""
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "vendor": self.vendor,
            "release_year": self.release_year,
            "tdp_w": self.tdp_w,
            "peak_flops": {p.value: v for p, v in self.peak_flops.items()},
            "h100e": self.h100e,
            "sources": list(self.sources),
            "notes": list(self.notes),
        }


def _catalogue_problems(chips: tuple[Chip, ...], sources: Mapping[str, Source]) -> list[str]:
    """Cross-chip problems: undefined sources, names or aliases used twice."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for chip in chips:
        if not chip.sources:
            problems.append(f"chip {chip.name}: expected at least one source, got none")
        for source_id in chip.sources:
            if source_id not in sources:
                problems.append(
                    f"chip {chip.name}: source {source_id!r} is not defined under sources"
                )
        for label in (chip.name, *chip.aliases):
            key = _key(label)
            if not key:
                problems.append(f"chip {chip.name}: empty alias")
            elif key in seen:
                problems.append(
                    f"chip {chip.name}: name or alias {label!r} is already used by {seen[key]}"
                )
            else:
                seen[key] = chip.name
    return problems


@dataclass(frozen=True)
class HardwareCatalogue:
    """The chips pausewatch knows, looked up by name or alias (case-insensitive)."""

    chips: tuple[Chip, ...]
    """Every chip, in catalogue order."""
    sources: Mapping[str, Source]
    """The publications the figures rest on, by id."""
    _index: Mapping[str, Chip] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems = _catalogue_problems(self.chips, self.sources)
        if problems:
            raise ComputeError("invalid hardware catalogue: " + "; ".join(problems))
        index = {_key(label): c for c in self.chips for label in (c.name, *c.aliases)}
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))
        object.__setattr__(self, "_index", MappingProxyType(index))

    @property
    def names(self) -> tuple[str, ...]:
        """The canonical chip names, in catalogue order."""
        return tuple(c.name for c in self.chips)

    def get(self, name: str) -> Chip:
        """The chip called ``name`` (a name or an alias, any case); unknown is UnknownChipError."""
        try:
            return self._index[_key(name)]
        except KeyError as exc:
            raise UnknownChipError(
                f"unknown chip {name!r}; known: {', '.join(self.names)}"
            ) from exc

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _key(name) in self._index

    def __iter__(self) -> Iterator[Chip]:
        return iter(self.chips)

    def __len__(self) -> int:
        return len(self.chips)

    def to_json(self) -> dict[str, Any]:
        """Everything, JSON-ready: the H100e definition, the sources and every chip."""
        return {
            "h100e_flops": H100E_FLOPS,
            "sources": {sid: s.to_json() for sid, s in self.sources.items()},
            "chips": [c.to_json() for c in self.chips],
        }


# ---------------------------------------------------------------------------------------------
# Loading and validation


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text(value: object) -> str | None:
    """A non-empty string, or a YAML date rendered as ISO 8601; else None."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str) and value.strip():
        return value
    return None


def _string_list(value: object, where: str, problems: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    problems.append(f"{where}: expected a list of strings, got {value!r}")
    return ()


def _parse_sources(raw: object, problems: list[str]) -> dict[str, Source]:
    if not isinstance(raw, Mapping):
        problems.append(f"sources: expected a mapping of id to source, got {type(raw).__name__}")
        return {}
    sources: dict[str, Source] = {}
    for sid, body in raw.items():
        where = f"sources.{sid}"
        if not isinstance(body, Mapping):
            problems.append(f"{where}: expected a mapping, got {type(body).__name__}")
            continue
        unknown = sorted(str(k) for k in body if k not in _SOURCE_FIELDS)
        if unknown:
            problems.append(f"{where}: unknown field(s) {', '.join(unknown)}")
        values: dict[str, str] = {}
        for name in _SOURCE_FIELDS:
            text = _text(body.get(name))
            if text is None:
                problems.append(f"{where}: expected a non-empty {name}, got {body.get(name)!r}")
            else:
                values[name] = text
        url = values.get("url", "")
        if url and not url.startswith("https://"):
            problems.append(f"{where}: expected an https:// url, got {url!r}")
        if len(values) == len(_SOURCE_FIELDS):
            sources[str(sid)] = Source(id=str(sid), **values)
    return sources


def _parse_chip(index: int, raw: object, problems: list[str]) -> Chip | None:
    where = f"chips[{index}]"
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: expected a mapping, got {type(raw).__name__}")
        return None
    if isinstance(raw.get("name"), str):
        where = f"{where} ({raw['name']})"
    before = len(problems)
    unknown = sorted(str(k) for k in raw if k not in _CHIP_REQUIRED + _CHIP_OPTIONAL)
    if unknown:
        problems.append(f"{where}: unknown field(s) {', '.join(unknown)}")
    missing = [k for k in _CHIP_REQUIRED if k not in raw]
    if missing:
        problems.append(f"{where}: missing field(s) {', '.join(missing)}")
        return None
    name, vendor, year, tdp = raw["name"], raw["vendor"], raw["release_year"], raw["tdp_w"]
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{where}: expected a non-empty name, got {name!r}")
    if not isinstance(vendor, str) or not vendor.strip():
        problems.append(f"{where}: expected a non-empty vendor, got {vendor!r}")
    if not isinstance(year, int) or isinstance(year, bool) or not 1990 <= year <= 2100:
        problems.append(f"{where}: expected release_year between 1990 and 2100, got {year!r}")
    aliases = _string_list(raw.get("aliases"), f"{where}.aliases", problems)
    notes = _string_list(raw.get("notes"), f"{where}.notes", problems)
    sources = _string_list(raw["sources"], f"{where}.sources", problems)
    if tdp is None:
        if not notes:
            problems.append(f"{where}: tdp_w is null; expected a note saying it is not published")
    elif not _is_number(tdp) or not math.isfinite(tdp) or tdp <= 0:
        problems.append(f"{where}: expected tdp_w to be a number > 0 or null, got {tdp!r}")
    peaks: dict[Precision, float] = {}
    raw_peaks = raw["peak_flops"]
    if not isinstance(raw_peaks, Mapping) or not raw_peaks:
        problems.append(f"{where}: expected peak_flops as a non-empty mapping, got {raw_peaks!r}")
    else:
        for key, value in raw_peaks.items():
            try:
                precision = parse_precision(str(key))
            except ComputeError as exc:
                problems.append(f"{where}.peak_flops: {exc}")
                continue
            if not _is_number(value):
                hint = " (write floats as 9.894e+14 in YAML)" if isinstance(value, str) else ""
                problems.append(f"{where}.peak_flops.{key}: expected a number, got {value!r}{hint}")
            elif not math.isfinite(value) or value <= 0:
                problems.append(f"{where}.peak_flops.{key}: expected a figure > 0, got {value!r}")
            else:
                peaks[precision] = float(value)
    if len(problems) > before:
        return None
    try:
        return Chip(
            name=name.strip(),
            aliases=tuple(a.strip() for a in aliases),
            vendor=vendor.strip(),
            release_year=year,
            tdp_w=None if tdp is None else float(tdp),
            peak_flops=peaks,
            sources=sources,
            notes=notes,
        )
    except ComputeError as exc:
        problems.append(f"{where}: {exc}")
        return None


def catalogue_from_mapping(data: Mapping[str, Any]) -> HardwareCatalogue:
    """Build and validate a catalogue from parsed YAML; every problem is named in one error."""
    problems: list[str] = []
    if not isinstance(data, Mapping):
        raise ComputeError(
            f"invalid hardware catalogue: expected a mapping, got {type(data).__name__}"
        )
    unknown = sorted(str(k) for k in data if k not in ("sources", "chips"))
    if unknown:
        problems.append(f"unknown top-level field(s) {', '.join(unknown)}")
    sources = _parse_sources(data.get("sources"), problems)
    raw_chips = data.get("chips")
    chips: list[Chip] = []
    if not isinstance(raw_chips, list) or not raw_chips:
        problems.append(f"chips: expected a non-empty list, got {raw_chips!r}")
    else:
        for i, raw in enumerate(raw_chips):
            chip = _parse_chip(i, raw, problems)
            if chip is not None:
                chips.append(chip)
    problems.extend(_catalogue_problems(tuple(chips), sources))
    if problems:
        raise ComputeError("invalid hardware catalogue: " + "; ".join(problems))
    return HardwareCatalogue(chips=tuple(chips), sources=sources)


def catalogue_from_yaml(text: str) -> HardwareCatalogue:
    """Parse and validate a catalogue given as YAML text."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ComputeError(f"invalid hardware catalogue: not YAML: {exc}") from exc
    return catalogue_from_mapping(data)


@functools.cache
def _packaged() -> HardwareCatalogue:
    text = resources.files("pausewatch.compute").joinpath("hardware.yaml").read_text("utf-8")
    return catalogue_from_yaml(text)


def load_catalogue(data: Mapping[str, Any] | str | None = None) -> HardwareCatalogue:
    """The hardware catalogue: the packaged one (cached) by default, else ``data`` validated.

    ``data`` may be YAML text or an already parsed mapping (tests feed broken catalogues this
    way); either is validated exactly as the packaged file is.
    """
    if data is None:
        return _packaged()
    if isinstance(data, str):
        return catalogue_from_yaml(data)
    return catalogue_from_mapping(data)
