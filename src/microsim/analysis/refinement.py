"""Maxima and threshold crossings in time as properties of the solution, not of the output grid.

eps_traj and D_max are maxima over t, tau (Eq. 17) is a first crossing (docs/physics.md §3). On
an output grid alone both are biased: at small kappa the largest difference sits at t of a few
1/gamma_01, which shrinks like kappa^2 and falls inside the first grid interval. Here a pass over
the output grid, merged with geometric times inside its first interval, finds the bracket; the
solvers' propagators then continue the same solution from the state stored at the bracket's left
end on finer grids until the value settles (REFINE_RTOL).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from microsim.descriptions.result import Propagator
from microsim.model.observables import charging_time

__all__ = [
    "Crossing",
    "Peak",
    "measurement_grid",
    "refine_crossing",
    "refine_maximum",
]

FloatArray = NDArray[np.float64]

#: Relative change below which a refined maximum (or the width of a crossing's bracket) is final:
#: above the integration noise of the values (tolerance 1e-11 on states of size 1).
REFINE_RTOL = 1e-8
#: Absolute change below which a refined maximum is final (integration noise of O(1) values).
REFINE_ATOL = 1e-12
#: Points per refinement of a maximum: the bracket shrinks 4-fold, the sampling error 16-fold.
PEAK_POINTS = 9
#: Points per refinement of a crossing: the bracket shrinks 16-fold.
CROSSING_POINTS = 17
#: Refinements at most (a bracket shrinks by 4^12 ~ 1.7e7 or more).
MAX_LEVELS = 12
#: Geometric times added inside the first output interval, down to EARLY_FRACTION / rate.
EARLY_POINTS = 16
EARLY_FRACTION = 0.01

Objective = Callable[[Sequence[FloatArray]], float]


def measurement_grid(t: FloatArray, rate: float) -> tuple[FloatArray, NDArray[np.bool_]]:
    """The output grid t merged with geometric times in (0, t[1]), and the mask of t in it.

    The geometric times start at EARLY_FRACTION / rate (rate: the fastest rate of the transient,
    e.g. gamma_01), so that a feature at t ~ 1/rate is sampled whatever the output spacing.
    """
    t = np.asarray(t, dtype=float)
    if t.size < 2 or t[1] <= t[0]:
        return t, np.ones(t.size, bool)
    lo = min(EARLY_FRACTION / rate, 1e-3 * (t[1] - t[0]))
    early = t[0] + np.geomspace(lo, t[1] - t[0], EARLY_POINTS + 1)[:-1]
    union = np.union1d(t, early)
    keep = np.isin(union, t)
    return union, keep


@dataclass
class Peak:
    """Running maximum of an objective over a sampled pass and the states that start its bracket.

    ``see(k, value, starts)`` is called for samples k = 0, 1, ... with the states at sample k - 1
    (at k for k = 0): the bracket of the largest value is samples (index - 1, index + 1).
    """

    value: float = -math.inf
    index: int = -1
    starts: Sequence[FloatArray] = field(default_factory=list)

    def see(self, k: int, value: float, starts: Sequence[FloatArray]) -> None:
        if value > self.value:
            self.value, self.index, self.starts = value, k, starts


@dataclass
class Crossing:
    """First sample where the deficit (E_ss - E) / E_ss falls below epsilon (Eq. 17), and the
    state at the sample before it. A steady state without energy (E_ss <= 0, e.g. g = 0) is never
    charged: no crossing, tau NaN, as charging_time has it."""

    epsilon: float
    energy_ss: float
    index: int = -1
    start: FloatArray | None = None

    def deficit(self, energy: float | FloatArray) -> float | FloatArray:
        return (self.energy_ss - energy) / self.energy_ss

    def see(self, k: int, energy: float, start: FloatArray) -> None:
        if self.index < 0 and self.energy_ss > 0 and self.deficit(energy) < self.epsilon:
            self.index, self.start = k, start


def refine_maximum(objective: Objective, props: Sequence[Propagator], peak: Peak,
                   t: FloatArray) -> float:
    """max over t of objective(populations of each description), from a sampled Peak on grid t.

    Each level propagates every description from the bracket's left end over PEAK_POINTS points
    and keeps the two intervals around the largest value. It stops when, within REFINE_RTOL
    relative (REFINE_ATOL absolute), the maximum has not grown since the previous level and the
    parabola through the three largest samples rises no higher (a skewed peak can fool either test
    alone). The result is at least the sampled maximum.
    """
    if peak.index < 0:
        return math.nan
    value = peak.value
    lo, hi = t[max(peak.index - 1, 0)], t[min(peak.index + 1, t.size - 1)]
    starts = peak.starts
    for _ in range(MAX_LEVELS):
        s = np.linspace(lo, hi, PEAK_POINTS)
        runs = [list(prop.advance(x, s)) for prop, x in zip(props, starts, strict=True)]
        values = np.array([objective([prop.populations(run[k]) for prop, run in zip(props, runs,
                                                                                     strict=True)])
                           for k in range(s.size)])
        j = int(np.argmax(values))
        tol = REFINE_RTOL * abs(values[j]) + REFINE_ATOL
        if 0 < j < s.size - 1:
            settled = values[j] - value <= tol and _vertex_gain(*values[j - 1 : j + 2]) <= tol
        else:  # a maximum at an end of the whole grid (monotone objective) is exact there
            settled = s[j] in (t[0], t[-1])
        value = max(value, float(values[j]))
        a, b = max(j - 1, 0), min(j + 1, s.size - 1)
        lo, hi, starts = s[a], s[b], [run[a] for run in runs]
        if settled:
            break
    return value


def _vertex_gain(y0: float, y1: float, y2: float) -> float:
    """Height of the parabola through three equally spaced samples above the middle one (y1 the
    largest): the sampling error of the maximum, (y2 - y0)^2 / (8 (2 y1 - y0 - y2))."""
    curvature = 2.0 * y1 - y0 - y2
    return (y2 - y0) ** 2 / (8.0 * curvature) if curvature > 0 else math.inf


def refine_crossing(energy: Callable[[FloatArray], float], prop: Propagator, crossing: Crossing,
                    t: FloatArray) -> float:
    """tau of Eq. 17 from a sampled Crossing on grid t: the bracket is cut into CROSSING_POINTS
    until narrower than REFINE_RTOL tau, then the log of the deficit is interpolated linearly.

    ``energy(populations)`` is the battery energy of one state. NaN if there was no crossing.
    """
    if crossing.index < 0 or crossing.start is None:
        return math.nan
    if crossing.index == 0:
        return float(t[0])
    lo, hi, start = float(t[crossing.index - 1]), float(t[crossing.index]), crossing.start
    bracket = None
    for _ in range(MAX_LEVELS):
        if hi - lo <= REFINE_RTOL * hi:
            break
        s = np.linspace(lo, hi, CROSSING_POINTS)
        states = list(prop.advance(start, s))
        energies = np.array([energy(prop.populations(x)) for x in states])
        below = np.flatnonzero(crossing.deficit(energies) < crossing.epsilon)
        if below.size == 0 or below[0] == 0:  # the crossing is within integration noise of an end
            break
        j = int(below[0])
        lo, hi, start, bracket = float(s[j - 1]), float(s[j]), states[j - 1], energies[[j - 1, j]]
    if bracket is None:
        s = np.array([lo, hi])
        bracket = np.array([energy(prop.populations(x)) for x in prop.advance(start, s)])
    tau = charging_time(np.array([lo, hi]), bracket, crossing.energy_ss, crossing.epsilon)
    return tau if math.isfinite(tau) else hi  # hi was below epsilon on the sampled pass
