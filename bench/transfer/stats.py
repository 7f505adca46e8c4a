"""A phase's figures, one row from its `--rounds` runs, and its ratio and CPU ceiling
against the direct baseline of the same kind (see the package docstring).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

MiB = 1024 * 1024


@dataclass
class Phase:
    name: str
    kind: str  # "upload" | "download"
    mib: float
    seconds: float
    mb_per_s: float
    ratio_vs_direct: float | None = None
    # The best ratio_vs_direct the phase's CPU seconds allow on this
    # machine's cores (see the package docstring).
    ceiling_vs_direct: float | None = None
    runs_seconds: list[float] = field(default_factory=list)
    rss_before_mib: dict[str, float | None] = field(default_factory=dict)
    rss_peak_mib: dict[str, float | None] = field(default_factory=dict)
    vmhwm_after_mib: dict[str, float | None] = field(default_factory=dict)
    cpu_seconds: dict[str, float | None] = field(default_factory=dict)
    other_cpu_seconds: float | None = None
    note: str = ""


def median_phase(runs: list[Phase]) -> Phase:
    """One row for several runs of a phase: median time and CPU seconds,
    the highest memory peaks, the last high-water marks."""
    first = runs[0]
    seconds = statistics.median(r.seconds for r in runs)
    cpu: dict[str, float | None] = {}
    for proc in first.cpu_seconds:
        values = [r.cpu_seconds.get(proc) for r in runs]
        known = [v for v in values if v is not None]
        cpu[proc] = round(statistics.median(known), 2) if len(known) == len(values) else None

    def highest(pick: Callable[[Phase], dict[str, float | None]]) -> dict[str, float | None]:
        return {
            proc: max((v for r in runs if (v := pick(r).get(proc)) is not None), default=None)
            for proc in pick(first)
        }

    others = [r.other_cpu_seconds for r in runs if r.other_cpu_seconds is not None]
    return Phase(
        name=first.name,
        kind=first.kind,
        mib=first.mib,
        seconds=round(seconds, 3),
        mb_per_s=round(first.mib * MiB / seconds / 1e6, 1),
        rss_before_mib=first.rss_before_mib,
        rss_peak_mib=highest(lambda r: r.rss_peak_mib),
        vmhwm_after_mib=runs[-1].vmhwm_after_mib,
        cpu_seconds=cpu,
        other_cpu_seconds=statistics.median(others) if others else None,
        note=first.note,
        runs_seconds=[r.seconds for r in runs],
    )


def set_ratios(phases: list[Phase], cores: int) -> None:
    """ratio_vs_direct and ceiling_vs_direct of every phase, against the
    direct phase of the same kind."""
    direct = {p.kind: p.seconds for p in phases if p.name.startswith("direct")}
    for p in phases:
        p.ratio_vs_direct = round(direct[p.kind] / p.seconds, 2)
        cpu = [c for c in p.cpu_seconds.values() if c is not None]
        if p.name.startswith("direct") or len(cpu) < len(p.cpu_seconds) or not sum(cpu):
            continue  # a baseline, or a process's CPU time unknown
        least_seconds = sum(cpu) / cores
        p.ceiling_vs_direct = round(direct[p.kind] / least_seconds, 2)
