"""What travels between a sweep's parent and its workers: a point's task and its result, and
the flags of a complete point whose numbers are incomplete. No I/O, no solver."""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from microsim.model.params import ModelParams
from microsim.sweeps.config import SolverSpec, TimeSpec, params_from_values

__all__ = ["FLAGS", "PointResult", "PointTask", "missing_taus", "point_key"]

#: Flags of a complete point whose charging time is not on its grid (figures that need it are NaN).
FLAGS: dict[str, str] = {
    "tau_mic_not_reached": "tau_mic not reached",
    "tau_eff_not_reached": "tau_eff not reached",
}


@dataclass(frozen=True)
class PointTask:
    """One point of a sweep: what a worker needs to compute it."""

    index: int
    key: str
    values: dict[str, Any]
    effective: bool
    time: TimeSpec
    solver: SolverSpec
    parent_pid: int = field(default_factory=os.getpid)
    axes: tuple[str, ...] = ()

    @property
    def swept(self) -> dict[str, Any]:
        """The point's value of every swept axis of its config, by axis name."""
        return {name: self.values[name] for name in self.axes}

    def params(self) -> ModelParams:
        return params_from_values(self.values, self.effective)


@dataclass
class PointResult:
    """What a worker sends back: status, figures, arrays on the grid, provenance of the point.

    ``flags`` (keys of FLAGS) and ``warning`` (one sentence per flag) mark a complete point whose
    numbers are valid but incomplete, such as a grid that ends before a charging time.
    """

    index: int
    key: str
    status: str
    reason: str = ""
    flags: tuple[str, ...] = ()
    warning: str = ""
    wall_time: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    derived: dict[str, float] = field(default_factory=dict)
    method: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, float] = field(default_factory=dict)
    figures: dict[str, float] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    swept: dict[str, Any] = field(default_factory=dict)


def point_key(params: ModelParams, time_spec: TimeSpec, solver: SolverSpec) -> str:
    """Stable 16-hex-digit key of a point: its parameters, time grid and solver settings."""
    content = {"params": params.as_dict(), "time": time_spec.__dict__, "solver": solver.content()}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def missing_taus(tau_mic: float, tau_eff: float, reference: bool = True) -> tuple[str, ...]:
    """Flags (FLAGS keys) of a complete point from its charging times: tau_eff NaN, and tau_mic
    NaN where the point has an exact ``reference`` (a point run without one, method 'effective'
    or another approximate description, has no microscopic tau by design)."""
    flags = []
    if reference and not math.isfinite(tau_mic):
        flags.append("tau_mic_not_reached")
    if not math.isfinite(tau_eff):
        flags.append("tau_eff_not_reached")
    return tuple(flags)
